"""Exercise self-checks: one checker per exercise, named by concept.

A checker takes the learner's function or value, prints ``passed``, ``failed`` (what differed, and a hint)
or ``not attempted`` (the stub still raises NotImplementedError or gives None), and never raises.
``checker.evaluate(answer)`` returns the :class:`Result` without printing (used by the tests).
Every checker compares against a trusted reference (numpy, torch, MONAI, scikit-learn) or a property.
"""

import functools
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Result", "CheckFailed", "NotAttempted", "REGISTRY", "checker", "call", "to_array",
           "expect_close", "expect_true", "bright_fraction"]

REGISTRY = {}


class NotAttempted(Exception):
    """The learner's answer is still the stub."""


class CheckFailed(Exception):
    """The learner's answer differs from the reference; the message says how."""


@dataclass(frozen=True)
class Result:
    """Outcome of one check: ``status`` is 'passed', 'failed' or 'not attempted'."""

    name: str
    status: str
    message: str = ""
    hint: str = ""

    @property
    def passed(self):
        return self.status == "passed"

    def __str__(self):
        if self.status == "passed":
            return f"[passed] {self.name}: well done." + (f" {self.message}" if self.message else "")
        if self.status == "not attempted":
            return f"[not attempted] {self.name}: replace the stub (raise NotImplementedError / None) with your answer."
        return f"[failed] {self.name}: {self.message}\n  Hint: {self.hint}"


def checker(hint):
    """Decorator: turn ``evaluate(answer)`` (raises CheckFailed/NotAttempted) into a safe, printing checker."""

    def wrap(evaluate):
        name = evaluate.__name__

        def run(answer=None):
            if answer is None:
                return Result(name, "not attempted")
            try:
                note = evaluate(answer)
            except NotAttempted:
                return Result(name, "not attempted")
            except CheckFailed as err:
                return Result(name, "failed", str(err), hint)
            except Exception as err:  # the learner's code may raise anything; report it, never re-raise
                return Result(name, "failed", f"your answer raised {type(err).__name__}: {err}", hint)
            return Result(name, "passed", note or "")

        @functools.wraps(evaluate)
        def check(answer=None):
            print(run(answer))

        check.evaluate = run
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


def _example_images(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random((16, 16), dtype=np.float32), rng.random((7, 5)).astype(np.float32),
            np.zeros((4, 4), np.float32), np.linspace(0, 1, 9, dtype=np.float32).reshape(3, 3)]


@checker(hint="Compare the image with the threshold (image > threshold), then take the mean of the boolean array.")
def bright_fraction(answer):
    """00_welcome: fraction of pixels strictly brighter than a threshold."""
    for image in _example_images():
        for threshold in (0.0, 0.25, 0.5):
            want = float(np.mean(image > threshold))
            expect_close(call(answer, image, threshold), want,
                         f"bright_fraction(image of shape {image.shape}, {threshold})")
