"""Calibration: do predicted probabilities mean what they say? Reliability diagrams, expected calibration error
(ECE), Brier score, negative log-likelihood, and temperature scaling.

Introduced in 17_evaluation_validation.ipynb (the lesson computes the bins, the ECE, the Brier score and the
temperature by hand first). ``calibration_bins``, ``calibration_curve``, ``brier_score`` (lesson 05) and
``expected_calibration_error`` are those of :mod:`labkit.metrics`, re-exported here so that everything about
calibration is in one place.

A model is **calibrated** when, among the cases it gives a probability of about 0.8, about 80 % are positive.
Ranking metrics (ROC-AUC) cannot see calibration: dividing every logit by a temperature T > 0 keeps the ranking
and so the AUC, but moves every probability towards 0.5 (T > 1) or away from it (T < 1).
"""

import numpy as np

from labkit.metrics import brier_score, calibration_bins, calibration_curve, expected_calibration_error, to_numpy

__all__ = ["calibration_bins", "calibration_curve", "expected_calibration_error", "brier_score", "log_loss", "apply_temperature",
           "fit_temperature", "plot_reliability"]

_EPS = 1e-7


def _labels01(y_true):
    y = to_numpy(y_true, "y_true")
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y_true must be a non-empty 1-D array of 0/1 labels, got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"y_true must hold 0/1 labels, got values {np.unique(y)[:6]}")
    return y.astype(np.int64)


def _binary(y_true, probs):
    """Checked (labels (N,) int64 in {0, 1}, probs (N,) float64 in [0, 1])."""
    y = _labels01(y_true)
    p = to_numpy(probs, "probs").astype(np.float64)
    if p.shape != y.shape:
        raise ValueError(f"y_true and probs must be 1-D arrays of the same length, got shapes {y.shape} and {p.shape}")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"probs must be probabilities in [0, 1], got range [{np.nanmin(p):.3g}, {np.nanmax(p):.3g}]")
    return y.astype(np.int64), p


def log_loss(y_true, probs):
    """Negative log-likelihood per case, -mean(y log p + (1 - y) log(1 - p)) (float >= 0; probabilities are
    clipped to [1e-7, 1 - 1e-7]). The quantity temperature scaling minimises; scikit-learn's ``log_loss``."""
    y, p = _binary(y_true, probs)
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _logits(logits):
    z = to_numpy(logits, "logits").astype(np.float64)
    if z.ndim != 1 or len(z) == 0 or not np.all(np.isfinite(z)):
        raise ValueError(f"logits must be a non-empty 1-D array of finite numbers (one logit per case), "
                         f"got shape {z.shape}")
    return z


def apply_temperature(logits, temperature):
    """Probabilities sigmoid(logits / T) for binary logits (N,) -> (N,) float64 in (0, 1); T > 0."""
    if not np.isscalar(temperature) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    return 1.0 / (1.0 + np.exp(-_logits(logits) / float(temperature)))


def fit_temperature(logits, y_true, bounds=(0.05, 20.0)):
    """The temperature T in ``bounds`` that minimises the log loss of sigmoid(logits / T) on (validation) cases.

    logits: (N,) binary logits; y_true: (N,) 0/1 labels. One number is fitted, so the ranking (and the AUC) is
    unchanged; T > 1 means the model was over-confident. Fit it on validation data, never on the test set.
    Solved by scipy's bounded scalar minimiser on log T.
    """
    from scipy.optimize import minimize_scalar

    z = _logits(logits)
    y = _labels01(y_true)
    if len(y) != len(z):
        raise ValueError(f"logits and y_true must have the same length, got {len(z)} and {len(y)}")
    if not 0 < bounds[0] < bounds[1]:
        raise ValueError(f"bounds must be (low, high) with 0 < low < high, got {bounds}")

    def loss(log_t):
        return log_loss(y, apply_temperature(z, float(np.exp(log_t))))

    result = minimize_scalar(loss, bounds=np.log(bounds), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


def plot_reliability(y_true, probs, n_bins=10, ax=None, label=None, color=None):
    """Reliability diagram: observed share of positives against mean predicted probability per bin (markers sized
    by the number of cases), with the diagonal of perfect calibration. Returns the axes."""
    import matplotlib.pyplot as plt

    y, p = _binary(y_true, probs)
    conf, rate, counts = calibration_bins(y, p, n_bins)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, label="perfect calibration")
    filled = counts > 0
    ece = expected_calibration_error(y, p, n_bins)
    text = f"{label}: ECE {ece:.3f}" if label else f"ECE {ece:.3f}"
    ax.plot(conf[filled], rate[filled], "-", color=color, lw=1.5, label=text)
    ax.scatter(conf[filled], rate[filled], s=10 + 150 * counts[filled] / counts.max(), color=color, zorder=3)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability (per bin)",
           ylabel="observed share of lesions (per bin)", title=ax.get_title() or "Reliability diagram")
    ax.legend(loc="upper left", fontsize=8)
    return ax
