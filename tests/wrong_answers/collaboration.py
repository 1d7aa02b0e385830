"""Plausible but wrong answers for the checkers in labkit/checks/collaboration.py (one per checker)."""

WRONG = {
}
