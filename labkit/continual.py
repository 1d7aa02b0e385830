"""Continual learning: a model updated stage after stage (site after site), what it forgets, two remedies
(rehearsal from a replay buffer, elastic weight consolidation) and drift tests on unlabelled incoming data.

Introduced in 19_continual_learning.ipynb (the lesson writes the forgetting metrics, the diagonal Fisher and the
EWC penalty by hand first). :func:`drift_test` is also used for monitoring in 22_clinical_deployment.ipynb.

The accuracy matrix ``R`` (T, T) holds ``R[i, j]``, the score on stage j's test set after training stage i
(rows: stages trained so far; columns: the stages' test sets). From it (Lopez-Paz and Ranzato 2017; Chaudhry et al.
2018): backward transfer ``BWT = mean_j<T-1 (R[T-1, j] - R[j, j])`` (negative = forgetting) and average forgetting
``F = mean_j<T-1 (max_l<T-1 R[l, j] - R[T-1, j])``.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["DriftResult", "drift_test", "mmd2_rbf", "median_bandwidth", "backward_transfer", "average_forgetting",
           "accuracy_matrix_summary", "ReplayBuffer", "replay_step", "fisher_diagonal", "ewc_penalty", "ewc_step",
           "anchor_parameters", "plot_accuracy_matrix"]


# ------------------------------------------------------------------------------------ drift tests
@dataclass(frozen=True)
class DriftResult:
    """Outcome of a two-sample drift test: ``statistic`` (KS D, or the squared MMD), ``p_value``,
    ``drift`` (``p_value < alpha``) and ``method`` ('ks' or 'mmd')."""

    statistic: float
    p_value: float
    drift: bool
    method: str

    def __str__(self):
        verdict = "drift" if self.drift else "no drift detected"
        return f"{self.method.upper()} statistic {self.statistic:.4g}, p = {self.p_value:.3g}: {verdict}"


def _as_samples(x, name, ndim):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if ndim == 1 and x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != ndim or len(x) < 2:
        want = "(N,) values, e.g. predicted probabilities" if ndim == 1 else "(N, D) features"
        raise ValueError(f"{name} must be a {ndim}-D array {want} with N >= 2, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def median_bandwidth(x, y):
    """Median heuristic for the RBF kernel width: the median pairwise Euclidean distance in the pooled sample
    (float > 0). x (N, D), y (M, D)."""
    pooled = np.concatenate([x, y])
    sq = np.sum(pooled ** 2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * pooled @ pooled.T, 0)
    upper = d2[np.triu_indices(len(pooled), k=1)]
    median = float(np.sqrt(np.median(upper)))
    return median if median > 0 else 1.0


def _rbf_gram(pooled, bandwidth):
    sq = np.sum(pooled ** 2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * pooled @ pooled.T, 0)
    return np.exp(-d2 / (2 * bandwidth ** 2))


def _mmd2_from_gram(gram, members):
    """Unbiased squared MMD for each row of ``members`` (P, N + M) bool (True = sample x) -> (P,) array."""
    a = members.astype(np.float64)
    b = 1.0 - a
    n, m = a.sum(axis=1), b.sum(axis=1)
    diag = np.diag(gram)
    ka, kb = a @ gram, b @ gram
    kxx, kyy, kxy = (ka * a).sum(1) - a @ diag, (kb * b).sum(1) - b @ diag, (ka * b).sum(1)
    return kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2 * kxy / (n * m)


def _first_n(n, total):
    members = np.zeros((1, total), bool)
    members[0, :n] = True
    return members


def mmd2_rbf(x, y, bandwidth=None):
    """Unbiased squared maximum mean discrepancy between samples x (N, D) and y (M, D) with the RBF kernel
    ``exp(-|a - b|^2 / (2 bandwidth^2))`` (Gretton et al. 2012); bandwidth None = median heuristic. About 0
    when both come from one distribution (it can be slightly negative), larger the more they differ."""
    x, y = _as_samples(x, "x", 2), _as_samples(y, "y", 2)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y need the same number of features, got {x.shape[1]} and {y.shape[1]}")
    bandwidth = median_bandwidth(x, y) if bandwidth is None else float(bandwidth)
    return float(_mmd2_from_gram(_rbf_gram(np.concatenate([x, y]), bandwidth), _first_n(len(x), len(x) + len(y)))[0])


def _mmd_permutation_test(x, y, n_permutations, seed):
    """Observed squared MMD and its permutation p-value (the kernel width is fixed on the pooled sample)."""
    gram = _rbf_gram(np.concatenate([x, y]), median_bandwidth(x, y))
    observed = float(_mmd2_from_gram(gram, _first_n(len(x), len(gram)))[0])
    rng = np.random.default_rng([seed, 191])
    shuffled = np.argsort(rng.random((n_permutations, len(gram))), axis=1) < len(x)   # random sets of len(x)
    exceed = int(np.sum(_mmd2_from_gram(gram, shuffled) >= observed))
    return observed, (exceed + 1) / (n_permutations + 1)


def drift_test(reference, incoming, method="ks", alpha=0.05, n_permutations=500, seed=0):
    """Two-sample test: do ``incoming`` data come from the same distribution as ``reference``? -> DriftResult.

    method 'ks': reference (N,) and incoming (M,) 1-D values (e.g. predicted probabilities), the two-sample
    Kolmogorov-Smirnov test of scipy.stats.ks_2samp. method 'mmd': reference (N, D) and incoming (M, D) feature
    arrays, the unbiased squared MMD with an RBF kernel (median-heuristic width on the pooled sample) and a
    permutation test with ``n_permutations`` shuffles drawn from ``seed`` (p = (exceedances + 1) /
    (n_permutations + 1)). ``drift`` is ``p_value < alpha``: on data without drift, that happens in about a
    fraction alpha of tests (the false-alarm rate), provided the samples are independent (one image per patient).
    The reference should be data the model did not train on (e.g. a validation set of the training site).
    """
    if method not in ("ks", "mmd"):
        raise ValueError(f"method must be 'ks' (1-D values) or 'mmd' (2-D features), got {method!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if method == "ks":
        from scipy.stats import ks_2samp

        reference, incoming = _as_samples(reference, "reference", 1), _as_samples(incoming, "incoming", 1)
        result = ks_2samp(reference, incoming)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    else:
        if not isinstance(n_permutations, (int, np.integer)) or n_permutations < 19:
            raise ValueError(f"n_permutations must be an int >= 19, got {n_permutations!r}")
        reference, incoming = _as_samples(reference, "reference", 2), _as_samples(incoming, "incoming", 2)
        if reference.shape[1] != incoming.shape[1]:
            raise ValueError(f"reference and incoming need the same number of features, got "
                             f"{reference.shape[1]} and {incoming.shape[1]}")
        statistic, p_value = _mmd_permutation_test(reference, incoming, int(n_permutations), seed)
    return DriftResult(statistic=statistic, p_value=p_value, drift=bool(p_value < alpha), method=method)


# ------------------------------------------------------------------------------------ forgetting metrics
def _as_matrix(acc):
    acc = np.asarray(acc.detach().cpu().numpy() if isinstance(acc, torch.Tensor) else acc, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[0] != acc.shape[1] or acc.shape[0] < 2:
        raise ValueError(f"the accuracy matrix must be square (T, T) with T >= 2 stages, got shape {acc.shape}")
    if not np.all(np.isfinite(acc)):
        raise ValueError("the accuracy matrix holds NaN or infinite values")
    return acc


def backward_transfer(acc):
    """Backward transfer of an accuracy matrix R (T, T): mean over the earlier stages j < T-1 of
    R[T-1, j] - R[j, j], the change in stage j's score since just after it was learned (negative = forgetting)."""
    acc = _as_matrix(acc)
    last = len(acc) - 1
    return float(np.mean(acc[last, :last] - np.diag(acc)[:last]))


def average_forgetting(acc):
    """Average forgetting of R (T, T) (Chaudhry et al. 2018): mean over the earlier stages j < T-1 of the best
    score stage j ever had before the last stage, max over l < T-1 of R[l, j], minus its final score R[T-1, j].
    0 = nothing forgotten; unlike backward transfer it cannot be lifted by a stage that got better later."""
    acc = _as_matrix(acc)
    last = len(acc) - 1
    return float(np.mean(acc[:last, :last].max(axis=0) - acc[last, :last]))


def accuracy_matrix_summary(acc):
    """The usual numbers of an accuracy matrix R (T, T) as a dict: 'final_mean' (mean of the last row: every
    stage's score at the end), 'backward_transfer' and 'forgetting'."""
    acc = _as_matrix(acc)
    return {"final_mean": float(acc[-1].mean()), "backward_transfer": backward_transfer(acc),
            "forgetting": average_forgetting(acc)}


# ------------------------------------------------------------------------------------ rehearsal
class ReplayBuffer:
    """A fixed-size memory of past training images for rehearsal, filled by reservoir sampling (Vitter 1985):
    after ``n`` images have been offered, every one of them is in the buffer with the same probability
    ``capacity / n``, whichever stage it came from.

    ``add(images, labels)`` offers images (N, C, H, W) float32 and labels (N,); ``images`` and ``labels`` hold
    the current content (copies of at most ``capacity`` samples); ``len(buffer)`` how many. ``seed`` fixes the draw.
    """

    def __init__(self, capacity, seed=0):
        if not isinstance(capacity, (int, np.integer)) or capacity < 0:
            raise ValueError(f"capacity must be an int >= 0, got {capacity!r}")
        self.capacity, self.n_seen = int(capacity), 0
        self._rng = np.random.default_rng([seed, 192])
        self.images, self.labels = None, None

    def __len__(self):
        return 0 if self.labels is None else len(self.labels)

    def add(self, images, labels):
        """Offer images (N, C, H, W) and labels (N,) to the buffer (reservoir sampling); returns self."""
        images, labels = np.asarray(images, dtype=np.float32), np.asarray(labels)
        if images.ndim != 4 or labels.shape != (len(images),):
            raise ValueError(f"need images (N, C, H, W) and labels (N,), got {images.shape} and {labels.shape}")
        if self.images is None:
            self.images = np.empty((0, *images.shape[1:]), np.float32)
            self.labels = np.empty(0, labels.dtype)
        elif images.shape[1:] != self.images.shape[1:]:
            raise ValueError(f"images must have shape (N, {', '.join(map(str, self.images.shape[1:]))}) like the "
                             f"ones already stored, got {images.shape}")
        room = min(self.capacity - len(self), len(images))
        self.images = np.concatenate([self.images, images[:room]])
        self.labels = np.concatenate([self.labels, labels[:room]])
        for i in range(room, len(images)):   # buffer full: keep image i with probability capacity / (seen + 1)
            slot = self._rng.integers(self.n_seen + i + 1)
            if slot < self.capacity:
                self.images[slot], self.labels[slot] = images[i], labels[i]
        self.n_seen += len(images)
        return self


def replay_step(buffer, batch_size=32, seed=0, loss_fn=None):
    """A training step for ``train.fit`` that rehearses: every new mini-batch is trained together with a batch of
    ``batch_size`` samples drawn at random from ``buffer`` (experience replay, Chaudhry et al. 2019), so old and
    new sites weigh about equally in each step however small the buffer. An empty buffer gives plain training.
    Returns ``step(model, batch) -> loss``; the memory draws come from their own generator (``seed``)."""
    from labkit import train

    if not isinstance(buffer, ReplayBuffer):
        raise TypeError(f"buffer must be a ReplayBuffer, got {type(buffer).__name__}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    supervised, rng = train.supervised_step(loss_fn), np.random.default_rng([seed, 193])

    def step(model, batch):
        x, y = train.split_batch(batch)
        if len(buffer):
            pick = rng.integers(len(buffer), size=batch_size)
            x = torch.cat([x, torch.as_tensor(buffer.images[pick]).to(x.device)])
            y = torch.cat([y, torch.as_tensor(buffer.labels[pick]).to(device=y.device, dtype=y.dtype)])
        return supervised(model, (x, y))

    return step


# ------------------------------------------------------------------------------------ EWC
def anchor_parameters(model):
    """A detached copy of every trainable parameter of ``model``: {name: tensor} (the weights EWC pulls back to)."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def _single_logit(model, x):
    logits = model(x)
    if logits.dim() == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]
    if logits.dim() != 1:
        raise ValueError(f"fisher_diagonal needs a model with one output (a binary logit), got outputs "
                         f"{tuple(logits.shape)}")
    return logits


def fisher_diagonal(model, images, batch_size=64, device=None):
    """Diagonal Fisher information of a one-logit (binary) model at its current weights -> {name: tensor}.

    For a Bernoulli output p = sigmoid(z), the expectation over the model's own labels is exact:
    F_i = mean over images of p (1 - p) (dz / dtheta_i)^2. images (N, C, H, W) float32 (array or tensor).
    Per-image gradients come from torch.func (vmap of grad); the model is evaluated in eval mode.
    """
    from torch.func import functional_call, grad, vmap

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    x_all = torch.as_tensor(np.asarray(images, dtype=np.float32) if not isinstance(images, torch.Tensor) else images)
    if x_all.dim() != 4 or len(x_all) == 0:
        raise ValueError(f"images must be a non-empty (N, C, H, W) batch, got shape {tuple(x_all.shape)}")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    logit = lambda p, x: _single_logit(lambda inp: functional_call(model, (p, buffers), (inp,)), x[None])[0]
    total = {k: torch.zeros_like(v) for k, v in params.items()}
    for start in range(0, len(x_all), batch_size):
        x = x_all[start:start + batch_size].to(device)
        grads = vmap(grad(logit), in_dims=(None, 0))(params, x)
        with torch.no_grad():
            prob = torch.sigmoid(_single_logit(model, x))
            weight = prob * (1 - prob)
        for k, g in grads.items():
            total[k] += torch.einsum("n,n...->...", weight, g ** 2)
    model.train(was_training)
    return {k: v / len(x_all) for k, v in total.items()}


def _check_same_keys(model, fisher, anchor):
    names = {name for name, p in model.named_parameters() if p.requires_grad}
    for what, d in (("fisher", fisher), ("anchor", anchor)):
        if not isinstance(d, dict) or set(d) != names:
            got = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"{what} must be a dict with one tensor per trainable parameter of the model "
                             f"({len(names)} names, e.g. from fisher_diagonal / anchor_parameters), got {got!r:.200}")


def ewc_penalty(model, fisher, anchor):
    """EWC penalty sum_i F_i (theta_i - theta*_i)^2 (a scalar tensor with gradient; multiply by lambda / 2).

    fisher, anchor: {parameter name: tensor} from :func:`fisher_diagonal` and :func:`anchor_parameters`."""
    _check_same_keys(model, fisher, anchor)
    return sum((fisher[name] * (p - anchor[name]) ** 2).sum() for name, p in model.named_parameters()
               if p.requires_grad)


def ewc_step(fisher, anchor, strength, loss_fn=None):
    """A training step for ``train.fit``: the supervised loss plus (strength / 2) * :func:`ewc_penalty`.

    strength (lambda) >= 0; 0 gives plain fine-tuning. Returns ``step(model, batch) -> (loss, {'ewc_penalty'})``.
    """
    from labkit import train

    if not isinstance(strength, (int, float)) or strength < 0:
        raise ValueError(f"strength must be a number >= 0, got {strength!r}")
    supervised = train.supervised_step(loss_fn)

    def step(model, batch):
        loss = supervised(model, batch)
        penalty = ewc_penalty(model, fisher, anchor)
        return loss + strength / 2 * penalty, {"ewc_penalty": float(penalty.detach())}

    return step


# ------------------------------------------------------------------------------------ display
def plot_accuracy_matrix(acc, names, ax=None, title="Accuracy matrix"):
    """Heatmap of an accuracy matrix R (T, T) (rows: after training stage i; columns: test set of site j) with
    each value written in its cell; ``names`` (T,) label the sites. Returns the axes."""
    import matplotlib.pyplot as plt

    acc = _as_matrix(acc)
    if len(names) != len(acc):
        raise ValueError(f"names must have one entry per stage ({len(acc)}), got {len(names)}")
    ax = ax if ax is not None else plt.subplots(figsize=(3.6, 3.2))[1]
    ax.imshow(acc, cmap="viridis", vmin=0.5, vmax=1.0)
    for i in range(len(acc)):
        for j in range(len(acc)):
            ax.text(j, i, f"{acc[i, j]:.2f}", ha="center", va="center", color="white" if acc[i, j] < 0.8 else "black")
    ax.set_xticks(range(len(acc)), [f"test {n}" for n in names])
    ax.set_yticks(range(len(acc)), [f"after {n}" for n in names])
    ax.set_title(title)
    return ax
