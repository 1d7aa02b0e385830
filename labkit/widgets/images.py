"""Widgets for Part I, medical images and preprocessing (00_welcome, 01_medical_images, 02_preprocessing)."""

import numpy as np

from labkit.widgets.base import interactive_plot, as_gray_image

__all__ = ["window_summary", "window_level_viewer", "PLANES", "slice_summary", "slice_viewer", "PREPROCESS_STEPS",
           "preprocess_step", "preprocess_explorer", "bright_pixels_summary", "bright_pixels_explorer"]


def bright_pixels_summary(image, threshold=0.5):
    """Pixels of ``image`` (H, W) float strictly brighter than ``threshold``.

    Returns {'mask': (H, W) bool, 'fraction': float in [0, 1], 'count': int}.
    """
    from labkit.metrics import to_numpy

    a = to_numpy(image, "image")
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"image must be a non-empty 2-D array (H, W), got shape {a.shape}")
    mask = a > threshold
    return {"mask": mask, "fraction": float(mask.mean()), "count": int(mask.sum())}


def bright_pixels_explorer(image, vmin=0.0, vmax=1.0):
    """Threshold slider over ``image`` (H, W) float in [vmin, vmax]: brighter pixels shown in colour."""
    from labkit import plots

    def draw(threshold):
        summary = bright_pixels_summary(image, threshold)
        title = f"> {threshold:.2f}: {summary['fraction']:.1%} of pixels"
        ax = plots.show_overlay(image, summary["mask"], title=title, alpha=0.6, vmin=vmin, vmax=vmax)
        print(f"fraction of pixels above {threshold:.2f}: {summary['fraction']:.3f}")
        return ax

    return interactive_plot(draw, threshold=(float(vmin), float(vmax), (vmax - vmin) / 100, (vmin + vmax) / 2))


def window_summary(image, center, width):
    """Window/level of ``image`` (H, W) in its own units (HU for CT): {'display': (H, W) float32 in [0, 1],
    'low', 'high': the window's edges, 'below', 'above': fractions of pixels shown black / white}."""
    from labkit.realdata import apply_window

    a = as_gray_image(image)
    low, high = center - width / 2.0, center + width / 2.0
    return {"display": apply_window(a, center, width), "low": low, "high": high,
            "below": float(np.mean(a < low)), "above": float(np.mean(a > high))}


def window_level_viewer(image, presets=None, units="HU"):
    """Level (center) and width sliders, plus a menu of ``presets`` {name: (center, width)}, over ``image``
    (H, W): the windowed image beside its histogram with the window shaded."""
    import matplotlib.pyplot as plt

    from labkit import plots

    a = as_gray_image(image)
    lo, hi = (float(v) for v in np.percentile(a, [0.5, 99.5]))
    hi = hi if hi > lo else lo + 1.0  # a constant image still gets working sliders
    span = hi - lo
    sample = a[:: max(1, a.shape[0] // 256), :: max(1, a.shape[1] // 256)].ravel()
    menu = {"use the sliders": "sliders"}
    menu.update({f"{k} (L {c:g}, W {w:g})": (c, w) for k, (c, w) in dict(presets or {}).items()})

    def draw(preset, center, width):
        c, w = (center, width) if preset == "sliders" else preset
        s = window_summary(a, c, w)
        fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.6))
        plots.show_image(s["display"], ax=left, vmin=0, vmax=1, title=f"level {c:g}, width {w:g} {units}")
        right.hist(sample, bins=120, color="#0072B2")
        right.axvspan(s["low"], s["high"], color="#E69F00", alpha=0.35, label="window")
        right.set(xlabel=units, ylabel="pixels", yscale="log", title="histogram, window shaded")
        right.legend(loc="upper right")
        note = "" if preset == "sliders" else " (a preset is chosen: the sliders are ignored)"
        print(f"{s['below']:.1%} of pixels black (< {s['low']:g}), {s['above']:.1%} white (> {s['high']:g}){note}")
        return fig

    return interactive_plot(draw, preset=menu, center=(lo, hi, span / 200, (lo + hi) / 2),
                            width=(span / 100, 2 * span, span / 200, span))


PLANES = {"axial": 2, "coronal": 1, "sagittal": 0}  # axis of a RAS+ (X, Y, Z) volume each plane cuts across


def slice_summary(volume, plane, position, spacing=(1.0, 1.0, 1.0), affine=None):
    """One slice of ``volume`` (X, Y, Z) stored RAS+ (axes point to the patient's right, anterior, superior).

    plane: 'axial', 'coronal' or 'sagittal'; position in [0, 1] along that axis. The slice is oriented for display
    with superior (or anterior, axial) up and the patient's right on the image right (neurological convention).
    Returns {'image': 2-D array, 'index', 'n', 'aspect': row/column spacing for imshow, 'mm': the slice's world
    coordinate (affine) or index * spacing, 'up', 'right': direction letters}.
    """
    vol = np.asarray(volume)
    if vol.ndim != 3 or vol.size == 0:
        raise ValueError(f"volume must be a non-empty 3-D array (X, Y, Z), got shape {vol.shape}")
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {list(PLANES)}, got {plane!r}")
    if not (isinstance(position, (int, float, np.floating)) and 0.0 <= position <= 1.0):
        raise ValueError(f"position must be a number in [0, 1], got {position!r}")
    axis, sx, sy, sz = PLANES[plane], *(float(s) for s in spacing)
    n = vol.shape[axis]
    index = int(round(position * (n - 1)))
    image = np.take(vol, index, axis=axis).T[::-1]
    centre = [(d - 1) / 2 for d in vol.shape]
    centre[axis] = index
    mm = float(np.asarray(affine)[axis, :3] @ centre + np.asarray(affine)[axis, 3]) if affine is not None else \
        index * (sx, sy, sz)[axis]
    aspect, up, right = {2: (sy / sx, "A", "R"), 1: (sz / sx, "S", "R"), 0: (sz / sy, "S", "A")}[axis]
    return {"image": image, "index": index, "n": n, "aspect": aspect, "mm": mm, "up": up, "right": right}


def slice_viewer(volume, spacing=(1.0, 1.0, 1.0), affine=None, vmin=None, vmax=None):
    """Plane menu (axial/coronal/sagittal) and a position slider over a RAS+ ``volume`` (X, Y, Z)."""
    from labkit import plots

    vol = np.asarray(volume)
    slice_summary(vol, "axial", 0.5, spacing, affine)  # bad input fails here, at build time
    vmin = float(np.percentile(vol, 0.5)) if vmin is None else vmin
    vmax = float(np.percentile(vol, 99.5)) if vmax is None else vmax

    def draw(plane, position):
        s = slice_summary(vol, plane, position, spacing, affine)
        name = "xyz"[PLANES[plane]]
        ax = plots.show_image(s["image"], vmin=vmin, vmax=vmax,
                              title=f"{plane} slice {s['index']} of {s['n']} ({name} = {s['mm']:+.0f} mm)")
        ax.set_aspect(s["aspect"])
        ax.text(0.5, 0.98, s["up"], transform=ax.transAxes, ha="center", va="top", color="#E69F00")
        ax.text(0.98, 0.5, s["right"], transform=ax.transAxes, ha="right", va="center", color="#E69F00")
        return ax

    return interactive_plot(draw, plane=list(PLANES), position=(0.0, 1.0, 0.01, 0.5))


PREPROCESS_STEPS = ("add noise", "Gaussian filter", "median filter", "non-local means", "percentile clip",
                    "min-max", "z-score", "resample")


def preprocess_step(image, step, strength):
    """Apply one preprocessing ``step`` (see PREPROCESS_STEPS) at ``strength`` in [0, 1] to ``image`` (H, W)
    float in [0, 1] -> (result (H', W') float32, description of the parameter used)."""
    from scipy import ndimage

    from labkit import preprocess

    a = as_gray_image(image)
    if not (isinstance(strength, (int, float, np.floating)) and 0.0 <= strength <= 1.0):
        raise ValueError(f"strength must be a number in [0, 1], got {strength!r}")
    if step == "add noise":
        return preprocess.add_noise(a, 0.2 * strength, seed=0), f"noise sigma {0.2 * strength:.3f}"
    if step == "Gaussian filter":
        return ndimage.gaussian_filter(a, 3 * strength), f"sigma {3 * strength:.2f} px"
    if step == "median filter":
        size = 1 + 2 * int(round(3 * strength))
        return ndimage.median_filter(a, size), f"window {size} x {size} px"
    if step == "non-local means":
        from skimage.restoration import denoise_nl_means

        out = denoise_nl_means(a, h=0.2 * strength + 1e-6, patch_size=5, patch_distance=6, fast_mode=True)
        return out.astype(np.float32), f"h {0.2 * strength:.3f}"
    if step == "percentile clip":
        q = 10 * strength
        low, high = np.percentile(a, [q, 100 - q])
        return preprocess.clip_and_scale(a, low, max(high, low + 1e-6)), f"clip to percentiles {q:.1f}-{100 - q:.1f}"
    if step == "min-max":
        return preprocess.minmax_scale(a), "no parameter"
    if step == "z-score":
        mask = a > 0.2 * strength * a.max()
        return preprocess.zscore(a, mask), f"mask: pixels above {0.2 * strength:.2f} x the maximum"
    if step == "resample":
        spacing = 1.0 + 3.0 * strength
        return preprocess.resample_to_spacing(a, 1.0, spacing), f"new spacing {spacing:.2f} pixels"
    raise ValueError(f"step must be one of {list(PREPROCESS_STEPS)}, got {step!r}")


def preprocess_explorer(image, reference=None):
    """Step menu and strength slider over ``image`` (H, W) float in [0, 1]: before, after and both histograms;
    with a clean ``reference`` (H, W), the PSNR of before and after against it is printed."""
    import matplotlib.pyplot as plt
    from skimage.metrics import peak_signal_noise_ratio

    from labkit import plots

    a = as_gray_image(image)
    ref = None if reference is None else as_gray_image(reference, "reference")

    def draw(step, strength):
        after, what = preprocess_step(a, step, strength)
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
        for ax, img, name in ((axes[0], a, "before"), (axes[1], after, f"after: {step}")):
            plots.show_image(img, ax=ax, vmin=float(np.percentile(img, 0.5)), vmax=float(np.percentile(img, 99.5)),
                             title=f"{name} {img.shape[0]}x{img.shape[1]}")
        for img, name, colour in ((a, "before", "#0072B2"), (after, "after", "#E69F00")):
            axes[2].hist(img.ravel(), bins=80, histtype="step", color=colour, label=name, density=True)
        axes[2].set(title="intensity histogram", xlabel="value", ylabel="density")
        axes[2].legend()
        fig.tight_layout()
        line = f"{step}: {what}"
        if ref is not None and step in PREPROCESS_STEPS[:4]:
            line += (f" | PSNR before {peak_signal_noise_ratio(ref, a, data_range=1.0):.2f} dB, "
                     f"after {peak_signal_noise_ratio(ref, after, data_range=1.0):.2f} dB")
        print(line)
        return fig

    return interactive_plot(draw, step=list(PREPROCESS_STEPS), strength=(0.0, 1.0, 0.05, 0.5))
