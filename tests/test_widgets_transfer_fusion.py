"""Transfer-learning and fusion widgets driven without a browser: feature maps of a frozen EfficientNet and the
late-fusion weight explorer."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit import fusion, metrics, pretrained, widgets

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def backbone():
    return pretrained.load_efficientnet_lite0()


def test_feature_maps_shrink_and_deepen_with_the_block(backbone):
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    early, late = (widgets.feature_map_summary(backbone, image, b, n_maps=4) for b in (0, 15))
    assert early["shape"][1:] == (32, 32) and late["shape"] == (1280, 2, 2)
    assert early["maps"].shape == (4, 32, 32) and len(late["channels"]) == 4
    means = late["maps"].mean(axis=(1, 2))
    assert np.all(np.diff(means) <= 1e-6), "strongest channel first"


def test_feature_map_explorer_redraws_and_survives(backbone):
    images = np.random.default_rng(1).random((3, 1, 64, 64)).astype(np.float32)
    w = widgets.feature_map_explorer(backbone, images, n_maps=3)
    assert w.last_error is None and w.controls["block"].max == 15 and w.controls["case"].max == 2
    for case, block in ((2, 7), (0, 15), (1, 3)):
        assert w.update(case=case, block=block) is None
    assert plt.get_fignums() == []


@pytest.mark.parametrize("images", [np.zeros((0, 64, 64)), np.zeros((2, 3, 4, 5, 6)), np.zeros((2, 50, 50))])
def test_feature_map_explorer_bad_input(backbone, images):
    with pytest.raises(ValueError):
        widgets.feature_map_explorer(backbone, images)


def _votes():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(50), np.ones(50)].astype(int)
    groups = np.array(["none"] * 50 + ["a"] * 25 + ["b"] * 25)
    a = np.where(groups == "a", 0.9, rng.uniform(0.1, 0.4, 100))   # finds the "a" lesions only
    b = np.where(groups == "b", 0.8, rng.uniform(0.1, 0.4, 100))   # finds the "b" lesions only
    return {"a": a, "b": b}, y, groups


def test_fusion_weights_summary_matches_late_fusion():
    probs, y, groups = _votes()
    s = widgets.fusion_weights_summary(probs, y, {"a": 3.0, "b": 1.0}, groups)
    expected = fusion.late_fusion([probs["a"], probs["b"]], [0.75, 0.25])
    assert np.allclose(s["fused"], expected) and s["auc"] == pytest.approx(metrics.roc_auc(y, expected))
    assert s["weights"] == pytest.approx({"a": 0.75, "b": 0.25})
    only_a = widgets.fusion_weights_summary(probs, y, {"a": 1.0}, groups)
    assert only_a["sensitivity"] == {"a": 1.0, "b": 0.0}


@pytest.mark.parametrize("weights", [{"a": 0.0, "b": 0.0}, {"a": -1.0}, {"c": 1.0}, [1, 1], {"a": float("nan")}])
def test_fusion_weights_summary_bad_weights(weights):
    probs, y, groups = _votes()
    with pytest.raises(ValueError):
        widgets.fusion_weights_summary(probs, y, weights, groups)


def test_fusion_weights_explorer_redraws_and_explains_all_zero_weights():
    probs, y, groups = _votes()
    w = widgets.fusion_weights_explorer(probs, y, groups, reference={"early fusion": 0.99})
    assert w.last_error is None and set(w.controls) == {"a", "b"}
    assert w.update(a=0.2) is None
    message = w.update(a=0.0, b=0.0)
    assert message and "at least one above 0" in message
    assert w.update(b=1.0) is None and plt.get_fignums() == []
    with pytest.raises(ValueError):
        widgets.fusion_weights_explorer({"not an identifier": probs["a"]}, y)
    with pytest.raises(ValueError):
        widgets.fusion_weights_explorer(probs, y[:10])
