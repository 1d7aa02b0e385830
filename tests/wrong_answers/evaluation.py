"""Plausible but wrong answers for the checkers in labkit/checks/evaluation.py (one per checker)."""

WRONG = {
}
