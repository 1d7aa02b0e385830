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
