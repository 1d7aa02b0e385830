"""Checkers for Part IV, continual learning and human-AI collaboration: lessons 19_continual_learning and
20_human_ai_collaboration."""

__all__ = []
