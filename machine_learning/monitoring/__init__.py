"""Monitoring: nightly drift tests that decide on retraining, and daily Evidently reports."""
