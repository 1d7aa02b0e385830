"""Every exercise's solution passes its checker; a known-wrong variant fails; the unfilled stub is 'not attempted'."""

import numpy as np
import pytest
import torch

from labkit import checks
from tests.wrong_answers import WRONG
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
    assert exercise.checker in WRONG, f"tests/wrong_answers/ needs a wrong answer for {exercise.checker}"
    answer = _run(WRONG[exercise.checker], exercise.id)[exercise.answer_name]
    result = checks.REGISTRY[exercise.checker].evaluate(answer)
    assert result.status == "failed", str(result)
    assert result.hint, "a failed check must give a hint"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda ex: ex.id)
def test_stub_is_not_attempted(exercise):
    answer = _run(exercise.stub, exercise.id)[exercise.answer_name]
    assert checks.REGISTRY[exercise.checker].evaluate(answer).status == "not attempted"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda ex: ex.id)
def test_checker_is_named_like_the_answer(exercise):
    assert exercise.checker == exercise.answer_name, \
        f"checks.{exercise.checker}({exercise.answer_name}): name the checker like the function it checks"


@pytest.mark.parametrize("name", sorted(checks.REGISTRY))
def test_hints_teach_before_they_tell(name, capsys):
    """The first failed try names the idea; the formula comes only from the second failed try on."""
    check = checks.REGISTRY[name]
    assert check.formula, f"{name}: give a formula for the second try"
    assert check.formula not in check.hint
    checks.reset_tries()
    wrong = _run(WRONG[name], name)[next(ex.answer_name for ex in EXERCISES if ex.checker == name)]
    check(wrong)
    first = capsys.readouterr().out
    assert check.hint in first and check.formula not in first, first
    check(wrong)
    second = capsys.readouterr().out
    assert check.formula in second, second
    checks.reset_tries()


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
