"""Widgets for the capstone project (23_capstone)."""

__all__ = []
