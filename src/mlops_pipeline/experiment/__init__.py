"""The A/B experiment: statistics (pure) and the service that joins labels to predictions."""
