"""Exercise self-checks: one checker per exercise, named like the function (or value) the exercise asks for.

Notebooks write ``from labkit import checks`` and then ``checks.dice_per_class(dice_per_class)``. The checker
framework (how answers are run, compared and reported) is in :mod:`labkit.checks.framework`; the checkers live in
one module per part of the course, register themselves in ``REGISTRY`` and are reached from here by name.
"""

from labkit.checks import (capstone, collaboration, deployment, evaluation, images, networks, robustness,
                           tasks, training)
from labkit.checks.framework import (REGISTRY, CheckFailed, NotAttempted, Result, call, checker, expect_close,
                                     expect_true, failed_tries, reset_tries, to_array)

PART_MODULES = (images, networks, training, tasks, robustness, evaluation, collaboration, deployment,
                capstone)

__all__ = ["Result", "CheckFailed", "NotAttempted", "REGISTRY", "PART_MODULES", "checker", "call", "to_array",
           "expect_close", "expect_true", "failed_tries", "reset_tries", *REGISTRY]


def __getattr__(name):
    """``checks.NAME`` is the registered checker NAME (defined in one of the part modules)."""
    if name in REGISTRY:
        return REGISTRY[name]
    raise AttributeError(f"labkit.checks has no checker {name!r}; known checkers: {', '.join(sorted(REGISTRY))}")


def __dir__():
    return sorted(set(globals()) | set(REGISTRY))
