"""Retraining from production labels: a candidate version the rollout then judges."""
