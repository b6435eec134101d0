"""Training: data sets, estimators, ONNX export with parity checks, synthetic data."""
