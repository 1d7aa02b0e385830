"""How every widget of the course is built: control specs -> ipywidgets controls, and a drawing function wired to
them with ipywidgets' own ``interactive_output``, behind an error wrapper so that a widget never dies.

The pattern, for every widget in the course::

    def thing_summary(data, knob):            # plain, tested without a browser
        return {...}

    def thing_explorer(data):                 # builder: one call to interactive_plot
        def draw(knob):
            summary = thing_summary(data, knob)
            ...plot or print it...
        return interactive_plot(draw, knob=(0.0, 1.0, 0.01, 0.5))

ipywidgets is imported only when a widget is built.
"""

import numbers
import warnings

import numpy as np

__all__ = ["interactive_plot", "make_control", "as_gray_image"]


def as_gray_image(image, name="image"):
    """``image`` (H, W) array or tensor -> float32 NumPy array; a clear ValueError for anything else."""
    a = np.asarray(image.detach().cpu().numpy() if hasattr(image, "detach") else image)
    if a.ndim != 2 or a.size == 0 or not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{name} must be a non-empty numeric 2-D array (H, W), got shape {a.shape}, dtype {a.dtype}")
    return a.astype(np.float32)


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

    from labkit.plots import figure_alt

    for num in new_figures:
        fig = plt.figure(num)
        display(fig, metadata={"alt": figure_alt(fig)})   # alt text, used where the figure is shown as an image
        plt.close(fig)
    if result is not None and not hasattr(result, "figure") and not hasattr(result, "savefig"):
        display(result)


def _guarded(draw, box):
    """``draw`` wrapped so that an exception becomes one printed line (kept in ``box.last_error``)."""
    import matplotlib.pyplot as plt

    def safe(**values):
        if box.holding:
            return
        before = set(plt.get_fignums())
        box.last_error = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                result = draw(**values)
            _show_result(result, sorted(set(plt.get_fignums()) - before))
        except Exception as err:  # a widget never dies: show what went wrong instead
            for num in set(plt.get_fignums()) - before:
                plt.close(num)
            shown = ", ".join(f"{k}={v!r}" for k, v in values.items() if k in box.controls)
            box.last_error = f"Could not draw ({shown}): {type(err).__name__}: {err}"
            print(box.last_error)

    return safe


def interactive_plot(draw, **controls):
    """Build a widget that calls ``draw(**values)`` whenever a control moves and shows what it draws.

    draw: function of the control names; it may make matplotlib figures (shown, then closed), print, or
        return something to display. ``controls``: name=spec, see :func:`make_control`.
    The controls are wired to ``draw`` by ``ipywidgets.interactive_output``; fixed values travel as
    ``ipywidgets.fixed``. Returns an ``ipywidgets.VBox([*controls, output])`` with extras for code and tests:
    ``.controls`` (dict name -> widget), ``.output``, ``.draw``, ``.values()`` (current values, fixed included),
    ``.update(**values)`` (set several values, draw once; returns None or the error message) and ``.last_error``.
    Any exception from ``draw`` is caught and shown as one line of text; the widget stays alive.
    """
    import ipywidgets as W

    if not callable(draw):
        raise TypeError(f"draw must be a function, got {type(draw).__name__}")
    widgets, fixed = {}, {}
    for name, spec in controls.items():
        control = make_control(name, spec)
        if control is None:
            fixed[name] = W.fixed(spec)
        else:
            widgets[name] = control
    box = W.VBox(list(widgets.values()))
    box.controls, box.draw, box.holding, box.last_error = widgets, draw, False, None
    safe = _guarded(draw, box)
    out = W.interactive_output(safe, {**fixed, **widgets})
    box.children = (*widgets.values(), out)

    def values():
        return {**{name: f.value for name, f in fixed.items()}, **{name: w.value for name, w in widgets.items()}}

    def update(**changes):
        unknown = set(changes) - set(widgets) - set(fixed)
        if unknown:
            return f"Unknown control(s) {sorted(unknown)}; known: {sorted(widgets) + sorted(fixed)}"
        box.holding = True   # one drawing for all the changes, not one per control
        try:
            for name, value in changes.items():
                (widgets.get(name) or fixed[name]).value = value
        finally:
            box.holding = False
        with out:
            out.clear_output(wait=True)
            safe(**values())
        return box.last_error

    box.output, box.values, box.update = out, values, update
    return box
