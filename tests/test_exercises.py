"""Every exercise's solution passes its checker; a known-wrong variant fails; the unfilled stub is 'not attempted'."""

import numpy as np
import pytest
import torch

from labkit import checks
from tests.exercise_variants import WRONG
from tests.notebook_cells import all_exercises

EXERCISES = all_exercises()


def _run(source, name):
    namespace = {"np": np, "torch": torch, "checks": checks}
    exec(compile(source, f"<{name}>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda ex: ex.id)
def test_solution_passes(exercise):
    answer = _run(exercise.solution, exercise.id)[exercise.answer_name]
    result = checks.REGISTRY[exercise.checker].evaluate(answer)
    assert result.passed, str(result)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda ex: ex.id)
def test_wrong_variant_fails(exercise):
    assert exercise.checker in WRONG, f"tests/exercise_variants.py needs a wrong answer for {exercise.checker}"
    answer = _run(WRONG[exercise.checker], exercise.id)[exercise.answer_name]
    result = checks.REGISTRY[exercise.checker].evaluate(answer)
    assert result.status == "failed", str(result)
    assert result.hint, "a failed check must give a hint"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda ex: ex.id)
def test_stub_is_not_attempted(exercise):
    answer = _run(exercise.stub, exercise.id)[exercise.answer_name]
    assert checks.REGISTRY[exercise.checker].evaluate(answer).status == "not attempted"


def test_every_checker_belongs_to_an_exercise():
    used = {ex.checker for ex in EXERCISES}
    assert set(checks.REGISTRY) <= used, f"checkers with no exercise: {sorted(set(checks.REGISTRY) - used)}"
    assert set(WRONG) <= set(checks.REGISTRY), f"wrong variants with no checker: {sorted(set(WRONG) - set(checks.REGISTRY))}"


@pytest.mark.parametrize("bad", [None, 3, "text", [1, 2], float("nan"), object(), lambda *a: 1 / 0,
                                 lambda *a: "string", lambda *a: [[1, 2], [3]], lambda *a: float("nan")])
def test_checkers_never_raise(bad, capsys):
    for name, check in checks.REGISTRY.items():
        check(bad)   # prints, must not raise
        assert check.evaluate(bad).status in {"failed", "not attempted"}, name
    assert "[" in capsys.readouterr().out
