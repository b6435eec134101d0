"""The Open Inference Protocol (KServe V2) gRPC service, beside the REST API."""
