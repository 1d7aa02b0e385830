"""labkit.calibration: the scores agree with scikit-learn, a temperature is recovered, bad input is refused."""

import matplotlib
import numpy as np
import pytest
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as sk_log_loss

from labkit import calibration, metrics

matplotlib.use("Agg")


def _logits(seed=0, n=800, true_t=2.0):
    """Logits z and labels drawn from sigmoid(z / true_t): the calibrating temperature is true_t."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, n)
    return z, (rng.random(n) < 1 / (1 + np.exp(-z / true_t))).astype(np.int64)


def test_log_loss_and_brier_match_sklearn():
    z, y = _logits()
    p = calibration.apply_temperature(z, 1.0)
    assert calibration.log_loss(y, p) == pytest.approx(sk_log_loss(y, p), abs=1e-9)
    assert calibration.brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert calibration.expected_calibration_error is metrics.expected_calibration_error


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_generating_temperature(true_t):
    z, y = _logits(seed=1, n=5000, true_t=true_t)
    t = calibration.fit_temperature(z, y)
    assert t == pytest.approx(true_t, rel=0.15)
    grid = np.exp(np.linspace(np.log(0.05), np.log(20), 3000))
    best = grid[np.argmin([calibration.log_loss(y, calibration.apply_temperature(z, g)) for g in grid])]
    assert t == pytest.approx(best, rel=0.005)


def test_temperature_keeps_the_ranking_and_repairs_over_confidence():
    z, y = _logits(seed=2, true_t=3.0)
    raw, scaled = calibration.apply_temperature(z, 1.0), calibration.apply_temperature(z, 3.0)
    assert metrics.roc_auc(y, raw) == pytest.approx(metrics.roc_auc(y, scaled))
    assert metrics.expected_calibration_error(y, scaled) < metrics.expected_calibration_error(y, raw)
    assert calibration.log_loss(y, scaled) < calibration.log_loss(y, raw)


def test_plot_reliability_returns_axes():
    z, y = _logits()
    ax = calibration.plot_reliability(y, calibration.apply_temperature(z, 2.0), n_bins=8, label="model")
    assert "ECE" in ax.get_legend().get_texts()[1].get_text()
    matplotlib.pyplot.close("all")


@pytest.mark.parametrize("call, match", [
    (lambda: calibration.log_loss([0, 1, 2], [0.1, 0.5, 0.9]), "0/1 labels"),
    (lambda: calibration.log_loss([0, 1], [0.1, 1.5]), r"\[0, 1\]"),
    (lambda: calibration.log_loss([0, 1], [0.1]), "same length"),
    (lambda: calibration.apply_temperature([0.0, 1.0], 0), "temperature"),
    (lambda: calibration.apply_temperature(np.zeros((2, 2)), 1.0), "1-D"),
    (lambda: calibration.fit_temperature([0.0, 1.0, np.inf], [0, 1, 1]), "finite"),
    (lambda: calibration.fit_temperature([0.0, 1.0], [0, 1, 1]), "same length"),
    (lambda: calibration.fit_temperature([0.0, 1.0], [0, 1], bounds=(0, 5)), "bounds"),
])
def test_bad_input_gets_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
