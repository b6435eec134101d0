"""What both transports speak: Open Inference Protocol types and checks, client identities,
request ids, client errors and the access-log record.

Transport-neutral by rule: nothing here imports ``api`` (HTTP) or ``rpc`` (gRPC), nor Flask or
grpcio, so either transport can change without touching the other.
"""
