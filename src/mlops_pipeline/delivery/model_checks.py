"""What a candidate model must pass before registration: size caps, an operator allow-list and
realistic batches to answer. Pure functions over bytes and statistics; registration runs them.

The allow-list is what keeps a graph's cost bounded by its input's size: loops, conditionals and
operators that size their output from input values (ConstantOfShape, Expand, Tile, Range, ...)
are refused, since a crafted input could make them run for minutes or allocate gigabytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.schema.rows import TypedBatch, build_batch
from mlops_pipeline.version_metadata import VersionMetadata

if TYPE_CHECKING:
    from mlops_pipeline.config import Settings

# What the project's own exports use (skl2onnx: TreeEnsembleClassifier alone), plus the common
# tree and linear converters' operators. Every one costs at most linear work in its input.
# The typed pipelines (training/preprocess.py: imputers and OneHotEncoder in a ColumnTransformer
# before random_forest, hist_gradient_boosting, logistic_regression, xgboost, lightgbm) add
# exactly LabelEncoder (the string imputer), OneHotEncoder and IsNaN, as skl2onnx and
# onnxmltools emit them: each a per-element map or test, linear in its input.
_ML_OPS = """
    TreeEnsembleClassifier TreeEnsembleRegressor TreeEnsemble LinearClassifier LinearRegressor
    Normalizer Scaler Binarizer Imputer ArrayFeatureExtractor LabelEncoder OneHotEncoder
"""
_CORE_OPS = """
    Identity Cast Constant Softmax LogSoftmax Sigmoid Add Sub Mul Div Neg Abs Exp Log Sqrt
    Reciprocal Clip Max Min Sum MatMul Gemm ArgMax ArgMin ReduceSum ReduceMax ReduceMin ReduceMean
    ReduceLogSumExp Concat Reshape Flatten Squeeze Unsqueeze Transpose Gather Slice Shape Where
    Less LessOrEqual Greater GreaterOrEqual Equal Not And Or IsNaN
"""
DEFAULT_ALLOWED_OPS = frozenset(
    [f"ai.onnx.ml:{op}" for op in _ML_OPS.split()] + [f"ai.onnx:{op}" for op in _CORE_OPS.split()]
)
_OP_ENTRY = re.compile(r"\A(?:[A-Za-z][A-Za-z0-9_.]*:)?[A-Za-z][A-Za-z0-9_]*\Z")


def parse_ops(text: str) -> frozenset[str]:
    """'Op, domain:Op' as {'ai.onnx:Op', 'domain:Op'}; ValueError naming a malformed entry."""
    ops = set()
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        if not _OP_ENTRY.match(entry):
            raise ValueError(f"{entry[:40]!r} is not an operator name, 'Op' or 'domain:Op'")
        ops.add(entry if ":" in entry else f"ai.onnx:{entry}")
    return frozenset(ops)


@dataclass(frozen=True)
class RegistrationLimits:
    max_model_bytes: int = 50 * 1024 * 1024
    max_metadata_bytes: int = 64 * 1024
    allowed_ops: frozenset[str] = DEFAULT_ALLOWED_OPS
    timeout_ms: float = 2000.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistrationLimits:
        return cls(
            settings.model_max_bytes,
            settings.model_metadata_max_bytes,
            DEFAULT_ALLOWED_OPS | parse_ops(settings.model_extra_ops),
            settings.inference_timeout_ms,
        )


def size_problem(
    onnx_bytes: bytes, metadata: VersionMetadata, limits: RegistrationLimits
) -> str | None:
    if len(onnx_bytes) > limits.max_model_bytes:
        return (
            f"model.onnx has {len(onnx_bytes)} bytes; at most {limits.max_model_bytes}"
            " are accepted (MLOPS_MODEL_MAX_BYTES)"
        )
    size = len(json.dumps(metadata.raw, separators=(",", ":")).encode())
    if size > limits.max_metadata_bytes:
        # GET /models serves it to anyone: an oversized one would make every call that large.
        return (
            f"metadata.json has {size} bytes as JSON; at most {limits.max_metadata_bytes}"
            " are accepted (MLOPS_MODEL_METADATA_MAX_BYTES)"
        )
    return None


def graph_ops(onnx_bytes: bytes) -> set[str]:
    """Every operator the model runs as 'domain:Op', subgraphs and local functions included."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    ops = set(_ops(model.graph))
    for function in model.functions:
        ops.update(_node_ops(function.node))
    return ops


def _ops(graph: Any) -> Iterator[str]:
    yield from _node_ops(graph.node)


def _node_ops(nodes: Any) -> Iterator[str]:
    for node in nodes:
        yield f"{node.domain or 'ai.onnx'}:{node.op_type}"
        for attribute in node.attribute:
            for subgraph in [attribute.g, *attribute.graphs]:
                yield from _ops(subgraph)


def ops_problem(onnx_bytes: bytes, allowed: frozenset[str]) -> str | None:
    try:
        refused = sorted(graph_ops(onnx_bytes) - allowed)
    except Exception as exc:  # a protobuf that does not parse says so, not a traceback
        return f"model.onnx is not a readable ONNX model: {exc}"
    if refused:
        return (
            f"model.onnx uses operators outside the allow-list: {refused[:10]}"
            " (an operator may add them to MLOPS_MODEL_EXTRA_OPS)"
        )
    return None


def realistic_batches(stats: dict[str, Any]) -> list[NDArray[np.float64]] | list[TypedBatch]:
    """Batches of 1 and 7 rows and the whole training sample; without a stored sample (large
    training sets), rows built from each feature's quantiles, minimum, mean and maximum. A
    typed schema's statistics give typed batches of its training rows (``typed_sample``)."""
    if stats.get("typed_sample") and stats.get("schema"):
        return typed_batches(FeatureSchema.from_json(stats["schema"]), stats["typed_sample"])
    sample = stats.get("sample")
    if sample:
        rows = np.asarray(sample, dtype=np.float64)
    else:
        features = [stats["features"][name] for name in stats["feature_names"]]
        keys = sorted(features[0]["quantiles"], key=float)
        rows = np.array(
            [[f[k] for f in features] for k in ("min", "mean", "max")]
            + [[f["quantiles"][q] for f in features] for q in keys],
            dtype=np.float64,
        )
    return [rows[:1], rows[:7], rows]


def typed_batches(schema: FeatureSchema, sample: dict[str, list[Any]]) -> list[TypedBatch]:
    """Typed batches of 1 and 7 training rows and all of them (missing values as training had
    them), checked as requests are: a version must answer what the served one was trained on."""
    n_rows = min(len(values) for values in sample.values())
    batches = []
    for count in (1, min(7, n_rows), n_rows):
        values = {name: list(sample[name][:count]) for name in schema.names}
        batches.append(build_batch(schema, values, count, "instances"))
    return batches


def batch_rows(batch: NDArray[np.float64] | TypedBatch) -> int:
    """How many rows a realistic batch holds, either form (for a refusal's message)."""
    return batch.n_rows if isinstance(batch, TypedBatch) else len(batch)
