"""Widgets for Part IV, continual learning and human-AI collaboration (19_continual_learning,
20_human_ai_collaboration)."""

import numpy as np

from labkit.widgets.base import as_gray_image, interactive_plot

__all__ = ["drift_summary", "drift_explorer", "decision_summary", "decision_explorer"]


# ------------------------------------------------------------------------------------ 19: drift monitoring
def _check_drift_inputs(reference, incoming, strengths):
    reference = np.asarray(reference, dtype=np.float64)
    incoming = np.asarray(incoming, dtype=np.float64)
    strengths = np.asarray(strengths, dtype=np.float64)
    if reference.ndim != 1 or len(reference) < 2:
        raise ValueError(f"reference must be 1-D values (N,) with N >= 2, got shape {reference.shape}")
    if incoming.ndim != 2 or incoming.shape[0] != len(strengths) or incoming.shape[1] < 2:
        raise ValueError(f"incoming must be (S, M) values, one row per strength ({len(strengths)} strengths), "
                         f"got shape {incoming.shape}")
    if len(strengths) == 0 or np.any(np.diff(strengths) <= 0):
        raise ValueError(f"strengths must be increasing, got {strengths.tolist()}")
    return reference, incoming, strengths


def drift_summary(reference, incoming, strengths, strength, batch_size, alpha=0.05, n_batches=50, seed=0):
    """KS drift test of ``n_batches`` incoming batches of ``batch_size`` values drawn (without replacement) from
    the row of ``incoming`` (S, M) nearest ``strength`` against ``reference`` (N,) -> dict: 'strength' (the row
    used), 'alarm_rate' (share of batches flagged at ``alpha``), 'p_values' (n_batches,), 'batch' (the first
    batch's values)."""
    from labkit import continual

    reference, incoming, strengths = _check_drift_inputs(reference, incoming, strengths)
    if not isinstance(batch_size, (int, np.integer)) or not 2 <= batch_size <= incoming.shape[1]:
        raise ValueError(f"batch_size must be an int in [2, {incoming.shape[1]}], got {batch_size!r}")
    row = int(np.argmin(np.abs(strengths - float(strength))))
    rng = np.random.default_rng([seed, 194])
    batches = [incoming[row, rng.choice(incoming.shape[1], batch_size, replace=False)] for _ in range(n_batches)]
    p_values = np.array([continual.drift_test(reference, b, "ks", alpha).p_value for b in batches])
    return {"strength": float(strengths[row]), "alarm_rate": float(np.mean(p_values < alpha)),
            "p_values": p_values, "batch": batches[0]}


def drift_explorer(reference, incoming, strengths, alpha=0.05, seed=0):
    """Sliders for the shift strength and the size of an incoming batch: the reference and incoming histograms of
    predicted probabilities, and how often the KS test raises an alarm over 50 batches (at strength 0 that is
    the false-alarm rate). incoming (S, M): predicted probabilities on images at each of ``strengths``."""
    import matplotlib.pyplot as plt

    reference, incoming, strengths = _check_drift_inputs(reference, incoming, strengths)
    top = min(200, incoming.shape[1])

    def draw(strength, batch_size):
        s = drift_summary(reference, incoming, strengths, strength, batch_size, alpha, seed=seed)
        fig, axes = plt.subplots(1, 2, figsize=(8.5, 3))
        bins = np.linspace(0, 1, 21)
        axes[0].hist(reference, bins=bins, density=True, alpha=0.6, label="reference (site A)")
        axes[0].hist(s["batch"], bins=bins, density=True, alpha=0.6, label=f"one incoming batch (n={batch_size})")
        axes[0].set(xlabel="predicted probability of a lesion", ylabel="density",
                    title=f"shift strength {s['strength']:.2f}")
        axes[0].legend()
        axes[1].hist(s["p_values"], bins=np.linspace(0, 1, 21), color="#009E73")
        axes[1].axvline(alpha, color="#D55E00", linestyle="--", label=f"alpha = {alpha}")
        axes[1].set(xlabel="KS p-value", ylabel="batches (of 50)",
                    title=f"alarm in {s['alarm_rate']:.0%} of batches")
        axes[1].legend()
        fig.tight_layout()
        return fig

    return interactive_plot(draw, strength=(float(strengths[0]), float(strengths[-1]),
                                            float(np.min(np.diff(strengths))) if len(strengths) > 1 else 0.1,
                                            float(strengths[len(strengths) // 2])),
                            batch_size=(10, int(top), 10, min(50, int(top))))


# ------------------------------------------------------------------------------------ 20: a decision aid
def decision_summary(samples, threshold=0.5, conformal_q=None, defer_above=None):
    """One case's stochastic probabilities ``samples`` (S,) -> dict: 'prob' (mean), 'std', 'entropy' (bits),
    'ai_call' (0/1 at ``threshold``), 'set' (tuple of classes in the conformal set when ``conformal_q`` is given),
    'defer' (True when the entropy exceeds ``defer_above``, or when the conformal set is not a single class) and a
    one-line 'advice'."""
    from labkit import uncertainty

    s = np.asarray(samples, dtype=np.float64).reshape(-1)
    if s.size < 2 or np.any((s < 0) | (s > 1)) or not np.all(np.isfinite(s)):
        raise ValueError(f"samples must be at least 2 probabilities in [0, 1], got {s.size} values")
    prob = float(s.mean())
    entropy = float(uncertainty.binary_entropy(prob))
    out = {"prob": prob, "std": float(s.std()), "entropy": entropy, "ai_call": int(prob >= threshold)}
    defer = defer_above is not None and entropy > defer_above
    if conformal_q is not None:
        out["set"] = tuple(int(k) for k in np.flatnonzero(uncertainty.prediction_sets([prob], conformal_q)[0]))
        defer = defer or len(out["set"]) != 1
    out["defer"] = bool(defer)
    call = "lesion" if out["ai_call"] else "no lesion"
    out["advice"] = "uncertain: send to the reader" if defer else f"AI reads it: {call}"
    return out


def decision_explorer(images, samples, maps, threshold=0.5, conformal_q=None, defer_above=None, labels=None):
    """A case slider over a few cases: the image, its attribution map, the spread of its stochastic probabilities
    (e.g. ensemble members and dropout samples) and the advice of :func:`decision_summary`.

    images (N, 1, H, W) or (N, H, W); samples (S, N) probabilities; maps (N, H, W) attribution maps; labels (N,)
    optional, shown with a checkbox 'show_truth' (off at first, as a reader would see the case)."""
    import matplotlib.pyplot as plt

    from labkit import plots

    images = np.asarray(images)
    images = images[:, 0] if images.ndim == 4 else images
    samples, maps = np.asarray(samples, dtype=np.float64), np.asarray(maps, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != len(images) or maps.shape[:1] != images.shape[:1]:
        raise ValueError(f"need images (N, H, W), samples (S, N) and maps (N, H, W) for the same N cases; got "
                         f"{images.shape}, {samples.shape}, {maps.shape}")
    as_gray_image(images[0]), as_gray_image(maps[0], "maps[0]")

    def draw(case, show_truth):
        s = decision_summary(samples[:, case], threshold, conformal_q, defer_above)
        fig, axes = plt.subplots(1, 3, figsize=(9, 3))
        truth = f", truth: {'lesion' if labels[case] else 'none'}" if show_truth and labels is not None else ""
        plots.show_image(images[case], ax=axes[0], title=f"case {case}{truth}", vmin=0, vmax=1)
        axes[1].imshow(maps[case], cmap="viridis")
        axes[1].set_title("attribution (where the evidence is)")
        axes[1].axis("off")
        axes[2].hist(samples[:, case], bins=np.linspace(0, 1, 21), color="#0072B2")
        axes[2].axvline(threshold, color="#D55E00", linestyle="--", label="threshold")
        axes[2].set(xlabel="P(lesion) per sample", ylabel="samples", xlim=(0, 1),
                    title=f"p = {s['prob']:.2f} +- {s['std']:.2f}, entropy {s['entropy']:.2f} bits")
        axes[2].legend()
        extra = f" | conformal set {list(s['set'])}" if "set" in s else ""
        fig.suptitle(f"{s['advice']}{extra}", fontsize=10)
        fig.tight_layout()
        return fig

    return interactive_plot(draw, case=(0, len(images) - 1, 1, 0), show_truth=False)
