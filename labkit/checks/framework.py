"""The checker framework: how an exercise's answer is run, compared and reported.

A checker takes the learner's function or value, prints ``passed``, ``failed`` (what differed, and a hint)
or ``not attempted`` (the stub still raises NotImplementedError or gives None), and never raises.
``checker.evaluate(answer)`` returns the :class:`Result` without printing (used by the tests and the grader).
Printing checkers also keep the verdict in the learner's local record (:mod:`labkit.progress`).

Hints teach before they tell: the first failed try shows ``hint`` (the idea to use); from the second failed try
of the same checker in the same kernel on, the ``formula`` (how to write it) is shown under it.
Every checker compares against a trusted reference (numpy, torch, MONAI, scikit-learn) or a property.
"""

import collections
import functools
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Result", "CheckFailed", "NotAttempted", "REGISTRY", "checker", "call", "to_array", "expect_close",
           "expect_true", "failed_tries", "reset_tries"]

REGISTRY = {}
_FAILED_TRIES = collections.Counter()


class NotAttempted(Exception):
    """The learner's answer is still the stub."""


class CheckFailed(Exception):
    """The learner's answer differs from the reference; the message says how."""


@dataclass(frozen=True)
class Result:
    """Outcome of one check: ``status`` is 'passed', 'failed' or 'not attempted'.

    ``hint`` names the idea; ``formula`` (possibly empty) tells how, and is printed once ``show_formula`` is set.
    """

    name: str
    status: str
    message: str = ""
    hint: str = ""
    formula: str = ""
    show_formula: bool = False

    @property
    def passed(self):
        return self.status == "passed"

    def __str__(self):
        if self.status == "passed":
            return f"[passed] {self.name}: well done." + (f" {self.message}" if self.message else "")
        if self.status == "not attempted":
            return f"[not attempted] {self.name}: replace the stub (raise NotImplementedError / None) with your answer."
        text = f"[failed] {self.name}: {self.message}\n  Hint: {self.hint}"
        if self.formula and self.show_formula:
            text += f"\n  More help: {self.formula}"
        elif self.formula:
            text += "\n  (Try again; after a second failed try the checker shows how to write it.)"
        return text


def failed_tries(name):
    """How many times the checker ``name`` has printed 'failed' in this kernel."""
    return _FAILED_TRIES[name]


def reset_tries():
    """Forget every failed try (the next failure shows the first hint again)."""
    _FAILED_TRIES.clear()


def checker(hint, formula=""):
    """Decorator: turn ``evaluate(answer)`` (raises CheckFailed/NotAttempted) into a safe, printing checker.

    hint: the idea that solves the exercise, without the code (shown at the first failed try).
    formula: the formula or code pattern (shown from the second failed try on).
    """
    if not isinstance(hint, str) or not hint.strip():
        raise ValueError("a checker needs a hint (a non-empty string)")

    def wrap(evaluate):
        name = evaluate.__name__

        def run(answer=None):
            more = _FAILED_TRIES[name] >= 1
            if answer is None:
                return Result(name, "not attempted")
            try:
                note = evaluate(answer)
            except NotAttempted:
                return Result(name, "not attempted")
            except CheckFailed as err:
                return Result(name, "failed", str(err), hint, formula, more)
            except Exception as err:  # the learner's code may raise anything; report it, never re-raise
                return Result(name, "failed", f"your answer raised {type(err).__name__}: {err}", hint, formula, more)
            return Result(name, "passed", note or "")

        @functools.wraps(evaluate)
        def check(answer=None):
            from labkit import progress

            result = run(answer)
            if result.status == "failed":
                _FAILED_TRIES[name] += 1
            progress.record(name, result.status)   # the learner's local record; never raises
            print(result)
            return None

        check.evaluate = run
        check.hint, check.formula = hint, formula
        REGISTRY[name] = check
        return check

    return wrap
def _copy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if isinstance(x, np.ndarray):
        return x.copy()
    return x


def call(fn, *args, **kwargs):
    """Call the learner's function on copies of the inputs; a stub counts as not attempted."""
    if not callable(fn):
        raise CheckFailed(f"expected a function, got {type(fn).__name__} ({fn!r:.60})")
    try:
        out = fn(*[_copy(a) for a in args], **{k: _copy(v) for k, v in kwargs.items()})
    except NotImplementedError:
        raise NotAttempted() from None
    if out is None:
        raise NotAttempted()
    return out


def to_array(x, what="your answer"):
    """Convert a number, list, NumPy array or torch tensor to a float64 NumPy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if isinstance(x, (str, bytes, dict, set)) or callable(x):
        raise CheckFailed(f"expected {what} to be a number or an array, got {type(x).__name__}")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"expected {what} to be numeric, got {type(x).__name__}") from None
    return arr


def expect_close(got, want, what="your answer", atol=1e-6, rtol=1e-5):
    """Raise CheckFailed unless ``got`` matches ``want`` in shape and value (within atol + rtol)."""
    got, want = to_array(got, what), to_array(want, "the reference")
    if got.shape != want.shape:
        raise CheckFailed(f"{what} has shape {got.shape}, expected {want.shape}")
    if np.isnan(got).any() and not np.isnan(want).any():
        raise CheckFailed(f"{what} contains NaN")
    if not np.allclose(got, want, atol=atol, rtol=rtol, equal_nan=True):
        diff = np.nanmax(np.abs(got - want))
        if got.size == 1:
            raise CheckFailed(f"{what} is {got.item():.6g}, expected {want.item():.6g}")
        raise CheckFailed(f"{what} differs from the reference (largest difference {diff:.3g})")


def expect_true(condition, message):
    """Raise CheckFailed with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


