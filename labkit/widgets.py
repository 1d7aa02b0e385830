"""Interactive widgets: plain functions that compute what to show, plus small builders returning ipywidgets.

The pattern, for every widget in the course::

    def thing_summary(data, knob):            # plain, tested without a browser
        return {...}

    def thing_explorer(data):                 # builder: one call to interactive_plot
        def draw(knob):
            summary = thing_summary(data, knob)
            ...plot or print it...
        return interactive_plot(draw, knob=(0.0, 1.0, 0.01, 0.5))

:func:`interactive_plot` turns control specs into sliders/dropdowns, renders ``draw(**values)`` into an
``ipywidgets.Output`` and never lets an exception escape: it shows a short message instead, so a widget
never dies. ipywidgets is imported only when a widget is built.
"""

import numbers
import warnings

import numpy as np

__all__ = ["interactive_plot", "make_control", "bright_pixels_summary", "bright_pixels_explorer",
           "threshold_summary", "threshold_explorer"]


def _slider(name, spec):
    import ipywidgets as W

    if len(spec) not in (2, 3, 4) or spec[0] >= spec[1]:
        raise ValueError(f"control {name!r}: a slider spec is (min, max[, step[, value]]) with min < max, got {spec}")
    lo, hi = spec[0], spec[1]
    is_int = all(isinstance(v, numbers.Integral) for v in spec)
    step = spec[2] if len(spec) > 2 else (1 if is_int else (hi - lo) / 100)
    value = spec[3] if len(spec) > 3 else ((lo + hi) // 2 if is_int else (lo + hi) / 2)
    kind = W.IntSlider if is_int else W.FloatSlider
    extra = {} if is_int else {"readout_format": ".3g"}
    return kind(min=lo, max=hi, step=step, value=value, description=name, continuous_update=False,
                style={"description_width": "initial"}, **extra)


def make_control(name, spec):
    """An ipywidgets control for ``spec``, or None for a fixed value passed to draw unchanged.

    Specs: ``(min, max[, step[, value]])`` numbers -> IntSlider/FloatSlider (value defaults to the middle);
    a list of options, or a dict label -> value -> Dropdown (first option selected); ``True``/``False`` ->
    Checkbox; an ipywidgets widget -> used as it is; anything else (arrays, tensors, numbers, strings, models)
    is fixed.
    """
    import ipywidgets as W

    if isinstance(spec, W.ValueWidget):
        return spec
    if isinstance(spec, bool):
        return W.Checkbox(value=spec, description=name, indent=False)
    if isinstance(spec, tuple) and spec and all(isinstance(v, numbers.Real) for v in spec):
        return _slider(name, spec)
    if isinstance(spec, (list, dict)):
        if len(spec) == 0:
            raise ValueError(f"control {name!r}: a dropdown needs at least one option")
        return W.Dropdown(options=spec, description=name, style={"description_width": "initial"})
    return None


def _show_result(result, new_figures):
    """Display the figures ``draw`` made (then close them) and any other value it returned."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    for num in new_figures:
        fig = plt.figure(num)
        display(fig)
        plt.close(fig)
    if result is not None and not hasattr(result, "figure") and not hasattr(result, "savefig"):
        display(result)


def interactive_plot(draw, **controls):
    """Build a widget that calls ``draw(**values)`` whenever a control moves and shows what it draws.

    draw: function of the control names; it may make matplotlib figures (shown, then closed), print, or
        return something to display. ``controls``: name=spec, see :func:`make_control`.
    Returns an ``ipywidgets.VBox([*controls, output])`` with extras for code and tests:
    ``.controls`` (dict name -> widget), ``.output``, ``.draw``, ``.values()`` (current values, fixed included),
    ``.update(**values)`` (set controls and redraw; returns None or the error message) and ``.last_error``.
    Any exception from ``draw`` is caught and shown as one line of text; the widget stays alive.
    """
    import ipywidgets as W

    if not callable(draw):
        raise TypeError(f"draw must be a function, got {type(draw).__name__}")
    widgets, fixed = {}, {}
    for name, spec in controls.items():
        control = make_control(name, spec)
        (widgets if control is not None else fixed)[name] = control if control is not None else spec
    out = W.Output()
    box = W.VBox([*widgets.values(), out])
    state = {"busy": False}

    def values():
        return {**fixed, **{name: w.value for name, w in widgets.items()}}

    def render(*_):
        if state["busy"]:
            return box.last_error
        import matplotlib.pyplot as plt

        before = set(plt.get_fignums())
        box.last_error = None
        with out:
            out.clear_output(wait=True)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    result = draw(**values())
                _show_result(result, sorted(set(plt.get_fignums()) - before))
            except Exception as err:  # a widget never dies: show what went wrong instead
                for num in set(plt.get_fignums()) - before:
                    plt.close(num)
                shown = ", ".join(f"{k}={v!r}" for k, v in values().items() if k in widgets)
                box.last_error = f"Could not draw ({shown}): {type(err).__name__}: {err}"
                print(box.last_error)
        return box.last_error

    def update(**changes):
        unknown = set(changes) - set(widgets) - set(fixed)
        if unknown:
            return f"Unknown control(s) {sorted(unknown)}; known: {sorted(widgets) + sorted(fixed)}"
        state["busy"] = True
        try:
            for name, value in changes.items():
                if name in widgets:
                    widgets[name].value = value
                else:
                    fixed[name] = value
        finally:
            state["busy"] = False
        return render()

    for w in widgets.values():
        w.observe(render, names="value")
    box.controls, box.output, box.draw, box.values, box.update = widgets, out, draw, values, update
    render()
    return box


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


def threshold_summary(y_true, probs, threshold=0.5):
    """Operating point of binary ``probs`` (N,) in [0, 1] at ``threshold`` (positive when prob >= threshold).

    Returns :func:`labkit.metrics.binary_report`'s dict (sensitivity, specificity, ppv, npv, accuracy, f1,
    roc_auc, confusion_matrix, ...) plus 'fpr' (1 - specificity); undefined ratios are nan, silently.
    """
    from labkit.metrics import binary_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        report = binary_report(y_true, probs, threshold)
    report["fpr"] = 1.0 - report["specificity"]
    return report


def threshold_explorer(y_true, probs, labels=("negative", "positive")):
    """Threshold slider: ROC curve with the operating point, confusion matrix, sensitivity/specificity/PPV."""
    import matplotlib.pyplot as plt

    from labkit import plots

    threshold_summary(y_true, probs)  # bad input fails here, at build time, with a clear message

    def draw(threshold):
        s = threshold_summary(y_true, probs, threshold)
        fig, (left, right) = plt.subplots(1, 2, figsize=(7.5, 3.3))
        plots.plot_roc(y_true, probs, ax=left)
        left.plot(s["fpr"], s["sensitivity"], "o", color="#D55E00", ms=8, label=f"threshold {threshold:.2f}")
        left.legend(loc="lower right")
        plots.plot_confusion(s["confusion_matrix"], labels=labels, ax=right, title=f"threshold {threshold:.2f}")
        fig.tight_layout()
        print(f"sensitivity {s['sensitivity']:.3f} | specificity {s['specificity']:.3f} | "
              f"PPV {s['ppv']:.3f} | NPV {s['npv']:.3f}")
        return fig

    return interactive_plot(draw, threshold=(0.0, 1.0, 0.01, 0.5))


# ------------------------------------------------------------ imaging: window/level, slices, preprocessing steps
def _gray_image(image, name="image"):
    a = np.asarray(image.detach().cpu().numpy() if hasattr(image, "detach") else image)
    if a.ndim != 2 or a.size == 0 or not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{name} must be a non-empty numeric 2-D array (H, W), got shape {a.shape}, dtype {a.dtype}")
    return a.astype(np.float32)


def window_summary(image, center, width):
    """Window/level of ``image`` (H, W) in its own units (HU for CT): {'display': (H, W) float32 in [0, 1],
    'low', 'high': the window's edges, 'below', 'above': fractions of pixels shown black / white}."""
    from labkit.data import apply_window

    a = _gray_image(image)
    low, high = center - width / 2.0, center + width / 2.0
    return {"display": apply_window(a, center, width), "low": low, "high": high,
            "below": float(np.mean(a < low)), "above": float(np.mean(a > high))}


def window_level_viewer(image, presets=None, units="HU"):
    """Level (center) and width sliders, plus a menu of ``presets`` {name: (center, width)}, over ``image``
    (H, W): the windowed image beside its histogram with the window shaded."""
    import matplotlib.pyplot as plt

    from labkit import plots

    a = _gray_image(image)
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

    a = _gray_image(image)
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

    a = _gray_image(image)
    ref = None if reference is None else _gray_image(reference, "reference")

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


__all__ += ["window_summary", "window_level_viewer", "PLANES", "slice_summary", "slice_viewer", "PREPROCESS_STEPS",
            "preprocess_step", "preprocess_explorer"]


# ------------------------------------------------------------ neural networks: activation functions, conv kernels
def activation_summary(name, x_range=6.0, temperature=1.0):
    """Curve of activation ``name`` (see labkit.layers.ACTIVATIONS) as f(x / temperature) on [-x_range, x_range].

    Returns {'x', 'y', 'dy': (401,) float64 arrays, 'max_slope': float, 'flat': fraction of the range where the
    slope is below 0.01 (where almost no gradient flows back)}.
    """
    from labkit import layers

    x, y, dy = layers.activation_curve(name, -x_range, x_range, temperature)
    return {"x": x, "y": y, "dy": dy, "max_slope": float(np.abs(dy).max()), "flat": float(np.mean(np.abs(dy) < 0.01))}


def activation_explorer():
    """Activation menu, input-range and temperature sliders: f(x / T) beside its derivative."""
    import matplotlib.pyplot as plt

    from labkit import layers

    def draw(activation, x_range, temperature):
        s = activation_summary(activation, x_range, temperature)
        fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
        left.plot(s["x"], s["y"], color="#0072B2")
        right.plot(s["x"], s["dy"], color="#D55E00")
        right.fill_between(s["x"], 0, 1, where=np.abs(s["dy"]) < 0.01, color="0.85",
                           transform=right.get_xaxis_transform())
        left.set(title=f"{activation}(x / {temperature:g})", xlabel="x")
        right.set(title="derivative (gray: slope < 0.01)", xlabel="x")
        fig.tight_layout()
        print(f"largest slope {s['max_slope']:.3f}; slope below 0.01 on {s['flat']:.0%} of [-{x_range:g}, {x_range:g}]")
        return fig

    return interactive_plot(draw, activation=list(layers.ACTIVATIONS), x_range=(1.0, 20.0, 0.5, 6.0),
                            temperature=(0.1, 5.0, 0.1, 1.0))


def parse_kernel(text):
    """Kernel weights typed as text, rows separated by '/' or newlines (e.g. '0 -1 0 / -1 5 -1 / 0 -1 0')
    -> (k, k) float32 array with k odd. Raises ValueError for anything else."""
    rows = [r.replace(",", " ").split() for r in str(text).replace("\n", "/").split("/") if r.strip()]
    try:
        kernel = np.array([[float(v) for v in row] for row in rows], dtype=np.float32)
    except ValueError:
        raise ValueError(f"kernel weights must be rows of numbers of equal length, got {text!r}") from None
    square = kernel.ndim == 2 and kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
    if not square or not np.isfinite(kernel).all():
        raise ValueError(f"need a square kernel with an odd number of finite rows (3 rows of 3 numbers), got {text!r}")
    return kernel


def kernel_summary(image, kernel, size=3, weights="0 -1 0 / -1 5 -1 / 0 -1 0"):
    """Filter ``image`` (H, W) with a classic ``kernel`` (a name of labkit.layers.KERNELS; ``size`` for the
    blurs) or, for kernel='custom', the typed ``weights`` (see :func:`parse_kernel`).

    Returns {'kernel': (k, k) float32, 'filtered': (H, W) float32, 'sum': the kernel's sum}.
    """
    from labkit import layers

    a = _gray_image(image)
    k = parse_kernel(weights) if kernel == "custom" else layers.classic_kernel(kernel, size, sigma=size / 4).numpy()
    return {"kernel": k, "filtered": layers.filter_image(a, k), "sum": float(k.sum())}


def kernel_explorer(image, vmin=0.0, vmax=1.0):
    """Kernel menu (classic filters or your own weights), blur size: image, kernel and filtered image."""
    import ipywidgets as W
    import matplotlib.pyplot as plt

    from labkit import layers, plots

    a = _gray_image(image)

    def draw(kernel, size, weights):
        s = kernel_summary(a, kernel, size, weights)
        low, high = np.percentile(s["filtered"], [1, 99])
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), gridspec_kw={"width_ratios": [3, 2, 3]})
        plots.show_image(a, ax=axes[0], vmin=vmin, vmax=vmax, title="input")
        k = s["kernel"]
        axes[1].imshow(k, cmap="cividis")
        for (i, j), v in np.ndenumerate(k) if k.shape[0] <= 7 else ():   # write the weights of small kernels
            axes[1].text(j, i, f"{v:.2g}", ha="center", va="center", color="w" if v < k.mean() else "k", fontsize=8)
        axes[1].set_title(f"kernel {k.shape[0]}x{k.shape[1]}, sum {s['sum']:.2g}")
        axes[1].set_axis_off()
        plots.show_image(s["filtered"], ax=axes[2], vmin=low, vmax=max(high, low + 1e-6), title=f"filtered: {kernel}")
        fig.tight_layout()
        print(f"kernel sum {s['sum']:.3g}: output mean {s['filtered'].mean():.3f} (input {a.mean():.3f})")
        return fig

    text = W.Text(value="0 -1 0 / -1 5 -1 / 0 -1 0", description="weights (custom)", continuous_update=False,
                  style={"description_width": "initial"})
    # starts on a blur, so that the size slider (used by the blurs only) changes the picture from the first move
    menu = W.Dropdown(options=list(layers.KERNELS) + ["custom"], value="gaussian blur", description="kernel")
    return interactive_plot(draw, kernel=menu, size=(3, 11, 2, 3), weights=text)


__all__ += ["activation_summary", "activation_explorer", "parse_kernel", "kernel_summary", "kernel_explorer"]


# ------------------------------------------------------------ loss functions: loss and gradient against the prediction
LOSS_NAMES = ("BCE", "weighted BCE", "focal", "MSE")


def loss_curves(label=1, gamma=2.0, pos_weight=5.0, n_points=199):
    """Each loss of LOSS_NAMES for one sample with true ``label`` (0 or 1), against its predicted probability.

    Returns {'probs': (n_points,) float64 in (0, 1), 'loss': {name: (n_points,)}, 'grad': {name: (n_points,)}}:
    'grad' is d loss / d logit, the push that gradient descent gives the logit (labkit.losses, autograd).
    """
    import torch

    from labkit import losses

    if label not in (0, 1) or not gamma >= 0 or not pos_weight > 0 or int(n_points) < 2:
        raise ValueError(f"need label 0 or 1, gamma >= 0, pos_weight > 0, n_points >= 2; got {label!r}, "
                         f"{gamma!r}, {pos_weight!r}, {n_points!r}")
    probs = torch.linspace(0.005, 0.995, int(n_points), dtype=torch.float64)
    logits = torch.logit(probs).requires_grad_(True)
    target = torch.full_like(probs, float(label))
    fns = {"BCE": lambda z: losses.weighted_bce(z, target, 1.0, "none"),
           "weighted BCE": lambda z: losses.weighted_bce(z, target, pos_weight, "none"),
           "focal": lambda z: losses.focal_loss(z, target, gamma, reduction="none"),
           "MSE": lambda z: (torch.sigmoid(z) - target) ** 2}
    out = {"probs": probs.numpy(), "loss": {}, "grad": {}}
    for name, fn in fns.items():
        value = fn(logits)
        (grad,) = torch.autograd.grad(value.sum(), logits)
        out["loss"][name], out["grad"][name] = value.detach().numpy(), grad.numpy()
    return out


def loss_at(curves, prob):
    """Loss and gradient of every loss in ``curves`` (from :func:`loss_curves`) at the probability ``prob``
    (linear interpolation) -> {name: (loss, grad)}."""
    if not 0 < prob < 1:
        raise ValueError(f"prob must be in (0, 1), got {prob!r}")
    p = curves["probs"]
    return {name: (float(np.interp(prob, p, curves["loss"][name])), float(np.interp(prob, p, curves["grad"][name])))
            for name in curves["loss"]}


def loss_explorer():
    """Predicted-probability, label, gamma and pos_weight controls: every loss and its gradient with respect to
    the logit, against the predicted probability, with the chosen prediction marked."""
    import matplotlib.pyplot as plt

    def draw(prob, label, gamma, pos_weight):
        curves = loss_curves(label, gamma, pos_weight)
        at = loss_at(curves, prob)
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
        for name in curves["loss"]:
            line, = left.plot(curves["probs"], curves["loss"][name], label=name)
            right.plot(curves["probs"], curves["grad"][name], color=line.get_color())
            left.plot(prob, at[name][0], "o", color=line.get_color())
            right.plot(prob, at[name][1], "o", color=line.get_color())
        left.set(title=f"loss for a sample with label {label}", xlabel="predicted probability", ylabel="loss",
                 ylim=(0, min(8, max(v.max() for v in curves["loss"].values()) * 1.05)))
        right.set(title="gradient d loss / d logit", xlabel="predicted probability")
        right.axhline(0, color="0.6", linewidth=1)
        left.legend()
        fig.tight_layout()
        print(" | ".join(f"{name}: loss {v:.3f}, grad {g:+.3f}" for name, (v, g) in at.items()))
        return fig

    return interactive_plot(draw, prob=(0.01, 0.99, 0.01, 0.2), label=[1, 0], gamma=(0.0, 5.0, 0.5, 2.0),
                            pos_weight=(0.5, 20.0, 0.5, 5.0))


__all__ += ["LOSS_NAMES", "loss_curves", "loss_at", "loss_explorer"]


# ------------------------------------------------------------ detection: score threshold and NMS IoU
def detection_summary(outputs, gt_boxes, threshold=0.3, nms_iou=0.5, index=0, stride=2, iou_threshold=0.5):
    """Detections of a heatmap detector at one score threshold and NMS IoU (see :mod:`labkit.detect`).

    outputs: raw detector outputs (N, 5, h, w); gt_boxes: list of N (M, 4) boxes. Returns a dict with the
    image ``index``'s 'boxes' (K, 4), 'scores' (K,), 'is_tp' (K,) bool, 'gt' (M, 4), and counts over all N
    images: 'tp', 'fp', 'fn', 'precision', 'recall' (nan when undefined), 'fp_per_image'.
    """
    from torchvision.ops import nms

    from labkit import detect

    if len(outputs) != len(gt_boxes) or not 0 <= index < len(outputs):
        raise ValueError(f"need len(outputs) == len(gt_boxes) and 0 <= index < N; got {len(outputs)}, "
                         f"{len(gt_boxes)}, index {index}")
    found = []
    for boxes, scores in detect.decode_heatmap(outputs, stride=stride, threshold=threshold):
        keep = nms(boxes, scores, nms_iou) if nms_iou < 1 else slice(None)
        found.append((boxes[keep], scores[keep]))
    flags = [detect.match_detections(b, s, g, iou_threshold)[0] for (b, s), g in zip(found, gt_boxes)]
    tp, n_det = int(sum(f.sum() for f in flags)), int(sum(len(f) for f in flags))
    n_gt = int(sum(len(g) for g in gt_boxes))
    return {"boxes": found[index][0].numpy(), "scores": found[index][1].numpy(), "is_tp": flags[index],
            "gt": np.asarray(gt_boxes[index], np.float32).reshape(-1, 4), "tp": tp, "fp": n_det - tp,
            "fn": n_gt - tp, "precision": tp / n_det if n_det else float("nan"),
            "recall": tp / n_gt if n_gt else float("nan"), "fp_per_image": (n_det - tp) / len(outputs)}


def detection_explorer(images, outputs, gt_boxes, stride=2):
    """Sliders for image, score threshold and NMS IoU over precomputed detector ``outputs`` (N, 5, h, w).

    images: (N, 1, H, W) float in [0, 1]. Ground truth is dashed blue, true positives green, false
    positives vermillion; the counts over all N images are printed.
    """
    import matplotlib.pyplot as plt

    from labkit import plots

    detection_summary(outputs, gt_boxes)  # bad input fails here, at build time, with a clear message

    def draw(index, threshold, nms_iou):
        s = detection_summary(outputs, gt_boxes, threshold, nms_iou, index, stride)
        fig, ax = plt.subplots(figsize=(3.6, 3.6))
        plots.show_image(np.asarray(images[index]).reshape(images.shape[-2:]), ax=ax, vmin=0, vmax=1,
                         title=f"image {index}: {s['is_tp'].sum()} TP, {(~s['is_tp']).sum()} FP, {len(s['gt'])} true")
        plots.draw_boxes(ax, s["gt"], "#0072B2", linestyle="--")
        plots.draw_boxes(ax, s["boxes"][s["is_tp"]], "#009E73", s["scores"][s["is_tp"]])
        plots.draw_boxes(ax, s["boxes"][~s["is_tp"]], "#D55E00", s["scores"][~s["is_tp"]])
        print(f"all {len(outputs)} images: precision {s['precision']:.3f} | recall {s['recall']:.3f} | "
              f"{s['fp_per_image']:.2f} false positives per image")
        return fig

    return interactive_plot(draw, index=(0, len(outputs) - 1, 1, 0), threshold=(0.05, 0.95, 0.05, 0.3),
                            nms_iou=(0.1, 1.0, 0.05, 0.5))


__all__ += ["detection_summary", "detection_explorer"]


# ------------------------------------------------------------ training runs: learning curves side by side
def history_curves(histories, runs, quantity="val_loss"):
    """Per-epoch ``quantity`` ('train_loss', 'val_loss' or a validation metric such as 'accuracy') of the
    ``runs`` (names) of ``histories`` (dict name -> labkit.train.History) -> dict name -> (E,) float64 array.

    Each run has its own length E (early stopping). Raises ValueError for an unknown run, KeyError for an
    unknown quantity.
    """
    unknown = [name for name in runs if name not in histories]
    if unknown:
        raise ValueError(f"unknown run(s) {unknown}; known runs: {list(histories)}")
    return {name: np.asarray(histories[name].values(quantity), dtype=np.float64) for name in runs}


def history_explorer(histories, quantities=("val_loss", "train_loss", "accuracy"), log_scale=False):
    """Pick runs (several with Ctrl/Shift-click) and a quantity: their curves on one plot, best epochs printed.

    histories: dict name -> labkit.train.History, all computed beforehand (moving a control trains nothing).
    """
    import ipywidgets as W
    import matplotlib.pyplot as plt

    names = list(histories)
    history_curves(histories, names, quantities[0])  # bad input fails here, at build time
    select = W.SelectMultiple(options=names, value=tuple(names[:2]), description="runs", rows=min(8, len(names)))

    def draw(runs, quantity, log_scale):
        curves = history_curves(histories, runs, quantity)
        if not curves:
            print("select at least one run")
            return None
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        for name, values in curves.items():
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=name)
            finite = np.flatnonzero(np.isfinite(values))
            if finite.size:
                best = finite[np.argmin(values[finite]) if "loss" in quantity else np.argmax(values[finite])]
                print(f"{name:>24}: best {quantity} {values[best]:.4g} at epoch {best + 1} of {len(values)}")
        ax.set(xlabel="epoch", ylabel=quantity, title=f"{quantity} per epoch", yscale="log" if log_scale else "linear")
        ax.legend(fontsize=7)
        return fig

    return interactive_plot(draw, runs=select, quantity=list(quantities), log_scale=bool(log_scale))


__all__ += ["history_curves", "history_explorer"]


# ------------------------------------------------------------ robustness and trust: attacks, attributions
def attack_summary(model, image, label, eps, method="fgsm"):
    """One image (1, H, W) in [0, 1] attacked at ``eps`` (L-inf) -> dict with 'adversarial' and 'perturbation'
    (H, W) arrays, 'prob_clean' and 'prob_adv' (sigmoid of a one-output model) and 'linf' (float)."""
    import torch

    from labkit import adversarial

    x = torch.as_tensor(np.asarray(image, np.float32))
    if x.dim() != 3:
        raise ValueError(f"image must have shape (C, H, W), got {tuple(x.shape)}")
    x, y = x[None], torch.tensor([int(label)])
    model.eval()
    x_adv = adversarial.attack(model, x, y, float(eps), method)
    with torch.no_grad():
        probs = torch.sigmoid(model(torch.cat([x, x_adv])).reshape(2)).tolist()
    delta = (x_adv - x)[0, 0].numpy()
    return {"adversarial": x_adv[0, 0].numpy(), "perturbation": delta, "prob_clean": probs[0],
            "prob_adv": probs[1], "linf": float(np.abs(delta).max())}


def attack_explorer(model, images, labels, max_eps=16):
    """Case and epsilon (in 1/255 steps) sliders: clean image, adversarial image, amplified perturbation and
    the model's probability of 'lesion' before and after (FGSM computed live for one image)."""
    import matplotlib.pyplot as plt

    from labkit import plots

    images, labels = np.asarray(images), np.asarray(labels)

    def draw(case, eps_255, method):
        s = attack_summary(model, images[case], labels[case], eps_255 / 255, method)
        fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
        plots.show_image(images[case, 0], ax=axes[0], title=f"clean, label {labels[case]}: p={s['prob_clean']:.2f}",
                         vmin=0, vmax=1)
        plots.show_image(s["adversarial"], ax=axes[1], title=f"{method} eps={eps_255}/255: p={s['prob_adv']:.2f}",
                         vmin=0, vmax=1)
        bound = max(s["linf"], 1e-6)
        plots.show_image(s["perturbation"], ax=axes[2], title="perturbation (amplified)", vmin=-bound, vmax=bound,
                         cmap="cividis")
        fig.tight_layout()
        return fig

    return interactive_plot(draw, case=(0, len(images) - 1, 1, 0), eps_255=(0, int(max_eps), 1, 4),
                            method=["fgsm", "pgd"])


def attribution_summary(maps, masks, case, method):
    """Precomputed attributions ``maps`` {method: (N, H, W)} -> dict with the map (H, W) of one case, its
    peak (row, col) and whether the peak falls inside ``masks[case]`` (H, W) ('hit', bool)."""
    if method not in maps:
        raise ValueError(f"method must be one of {sorted(maps)}, got {method!r}")
    attr = np.asarray(maps[method][case], np.float64)
    peak = np.unravel_index(np.argmax(attr), attr.shape)
    return {"map": attr, "peak": tuple(int(p) for p in peak), "hit": bool(np.asarray(masks[case])[peak])}


def attribution_explorer(images, maps, masks):
    """Case and method pickers over precomputed attributions: image with the lesion outline, the map and
    its peak (a cross: orange when it falls inside the lesion)."""
    import matplotlib.pyplot as plt

    from labkit import plots

    images, masks = np.asarray(images), np.asarray(masks)

    def draw(case, method):
        s = attribution_summary(maps, masks, case, method)
        fig, axes = plt.subplots(1, 2, figsize=(6, 3))
        plots.show_overlay(images[case, 0], masks[case], ax=axes[0], title=f"case {case}: lesion outline",
                           vmin=0, vmax=1, contour=True)
        plots.show_image(s["map"], ax=axes[1], title=f"{method}: peak {'in' if s['hit'] else 'outside'} lesion",
                         cmap="viridis")
        for ax in axes:
            ax.plot(s["peak"][1], s["peak"][0], "x", color="#E69F00" if s["hit"] else "#D55E00", ms=10, mew=2)
        fig.tight_layout()
        return fig

    return interactive_plot(draw, case=(0, len(images) - 1, 1, 0), method=list(maps))


__all__ += ["attack_summary", "attack_explorer", "attribution_summary", "attribution_explorer"]


# ------------------------------------------------------------ augmentation gallery and segmentation overlays
def augmentation_summary(image, mask, flip=False, rotate=0.0, zoom=1.0, elastic=0.0, gamma=1.0, noise=0.0, bias=0.0,
                         seed=0):
    """One augmentation of ``image`` (H, W) float in [0, 1] and its ``mask`` (H, W), each transform at a fixed
    strength (see :func:`labkit.augment.fixed_augmentation`: rotate in degrees, zoom factor, elastic magnitude
    in pixels, gamma, noise std, bias coefficient). Returns {'image': (H, W) float32, 'mask': (H, W),
    'area_before', 'area_after': mask pixels, 'change': mean |augmented - original| of the image}."""
    from labkit import augment

    a, m = _gray_image(image), np.asarray(mask)
    if m.shape != a.shape:
        raise ValueError(f"mask must have the image's shape {a.shape}, got {m.shape}")
    transform = augment.fixed_augmentation(flip=bool(flip), rotate=rotate, zoom=zoom, elastic=elastic, gamma=gamma,
                                           noise=noise, bias=bias, seed=int(seed))
    new_image, new_mask = augment.augment_pair(a, m, transform)
    return {"image": new_image, "mask": new_mask, "area_before": int(np.count_nonzero(m)),
            "area_after": int(np.count_nonzero(new_mask)), "change": float(np.mean(np.abs(new_image - a)))}


def augmentation_gallery(image, mask):
    """Sliders for each transform's strength over ``image`` (H, W) in [0, 1] and its lesion ``mask`` (H, W):
    original and augmented image side by side, the mask outlined on both."""
    import matplotlib.pyplot as plt

    from labkit import plots

    augmentation_summary(image, mask)  # bad input fails here, at build time

    def draw(flip, rotate, zoom, elastic, gamma, noise, bias, seed):
        s = augmentation_summary(image, mask, flip, rotate, zoom, elastic, gamma, noise, bias, seed)
        fig, axes = plt.subplots(1, 2, figsize=(6.6, 3.4))
        plots.show_overlay(image, mask, ax=axes[0], title="original", vmin=0, vmax=1, contour=True)
        plots.show_overlay(s["image"], s["mask"], ax=axes[1], title="augmented (same draw for the mask)",
                           vmin=0, vmax=1, contour=True)
        fig.tight_layout()
        print(f"mask area {s['area_before']} -> {s['area_after']} pixels | mean intensity change {s['change']:.3f}")
        return fig

    return interactive_plot(draw, flip=False, rotate=(-45.0, 45.0, 1.0, 0.0), zoom=(0.7, 1.4, 0.05, 1.0),
                            elastic=(0.0, 4.0, 0.25, 0.0), gamma=(0.5, 2.0, 0.05, 1.0), noise=(0.0, 0.1, 0.005, 0.0),
                            bias=(0.0, 0.2, 0.01, 0.0), seed=(0, 20, 1, 0))


def segmentation_summary(images, truth, pred, index, n_classes=None):
    """Slice ``index`` of ``images`` (N, 1, H, W) or (N, H, W) with label maps ``truth`` and ``pred`` (N, H, W) int.

    Returns {'image': (H, W), 'truth', 'pred': (H, W) int64, 'errors': (H, W) bool where pred != truth,
    'error_fraction': float, 'dice': (n_classes - 1,) Dice per foreground class (labkit.metrics.dice_score;
    1.0 where a class is absent from both)}. n_classes defaults to 1 + the largest label of truth and pred.
    """
    from labkit.metrics import dice_score

    imgs, t, p = np.asarray(images), np.asarray(truth), np.asarray(pred)
    imgs = imgs[:, 0] if imgs.ndim == 4 else imgs
    if imgs.ndim != 3 or t.shape != imgs.shape or p.shape != imgs.shape:
        raise ValueError(f"need images (N, [1,] H, W) and label maps (N, H, W) of the same size, got "
                         f"{np.asarray(images).shape}, {t.shape}, {p.shape}")
    if not (isinstance(index, (int, np.integer)) and 0 <= index < len(imgs)):
        raise ValueError(f"index must be an int in [0, {len(imgs) - 1}], got {index!r}")
    n_classes = int(max(t.max(), p.max())) + 1 if n_classes is None else n_classes
    ti, pi = t[index].astype(np.int64), p[index].astype(np.int64)
    errors = ti != pi
    return {"image": imgs[index], "truth": ti, "pred": pi, "errors": errors, "error_fraction": float(errors.mean()),
            "dice": dice_score(pi, ti, n_classes=n_classes)[1:]}


def segmentation_viewer(images, truth, pred, class_names=None):
    """Slice slider over a stack: ground truth, prediction (label colours of labkit.plots.PALETTE) and the error
    map (pixels where they differ), with the per-class Dice of the slice printed."""
    import matplotlib.pyplot as plt

    from labkit import plots

    segmentation_summary(images, truth, pred, 0)  # bad input fails here, at build time
    n_classes = int(max(np.max(truth), np.max(pred))) + 1
    names = list(class_names or [f"class {k}" for k in range(n_classes)])[1:]
    vmax = float(np.max(images))

    def draw(index):
        s = segmentation_summary(images, truth, pred, index, n_classes)
        fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.4))
        plots.show_overlay(s["image"], s["truth"], ax=axes[0], title="ground truth", vmin=0, vmax=vmax)
        plots.show_overlay(s["image"], s["pred"], ax=axes[1], title="prediction", vmin=0, vmax=vmax)
        plots.show_overlay(s["image"], s["errors"], ax=axes[2], alpha=0.7, vmin=0, vmax=vmax,
                           title=f"errors: {s['error_fraction']:.1%} of pixels")
        fig.tight_layout()
        print(f"slice {index}: Dice " + ", ".join(f"{n} {d:.3f}" for n, d in zip(names, s["dice"])))
        return fig

    return interactive_plot(draw, index=(0, len(np.asarray(truth)) - 1, 1, len(np.asarray(truth)) // 2))


__all__ += ["augmentation_summary", "augmentation_gallery", "segmentation_summary", "segmentation_viewer"]


# ------------------------------------------------------------ domain shift: accuracy against shift strength
def shift_summary(strengths, curves, strength):
    """Each model's score at shift ``strength``, linearly interpolated from precomputed curves.

    strengths: (K,) increasing shift strengths (0 = the training scanner); curves: dict name -> K scores.
    Returns dict name -> float. ``strength`` outside the range is clipped to it.
    """
    s = np.asarray(strengths, dtype=float)
    if s.ndim != 1 or len(s) < 2 or np.any(np.diff(s) <= 0):
        raise ValueError(f"strengths must be K >= 2 increasing numbers, got {strengths!r}")
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict name -> scores")
    out = {}
    for name, values in curves.items():
        v = np.asarray(values, dtype=float)
        if v.shape != s.shape:
            raise ValueError(f"curve {name!r} has {v.size} values for {len(s)} strengths")
        out[name] = float(np.interp(float(strength), s, v))
    return out


def shift_explorer(strengths, curves, image, effect, metric="accuracy"):
    """Shift-strength slider: ``image`` (H, W) in [0, 1] as it looks under ``effect`` (a SiteEffect) scaled to that
    strength, and every model's precomputed ``metric`` curve with the current strength marked."""
    import matplotlib.pyplot as plt

    from labkit import adapt, plots, synthetic

    shift_summary(strengths, curves, strengths[0])  # bad input fails here, at build time
    image = _gray_image(image)

    def draw(strength):
        shifted = synthetic.apply_site_effect(image[None, None], adapt.scaled_effect(effect, strength), seed=0)
        fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.4), gridspec_kw={"width_ratios": [1, 1.6]})
        plots.show_image(shifted[0, 0], ax=left, title=f"shift strength {strength:.2f}", vmin=0, vmax=1)
        for name, values in curves.items():
            right.plot(strengths, values, marker="o", ms=3, label=name)
        right.axvline(strength, color="0.4", linestyle=":")
        right.set(xlabel="shift strength (0 = training scanner, 1 = scanner B)", ylabel=metric,
                  title=f"{metric} against shift strength")
        right.legend(fontsize=7)
        fig.tight_layout()
        scores = shift_summary(strengths, curves, strength)
        print(" | ".join(f"{name} {value:.3f}" for name, value in scores.items()))
        return fig

    top = float(np.max(strengths))
    return interactive_plot(draw, strength=(float(np.min(strengths)), top, top / 40, min(1.0, top)))


__all__ += ["shift_summary", "shift_explorer"]


# ------------------------------------------------------------ transfer learning: what a pretrained network sees
def feature_map_summary(model, image, block, n_maps=8):
    """Activations of a frozen EfficientNet (labkit.pretrained) after ``block`` (0-15) for one grey image.

    image: (H, W) in [0, 1], H and W multiples of 32. Returns dict with ``shape`` (C, h, w), ``channels`` (the
    ``n_maps`` channels with the highest mean activation, strongest first) and ``maps`` (n_maps, h, w) float32.
    """
    import torch

    from labkit import pretrained

    image = _gray_image(image)
    if not isinstance(n_maps, numbers.Integral) or n_maps < 1:
        raise ValueError(f"n_maps must be a positive int, got {n_maps!r}")
    acts = pretrained.block_activations(model, torch.from_numpy(image)[None, None], upto=int(block))[0]
    strongest = torch.argsort(acts.mean(dim=(1, 2)), descending=True)[:n_maps]
    return {"shape": tuple(acts.shape), "channels": strongest.tolist(), "maps": acts[strongest].numpy()}


def feature_map_explorer(model, images, n_maps=8):
    """Case and block sliders: a patch and the ``n_maps`` strongest activation maps of a frozen EfficientNet after
    that block, so that resolution falling and channels growing with depth can be watched."""
    import matplotlib.pyplot as plt

    from labkit import plots

    stack = np.asarray(images.detach().cpu().numpy() if hasattr(images, "detach") else images)
    stack = stack[:, 0] if stack.ndim == 4 and stack.shape[1] == 1 else stack
    if stack.ndim != 3 or len(stack) == 0:
        raise ValueError(f"images must be (N, H, W) or (N, 1, H, W) grey patches, got shape {stack.shape}")
    feature_map_summary(model, stack[0], 0, n_maps)  # bad model or size fails here, at build time

    def draw(case, block):
        s = feature_map_summary(model, stack[case], block, n_maps)
        fig, axes = plt.subplots(1, n_maps + 1, figsize=(1.25 * (n_maps + 1), 1.7))
        plots.show_image(stack[case], ax=axes[0], title=f"patch {case}", vmin=0, vmax=1)
        for ax, channel, fmap in zip(axes[1:], s["channels"], s["maps"]):
            plots.show_image(fmap, ax=ax, title=f"ch {channel}", cmap="magma")
        c, h, w = s["shape"]
        fig.suptitle(f"after block {block}: {c} channels of {h} x {w} (the {n_maps} strongest shown)", fontsize=9)
        fig.tight_layout()
        return fig

    return interactive_plot(draw, case=(0, len(stack) - 1, 1, 0), block=(0, 15, 1, 0))


__all__ += ["feature_map_summary", "feature_map_explorer"]


# ------------------------------------------------------------ multi-modal fusion: weighting late-fusion voters
def fusion_weights_summary(probs, y_true, weights, groups=None, threshold=0.5):
    """Late fusion of per-modality probabilities with ``weights`` and what it achieves.

    probs: dict name -> (N,) probabilities; weights: dict name -> non-negative weight (missing names weigh 0);
    groups: optional (N,) labels of the cases (e.g. the lesion type) for the sensitivity per group at
    ``threshold``. Returns dict with ``auc``, ``fused`` (N,), ``weights`` (normalised) and ``sensitivity``
    (group -> share of the group's positives found, for groups with positives).
    """
    from labkit import fusion, metrics

    if not isinstance(probs, dict) or not probs:
        raise ValueError("probs must be a non-empty dict name -> (N,) probabilities")
    if not isinstance(weights, dict) or set(weights) - set(probs):
        raise ValueError(f"weights must be a dict over the names {list(probs)}, got {weights!r}")
    w = np.array([float(weights.get(name, 0.0)) for name in probs])
    if np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be non-negative with at least one above 0, got {weights!r}")
    fused = fusion.late_fusion(list(probs.values()), w)
    y = np.asarray(y_true).ravel()
    if y.shape != fused.shape:
        raise ValueError(f"y_true has {y.size} labels for {fused.size} cases")
    sens = {}
    if groups is not None:
        g = np.asarray(groups).ravel()
        if g.shape != y.shape:
            raise ValueError(f"groups has {g.size} entries for {y.size} cases")
        for name in dict.fromkeys(g[y == 1].tolist()):
            sens[name] = float(np.mean(fused[(g == name) & (y == 1)] >= threshold))
    return {"auc": metrics.roc_auc(y, fused), "fused": fused, "sensitivity": sens,
            "weights": dict(zip(probs, (w / w.sum()).tolist()))}


def fusion_weights_explorer(probs, y_true, groups=None, reference=None):
    """One weight slider per modality of a late fusion: its ROC curve, AUC and sensitivity per group, against
    ``reference`` (dict name -> AUC of other models, drawn as lines for comparison). Names must be identifiers."""
    import matplotlib.pyplot as plt

    from labkit import metrics

    if not isinstance(probs, dict) or not probs or not all(str(k).isidentifier() for k in probs):
        raise ValueError(f"probs must be a non-empty dict whose names are identifiers, got {list(probs or [])}")
    fusion_weights_summary(probs, y_true, dict.fromkeys(probs, 1.0), groups)  # bad input fails at build time
    reference = dict(reference or {})

    def draw(**weights):
        s = fusion_weights_summary(probs, y_true, weights, groups)
        fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.3))
        fpr, tpr, _ = metrics.roc_curve(y_true, s["fused"])
        left.plot(fpr, tpr, label=f"late fusion, AUC {s['auc']:.3f}")
        left.plot([0, 1], [0, 1], color="0.7", linestyle=":")
        left.set(xlabel="false-positive rate", ylabel="sensitivity", title="ROC of the weighted vote")
        left.legend(fontsize=7, loc="lower right")
        names = ["late fusion"] + list(reference)
        bars = right.barh(names, [s["auc"]] + list(reference.values()), color=["#0072B2"] + ["0.6"] * len(reference))
        right.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
        right.set(xlim=(0.5, 1.08), xlabel="ROC-AUC", title="against the other models")
        fig.tight_layout()
        shares = ", ".join(f"{k} {v:.2f}" for k, v in s["weights"].items())
        found = " | ".join(f"{k} lesions found {v:.0%}" for k, v in s["sensitivity"].items())
        print(f"weights {shares}" + (f"\n{found} (threshold 0.5)" if found else ""))
        return fig

    return interactive_plot(draw, **{name: (0.0, 1.0, 0.05, 1.0) for name in probs})


__all__ += ["fusion_weights_summary", "fusion_weights_explorer"]
