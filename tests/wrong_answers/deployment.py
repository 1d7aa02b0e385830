"""Plausible but wrong answers for the checkers in labkit/checks/deployment.py (one per checker)."""

WRONG = {
}
