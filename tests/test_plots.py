"""labkit.plots on the Agg backend: every function returns its axes, titles are set, bad shapes are refused."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from labkit import plots
from labkit.train import History

matplotlib.use("Agg")
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _mask():
    mask = np.zeros((16, 16), int)
    mask[2:6, 2:6], mask[9:14, 8:15] = 1, 2
    return mask


def test_show_image_variants():
    ax = plots.show_image(RNG.random((16, 16)), title="slice")
    assert ax.get_title() == "slice" and not ax.axison
    assert ax.images[0].get_clim() == pytest.approx((ax.images[0].get_array().min(), ax.images[0].get_array().max()))
    ax = plots.show_image(torch.rand(1, 8, 8), vmin=0, vmax=1)
    assert ax.images[0].get_clim() == (0, 1)
    _, given = plt.subplots()
    assert plots.show_image(RNG.random((3, 8, 8)), ax=given) is given  # RGB, channels first


def test_show_grid_shapes_and_titles():
    axes = plots.show_grid(torch.rand(10, 1, 8, 8), titles=[f"#{i}" for i in range(10)], ncols=4)
    assert len(axes) == 12 and axes[9].get_title() == "#9"
    assert not axes[10].get_visible()
    axes = plots.show_grid(RNG.random((3, 8, 8)))
    assert [a.get_title() for a in axes] == ["0", "1", "2"]


def test_overlay_boxes_history_confusion_roc():
    ax = plots.show_overlay(RNG.random((16, 16)), _mask(), title="tissue")
    assert ax.get_title() == "tissue" and len(ax.images) == 2
    colours = {tuple(np.round(c, 3)) for c in ax.images[1].get_array().reshape(-1, 4)}
    assert len(colours) == 3  # background + two classes
    assert plots.show_overlay(RNG.random((16, 16)), _mask(), contour=True, title="c").get_title() == "c"
    ax = plots.show_boxes(RNG.random((16, 16)), [[1, 2, 8, 9], [3, 3, 5, 6]], scores=[0.9, 0.4], title="boxes")
    assert len(ax.patches) == 2 and len(ax.texts) == 2
    assert len(plots.show_boxes(RNG.random((16, 16)), np.zeros((0, 4)), title="none").patches) == 0
    history = History(train_loss=[1.0, 0.5, 0.4], val_loss=[1.1, 0.6, 0.7], metrics={"auc": [0.6, 0.8, 0.7]},
                      epoch_time=[1, 1, 1], best_epoch=1)
    ax = plots.plot_history(history, metrics=("loss", "auc"))
    assert len(ax.lines) == 4 and ax.get_title()
    ax = plots.plot_confusion(np.array([[5, 2], [1, 7]]), labels=["healthy", "lesion"])
    assert [t.get_text() for t in ax.texts] == ["5", "2", "1", "7"]
    ax = plots.plot_roc(RNG.integers(0, 2, 30), RNG.random(30), label="cnn")
    assert "AUC" in ax.get_legend().get_texts()[0].get_text() and ax.get_title()


@pytest.mark.parametrize("call, match", [
    (lambda: plots.show_image(np.zeros((2, 3, 4, 5))), "image must be"),
    (lambda: plots.show_image(np.zeros((0, 4))), "empty"),
    (lambda: plots.show_grid(np.zeros((8, 8))), r"\(N, H, W\)"),
    (lambda: plots.show_grid(np.zeros((2, 8, 8)), titles=["a"]), "titles"),
    (lambda: plots.show_overlay(np.zeros((8, 8)), np.zeros((8, 9))), "mask must be"),
    (lambda: plots.show_overlay(np.zeros((8, 8)), np.full((8, 8), 0.5)), "integer labels"),
    (lambda: plots.show_boxes(np.zeros((8, 8)), [[1, 2, 3]]), r"\(K, 4\)"),
    (lambda: plots.show_boxes(np.zeros((8, 8)), [[5, 5, 1, 1]]), "x1 >= x0"),
    (lambda: plots.plot_confusion(np.zeros((2, 3))), "square"),
    (lambda: plots.plot_roc([0, 1], [0.5, 2.0]), r"\[0, 1\]"),
])
def test_bad_shapes_give_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_plot_history_needs_history():
    with pytest.raises(TypeError, match="History"):
        plots.plot_history({"loss": [1, 2]})


def test_figure_alt_describes_titles_and_axes():
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2)
    fig.suptitle("Training")
    a.set(title="loss per epoch", xlabel="epoch", ylabel="loss")
    b.set_title("ROC")
    text = plots.figure_alt(fig)
    assert text.startswith("Figure: Training") and "loss per epoch, x axis: epoch, y axis: loss" in text and "ROC" in text
    plt.close(fig)
    empty = plt.figure()
    assert plots.figure_alt(empty) == "Figure without a title"
    plt.close(empty)


def test_no_colour_map_that_colour_blind_readers_cannot_read():
    """Images in gray or perceptually uniform maps (viridis, cividis, magma, ...), categories in the Okabe-Ito cycle:
    no rainbow-like maps anywhere in labkit or the lessons."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    banned = re.compile(r"""cmap\s*=\s*\\?["'](jet|rainbow|hsv|gist_rainbow|nipy_spectral|gist_ncar|turbo|spectral)\\?["']""", re.I)
    found = [f"{p.relative_to(root)}: {m.group(0)}" for p in [*root.glob("labkit/**/*.py"), *root.glob("notebooks/*.ipynb")]
             for m in banned.finditer(p.read_text(encoding="utf-8"))]
    assert not found, found


def test_default_colours_are_okabe_ito():
    import matplotlib as mpl

    from labkit import config

    config.set_plot_style()
    cycle = [c.upper() for c in mpl.rcParams["axes.prop_cycle"].by_key()["color"]]
    assert cycle[:7] == ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
    assert mpl.rcParams["image.cmap"] == "gray"
