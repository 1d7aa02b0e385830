"""The loss-vs-prediction widget driven without a browser: curves are right, controls redraw, nothing raises."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit import widgets

matplotlib.use("Agg")


def test_loss_curves_match_the_formulas():
    pos, neg = widgets.loss_curves(label=1, gamma=2.0, pos_weight=3.0), widgets.loss_curves(label=0, gamma=2.0)
    p = pos["probs"]
    assert set(pos["loss"]) == set(widgets.LOSS_NAMES) and p.min() > 0 and p.max() < 1
    np.testing.assert_allclose(pos["loss"]["BCE"], -np.log(p), rtol=1e-10)
    np.testing.assert_allclose(neg["loss"]["BCE"], -np.log(1 - p), rtol=1e-10)
    np.testing.assert_allclose(pos["loss"]["weighted BCE"], -3.0 * np.log(p), rtol=1e-10)
    np.testing.assert_allclose(neg["loss"]["weighted BCE"], neg["loss"]["BCE"], rtol=1e-10)
    np.testing.assert_allclose(pos["loss"]["focal"], -(1 - p) ** 2 * np.log(p), rtol=1e-8)
    np.testing.assert_allclose(pos["loss"]["MSE"], (p - 1) ** 2, rtol=1e-10)


def test_loss_curves_gradients_on_the_logit():
    pos = widgets.loss_curves(label=1, gamma=0.0, pos_weight=2.0)
    p = pos["probs"]
    np.testing.assert_allclose(pos["grad"]["BCE"], p - 1, atol=1e-10)            # d BCE / dz = p - y
    np.testing.assert_allclose(pos["grad"]["weighted BCE"], 2.0 * (p - 1), atol=1e-10)
    np.testing.assert_allclose(pos["grad"]["focal"], pos["grad"]["BCE"], atol=1e-10)   # gamma 0 is BCE
    np.testing.assert_allclose(pos["grad"]["MSE"], 2 * (p - 1) * p * (1 - p), atol=1e-10)


def test_loss_at_interpolates_and_rejects_bad_probabilities():
    curves = widgets.loss_curves(label=1)
    at = widgets.loss_at(curves, 0.5)
    assert at["BCE"][0] == pytest.approx(np.log(2), rel=1e-3) and at["BCE"][1] == pytest.approx(-0.5, rel=1e-3)
    for bad in (0.0, 1.0, -0.2, 3):
        with pytest.raises(ValueError, match="prob"):
            widgets.loss_at(curves, bad)


@pytest.mark.parametrize("kwargs", [dict(label=2), dict(gamma=-1.0), dict(pos_weight=0.0), dict(n_points=1)])
def test_loss_curves_bad_input(kwargs):
    with pytest.raises(ValueError):
        widgets.loss_curves(**kwargs)


def test_loss_explorer_redraws_and_never_raises(capsys):
    w = widgets.loss_explorer()
    assert set(w.controls) == {"prob", "label", "gamma", "pos_weight"} and w.last_error is None
    assert w.update(prob=0.05, label=1, gamma=4.0, pos_weight=10.0) is None
    out = capsys.readouterr().out
    assert "weighted BCE: loss" in out and "focal: loss" in out
    assert w.update(label=0, gamma=0.0) is None
    w.controls["pos_weight"].value = 0.5   # moving a slider redraws without error
    assert w.last_error is None and plt.get_fignums() == []
    message = w.update(prob=0.5, unknown=1)
    assert "Unknown control" in message
