"""Widgets for Part IV, privacy, deployment and the capstone (21_privacy_ethics, 22_clinical_deployment,
23_capstone)."""

__all__ = []
