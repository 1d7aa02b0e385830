"""Widgets of the robustness and trust lessons (attacks, attributions), driven without a browser."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from labkit import models, widgets

matplotlib.use("Agg")


def _model():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return models.SmallCNN(width=4, depth=2).eval()


def _images(n=4):
    return np.random.default_rng(0).random((n, 1, 16, 16)).astype(np.float32)


def test_attack_summary_respects_eps():
    s = widgets.attack_summary(_model(), _images()[0], 1, 4 / 255)
    assert s["linf"] <= 4 / 255 + 1e-6 and s["adversarial"].shape == (16, 16)
    assert 0 <= s["prob_clean"] <= 1 and 0 <= s["prob_adv"] <= 1
    assert widgets.attack_summary(_model(), _images()[0], 0, 0.0)["linf"] == 0.0
    with pytest.raises(ValueError, match="shape"):
        widgets.attack_summary(_model(), _images(), 1, 0.1)


def test_attack_explorer_redraws_and_never_raises():
    w = widgets.attack_explorer(_model(), _images(), np.array([0, 1, 0, 1]))
    assert w.last_error is None
    assert w.update(case=3, eps_255=16, method="pgd") is None
    assert w.update(case=0, eps_255=0, method="fgsm") is None
    assert plt.get_fignums() == []


def test_attribution_summary_and_explorer():
    maps = {"a": np.zeros((2, 5, 5)), "b": np.ones((2, 5, 5))}
    maps["a"][1, 2, 3] = 1
    masks = np.zeros((2, 5, 5), np.uint8)
    masks[1, 2, 3] = 1
    s = widgets.attribution_summary(maps, masks, 1, "a")
    assert s["peak"] == (2, 3) and s["hit"]
    assert not widgets.attribution_summary(maps, masks, 0, "b")["hit"]
    with pytest.raises(ValueError, match="method"):
        widgets.attribution_summary(maps, masks, 0, "c")
    w = widgets.attribution_explorer(np.zeros((2, 1, 5, 5)), maps, masks)
    assert w.last_error is None and w.update(case=1, method="b") is None
    assert plt.get_fignums() == []
