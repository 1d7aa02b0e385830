"""Robustness widgets driven without a browser: the shift-strength explorer."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit import synthetic, widgets

matplotlib.use("Agg")

STRENGTHS = np.linspace(0, 2, 5)
CURVES = {"baseline": [0.98, 0.9, 0.8, 0.7, 0.6], "remedy": [0.97, 0.95, 0.9, 0.85, 0.8]}


def test_shift_summary_interpolates_and_clips():
    s = widgets.shift_summary(STRENGTHS, CURVES, 0.25)
    assert s["baseline"] == pytest.approx(0.94) and s["remedy"] == pytest.approx(0.96)
    assert widgets.shift_summary(STRENGTHS, CURVES, 5.0)["baseline"] == pytest.approx(0.6)


@pytest.mark.parametrize("strengths, curves", [([0.0], CURVES), ([1.0, 0.0, 2.0, 3.0, 4.0], CURVES),
                                               (STRENGTHS, {}), (STRENGTHS, {"a": [1, 2]})])
def test_shift_summary_bad_input(strengths, curves):
    with pytest.raises(ValueError):
        widgets.shift_summary(strengths, curves, 0.5)


def test_shift_explorer_redraws_and_survives():
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    w = widgets.shift_explorer(STRENGTHS, CURVES, image, synthetic.SiteEffect(gamma=2.0, noise=0.05))
    assert w.last_error is None and w.controls["strength"].value == 1.0
    for value in (0.0, 2.0, 1.3):
        assert w.update(strength=value) is None
    assert plt.get_fignums() == []
    with pytest.raises(ValueError):
        widgets.shift_explorer(STRENGTHS, CURVES, np.zeros((2, 3, 4)), synthetic.SiteEffect())
