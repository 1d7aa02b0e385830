"""labkit.widgets driven without a browser: callbacks redraw, errors become messages, summaries are right."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit import metrics, widgets

matplotlib.use("Agg")


def _scores(seed=0, n=80):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)


def test_interactive_plot_builds_controls_and_redraws():
    import ipywidgets as W

    calls = []

    def draw(size, mode, flag, data):
        calls.append((size, mode, flag))
        plt.subplots()
        return f"{mode}:{size}"

    w = widgets.interactive_plot(draw, size=(1, 9), mode=["a", "b"], flag=True, data=np.arange(3))
    assert isinstance(w, W.VBox) and w.children[-1] is w.output
    assert isinstance(w.controls["size"], W.IntSlider) and w.controls["size"].value == 5
    assert isinstance(w.controls["mode"], W.Dropdown) and isinstance(w.controls["flag"], W.Checkbox)
    assert "data" not in w.controls and calls == [(5, "a", True)]
    assert w.update(size=2, mode="b") is None and calls[-1] == (2, "b", True)
    w.controls["flag"].value = False  # moving a control redraws
    assert calls[-1] == (2, "b", False) and w.values()["size"] == 2
    assert plt.get_fignums() == []  # figures made by draw are shown, then closed


def test_slider_specs():
    w = widgets.interactive_plot(lambda a, b, c: None, a=(0.0, 2.0), b=(0, 1, 0.1, 0.3), c={"x": 1, "y": 2})
    assert w.controls["a"].value == 1.0 and w.controls["a"].step == pytest.approx(0.02)
    assert w.controls["b"].value == pytest.approx(0.3) and w.controls["c"].value == 1
    with pytest.raises(ValueError, match="min < max"):
        widgets.interactive_plot(lambda a: None, a=(3, 1))
    with pytest.raises(TypeError, match="draw"):
        widgets.interactive_plot("not a function", a=(0, 1))


def test_draw_that_raises_shows_a_message(capsys):
    def draw(k):
        plt.subplots()
        raise ZeroDivisionError("k must not be zero")

    w = widgets.interactive_plot(draw, k=(0, 4))
    assert "ZeroDivisionError: k must not be zero" in w.last_error and "k=2" in w.last_error
    message = w.update(k=0)
    assert "k=0" in message and "k=0" in capsys.readouterr().out
    w.controls["k"].value = 3  # moving the slider never raises either
    assert "k=3" in w.last_error
    assert plt.get_fignums() == []
    assert "Unknown control" in w.update(nope=1)


def test_threshold_summary_matches_metrics():
    y, probs = _scores()
    for threshold in (0.0, 0.3, 0.5, 0.9, 1.0):
        summary = widgets.threshold_summary(y, probs, threshold)
        pred = (probs >= threshold).astype(int)
        np.testing.assert_array_equal(summary["confusion_matrix"], metrics.confusion_matrix(y, pred, n_classes=2))
        assert summary["fpr"] == pytest.approx(1 - summary["specificity"])
    low, high = widgets.threshold_summary(y, probs, 0.2), widgets.threshold_summary(y, probs, 0.8)
    assert low["sensitivity"] >= high["sensitivity"] and low["specificity"] <= high["specificity"]


def test_threshold_explorer_reacts():
    y, probs = _scores()
    w = widgets.threshold_explorer(y, probs)
    assert w.last_error is None and w.controls["threshold"].value == 0.5
    assert w.update(threshold=1.0) is None  # no positive calls: PPV undefined, shown as nan, no crash
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        widgets.threshold_explorer(y, probs * 3)  # bad data fails when the widget is built


def test_bright_pixels():
    image = np.linspace(0, 1, 100).reshape(10, 10)
    summary = widgets.bright_pixels_summary(image, 0.5)
    assert summary["count"] == 50 and summary["fraction"] == 0.5 and summary["mask"].shape == (10, 10)
    w = widgets.bright_pixels_explorer(image)
    assert w.last_error is None and w.update(threshold=0.9) is None
    with pytest.raises(ValueError, match="2-D"):
        widgets.bright_pixels_summary(np.zeros((2, 2, 2)))
