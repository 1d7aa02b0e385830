"""Widgets for Part IV, evaluation and data quality (17_evaluation_validation, 18_data_quality).

``calibration_summary`` / ``calibration_explorer``: what a temperature does to the probabilities of a model
(reliability diagram, ECE, Brier score, log loss; the AUC never moves). ``review_summary`` / ``review_explorer``:
how many wrong labels an expert finds by re-reading the k most suspicious samples of a ranking.
"""

import numpy as np

from labkit.widgets.base import interactive_plot

__all__ = ["calibration_summary", "calibration_explorer", "review_summary", "review_explorer"]


def _binary_pair(y_true, scores, what):
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.shape != y.shape or len(y) < 2:
        raise ValueError(f"y_true and {what} must be 1-D arrays of the same length (>= 2), got shapes {y.shape} "
                         f"and {s.shape}")
    if not np.isin(y, (0, 1)).all() or len(np.unique(y)) < 2:
        raise ValueError(f"y_true must hold 0/1 labels with both classes present, got values {np.unique(y)[:6]}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{what} must be finite numbers")
    return y.astype(np.int64), s


def calibration_summary(logits, y_true, temperature, n_bins=10):
    """Calibration of sigmoid(logits / temperature) -> dict with 'ece', 'brier', 'log_loss', 'auc' (floats) and
    'bins' = (mean confidence, observed rate, counts), each (n_bins,)."""
    from labkit import calibration, metrics

    y, z = _binary_pair(y_true, logits, "logits")
    probs = calibration.apply_temperature(z, temperature)
    return {"temperature": float(temperature), "ece": calibration.expected_calibration_error(y, probs, n_bins),
            "brier": calibration.brier_score(y, probs), "log_loss": calibration.log_loss(y, probs),
            "auc": metrics.roc_auc(y, probs), "bins": calibration.calibration_bins(y, probs, n_bins)}


def calibration_explorer(logits, y_true, n_bins=10, title="test set"):
    """Slider for log2 of the temperature (-2 .. 2: T from 0.25 to 4); draws the reliability diagram and the
    histogram of probabilities, and prints ECE, Brier score, log loss and AUC."""
    import matplotlib.pyplot as plt

    from labkit import calibration

    y, z = _binary_pair(y_true, logits, "logits")
    if not isinstance(n_bins, int) or n_bins < 2:
        raise ValueError(f"n_bins must be an int >= 2, got {n_bins!r}")

    def draw(log2_temperature):
        t = 2.0 ** log2_temperature
        s = calibration_summary(z, y, t, n_bins)
        probs = calibration.apply_temperature(z, t)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.6))
        calibration.plot_reliability(y, probs, n_bins, ax=ax1, label=f"T = {t:.2f}", color="#0072B2")
        ax1.set_title(f"Reliability, {title}")
        ax2.hist([probs[y == 0], probs[y == 1]], bins=20, range=(0, 1), label=["no lesion", "lesion"])
        ax2.set(xlabel="predicted probability of a lesion", ylabel="cases", title="Probabilities by true class")
        ax2.legend(fontsize=8)
        fig.tight_layout()
        print(f"T = {t:.2f}: ECE {s['ece']:.3f} | Brier {s['brier']:.3f} | log loss {s['log_loss']:.3f} | "
              f"AUC {s['auc']:.3f} (a temperature never changes the ranking)")

    return interactive_plot(draw, log2_temperature=(-2.0, 2.0, 0.1, 0.0))


def review_summary(ranking, is_wrong, k):
    """Re-read the first k samples of ``ranking`` -> dict with 'k', 'found' (wrong labels among them),
    'precision', 'recall', 'random_found' (expected for k random samples) and 'n_wrong'."""
    ranking, is_wrong = np.asarray(ranking), np.asarray(is_wrong, dtype=bool)
    if ranking.ndim != 1 or is_wrong.ndim != 1 or len(ranking) != len(is_wrong) or len(ranking) == 0:
        raise ValueError(f"ranking and is_wrong must be 1-D and of the same length, got shapes {ranking.shape} "
                         f"and {is_wrong.shape}")
    if not np.array_equal(np.sort(ranking), np.arange(len(ranking))):
        raise ValueError("ranking must be a permutation of 0..N-1 (every sample once)")
    k = int(k)
    if not 0 <= k <= len(ranking):
        raise ValueError(f"k must be in [0, {len(ranking)}], got {k}")
    found, n_wrong = int(is_wrong[ranking[:k]].sum()), int(is_wrong.sum())
    return {"k": k, "found": found, "precision": found / k if k else float("nan"),
            "recall": found / n_wrong if n_wrong else float("nan"), "random_found": k * n_wrong / len(ranking),
            "n_wrong": n_wrong}


def review_explorer(ranking, is_wrong, images=None, labels=None):
    """Slider for the review budget k (samples re-read by an expert); draws wrong labels found against k for the
    ranking and for a random order, and (with ``images`` (N, 1, H, W) and ``labels``) the next 6 suspects."""
    import matplotlib.pyplot as plt

    ranking, is_wrong = np.asarray(ranking), np.asarray(is_wrong, dtype=bool)
    review_summary(ranking, is_wrong, 0)   # refuses bad input at build time
    if images is not None and (len(images) != len(ranking) or labels is None or len(labels) != len(ranking)):
        raise ValueError("images and labels must both be given, one per sample of the ranking")
    curve = np.r_[0, np.cumsum(is_wrong[ranking])]
    n = len(ranking)

    def draw(k):
        s = review_summary(ranking, is_wrong, k)
        n_panels = 7 if images is not None else 1
        fig = plt.figure(figsize=(11, 3.2))
        ax = fig.add_subplot(1, 2 if images is not None else 1, 1)
        ax.plot(np.arange(n + 1), curve, color="#0072B2", label="by out-of-fold loss")
        ax.plot([0, n], [0, s["n_wrong"]], ls="--", color="0.5", label="random order")
        ax.axvline(s["k"], color="#D55E00", lw=1)
        ax.set(xlabel="samples re-read (k)", ylabel="wrong labels found", title=f"Review budget k = {s['k']}")
        ax.legend(fontsize=8, loc="lower right")
        if images is not None:
            shown = ranking[s["k"]:s["k"] + n_panels - 1]
            for j, i in enumerate(shown):
                axi = fig.add_subplot(2, 6, 4 + j + (3 if j >= 3 else 0))
                axi.imshow(np.asarray(images[i]).reshape(images.shape[-2:]), cmap="gray", vmin=0, vmax=1)
                axi.set_title(f"#{s['k'] + j + 1} label {int(labels[i])}" + (" (wrong)" if is_wrong[i] else ""),
                              fontsize=7)
                axi.axis("off")
        fig.tight_layout()
        print(f"k = {s['k']}: found {s['found']} of {s['n_wrong']} wrong labels (precision {s['precision']:.2f}, "
              f"recall {s['recall']:.2f}); a random order would find about {s['random_found']:.0f}")

    return interactive_plot(draw, k=(0, n, 1, min(n, int(is_wrong.sum()))))
