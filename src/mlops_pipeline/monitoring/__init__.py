"""Watching the deployment: metrics, drift, the leader-elected monitor role, retention."""
