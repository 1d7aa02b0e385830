"""Uncertainty for a binary classifier and what a clinic can do with it: MC dropout, deep ensembles, test-time
augmentation; selective prediction (risk-coverage, AURC); deferral to a human reader; split conformal prediction
sets; worklist triage.

Introduced in 20_human_ai_collaboration.ipynb (the lesson writes MC dropout, the risk-coverage curve and the
conformal threshold by hand first). Probabilities are P(lesion) of a one-logit model: ``samples`` (S, N) hold S
stochastic predictions (dropout masks, ensemble members, augmentations) for N cases, each in [0, 1].
"""

import numpy as np
import torch
from torch import nn

__all__ = ["enable_dropout", "mc_dropout_probs", "ensemble_probs", "tta_probs", "dihedral_transforms",
           "binary_entropy", "summarize_samples", "error_auroc", "risk_coverage", "aurc", "simulate_reader",
           "defer_to_reader", "team_accuracy_curve", "conformal_threshold", "prediction_sets", "set_coverage",
           "triage_waits"]


# ------------------------------------------------------------------------------------ stochastic predictions
def enable_dropout(model):
    """Put ``model`` in eval mode except its dropout layers, which keep dropping (MC dropout); returns the model.
    BatchNorm stays in eval mode: it keeps its running statistics instead of the batch's."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    model.eval()
    for module in model.modules():
        if isinstance(module, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)):
            module.train()
    return model


def _as_images(x):
    x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x.float()
    if x.dim() != 4 or len(x) == 0:
        raise ValueError(f"images must be a non-empty (N, C, H, W) batch, got shape {tuple(x.shape)}")
    return x


def _probs(model, x, batch_size, device):
    """P(lesion) (N,) of a one-logit model, in batches, without gradients, in the model's current mode."""
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            logits = model(x[i:i + batch_size].to(device))
            if logits.dim() == 2 and logits.shape[1] == 1:
                logits = logits[:, 0]
            if logits.dim() != 1:
                raise ValueError(f"expected a one-logit model (outputs (N,) or (N, 1)), got {tuple(logits.shape)}")
            out.append(torch.sigmoid(logits).float().cpu())
    return torch.cat(out)


def _device_of(model, device):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return torch.device(device) if device is not None else next(model.parameters()).device


def mc_dropout_probs(model, images, n_samples=20, seed=0, batch_size=256, device=None):
    """MC dropout (Gal and Ghahramani 2016): ``n_samples`` forward passes with dropout on -> (S, N) probabilities.

    images (N, C, H, W); the dropout masks come from a torch generator seeded with ``seed`` (the global random
    state is left as it was); the model is returned to eval mode afterwards."""
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise ValueError(f"n_samples must be an int >= 2, got {n_samples!r}")
    device, x = _device_of(model, device), _as_images(images)
    enable_dropout(model)
    try:
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            samples = torch.stack([_probs(model, x, batch_size, device) for _ in range(n_samples)])
    finally:
        model.eval()
    return samples


def ensemble_probs(models, images, batch_size=256, device=None):
    """Probabilities of every member of a deep ensemble (Lakshminarayanan et al. 2017) -> (M, N), eval mode."""
    if not isinstance(models, (list, tuple)) or len(models) < 2:
        raise ValueError(f"models must be a list of at least 2 models, got {type(models).__name__}")
    x = _as_images(images)
    return torch.stack([_probs(m.eval(), x, batch_size, _device_of(m, device)) for m in models])


def dihedral_transforms():
    """The 8 flips and 90-degree rotations of a square image, as functions on (N, C, H, W) tensors."""
    rotations = [lambda x, k=k: torch.rot90(x, k, dims=(2, 3)) for k in range(4)]
    return rotations + [lambda x, k=k: torch.rot90(torch.flip(x, dims=(3,)), k, dims=(2, 3)) for k in range(4)]


def tta_probs(model, images, transforms=None, batch_size=256, device=None):
    """Test-time augmentation: the model's probability on each transformed copy -> (T, N), eval mode.

    transforms: functions on (N, C, H, W) tensors whose effect should not change the label; default the 8
    :func:`dihedral_transforms` (a lesion is present whatever the orientation of the patch)."""
    transforms = dihedral_transforms() if transforms is None else list(transforms)
    if not transforms or not all(callable(t) for t in transforms):
        raise ValueError("transforms must be a non-empty list of functions (N, C, H, W) -> (N, C, H, W)")
    device, x = _device_of(model, device), _as_images(images)
    model.eval()
    return torch.stack([_probs(model, t(x), batch_size, device) for t in transforms])


# ------------------------------------------------------------------------------------ uncertainty scores
def _as_1d(x, name, n=None):
    x = np.asarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0 or (n is not None and len(x) != n):
        want = f"({n},)" if n is not None else "(N,)"
        raise ValueError(f"{name} must be a 1-D array {want}, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def binary_entropy(p):
    """Entropy in bits of a Bernoulli(p), elementwise: 0 at p = 0 or 1, 1 at p = 0.5 (array like p)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def summarize_samples(samples):
    """(S, N) stochastic probabilities (S >= 1) -> dict of (N,) arrays: 'mean' probability, 'std' across samples,
    'entropy' of the mean (total uncertainty, bits) and 'mutual_information' (entropy of the mean minus the mean
    entropy: the part due to disagreement between samples, the model's epistemic uncertainty)."""
    s = np.asarray(samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else samples, np.float64)
    if s.ndim == 1:
        s = s[None]
    if s.ndim != 2 or s.size == 0 or not np.all(np.isfinite(s)) or np.any((s < 0) | (s > 1)):
        raise ValueError(f"samples must be (S, N) probabilities in [0, 1], got shape {s.shape}")
    mean = s.mean(axis=0)
    entropy = binary_entropy(mean)
    return {"mean": mean, "std": s.std(axis=0), "entropy": entropy,
            "mutual_information": np.maximum(entropy - binary_entropy(s).mean(axis=0), 0.0)}


def error_auroc(errors, uncertainty):
    """How well ``uncertainty`` (N,) ranks the model's ``errors`` (N,) bool/0-1 above its correct answers: the
    ROC-AUC of uncertainty as a detector of errors (0.5 = no better than chance, 1 = every error is more
    uncertain than every correct answer). scikit-learn's roc_auc_score; needs both errors and correct cases."""
    from sklearn.metrics import roc_auc_score

    errors = _as_1d(errors, "errors")
    uncertainty = _as_1d(uncertainty, "uncertainty", len(errors))
    if not set(np.unique(errors)) <= {0.0, 1.0} or len(np.unique(errors)) < 2:
        raise ValueError("errors must be 0/1 (or bool) and hold both errors and correct answers")
    return float(roc_auc_score(errors, uncertainty))


# ------------------------------------------------------------------------------------ selective prediction
def risk_coverage(errors, uncertainty):
    """Risk-coverage curve of selective prediction -> (coverage (N,), risk (N,)).

    Cases are accepted from the least to the most uncertain (ties in their given order); after accepting k
    cases, coverage = k / N and risk = errors among the accepted / k (the error rate the model keeps)."""
    errors = _as_1d(errors, "errors")
    uncertainty = _as_1d(uncertainty, "uncertainty", len(errors))
    order = np.argsort(uncertainty, kind="stable")
    k = np.arange(1, len(errors) + 1)
    return k / len(errors), np.cumsum(errors[order]) / k


def aurc(errors, uncertainty):
    """Area under the risk-coverage curve (Geifman et al. 2019): the mean risk over all coverages (lower is
    better). An uncertainty that ranks at random gives about the error rate; the best possible ranking (all
    errors last) gives the oracle AURC, ``aurc(errors, errors)``."""
    return float(np.mean(risk_coverage(errors, uncertainty)[1]))


# ------------------------------------------------------------------------------------ a human reader
def _reader_rate(value, name, n):
    rate = np.asarray(value, dtype=np.float64)
    if rate.ndim not in (0, 1) or (rate.ndim == 1 and len(rate) != n) or not np.all((rate >= 0) & (rate <= 1)):
        raise ValueError(f"{name} must be a number in [0, 1] or one per case ({n},), got {value!r:.80}")
    return np.broadcast_to(rate, (n,))


def simulate_reader(labels, sensitivity, specificity, seed=0):
    """A simulated reader's decisions (N,) int: each positive is called positive with probability
    ``sensitivity``, each negative negative with probability ``specificity``, independently of the AI. Either
    may be one number or one per case (N,), e.g. a lower sensitivity for small lesions (a reader who finds the
    same cases hard as the AI). labels (N,) 0/1."""
    labels = _as_1d(labels, "labels")
    if not set(np.unique(labels)) <= {0.0, 1.0}:
        raise ValueError("labels must be 0/1")
    sens = _reader_rate(sensitivity, "sensitivity", len(labels))
    spec = _reader_rate(specificity, "specificity", len(labels))
    u = np.random.default_rng([seed, 201]).random(len(labels))
    return np.where(labels == 1, u < sens, u >= spec).astype(np.int64)


def defer_to_reader(ai_pred, reader_pred, uncertainty, fraction):
    """Team decisions (N,) int and the deferred mask (N,) bool: the ``fraction`` of cases with the highest
    uncertainty go to the reader, the AI decides the rest (ties broken by case order)."""
    ai_pred = _as_1d(ai_pred, "ai_pred")
    reader_pred = _as_1d(reader_pred, "reader_pred", len(ai_pred))
    uncertainty = _as_1d(uncertainty, "uncertainty", len(ai_pred))
    if not isinstance(fraction, (int, float, np.floating)) or not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    n_defer = int(round(fraction * len(ai_pred)))
    deferred = np.zeros(len(ai_pred), bool)
    deferred[np.argsort(-uncertainty, kind="stable")[:n_defer]] = True
    return np.where(deferred, reader_pred, ai_pred).astype(np.int64), deferred


def team_accuracy_curve(labels, ai_pred, reader_pred, uncertainty, fractions):
    """Accuracy of the team for each deferral fraction in ``fractions`` -> (F,) array (0 = AI alone,
    1 = reader alone)."""
    labels = _as_1d(labels, "labels")
    return np.array([np.mean(defer_to_reader(ai_pred, reader_pred, uncertainty, f)[0] == labels)
                     for f in fractions])


# ------------------------------------------------------------------------------------ conformal prediction
def conformal_threshold(cal_probs, cal_labels, alpha=0.1):
    """Split conformal threshold (LAC score, Sadinle et al. 2019) from a calibration set: the
    ceil((n + 1)(1 - alpha)) / n empirical quantile (the ceil((n + 1)(1 - alpha))-th smallest) of the
    nonconformity scores 1 - P(true class). cal_probs (n,) P(lesion), cal_labels (n,) 0/1. Returns a float;
    inf when n is too small for the level (then every set holds both classes)."""
    probs = _as_1d(cal_probs, "cal_probs")
    labels = _as_1d(cal_labels, "cal_labels", len(probs))
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if np.any((probs < 0) | (probs > 1)) or not set(np.unique(labels)) <= {0.0, 1.0}:
        raise ValueError("cal_probs must be probabilities in [0, 1] and cal_labels 0/1")
    scores = np.sort(1 - np.where(labels == 1, probs, 1 - probs))
    rank = int(np.ceil((len(scores) + 1) * (1 - alpha)))
    return float(scores[rank - 1]) if rank <= len(scores) else float("inf")


def prediction_sets(probs, threshold):
    """Conformal prediction sets (N, 2) bool: column k is True when class k (0 = no lesion, 1 = lesion) has
    nonconformity 1 - P(k) <= threshold. ``threshold``: one number, or one per class (2,) for class-conditional
    (Mondrian) sets. A set may hold one class, both (uncertain) or none."""
    probs = _as_1d(probs, "probs")
    q = np.asarray(threshold, dtype=np.float64)
    if q.shape not in ((), (2,)) or np.any(np.isnan(q)):
        raise ValueError(f"threshold must be one number or one per class (2,), got {threshold!r:.80}")
    q = np.broadcast_to(q, (2,))
    return np.stack([probs <= q[0], 1 - probs <= q[1]], axis=1)


def set_coverage(sets, labels):
    """Share of cases whose prediction set (N, 2) contains the true label (N,) 0/1 (float)."""
    sets = np.asarray(sets, bool)
    labels = _as_1d(labels, "labels", len(sets)).astype(np.int64)
    if sets.ndim != 2 or sets.shape[1] != 2:
        raise ValueError(f"sets must have shape (N, 2), got {sets.shape}")
    return float(np.mean(sets[np.arange(len(labels)), labels]))


# ------------------------------------------------------------------------------------ worklist triage
def triage_waits(labels, risk, per_hour, arrival_order=None):
    """Hours each positive case waits before it is read, for a worklist read at ``per_hour`` cases an hour ->
    dict with 'ai' (read in order of decreasing ``risk``) and 'fifo' (read in ``arrival_order``, default the
    given order), each an array of the positives' waits (the k-th case read is done after k / per_hour hours)."""
    labels = _as_1d(labels, "labels")
    risk = _as_1d(risk, "risk", len(labels))
    if not isinstance(per_hour, (int, float, np.floating)) or per_hour <= 0:
        raise ValueError(f"per_hour must be a number > 0, got {per_hour!r}")
    arrival = np.arange(len(labels)) if arrival_order is None else np.asarray(arrival_order)
    if sorted(arrival.tolist()) != list(range(len(labels))):
        raise ValueError("arrival_order must be a permutation of the case indices")

    def waits(order):
        position = np.empty(len(order), np.int64)
        position[order] = np.arange(1, len(order) + 1)
        return position[labels == 1] / per_hour

    return {"ai": waits(np.argsort(-risk, kind="stable")), "fifo": waits(arrival)}
