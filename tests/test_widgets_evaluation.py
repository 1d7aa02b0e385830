"""Widgets of the evaluation and data-quality lessons (calibration, label review), driven without a browser."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit import calibration, widgets

matplotlib.use("Agg")


def _logits(n=300, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 4, n)
    return z, (rng.random(n) < 1 / (1 + np.exp(-z / 2.5))).astype(np.int64)


def test_calibration_summary_moves_with_temperature_but_auc_does_not():
    z, y = _logits()
    cold, fitted = widgets.calibration_summary(z, y, 1.0), widgets.calibration_summary(z, y, 2.5)
    assert fitted["ece"] < cold["ece"] and fitted["log_loss"] < cold["log_loss"]
    assert fitted["auc"] == pytest.approx(cold["auc"])
    assert cold["ece"] == pytest.approx(calibration.expected_calibration_error(y, calibration.apply_temperature(z, 1)))
    assert len(cold["bins"][2]) == 10 and cold["bins"][2].sum() == len(y)


def test_calibration_explorer_redraws_and_refuses_bad_input():
    z, y = _logits()
    w = widgets.calibration_explorer(z, y, n_bins=8)
    assert w.last_error is None
    assert w.update(log2_temperature=1.5) is None and w.update(log2_temperature=-2.0) is None
    assert plt.get_fignums() == []
    with pytest.raises(ValueError, match="both classes"):
        widgets.calibration_explorer(z, np.zeros_like(y))
    with pytest.raises(ValueError, match="same length"):
        widgets.calibration_explorer(z[:5], y)
    with pytest.raises(ValueError, match="n_bins"):
        widgets.calibration_explorer(z, y, n_bins=1)


def test_review_summary_counts_what_a_reviewer_finds():
    is_wrong = np.array([False, True, False, True, False, False])
    ranking = np.array([3, 1, 0, 2, 4, 5])
    s = widgets.review_summary(ranking, is_wrong, 2)
    assert (s["found"], s["precision"], s["recall"], s["n_wrong"]) == (2, 1.0, 1.0, 2)
    assert s["random_found"] == pytest.approx(2 * 2 / 6)
    assert widgets.review_summary(ranking, is_wrong, 0)["found"] == 0
    with pytest.raises(ValueError, match="permutation"):
        widgets.review_summary(np.array([0, 0, 1, 2, 3, 4]), is_wrong, 1)
    with pytest.raises(ValueError, match="k must be"):
        widgets.review_summary(ranking, is_wrong, 7)


def test_review_explorer_redraws_with_and_without_images():
    rng = np.random.default_rng(1)
    is_wrong = rng.random(40) < 0.3
    ranking = np.argsort(-(is_wrong + rng.random(40)))
    images, labels = rng.random((40, 1, 8, 8)).astype(np.float32), rng.integers(0, 2, 40)
    for w in (widgets.review_explorer(ranking, is_wrong), widgets.review_explorer(ranking, is_wrong, images, labels)):
        assert w.last_error is None
        assert w.update(k=40) is None and w.update(k=0) is None and w.update(k=5) is None
    assert plt.get_fignums() == []
    with pytest.raises(ValueError, match="images and labels"):
        widgets.review_explorer(ranking, is_wrong, images)
