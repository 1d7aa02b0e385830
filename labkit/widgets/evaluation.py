"""Widgets for Part IV, evaluation and data quality (17_evaluation_validation, 18_data_quality)."""

__all__ = []
