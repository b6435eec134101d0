"""What every source format answers, how a file's format is told from its bytes, and the
ONNX graph edits the converters' outputs need to be served as today's exports are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.schema.model import Column, FeatureSchema, Task
from mlops_pipeline.training.onnx_export import INPUT_NAME

# How to save a scikit-learn model so it can be imported: said whenever a pickle is refused.
SAVE_WITH_SKOPS = (
    "save it with skops instead (import skops.io; skops.io.dump(model, 'model.skops')),"
    " which stores the model's data and no code"
)


PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".sav"})


class ImportRefused(ValueError):
    """The model cannot be imported; the message names the step, column or row and why."""


@dataclass
class Source:
    """A model read from its file, with what the import needs to convert and check it.

    ``predict_proba`` runs the original model on rows as ``training.preprocess.pipeline_frame``
    gives them (one column per schema column); ``to_onnx`` converts it for a schema."""

    source_format: str
    algorithm: str
    n_classes: int
    predict_proba: Callable[[Any], NDArray[np.float64]]
    to_onnx: Callable[[FeatureSchema], bytes]
    feature_names: tuple[str, ...] | None = None  # as the model names its inputs, if it does
    classes: tuple[str, ...] | None = None  # class names, when the model stores names
    columns: tuple[Column, ...] | None = None  # declared (MLflow signature, schema file)
    libraries: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)  # file -> SHA-256, for the lineage


def file_format(path: Path) -> str:
    """The format of a model file by its first bytes (an extension can lie): "skops", "pickle",
    "xgboost-json", "xgboost-ubj", "lightgbm-text" or "onnx"."""
    with path.open("rb") as handle:
        head = handle.read(64)
    if head.startswith(b"PK\x03\x04"):
        return "skops"  # a zip archive; skops reads its schema.json, never a pickle inside
    # Protocol 2-5 pickles start with PROTO; joblib compresses them with zlib, gzip, bz2, xz, lz4.
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if path.suffix.lower() in PICKLE_SUFFIXES:  # protocol 0/1 pickles have no magic number
        return "pickle"
    if head[:1] == b"x" and len(head) > 1 and (head[0] * 256 + head[1]) % 31 == 0:
        return "pickle"  # a zlib stream (joblib's default compression)
    for magic in (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x04\x22\x4d\x18"):
        if head.startswith(magic):
            return "pickle"
    if head.startswith(b"{L") or head.startswith(b"{$"):
        return "xgboost-ubj"
    if head.lstrip().startswith(b"{"):
        return "xgboost-json"
    if head.startswith(b"tree\n"):
        return "lightgbm-text"
    if path.suffix == ".onnx" or head[:1] == b"\x08":  # protobuf: field 1 (ir_version), varint
        return "onnx"
    raise ImportRefused(
        f"{path}: not a model file this command reads (skops, XGBoost JSON/UBJ, LightGBM text,"
        " ONNX, or an MLflow model directory)"
    )


def pickle_refusal(path: Path) -> ImportRefused:
    return ImportRefused(
        f"{path} is a pickle (or joblib) file: loading one runs arbitrary code, so it is"
        f" refused; {SAVE_WITH_SKOPS}"
    )


def numeric_schema(names: tuple[str, ...], classes: tuple[str, ...]) -> FeatureSchema:
    """Required double columns: what a model reading a float matrix declares."""
    return FeatureSchema(tuple(Column(name, "double") for name in names), Task(classes=classes))


def float_input(model: Any) -> None:
    """Retype a float32 ``input`` as float64 and Cast it in front: the served path feeds doubles,
    and the boosters' converters (like the boosters) compute in float32."""
    from onnx import TensorProto, helper

    inner = f"{INPUT_NAME}_float32"
    for node in model.graph.node:
        node.input[:] = [inner if name == INPUT_NAME else name for name in node.input]
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    cast = helper.make_node("Cast", [INPUT_NAME], [inner], to=TensorProto.FLOAT, name="to_float")
    nodes = [cast, *model.graph.node]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    # Some converters declare a batch of one; ONNX Runtime then warns on every larger batch.
    for output in model.graph.output:
        dims = output.type.tensor_type.shape.dim
        if len(dims):
            dims[0].dim_param = "N"


def unnamed(names: list[str] | None) -> bool:
    """True when a booster's feature names are its library's defaults (trained on a matrix)."""
    if not names:
        return True
    defaults = ({f"f{i}" for i in range(len(names))}, {f"Column_{i}" for i in range(len(names))})
    return set(names) in defaults


def probabilities(values: Any, n_classes: int) -> NDArray[np.float64]:
    """A booster's answer as an [N, n_classes] matrix: a binary one answers P(class 1) only."""
    answer = np.asarray(values, dtype=np.float64)
    if answer.ndim == 1 and n_classes == 2:
        return np.column_stack([1 - answer, answer])
    return answer.reshape(len(answer), n_classes)
