"""Crafted ONNX graphs for Iris's four inputs: valid ONNX that ONNX Runtime runs, whose answers
are wrong in one way, or whose cost or memory grows with a number sent; and a candidate folder
holding one, hashes redone, as a team could build it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from mlops_pipeline.artifacts import sha256_bytes, write_manifest

INPUT = helper.make_tensor_value_info("input", TensorProto.DOUBLE, [None, 4])
OUTPUTS = [
    helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
    helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, 3]),
]


def constant(name: str, dtype: int, shape: list[int], values: list[float]) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name, dtype, shape, values)
    )


def to_bytes(nodes: list[onnx.NodeProto], outputs: list[onnx.ValueInfoProto] = OUTPUTS) -> bytes:
    graph = helper.make_graph(nodes, "crafted", [INPUT], outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def answering(label: int, row: list[float], extra: str | None = None) -> bytes:
    """One answer per input row: ``label`` and probabilities ``row`` (only allow-listed ops,
    plus ``extra`` applied to the probabilities)."""
    n = len(row)
    nodes = [
        constant("w", TensorProto.DOUBLE, [4, n], [0.0] * 4 * n),
        constant("row", TensorProto.DOUBLE, [1, n], row),
        constant("lab", TensorProto.DOUBLE, [1], [float(label)]),
        helper.make_node("MatMul", ["input", "w"], ["zeros"]),
        helper.make_node("Add", ["zeros", "row"], ["probs" if extra else "probabilities"]),
        constant("axes", TensorProto.INT64, [1], [1]),
        helper.make_node("ReduceSum", ["zeros", "axes"], ["per_row"], keepdims=0),
        helper.make_node("Add", ["per_row", "lab"], ["labels"]),
        helper.make_node("Cast", ["labels"], ["label"], to=TensorProto.INT64),
    ]
    if extra:
        nodes.append(helper.make_node(extra, ["probs"], ["probabilities"]))
    return to_bytes(nodes)


def one_answer_whatever_the_rows() -> bytes:
    """Always one row of answer: right for a single row, wrong for a batch."""
    return to_bytes(
        [
            constant("label", TensorProto.INT64, [1], [0]),
            constant("probabilities", TensorProto.DOUBLE, [1, 3], [1.0, 0.0, 0.0]),
        ]
    )


def slow_when_large() -> bytes:
    """A Loop whose trip count is the largest input value: cost grows with a number sent."""
    body = helper.make_graph(
        [
            constant("one", TensorProto.DOUBLE, [], [1.0]),
            helper.make_node("Add", ["acc_in", "one"], ["acc_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.DOUBLE, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.DOUBLE, []),
        ],
    )
    nodes = [
        helper.make_node("ReduceMax", ["input"], ["top"], keepdims=0),
        helper.make_node("Cast", ["top"], ["trips"], to=TensorProto.INT64),
        constant("go", TensorProto.BOOL, [], [True]),
        constant("start", TensorProto.DOUBLE, [], [0.0]),
        helper.make_node("Loop", ["trips", "go", "start"], ["count"], body=body),
        # The answer itself is valid: label 0, probabilities [1, 0, 0] per row.
        constant("w", TensorProto.DOUBLE, [4, 3], [0.0] * 12),
        constant("row", TensorProto.DOUBLE, [1, 3], [1.0, 0.0, 0.0]),
        helper.make_node("MatMul", ["input", "w"], ["zeros"]),
        helper.make_node("Mul", ["zeros", "count"], ["scaled"]),
        helper.make_node("Add", ["scaled", "row"], ["probabilities"]),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    return to_bytes(nodes)


def allocating_from_input() -> bytes:
    """ConstantOfShape sized by an input value: an allocation bomb for a huge number."""
    nodes = [
        constant("one_dim", TensorProto.INT64, [1], [1]),
        helper.make_node("ReduceMax", ["input"], ["top"], keepdims=1),
        helper.make_node("Reshape", ["top", "one_dim"], ["flat"]),
        helper.make_node("Cast", ["flat"], ["size"], to=TensorProto.INT64),
        helper.make_node("ConstantOfShape", ["size"], ["block"]),
        helper.make_node("ReduceSum", ["block"], ["total"], keepdims=0),
        constant("w", TensorProto.DOUBLE, [4, 3], [0.0] * 12),
        constant("row", TensorProto.DOUBLE, [1, 3], [1.0, 0.0, 0.0]),
        helper.make_node("MatMul", ["input", "w"], ["zeros"]),
        helper.make_node("Cast", ["total"], ["total64"], to=TensorProto.DOUBLE),
        helper.make_node("Mul", ["zeros", "total64"], ["scaled"]),
        helper.make_node("Add", ["scaled", "row"], ["probabilities"]),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    return to_bytes(nodes)


def candidate_with(
    source: Path, folder: Path, onnx_bytes: bytes | None = None, **metadata: object
) -> Path:
    """A copy of the v3 candidate folder with other model bytes or metadata, hashes redone (as
    a team could build one): only the checks of registration stand in its way."""
    shutil.copytree(source, folder)
    version = folder / "v3"
    if onnx_bytes is not None:
        (version / "model.onnx").write_bytes(onnx_bytes)
    meta = json.loads((version / "metadata.json").read_text())
    meta["files"]["model.onnx"] = sha256_bytes((version / "model.onnx").read_bytes())
    meta.update(metadata)
    (version / "metadata.json").write_text(json.dumps(meta))
    manifest = json.loads((folder / "manifest.json").read_text())
    write_manifest(folder, manifest["versions"], manifest["default_weights"])
    return folder
