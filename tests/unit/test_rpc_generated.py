"""The checked-in V2 gRPC modules are what scripts/generate-grpc makes from the .proto now."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "src" / "mlops_pipeline" / "rpc" / "v2"


@pytest.mark.parametrize(
    "name", ["grpc_predict_v2_pb2.py", "grpc_predict_v2_pb2.pyi", "grpc_predict_v2_pb2_grpc.py"]
)
def test_generated_modules_are_current(tmp_path: Path, name: str) -> None:
    pytest.importorskip("grpc_tools")
    subprocess.run(
        [str(ROOT / "scripts" / "generate-grpc"), str(tmp_path)],
        check=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    fresh = tmp_path / "mlops_pipeline" / "rpc" / "v2" / name
    assert fresh.read_text() == (GENERATED / name).read_text(), (
        "run scripts/generate-grpc and commit the result"
    )


def test_the_service_matches_the_protocol_names() -> None:
    """tritonclient's own descriptors and ours agree on every field both define."""
    from tritonclient.grpc import service_pb2 as triton

    from mlops_pipeline.rpc.v2 import grpc_predict_v2_pb2 as ours

    for message in ours.DESCRIPTOR.message_types_by_name.values():
        theirs = triton.DESCRIPTOR.message_types_by_name[message.name]
        for field in message.fields:
            other = theirs.fields_by_name[field.name]
            assert (other.number, other.type) == (field.number, field.type), field.full_name
    assert ours.DESCRIPTOR.package == "inference"
    assert "GRPCInferenceService" in ours.DESCRIPTOR.services_by_name
