"""Augmentation gallery and segmentation viewer driven without a browser: summaries are right, callbacks never raise."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit import metrics, widgets

matplotlib.use("Agg")


def _lesion(size=32):
    yy, xx = np.mgrid[:size, :size]
    mask = ((yy - 12) ** 2 + (xx - 18) ** 2 <= 16).astype(np.uint8)
    return (0.2 + 0.6 * mask).astype(np.float32), mask


def test_augmentation_summary():
    image, mask = _lesion()
    same = widgets.augmentation_summary(image, mask)
    np.testing.assert_allclose(same["image"], image)
    assert same["area_after"] == same["area_before"] == mask.sum() and same["change"] == 0
    flipped = widgets.augmentation_summary(image, mask, flip=True)
    np.testing.assert_array_equal(flipped["mask"], mask[:, ::-1])
    noisy = widgets.augmentation_summary(image, mask, gamma=1.5, noise=0.05, bias=0.3, seed=2)
    np.testing.assert_array_equal(noisy["mask"], mask)
    assert noisy["change"] > 0.01
    zoomed = widgets.augmentation_summary(image, mask, zoom=1.3)
    assert zoomed["area_after"] > 1.4 * zoomed["area_before"]
    with pytest.raises(ValueError, match="shape"):
        widgets.augmentation_summary(image, mask[:5])


def test_augmentation_gallery_callback(capsys):
    image, mask = _lesion()
    w = widgets.augmentation_gallery(image, mask)
    assert w.last_error is None and set(w.controls) >= {"rotate", "zoom", "elastic", "gamma", "noise", "bias"}
    assert w.update(rotate=30.0, zoom=1.2, elastic=2.0, gamma=0.7, noise=0.05, bias=0.3, flip=True, seed=3) is None
    assert "mask area" in capsys.readouterr().out
    for end in ("min", "max"):  # every slider at its extremes still draws
        assert w.update(**{name: getattr(c, end) for name, c in w.controls.items() if name != "flip"}) is None
    assert plt.get_fignums() == []


def _stack(n=4, size=16):
    truth = np.zeros((n, size, size), np.int64)
    truth[:, 3:13, 3:13] = 1
    truth[:, 6:10, 6:10] = 2
    pred = truth.copy()
    pred[:, 3:13, 3] = 0
    return np.random.default_rng(0).random((n, 1, size, size)).astype(np.float32), truth, pred


def test_segmentation_summary():
    images, truth, pred = _stack()
    s = widgets.segmentation_summary(images, truth, pred, 2)
    assert s["errors"].sum() == 10 and s["error_fraction"] == pytest.approx(10 / 256)
    np.testing.assert_allclose(s["dice"], metrics.dice_score(pred[2], truth[2], n_classes=3)[1:])
    assert s["image"].shape == (16, 16)
    with pytest.raises(ValueError, match="index"):
        widgets.segmentation_summary(images, truth, pred, 4)
    with pytest.raises(ValueError, match="same size"):
        widgets.segmentation_summary(images, truth[:, :8], pred, 0)


def test_segmentation_viewer_callback(capsys):
    images, truth, pred = _stack()
    w = widgets.segmentation_viewer(images, truth, pred, class_names=["bg", "outer", "inner"])
    assert w.last_error is None and w.controls["index"].max == 3
    assert w.update(index=1) is None
    assert "outer" in capsys.readouterr().out
    w.controls["index"].value = 3
    assert w.last_error is None and plt.get_fignums() == []
