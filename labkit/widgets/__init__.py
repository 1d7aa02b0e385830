"""Interactive widgets: plain functions that compute what to show (tested without a browser), plus small builders
that return ipywidgets, one module per part of the course. Notebooks write ``from labkit import widgets`` and then
``widgets.threshold_explorer(...)``; every public name of the part modules is reachable from here.

The builder every widget uses, :func:`labkit.widgets.base.interactive_plot`, wires controls to a drawing function
with ``ipywidgets.interactive_output`` and never lets an exception escape.
"""

from labkit.widgets import (base, capstone, collaboration, deployment, evaluation, images, networks,
                            robustness, tasks, training)

PART_MODULES = (images, networks, training, tasks, robustness, evaluation, collaboration, deployment,
                capstone)

__all__ = ["PART_MODULES", *base.__all__, *(name for module in PART_MODULES for name in module.__all__)]


def _public_names():
    names = {name: getattr(base, name) for name in base.__all__}
    for module in PART_MODULES:
        names.update({name: getattr(module, name) for name in module.__all__})
    return names


_NAMES = _public_names()


def __getattr__(name):
    """``widgets.NAME`` is the widget or summary function NAME of one of the part modules."""
    if name in _NAMES:
        return _NAMES[name]
    raise AttributeError(f"labkit.widgets has no {name!r}; see labkit/widgets/<part>.py for what each part offers")


def __dir__():
    return sorted(set(globals()) | set(_NAMES))
