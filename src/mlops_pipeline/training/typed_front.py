"""The preprocessing ``preprocess.build_preprocessor`` fits, written as a small ONNX graph.

skl2onnx converts that ColumnTransformer node by node as it converts any: 27 nodes for penguins
(per string column seven for the imputer, five for the one-hot encoder), where the same
arithmetic takes 13. ONNX Runtime's cost per node is a few microseconds, and on a single-row
request the preprocessing cost more than the forest (issue #22: penguins ``/predict`` against
Iris's). This module writes the graph from the fitted parameters instead:

- required numbers: the inputs side by side (``Concat``);
- nullable numbers: ``Where(IsNaN(x), medians, x)`` on all of them at once;
- a ``StandardScaler`` (logistic regression): ``(x - mean) / scale``, as scikit-learn computes;
- each string column: one ``LabelEncoder`` from category to its one-hot position (``""``, a
  missing value, to the position of the imputer's fill value; anything unseen to -1) and one
  ``OneHotEncoder`` over the positions, whose ``zeros=1`` answers -1 with zeros as
  ``handle_unknown="ignore"`` does; all string columns reshaped and cast once.

:func:`front_graph` recognises only that fitted structure and returns None for any other (an
imported pipeline), which skl2onnx then converts. Either way the trainer's parity check runs on
the final graph, so a mistake here fails training rather than serving.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.serving.feed import MISSING_STRING
from mlops_pipeline.training.preprocess import FILL_STRING, NULLABLE_NUMBERS, NUMBERS

ML = "ai.onnx.ml"


class _Graph:
    """Nodes and initializers under construction, with unique names."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def add(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        from onnx import helper

        domain = ML if op in ("LabelEncoder", "OneHotEncoder") else ""
        name = f"front_{len(self.nodes)}_{op}"
        self.nodes.append(
            helper.make_node(op, inputs, [output], name=name, domain=domain, **attributes)
        )
        return output

    def constant(self, name: str, values: Any, dtype: Any = np.float64) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name


def front_graph(preprocess: Any, schema: FeatureSchema, opsets: dict[str, int]) -> Any | None:
    """The fitted ``preprocess`` as an ONNX model (inputs: strings and doubles ``[N, 1]`` by
    column name; output ``matrix``: float64 ``[N, width]``), or None if it is not one that
    ``build_preprocessor`` builds."""
    from onnx import TensorProto, helper

    steps = _recognised(preprocess)
    if steps is None:
        return None
    graph = _Graph()
    numbers: list[str] = []
    strings: list[tuple[str, list[str], int]] = []  # (column, categories, fill position)
    for name, columns, pipeline_steps in steps:
        if name in (NUMBERS, NULLABLE_NUMBERS):
            numbers.append(_numbers(graph, name, columns, pipeline_steps))
        else:
            impute, one_hot = pipeline_steps
            categories = [str(c) for c in one_hot.categories_[0]]
            fill = categories.index(impute.fill_value) if impute.fill_value in categories else -1
            strings.append((columns[0], categories, fill))
    parts = list(numbers)
    if strings:
        parts.append(_one_hot(graph, strings))
    matrix = graph.add("Concat", parts, "matrix", axis=1) if len(parts) > 1 else parts[0]
    if matrix != "matrix":
        matrix = graph.add("Identity", [matrix], "matrix")
    inputs = [
        helper.make_tensor_value_info(
            c.name, TensorProto.STRING if c.type == "string" else TensorProto.DOUBLE, [None, 1]
        )
        for c in schema.columns
    ]
    output = helper.make_tensor_value_info(matrix, TensorProto.DOUBLE, [None, None])
    model = helper.make_model(
        helper.make_graph(graph.nodes, "typed_front", inputs, [output], graph.initializers),
        # LabelEncoder's keys_strings/values_int64s need ai.onnx.ml 2 or later.
        opset_imports=[
            helper.make_opsetid("", opsets[""]),
            helper.make_opsetid(ML, max(2, opsets.get(ML, 2))),
        ],
    )
    return model


def _numbers(graph: _Graph, name: str, columns: list[str], steps: list[Any]) -> str:
    x = graph.add("Concat", columns, f"{name}_in", axis=1) if len(columns) > 1 else columns[0]
    for step in steps:
        if type(step).__name__ == "SimpleImputer":
            missing = graph.add("IsNaN", [x], f"{name}_is_missing")
            fill = graph.constant(f"{name}_median", step.statistics_)
            x = graph.add("Where", [missing, fill, x], f"{name}_imputed")
        else:  # StandardScaler, checked by _recognised
            if step.with_mean:
                x = graph.add("Sub", [x, graph.constant(f"{name}_mean", step.mean_)], f"{name}_c")
            if step.with_std:
                x = graph.add("Div", [x, graph.constant(f"{name}_scale", step.scale_)], f"{name}_s")
    return x


def _one_hot(graph: _Graph, strings: list[tuple[str, list[str], int]]) -> str:
    """Every string column's one-hot block, side by side, as one float64 ``[N, width]``."""
    blocks = []
    for column, categories, fill in strings:
        # The imputer turns "" (missing) into its fill value before the encoder sees it.
        positions = {category: position for position, category in enumerate(categories)}
        positions[MISSING_STRING] = fill
        index = graph.add(
            "LabelEncoder",
            [column],
            f"{column}_position",
            keys_strings=list(positions),
            values_int64s=list(positions.values()),
            default_int64=-1,
        )
        # [N, 1] positions -> [N, 1, C] floats; zeros=1: -1 (unseen) is a row of zeros.
        cats = list(range(len(categories)))
        blocks.append(
            graph.add("OneHotEncoder", [index], f"{column}_one_hot", cats_int64s=cats, zeros=1)
        )
    joined = graph.add("Concat", blocks, "strings_3d", axis=2) if len(blocks) > 1 else blocks[0]
    width = sum(len(categories) for _, categories, _ in strings)
    shape = graph.constant("strings_shape", [-1, width], dtype=np.int64)
    flat = graph.add("Reshape", [joined, shape], "strings_2d")
    from onnx import TensorProto

    return graph.add("Cast", [flat], "strings", to=TensorProto.DOUBLE)


def _recognised(preprocess: Any) -> list[tuple[str, list[str], list[Any]]] | None:
    """(name, columns, steps) per transformer if ``preprocess`` is what build_preprocessor
    fits, else None."""
    if type(preprocess).__name__ != "ColumnTransformer" or preprocess.remainder != "drop":
        return None
    found = []
    for name, transformer, columns in preprocess.transformers_:
        if name == "remainder":
            if len(columns):
                return None
            continue
        steps = _steps(transformer)
        if steps is None:
            return None
        if name in (NUMBERS, NULLABLE_NUMBERS):
            if not all(_plain_number_step(step) for step in steps):
                return None
        elif not (name.startswith("string_") and len(columns) == 1 and _string_steps(steps)):
            return None
        found.append((name, list(columns), steps))
    return found


def _steps(transformer: Any) -> list[Any] | None:
    """A fitted transformer's steps: none for "passthrough" (fitted as an identity
    FunctionTransformer), a Pipeline's, None for anything else."""
    if isinstance(transformer, str):
        return [] if transformer == "passthrough" else None
    kind = type(transformer).__name__
    if kind == "FunctionTransformer":
        return [] if transformer.func is None and transformer.inverse_func is None else None
    return [step for _, step in transformer.steps] if kind == "Pipeline" else None


def _plain_number_step(step: Any) -> bool:
    kind = type(step).__name__
    if kind == "SimpleImputer":
        missing = step.missing_values
        return step.strategy == "median" and isinstance(missing, float) and np.isnan(missing)
    return kind == "StandardScaler"


def _string_steps(steps: list[Any]) -> bool:
    if [type(s).__name__ for s in steps] != ["SimpleImputer", "OneHotEncoder"]:
        return False
    impute, one_hot = steps
    return bool(
        impute.strategy == "constant"
        and impute.missing_values == MISSING_STRING
        and impute.fill_value == FILL_STRING
        and one_hot.handle_unknown == "ignore"
        and one_hot.drop is None
        and getattr(one_hot, "min_frequency", None) is None
        and getattr(one_hot, "max_categories", None) is None
        and len(one_hot.categories_) == 1
    )
