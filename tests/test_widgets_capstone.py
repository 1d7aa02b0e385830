"""The capstone's post-processing explorer driven without a browser: the summary is right, the callback never
raises, bad input fails at build time with a clear message."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit import capstone, widgets

matplotlib.use("Agg")


def _scene(size=32):
    """Two touching square nuclei and one apart, with class probabilities that separate them at 0.5 but merge the
    touching pair at a low interior threshold."""
    labels = np.zeros((size, size), np.int64)
    labels[4:12, 4:10], labels[4:12, 10:16], labels[20:28, 20:28] = 1, 2, 3
    targets = capstone.nucleus_targets(labels, border=1)
    probs = np.eye(3, dtype=np.float32)[targets].transpose(2, 0, 1) * 0.8 + 0.2 / 3
    probs[1][targets == 2] = 0.35                                   # border pixels: weakly "interior"
    probs[2][targets == 2] = 0.5
    probs[0][targets == 2] = 0.15
    image = (labels > 0).astype(np.float32) * 0.7 + 0.1
    region = np.ones((size, size), bool)
    return image, probs, labels, region


def test_postprocess_summary_counts_merges_and_matches():
    image, probs, labels, region = _scene()
    good = widgets.postprocess_summary(probs, labels, region, threshold=0.5)
    assert (good["n_true"], good["n_pred"], good["tp"], good["f1"]) == (3, 3, 3, 1.0)
    merged = widgets.postprocess_summary(probs, labels, region, threshold=0.3)
    assert merged["n_pred"] == 2 and merged["fn"] >= 1 and merged["f1"] < 1.0
    small = widgets.postprocess_summary(probs, labels, region, threshold=0.5, min_size=30)
    assert small["n_pred"] == 1, "seeds under 30 pixels are dropped: only the 8 x 8 nucleus (36 interior px) stays"
    half = np.zeros_like(region)
    half[:, :18] = True
    restricted = widgets.postprocess_summary(probs, labels, half)
    assert restricted["n_true"] == 2 and set(np.unique(restricted["truth"])) == {0, 1, 2}


def test_postprocess_summary_bad_input():
    image, probs, labels, region = _scene()
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        widgets.postprocess_summary(probs[:2], labels, region)
    with pytest.raises(ValueError, match="true_labels and region"):
        widgets.postprocess_summary(probs, labels[:5], region)
    with pytest.raises(ValueError, match="region is empty"):
        widgets.postprocess_summary(probs, labels, ~region)
    with pytest.raises(ValueError, match="threshold"):
        widgets.postprocess_summary(probs, labels, region, threshold=1.5)


def test_postprocess_explorer_callback(capsys):
    image, probs, labels, region = _scene()
    box = widgets.postprocess_explorer(image, probs, labels, region)
    assert box.last_error is None and list(box.controls) == ["threshold", "min_size"]
    assert box.update(threshold=0.3) is None
    assert "F1" in capsys.readouterr().out
    for end in ("min", "max"):
        assert box.update(**{name: getattr(c, end) for name, c in box.controls.items()}) is None
    assert plt.get_fignums() == []


def test_postprocess_explorer_bad_input():
    image, probs, labels, region = _scene()
    with pytest.raises(ValueError, match="image must be"):
        widgets.postprocess_explorer(image[:8], probs, labels, region)
    with pytest.raises(ValueError, match="2-D"):
        widgets.postprocess_explorer(np.zeros((2, 2, 2)), probs, labels, region)
