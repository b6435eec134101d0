"""Serving: the prediction service, the A/B router, ONNX inference, shadow scoring, validation."""
