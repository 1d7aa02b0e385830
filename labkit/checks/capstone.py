"""Checkers for the capstone project: lesson 23_capstone."""

__all__ = []
