"""Plausible but wrong answers for the checkers in labkit/checks/capstone.py (one per checker)."""

WRONG = {
}
