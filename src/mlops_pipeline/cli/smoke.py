"""`mlops smoke`: a deployed API answers like the system should. Returns the failed checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

# Unambiguous Iris rows, one per class, far from the decision boundaries.
KNOWN_ROWS = (
    ([5.1, 3.5, 1.4, 0.2], "setosa"),
    ([5.9, 3.0, 4.2, 1.5], "versicolor"),
    ([6.9, 3.1, 5.4, 2.1], "virginica"),
)


def run_smoke(
    base_url: str, log: Callable[[str], None] = print, requests_per_version: int = 60
) -> list[str]:
    base = base_url.rstrip("/")
    failures: list[str] = []
    http = requests.Session()

    def check(name: str, passed: bool, detail: str = "") -> None:
        log(f"{'ok  ' if passed else 'FAIL'} {name}{': ' + detail if detail else ''}")
        if not passed:
            failures.append(name)

    def get(path: str) -> Any:
        return http.get(base + path, timeout=10)

    try:
        check("ready", get("/ready").status_code == 200)
        for row, expected in KNOWN_ROWS:
            answer = http.post(base + "/predict", json={"features": row}, timeout=10).json()
            check(f"predicts {expected}", answer.get("class_name") == expected, str(answer))
        bad = http.post(base + "/predict", json={"features": [1, 2]}, timeout=10)
        check(
            "bad request is 400 JSON",
            bad.status_code == 400 and bad.json().get("code") == "wrong_feature_count",
            bad.text,
        )
        anonymous = get("/predictions?limit=1")
        check(
            "prediction listing refuses anonymous callers",
            anonymous.status_code in (401, 403),
            f"answered {anonymous.status_code}",
        )
        untyped = http.post(base + "/predict", data='{"features": [5.1, 3.5, 1.4, 0.2]}')
        check("bodies must be JSON-typed", untyped.status_code == 415, untyped.text)
        metrics = get("/metrics").text
        check(
            "metrics exposed",
            "mlops_requests_total" in metrics and "mlops_predictions_total" in metrics,
        )
        weights = get("/config").json()["weights"]
        expected_versions = {version for version, weight in weights.items() if weight > 0}
        seen = {
            http.post(base + "/predict", json={"features": KNOWN_ROWS[0][0]}, timeout=10).json()[
                "model_version"
            ]
            for _ in range(requests_per_version)
        }
        check(
            "every weighted version answers",
            seen == expected_versions,
            f"expected {sorted(expected_versions)}, saw {sorted(seen)}",
        )
    except (requests.RequestException, ValueError, KeyError) as exc:
        check("API reachable and answering JSON", False, f"{type(exc).__name__}: {exc}")
    return failures


def run_grpc_smoke(
    address: str,
    log: Callable[[str], None] = print,
    timeout: float = 10.0,
    root_certificates: bytes | None = None,
) -> list[str]:
    """The V2 gRPC service at ``host:port``: ready, and the known rows classified right.

    ``root_certificates``: speak TLS and trust these (the proxy's port 8444); plaintext if None.
    """
    import grpc
    import numpy as np

    from mlops_pipeline.rpc.service import SERVICE
    from mlops_pipeline.rpc.v2 import grpc_predict_v2_pb2 as pb

    failures: list[str] = []

    def check(name: str, passed: bool, detail: str = "") -> None:
        log(f"{'ok  ' if passed else 'FAIL'} gRPC {name}{': ' + detail if detail else ''}")
        if not passed:
            failures.append(f"gRPC {name}")

    def rpc(channel: grpc.Channel, method: str, request: Any, response_type: Any) -> Any:
        call = channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        return call(request, timeout=timeout)

    channel = (
        grpc.insecure_channel(address)
        if root_certificates is None
        else grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates))
    )
    with channel:
        try:
            ready = rpc(channel, "ServerReady", pb.ServerReadyRequest(), pb.ServerReadyResponse)
            check("ready", ready.ready)
            request = pb.ModelInferRequest(model_name="iris")
            request.inputs.add(name="input", datatype="FP64", shape=[len(KNOWN_ROWS), 4])
            rows = np.array([row for row, _ in KNOWN_ROWS], dtype="<f8")
            request.raw_input_contents.append(rows.tobytes())
            answer = rpc(channel, "ModelInfer", request, pb.ModelInferResponse)
            names = [output.name for output in answer.outputs]
            labels = np.frombuffer(answer.raw_output_contents[names.index("label")], "<i8")
            check("predicts the known rows", labels.tolist() == [0, 1, 2], str(labels.tolist()))
        except grpc.RpcError as error:
            check("reachable", False, f"{error.code()}: {error.details()}")
        except (ValueError, IndexError) as error:
            check("answers V2 outputs", False, str(error))
    return failures
