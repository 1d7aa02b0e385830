"""Widgets for Part IV, privacy, deployment and the capstone (21_privacy_ethics, 22_clinical_deployment,
23_capstone)."""

import numpy as np

from labkit.widgets.base import interactive_plot

__all__ = ["fairness_summary", "fairness_explorer", "monitoring_summary", "monitoring_explorer"]


def fairness_summary(y_true, probs, groups, threshold):
    """Per-group sensitivity and specificity at one ``threshold`` and the equalised-odds gap -> dict with 'rates'
    ({group: {...}} from :func:`labkit.privacy.group_rates`) and 'gap' (float)."""
    from labkit import privacy

    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    rates = privacy.group_rates(y_true, probs, groups, float(threshold))
    if len(rates) < 2:
        raise ValueError(f"need at least two groups to compare, got {list(rates)}")
    return {"rates": rates, "gap": privacy.equalised_odds_gap(rates)}


def fairness_explorer(y_true, probs, groups):
    """Threshold slider: each group's sensitivity and specificity as bars, and the equalised-odds gap."""
    import matplotlib.pyplot as plt

    fairness_summary(y_true, probs, groups, 0.5)  # bad input fails here, at build time

    def draw(threshold):
        s = fairness_summary(y_true, probs, groups, threshold)
        names = [str(k) for k in s["rates"]]
        x = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.bar(x - 0.2, [r["sensitivity"] for r in s["rates"].values()], 0.4, label="sensitivity")
        ax.bar(x + 0.2, [r["specificity"] for r in s["rates"].values()], 0.4, label="specificity")
        ax.set(xticks=x, xticklabels=names, ylim=(0, 1.05), xlabel="group", ylabel="rate",
               title=f"threshold {threshold:.2f}: equalised-odds gap {s['gap']:.2f}")
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        return fig

    return interactive_plot(draw, threshold=(0.0, 1.0, 0.01, 0.5))


def monitoring_summary(reference, daily, day, window=7, alpha=0.01):
    """Drift check on the ``window`` days up to ``day`` (0-based) against ``reference`` values.

    daily: list of 1-D arrays, one per day (e.g. a logged input statistic). Returns dict with 'p_value', 'drift'
    (p < alpha, :func:`labkit.continual.drift_test` with the KS test), 'statistic' and 'days' (first, last).
    """
    from labkit import continual

    if not isinstance(daily, (list, tuple)) or not daily:
        raise ValueError("daily must be a non-empty list of 1-D arrays, one per day")
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive int, got {window!r}")
    day = int(day)
    if not 0 <= day < len(daily):
        raise ValueError(f"day must be in [0, {len(daily) - 1}], got {day}")
    first = max(0, day - window + 1)
    recent = np.concatenate([np.asarray(d, float).ravel() for d in daily[first:day + 1]])
    result = continual.drift_test(np.asarray(reference, float).ravel(), recent, method="ks", alpha=alpha)
    return {"p_value": result.p_value, "drift": result.drift, "statistic": result.statistic, "days": (first, day)}


def monitoring_explorer(reference, daily, window=7, alpha=0.01, label="logged value"):
    """Day slider: the last ``window`` days' values against the reference (histograms) and the daily mean over the
    month, with the drift verdict of that day."""
    import matplotlib.pyplot as plt

    monitoring_summary(reference, daily, 0, window, alpha)  # bad input fails here, at build time
    means = [float(np.mean(d)) for d in daily]

    def draw(day):
        s = monitoring_summary(reference, daily, day, window, alpha)
        recent = np.concatenate([np.ravel(d) for d in daily[s["days"][0]:day + 1]])
        fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3))
        bins = np.histogram_bin_edges(np.r_[np.ravel(reference), recent], bins=30)
        left.hist(np.ravel(reference), bins=bins, density=True, alpha=0.6, label="reference")
        left.hist(recent, bins=bins, density=True, alpha=0.6, label=f"days {s['days'][0] + 1}-{day + 1}")
        left.set(xlabel=label, ylabel="density", title=f"KS p = {s['p_value']:.2g}: "
                 f"{'DRIFT' if s['drift'] else 'no drift'} (alpha {alpha})")
        left.legend(fontsize=7)
        right.plot(np.arange(1, len(daily) + 1), means, marker="o", ms=3)
        right.axvspan(s["days"][0] + 0.5, day + 1.5, color="0.85")
        right.set(xlabel="day", ylabel=f"daily mean {label}", title="the month")
        fig.tight_layout()
        return fig

    return interactive_plot(draw, day=(0, len(daily) - 1, 1, len(daily) - 1))
