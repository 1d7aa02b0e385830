"""Multi-modal fusion: single-modality, early, late and intermediate fusion models, modality dropout, and a small
training loop for inputs that come as a dict of modalities.

Introduced in 14_multimodal_fusion.ipynb. Inputs are dicts ``{"t1": (N, 1, H, W), "t2": (N, 1, H, W),
"tabular": (N, F)}`` of float32 tensors (or arrays); every model takes such a dict and uses the keys it needs, and
returns logits (N, 1) for a binary label.
"""

import numpy as np
import torch
from torch import nn

from labkit.models import MLP, SmallCNN

__all__ = ["as_inputs", "SingleModalityNet", "EarlyFusionNet", "IntermediateFusionNet", "late_fusion",
           "modality_dropout", "replace_modality", "DictBatches", "fusion_step", "fit_fusion",
           "predict_fusion"]


def as_inputs(**modalities):
    """A dict of float32 tensors from arrays/tensors given by name, checked to have the same length N."""
    if not modalities:
        raise ValueError("as_inputs needs at least one modality, e.g. as_inputs(t1=..., tabular=...)")
    out = {k: torch.as_tensor(np.asarray(v, np.float32) if not isinstance(v, torch.Tensor) else v).float()
           for k, v in modalities.items()}
    lengths = {k: len(v) for k, v in out.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"every modality needs the same number of samples, got {lengths}")
    return out


def _get(inputs, key):
    if not isinstance(inputs, dict):
        raise TypeError(f"fusion models take a dict of modalities, got {type(inputs).__name__}")
    if key not in inputs:
        raise KeyError(f"this model needs the modality {key!r}; the inputs have {sorted(inputs)}")
    return inputs[key]


def _pooled(encoder, x):
    """Globally averaged last feature map of a SmallCNN: (N, C)."""
    return encoder.features(x).mean(dim=(2, 3))


class SingleModalityNet(nn.Module):
    """One modality only: a SmallCNN on an image key, or an MLP on the 'tabular' key. Introduced in
    14_multimodal_fusion.ipynb."""

    def __init__(self, key, n_tabular=5, width=8, hidden=16):
        super().__init__()
        self.key = key
        self.net = MLP(n_tabular, hidden=(hidden,)) if key == "tabular" else SmallCNN(1, 1, width=width)

    def forward(self, inputs):
        return self.net(_get(inputs, self.key))


class EarlyFusionNet(nn.Module):
    """Early fusion: the images stacked as channels (N, len(keys), H, W) into one SmallCNN. Introduced in
    14_multimodal_fusion.ipynb."""

    def __init__(self, keys=("t1", "t2"), width=8):
        super().__init__()
        self.keys = tuple(keys)
        self.net = SmallCNN(len(self.keys), 1, width=width)

    def forward(self, inputs):
        return self.net(torch.cat([_get(inputs, k) for k in self.keys], dim=1))


class IntermediateFusionNet(nn.Module):
    """Intermediate fusion: one SmallCNN encoder per image key (pooled features) and an MLP encoder for the
    tabular features, concatenated and passed to a linear head. ``tabular_features=0`` leaves the table out.
    Introduced in 14_multimodal_fusion.ipynb."""

    def __init__(self, image_keys=("t1", "t2"), n_tabular=5, width=8, tabular_features=8):
        super().__init__()
        self.image_keys = tuple(image_keys)
        self.encoders = nn.ModuleDict({k: SmallCNN(1, 1, width=width) for k in self.image_keys})
        self.tabular = MLP(n_tabular, hidden=(16,), n_out=tabular_features) if tabular_features else None
        n_joined = sum(e.head[-1].in_features for e in self.encoders.values()) + tabular_features
        self.head = nn.Linear(n_joined, 1)

    def forward(self, inputs):
        parts = [_pooled(self.encoders[k], _get(inputs, k)) for k in self.image_keys]
        if self.tabular is not None:
            parts.append(torch.relu(self.tabular(_get(inputs, "tabular"))))
        return self.head(torch.cat(parts, dim=1))


def late_fusion(prob_list, weights=None):
    """Late fusion: the weighted mean of per-modality probabilities -> (N,) float64 array in [0, 1].

    prob_list: list of M arrays (N,) of probabilities; weights: M non-negative numbers (None = equal), normalised
    to sum to 1. Introduced in 14_multimodal_fusion.ipynb.
    """
    probs = [np.asarray(p.detach().cpu() if isinstance(p, torch.Tensor) else p, dtype=np.float64).ravel()
             for p in prob_list]
    if not probs or len({len(p) for p in probs}) != 1:
        raise ValueError(f"prob_list must hold M >= 1 arrays of the same length, got lengths {[len(p) for p in probs]}")
    w = np.ones(len(probs)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(probs),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(probs)} non-negative numbers with a positive sum, got {weights!r}")
    return np.tensordot(w / w.sum(), np.stack(probs), axes=1)


def modality_dropout(batch, p, generator):
    """Modality dropout: in each sample, with probability ``p``, zero one modality chosen uniformly at random.

    batch: list of M >= 2 tensors, each (N, ...) (one per modality); returns a new list (inputs unchanged). A
    sample never loses all its modalities. generator: a ``torch.Generator`` (same seed, same result).
    Introduced in 14_multimodal_fusion.ipynb.
    """
    if not isinstance(batch, (list, tuple)) or len(batch) < 2 or not all(isinstance(t, torch.Tensor) for t in batch):
        raise TypeError("batch must be a list of at least 2 tensors (one per modality)")
    n = len(batch[0])
    if any(len(t) != n for t in batch):
        raise ValueError(f"every modality needs the same batch size, got {[len(t) for t in batch]}")
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    drop = torch.rand(n, generator=generator) < p
    which = torch.randint(len(batch), (n,), generator=generator)
    out = []
    for m, t in enumerate(batch):
        keep = ~(drop & (which == m))
        out.append(t * keep.to(t.dtype).view(-1, *[1] * (t.dim() - 1)).to(t.device))
    return out


def replace_modality(inputs, key, fill=0.0):
    """A copy of ``inputs`` whose modality ``key`` is missing, filled with ``fill``: a number (0 = zeros) or an
    array broadcastable to one sample (e.g. the training mean image (1, H, W))."""
    x = _get(inputs, key)
    filled = torch.as_tensor(np.asarray(fill, np.float32)).to(x.device).expand_as(x).clone()
    return {**inputs, key: filled}


def _batch(inputs, index, device):
    return {k: v[index].to(device) for k, v in inputs.items()}


class DictBatches:
    """Mini-batches ``(inputs dict, labels)`` of a dict of modalities, in a new order every pass drawn from
    ``generator`` (a loader for :func:`labkit.train.fit`)."""

    def __init__(self, inputs, labels, batch_size, generator):
        self.inputs, self.labels = as_inputs(**inputs), torch.as_tensor(np.asarray(labels), dtype=torch.float32)
        n = len(next(iter(self.inputs.values())))
        if len(self.labels) != n:
            raise ValueError(f"labels has {len(self.labels)} entries but the inputs have {n}")
        self.batch_size, self.generator = batch_size, generator

    def __len__(self):
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        for index in torch.randperm(len(self.labels), generator=self.generator).split(self.batch_size):
            yield _batch(self.inputs, index, "cpu"), self.labels[index]


def fusion_step(drop_p=0.0, drop_keys=None, generator=None):
    """A training step for :func:`labkit.train.fit` on ``(inputs dict, labels)`` batches: BCE of the logits, with
    :func:`modality_dropout` (probability ``drop_p``) applied to the modalities ``drop_keys`` (default all)."""

    def step(model, batch):
        inputs, y = batch
        if drop_p > 0:
            keys = tuple(inputs) if drop_keys is None else tuple(drop_keys)
            inputs = {**inputs, **dict(zip(keys, modality_dropout([inputs[k] for k in keys], drop_p, generator)))}
        return nn.functional.binary_cross_entropy_with_logits(model(inputs)[:, 0], y.float())

    return step


def fit_fusion(model, inputs, labels, n_epochs=5, lr=1e-3, batch_size=32, device=None, seed=0, drop_p=0.0,
               drop_keys=None, progress=True):
    """Train a fusion model with BCE on a dict of modalities (see :func:`as_inputs`) -> labkit.train.History.

    :func:`labkit.train.fit` with :func:`fusion_step` over :class:`DictBatches`. labels (N,) in {0, 1}. Batches
    are drawn in an order fixed by ``seed``. drop_p > 0 applies :func:`modality_dropout` to the modalities
    ``drop_keys`` (default: all keys) of every training batch.
    """
    from labkit import train

    gen = torch.Generator().manual_seed(seed)
    loader = DictBatches(inputs, labels, batch_size, gen)
    history = train.fit(model, loader, n_epochs=n_epochs, lr=lr, device=device, seed=seed, monitor="train_loss",
                        step=fusion_step(drop_p, drop_keys, gen), progress=progress, desc="fit_fusion")
    model.eval()
    return history


def predict_fusion(model, inputs, batch_size=256):
    """Probabilities (N,) float32 NumPy array of a fusion model on a dict of modalities, in eval mode."""
    inputs = as_inputs(**inputs)
    device = next(model.parameters()).device
    n = len(next(iter(inputs.values())))
    model.eval()
    with torch.no_grad():
        out = [torch.sigmoid(model(_batch(inputs, slice(i, i + batch_size), device))[:, 0]).cpu()
               for i in range(0, n, batch_size)]
    return torch.cat(out).numpy()
