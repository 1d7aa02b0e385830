"""Widgets of the privacy and deployment lessons (fairness thresholds, post-deployment monitoring), driven without a
browser."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit import continual, widgets

matplotlib.use("Agg")


def _month(shift_from=15, n_days=28, per_day=20, seed=0):
    rng = np.random.default_rng(seed)
    daily = [rng.normal(1.0 if day >= shift_from else 0.0, 1.0, per_day) for day in range(n_days)]
    return rng.normal(0.0, 1.0, 300), daily


def test_monitoring_summary_flags_the_shifted_days_only():
    reference, daily = _month()
    early, late = widgets.monitoring_summary(reference, daily, 6), widgets.monitoring_summary(reference, daily, 27)
    assert early["days"] == (0, 6) and late["days"] == (21, 27)
    assert not early["drift"] and late["drift"]
    want = continual.drift_test(reference, np.concatenate(daily[21:28]), method="ks", alpha=0.01)
    assert late["p_value"] == pytest.approx(want.p_value) and late["statistic"] == pytest.approx(want.statistic)
    assert widgets.monitoring_summary(reference, daily, 2)["days"] == (0, 2)   # a window cut at day 0


def test_monitoring_summary_refuses_bad_input():
    reference, daily = _month()
    with pytest.raises(ValueError, match="non-empty list"):
        widgets.monitoring_summary(reference, [], 0)
    with pytest.raises(ValueError, match="window"):
        widgets.monitoring_summary(reference, daily, 3, window=0)
    with pytest.raises(ValueError, match="day must be"):
        widgets.monitoring_summary(reference, daily, 28)


def test_monitoring_explorer_redraws_and_refuses_bad_input():
    reference, daily = _month()
    box = widgets.monitoring_explorer(reference, daily, window=7, alpha=0.01, label="noise")
    assert box.last_error is None
    assert box.update(day=3) is None and box.update(day=20) is None
    assert plt.get_fignums() == []
    with pytest.raises(ValueError, match="non-empty list"):
        widgets.monitoring_explorer(reference, np.zeros(5))


def _fairness_data(seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(["A", "B"], 200)
    y = rng.integers(0, 2, 400)
    probs = np.clip(0.5 + (y - 0.5) * np.where(groups == "A", 0.6, 0.2) + rng.normal(0, 0.2, 400), 0, 1)
    return y, probs, groups


def test_fairness_summary_and_explorer():
    y, probs, groups = _fairness_data()
    summary = widgets.fairness_summary(y, probs, groups, 0.5)
    assert set(summary["rates"]) == {"A", "B"} and 0 <= summary["gap"] <= 1
    assert summary["rates"]["A"]["sensitivity"] > summary["rates"]["B"]["sensitivity"]
    box = widgets.fairness_explorer(y, probs, groups)
    assert box.last_error is None and box.update(threshold=0.3) is None
    with pytest.raises(ValueError, match="threshold"):
        widgets.fairness_summary(y, probs, groups, 1.5)
    with pytest.raises(ValueError, match="two groups"):
        widgets.fairness_explorer(y, probs, np.repeat("A", 400))
