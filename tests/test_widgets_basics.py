"""Widgets of the neural-network and CNN lessons, driven without a browser (bad input shows a message)."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit import widgets

matplotlib.use("Agg")


def test_activation_summary_values():
    s = widgets.activation_summary("sigmoid", 6.0, 1.0)
    assert s["max_slope"] == pytest.approx(0.25, abs=1e-4)
    assert widgets.activation_summary("relu", 5.0)["flat"] == pytest.approx(0.5, abs=0.01)   # negative half is flat
    hot, cold = widgets.activation_summary("tanh", 10, 0.5), widgets.activation_summary("tanh", 10, 5.0)
    assert hot["flat"] > cold["flat"] and hot["max_slope"] == pytest.approx(2.0, abs=1e-3)
    with pytest.raises(ValueError, match="unknown activation"):
        widgets.activation_summary("softmax")


def test_activation_explorer_redraws_for_every_choice():
    w = widgets.activation_explorer()
    assert w.last_error is None
    for name in w.controls["activation"].options:
        assert w.update(activation=name, x_range=20.0, temperature=0.1) is None, name
    assert w.update(x_range=1.0, temperature=5.0) is None
    assert plt.get_fignums() == []


@pytest.mark.parametrize("text,shape", [("1 2 1 / 2 4 2 / 1 2 1", (3, 3)), ("5", (1, 1)),
                                        ("0,0,0\n0,1,0\n0,0,0", (3, 3))])
def test_parse_kernel_accepts_rows(text, shape):
    assert widgets.parse_kernel(text).shape == shape


@pytest.mark.parametrize("text", ["", "1 2 / 3 4", "1 2 3 / 4 5", "a b c / 1 2 3 / 4 5 6", "nan 0 0/0 0 0/0 0 0"])
def test_parse_kernel_rejects_bad_text(text):
    with pytest.raises(ValueError):
        widgets.parse_kernel(text)


def test_kernel_summary_blur_keeps_mean_and_edges_vanish_on_flat():
    rng = np.random.default_rng(0)
    image = rng.random((32, 40)).astype(np.float32)
    blurred = widgets.kernel_summary(image, "gaussian blur", size=5)
    assert blurred["filtered"].shape == image.shape and blurred["sum"] == pytest.approx(1.0, abs=1e-5)
    assert blurred["filtered"].std() < image.std()
    flat = widgets.kernel_summary(np.full((16, 16), 0.3), "sobel x")
    assert np.abs(flat["filtered"]).max() < 1e-6 and flat["sum"] == 0
    custom = widgets.kernel_summary(image, "custom", weights="0 0 0 / 0 2 0 / 0 0 0")
    assert np.allclose(custom["filtered"], 2 * image, atol=1e-6)


def test_kernel_explorer_survives_bad_weights(capsys):
    image = np.linspace(0, 1, 48 * 48, dtype=np.float32).reshape(48, 48)
    w = widgets.kernel_explorer(image)
    assert w.last_error is None and w.values()["kernel"] == "gaussian blur"
    blur3 = widgets.kernel_summary(image, "gaussian blur", 3)["filtered"]
    assert not np.allclose(blur3, widgets.kernel_summary(image, "gaussian blur", 11)["filtered"]), "size matters"
    for name in w.controls["kernel"].options[:-1]:
        assert w.update(kernel=name, size=11) is None, name
    assert w.update(kernel="custom", weights="1 1 1 / 1 -8 1 / 1 1 1") is None
    for bad in ("1 2 / 3", "x y z", "1 2 3 4 / 5 6 7 8 / 1 1 1 1 / 1 1 1 1"):
        message = w.update(weights=bad)
        assert message and "ValueError" in message, bad
    assert "Could not draw" in capsys.readouterr().out
    assert w.update(weights="0 0 0 / 0 1 0 / 0 0 0") is None   # recovers
    assert plt.get_fignums() == []
    with pytest.raises(ValueError):
        widgets.kernel_explorer(np.zeros((2, 3, 4)))
