"""A plausible but wrong answer per checker (source code defining the same name as the exercise's stub), one
module per checker module of labkit/checks. tests/test_exercises.py runs each through its checker and expects
'failed'."""

from tests.wrong_answers import (capstone, collaboration, deployment, evaluation, images, networks, robustness,
                                 tasks, training)

WRONG = {}
for _part in (images, networks, training, tasks, robustness, evaluation, collaboration, deployment, capstone):
    WRONG.update(_part.WRONG)
