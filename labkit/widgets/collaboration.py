"""Widgets for Part IV, continual learning and human-AI collaboration (19_continual_learning,
20_human_ai_collaboration)."""

__all__ = []
