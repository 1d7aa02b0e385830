"""Imaging widgets (window/level, slice viewer, preprocessing explorer) driven without a browser."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit import widgets

matplotlib.use("Agg")


def _ct(seed=0):
    rng = np.random.default_rng(seed)
    image = np.full((40, 50), -1000.0, np.float32)
    image[8:32, 10:40] = 40 + rng.normal(0, 5, (24, 30))
    image[18:22, 20:30] = 900
    return image


def _volume():
    vol = np.zeros((12, 10, 8), np.float32)
    vol[11, 5, 4] = 1.0  # far right
    vol[6, 9, 4] = 2.0   # far anterior
    vol[6, 5, 7] = 3.0   # far superior
    return vol


def test_window_summary_counts_black_and_white_pixels():
    s = widgets.window_summary(_ct(), center=40, width=80)
    assert s["display"].min() >= 0 and s["display"].max() <= 1 and (s["low"], s["high"]) == (0, 80)
    assert s["below"] == pytest.approx(np.mean(_ct() < 0)) and s["above"] == pytest.approx(np.mean(_ct() > 80))
    with pytest.raises(ValueError):
        widgets.window_summary(_ct(), 40, 0)
    with pytest.raises(ValueError, match="2-D"):
        widgets.window_summary(np.zeros((2, 3, 4)), 40, 80)


def test_window_level_viewer_redraws_for_sliders_and_presets(capsys):
    w = widgets.window_level_viewer(_ct(), presets={"brain": (40, 80), "bone": (400, 1800)})
    assert w.last_error is None and set(w.controls) == {"preset", "center", "width"}
    assert w.update(center=100.0, width=500.0) is None
    assert w.update(preset=(400, 1800)) is None
    assert "white" in capsys.readouterr().out and plt.get_fignums() == []


def test_window_level_viewer_bad_input_gives_a_message_not_an_exception():
    w = widgets.window_level_viewer(_ct(), presets={"broken": (40, -10)})
    message = w.update(preset=(40, -10))
    assert message and "ValueError" in message
    flat = widgets.window_level_viewer(np.zeros((8, 8)))  # a constant image still builds and draws
    assert flat.last_error is None
    with pytest.raises(ValueError):
        widgets.window_level_viewer(np.zeros(5))


def test_slice_summary_orients_a_ras_volume():
    vol = _volume()
    axial = widgets.slice_summary(vol, "axial", 4 / 7)
    row, col = np.argwhere(axial["image"] == 1.0)[0]
    assert col == vol.shape[0] - 1 and axial["right"] == "R"  # patient's right on the image right
    row, col = np.argwhere(axial["image"] == 2.0)[0]
    assert row == 0 and axial["up"] == "A"  # anterior at the top
    coronal = widgets.slice_summary(vol, "coronal", 5 / 9, spacing=(1, 1, 4))
    assert np.argwhere(coronal["image"] == 3.0)[0][0] == 0 and coronal["aspect"] == 4  # superior at the top
    sagittal = widgets.slice_summary(vol, "sagittal", 1.0, affine=np.diag([2.0, 2.0, 2.0, 1.0]))
    assert sagittal["index"] == 11 and sagittal["mm"] == 22 and sagittal["image"].shape == (8, 10)


@pytest.mark.parametrize("bad", [dict(plane="oblique"), dict(position=1.5), dict(position="middle"),
                                 dict(volume=np.zeros((4, 4)))])
def test_slice_summary_rejects_bad_input(bad):
    args = dict(volume=_volume(), plane="axial", position=0.5) | bad
    with pytest.raises(ValueError):
        widgets.slice_summary(**args)


def test_slice_viewer_redraws_every_plane():
    w = widgets.slice_viewer(_volume(), spacing=(1, 1, 2), affine=np.eye(4))
    for plane in widgets.PLANES:
        for position in (0.0, 0.37, 1.0):
            assert w.update(plane=plane, position=position) is None
    odd = widgets.slice_viewer(np.full((1, 1, 1), np.nan))  # degenerate volume: draws or reports, never raises
    assert odd.update(plane="sagittal", position=1.0) is None or isinstance(odd.last_error, str)
    with pytest.raises(ValueError):
        widgets.slice_viewer(np.zeros((3, 3)))


@pytest.mark.parametrize("step", widgets.PREPROCESS_STEPS)
def test_preprocess_step_gives_an_image_and_a_description(step):
    image = np.clip(np.random.default_rng(0).normal(0.5, 0.1, (32, 40)), 0, 1)
    out, what = widgets.preprocess_step(image, step, 0.5)
    assert out.ndim == 2 and np.isfinite(out).all() and isinstance(what, str) and what
    if step in ("Gaussian filter", "median filter", "non-local means"):
        assert out.std() < image.std()  # smoothing removes noise
    if step == "resample":
        assert out.shape == (13, 17)  # spacing 2.5 pixels: round(31 / 2.5) + 1, round(39 / 2.5) + 1


def test_preprocess_step_rejects_bad_input():
    with pytest.raises(ValueError, match="step"):
        widgets.preprocess_step(np.zeros((4, 4)), "sharpen", 0.5)
    with pytest.raises(ValueError, match="strength"):
        widgets.preprocess_step(np.zeros((4, 4)), "Gaussian filter", 2.0)


def test_preprocess_explorer_redraws_and_survives_bad_images(capsys):
    clean = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (30, 1))
    noisy = np.clip(clean + np.random.default_rng(1).normal(0, 0.1, clean.shape), 0, 1)
    w = widgets.preprocess_explorer(noisy, reference=clean)
    for step in widgets.PREPROCESS_STEPS:
        assert w.update(step=step, strength=0.8) is None, w.last_error
    assert "PSNR before" in capsys.readouterr().out
    broken = widgets.preprocess_explorer(np.full((16, 16), np.nan))
    for step in widgets.PREPROCESS_STEPS:
        broken.update(step=step, strength=0.0)  # a message at most, never an exception
    assert plt.get_fignums() == []
