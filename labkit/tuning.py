"""Training-regime helpers: early stopping, learning-rate range test, random hyperparameter search.

``early_stopping_epoch`` introduced in 07_overfitting.ipynb; ``log_uniform_sample``, ``lr_range_test``,
``lr_range_suggestion`` and ``sample_configs`` introduced in 08_hyperparameters.ipynb.
"""

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["LRRangeResult", "early_stopping_epoch", "log_uniform_sample", "lr_range_test", "lr_range_suggestion",
           "smooth_losses", "sample_configs"]


def _losses_array(values, name):
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, got shape {arr.shape}")
    return arr


def early_stopping_epoch(val_losses, patience):
    """Index (0-based) of the epoch whose weights early stopping keeps, as :func:`labkit.train.fit` does.

    val_losses: (E,) validation losses, one per epoch; patience: int >= 1, how many epochs without a strict
    improvement end training. NaN never counts as an improvement. Epochs after the stop are never seen, so
    a lower loss later in ``val_losses`` does not matter. Returns None if every loss is NaN.
    """
    losses = _losses_array(val_losses, "val_losses")
    if not isinstance(patience, (int, np.integer)) or isinstance(patience, bool) or patience < 1:
        raise ValueError(f"patience must be an int >= 1, got {patience!r}")
    best, best_value, waited = None, math.inf, 0
    for epoch, value in enumerate(losses):
        if value < best_value:  # False for NaN
            best, best_value, waited = epoch, value, 0
        else:
            waited += 1
            if waited >= patience:
                break
    return best


def log_uniform_sample(low, high, n, seed=0):
    """``n`` numbers drawn log-uniformly from [low, high] (each decade equally likely) -> (n,) float64.

    low, high: 0 < low <= high. Uses a local ``np.random.default_rng(seed)``.
    """
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
        raise ValueError(f"need 0 < low <= high (finite), got low={low!r}, high={high!r}")
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    rng = np.random.default_rng(seed)
    return np.exp(rng.uniform(np.log(low), np.log(high), size=n))


def smooth_losses(losses, beta=0.9):
    """Exponential moving average of ``losses`` (N,) with bias correction (as in Adam) -> (N,) float64.

    beta in [0, 1): 0 returns the losses unchanged; larger values smooth more. Non-finite values propagate.
    """
    losses = _losses_array(losses, "losses")
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta!r}")
    out, avg = np.empty_like(losses), 0.0
    for i, value in enumerate(losses):
        avg = beta * avg + (1 - beta) * value
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def lr_range_suggestion(lrs, losses):
    """Suggested learning rate from an LR range test: the LR of the lowest finite loss, divided by 10.

    lrs, losses: (N,) same length; non-finite losses (a diverged run) are ignored. Returns a float.
    """
    lrs, losses = _losses_array(lrs, "lrs"), _losses_array(losses, "losses")
    if lrs.shape != losses.shape:
        raise ValueError(f"lrs and losses must have the same length, got {lrs.shape} and {losses.shape}")
    finite = np.isfinite(losses)
    if not finite.any():
        raise ValueError("every loss is NaN or infinite: the range test diverged at once; lower lr_min")
    return float(lrs[np.flatnonzero(finite)[np.argmin(losses[finite])]] / 10)


@dataclass(frozen=True)
class LRRangeResult:
    """An LR range test: lrs, losses (raw, per mini-batch) and smoothed, all (S,) float64; the suggested lr."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float


def _cycle(loader):
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("the loader is empty")


def lr_range_test(model, loader, lr_min=1e-6, lr_max=10.0, n_steps=100, optimizer=None, loss_fn=None,
                  beta=0.9, diverge=4.0, device=None, seed=0):
    """Train for ``n_steps`` mini-batches with an LR growing exponentially from lr_min to lr_max; record losses.

    Stops early once the smoothed loss exceeds ``diverge`` times its lowest value (or a loss is not finite).
    optimizer: a function params -> torch optimizer (default Adam); its lr is overwritten at every step.
    The model's weights (and BatchNorm statistics) are restored afterwards, so it can then be trained for real.
    Returns an :class:`LRRangeResult`; the suggestion is :func:`lr_range_suggestion` of the smoothed losses.
    """
    from labkit import train
    from labkit.config import pick_device

    if not (0 < lr_min < lr_max) or not isinstance(n_steps, int) or n_steps < 2:
        raise ValueError(f"need 0 < lr_min < lr_max and an int n_steps >= 2, got {lr_min}, {lr_max}, {n_steps}")
    device = pick_device(device)
    saved = copy.deepcopy(model.state_dict())
    model.to(device).train()
    opt = (optimizer or torch.optim.Adam)(model.parameters())
    lrs = lr_min * (lr_max / lr_min) ** (np.arange(n_steps) / (n_steps - 1))
    losses = []
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for lr, batch in zip(lrs, _cycle(loader)):
            for group in opt.param_groups:
                group["lr"] = float(lr)
            losses.append(train.train_epoch(model, [batch], loss_fn, opt, device))  # one mini-batch
            smoothed = smooth_losses(losses, beta)
            if not np.isfinite(losses[-1]) or smoothed[-1] > diverge * np.nanmin(smoothed):
                break
    model.load_state_dict(saved)
    lrs, losses = lrs[:len(losses)], np.asarray(losses, dtype=np.float64)
    smoothed = smooth_losses(losses, beta)
    return LRRangeResult(lrs, losses, smoothed, lr_range_suggestion(lrs, smoothed))


def sample_configs(space, n_trials, seed=0):
    """``n_trials`` random configurations from ``space`` -> list of dicts name -> value.

    space: name -> ``("log", low, high)`` (log-uniform float), ``("uniform", low, high)`` (float), or a list
    of choices (one picked uniformly). Each name gets its own local generator derived from ``seed``.
    """
    if not isinstance(space, dict) or not space:
        raise ValueError(f"space must be a non-empty dict name -> spec, got {space!r}")
    columns = {}
    for i, (name, spec) in enumerate(space.items()):
        rng = np.random.default_rng([seed, i])
        if isinstance(spec, list) and spec:
            columns[name] = [spec[j] for j in rng.integers(len(spec), size=n_trials)]
        elif isinstance(spec, tuple) and len(spec) == 3 and spec[0] == "log":
            columns[name] = log_uniform_sample(spec[1], spec[2], n_trials, seed=[seed, i]).tolist()
        elif isinstance(spec, tuple) and len(spec) == 3 and spec[0] == "uniform" and spec[1] <= spec[2]:
            columns[name] = rng.uniform(spec[1], spec[2], n_trials).tolist()
        else:
            raise ValueError(f"space[{name!r}] must be ('log', low, high), ('uniform', low, high) or a non-empty "
                             f"list of choices, got {spec!r}")
    return [{name: values[t] for name, values in columns.items()} for t in range(n_trials)]
