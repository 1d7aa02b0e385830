"""Checkers for Part IV, privacy, deployment and the capstone: lessons 21_privacy_ethics,
22_clinical_deployment and 23_capstone."""

__all__ = []
