"""Checkers for Part IV, evaluation and data quality: lessons 17_evaluation_validation and 18_data_quality."""

__all__ = []
