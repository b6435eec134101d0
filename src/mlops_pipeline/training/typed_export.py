"""Compile a fitted typed pipeline to ONNX with one named input per column, and check parity.

Three things skl2onnx does not do out of the box, done here:

- XGBoost and LightGBM classifiers: onnxmltools' converters, registered with skl2onnx once
  (``estimators.register_boosting_converters``), so they convert inside a ``Pipeline``;
- the numeric ``SimpleImputer``: skl2onnx emits the ``ai.onnx.ml`` Imputer, which ONNX Runtime
  implements for float32 only (double inputs fail to load) and whose fill values it stores as
  float32; this call's own converter emits ``Where(IsNaN(x), median, x)`` in float64 instead;
- int64 and bool inputs: the graph is built on double inputs (scikit-learn sees those columns as
  float64 too) and each required integer or boolean column then gets its typed input and a Cast
  in front, so callers feed the types the schema names (``serving/feed.py``).

The preprocessing ``mlops train`` fits is not converted by skl2onnx at all but written as a
compact graph (``typed_front.py``: half the nodes, the same arithmetic); imported pipelines'
preprocessing still goes through skl2onnx.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.serving.feed import onnx_feed, onnx_input
from mlops_pipeline.training.estimators import estimator_precision, register_boosting_converters
from mlops_pipeline.training.onnx_export import TARGET_OPSET, Parity
from mlops_pipeline.training.preprocess import pipeline_frame
from mlops_pipeline.training.typed_front import front_graph


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """SimpleImputer: strings as skl2onnx does; numbers as Where(IsNaN(x), statistics, x)."""
    from skl2onnx.common.data_types import StringTensorType
    from skl2onnx.operator_converters.common import concatenate_variables
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
    from skl2onnx.proto import onnx_proto

    if isinstance(operator.inputs[0].type, StringTensorType):
        convert_sklearn_imputer(scope, operator, container)
        return
    imputer = operator.raw_operator
    if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
        raise NotImplementedError("only NaN marks a missing number")
    features = concatenate_variables(scope, operator.inputs, container)
    fill = scope.get_unique_variable_name("median")
    statistics = np.asarray(imputer.statistics_, dtype=np.float64)
    container.add_initializer(fill, onnx_proto.TensorProto.DOUBLE, [len(statistics)], statistics)
    missing = scope.get_unique_variable_name("is_missing")
    container.add_node("IsNaN", [features], [missing], name=scope.get_unique_operator_name("IsNaN"))
    container.add_node(
        "Where",
        [missing, fill, features],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Where"),
    )


def typed_to_onnx(pipeline: Any, schema: FeatureSchema) -> bytes:
    """The fitted ``Pipeline([preprocess, model])`` as ONNX: inputs named and typed per
    ``serving.feed.onnx_input``, outputs (class indices, probabilities) as today's exports.

    The two steps are converted apart and joined by Casts: the estimators' converters differ in
    the input precision they accept (see ``estimator_precision``), the preprocessing is float64.
    """
    import onnx
    from onnx import TensorProto, helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
    from sklearn.impute import SimpleImputer

    register_boosting_converters()
    (_, preprocess), (_, estimator) = pipeline.steps
    initial_types = [
        (c.name, StringTensorType([None, 1]) if c.type == "string" else DoubleTensorType([None, 1]))
        for c in schema.columns
    ]
    # Our own preprocessing as a compact graph (typed_front.py); anything else via skl2onnx.
    front = front_graph(preprocess, schema, TARGET_OPSET) or convert_sklearn(
        preprocess,
        initial_types=initial_types,
        target_opset=TARGET_OPSET,
        custom_conversion_functions={SimpleImputer: _convert_imputer},
    )
    precision = estimator_precision(estimator)
    width = int(estimator.n_features_in_)
    tensor = FloatTensorType if precision == "float" else DoubleTensorType
    back = convert_sklearn(
        estimator,
        initial_types=[("features", tensor([None, width]))],
        options={id(estimator): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    back = onnx.compose.add_prefix(back, "model_", rename_outputs=False)
    # Bridge: the preprocessing's float64 matrix, in the precision the estimator reads.
    matrix, into = front.graph.output[0].name, back.graph.input[0].name
    bridges: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "double": [("Identity", {})],
        "float": [("Cast", {"to": TensorProto.FLOAT})],
        "rounded": [("Cast", {"to": TensorProto.FLOAT}), ("Cast", {"to": TensorProto.DOUBLE})],
    }
    casts = bridges[precision]
    bridge, source = [], matrix
    for step, (op, attributes) in enumerate(casts):
        target = into if step == len(casts) - 1 else f"{matrix}_{step}"
        bridge.append(helper.make_node(op, [source], [target], name=f"bridge_{step}", **attributes))
        source = target
    inputs, typed_casts = _typed_inputs(front.graph.input, schema)
    renamed = {cast.input[0]: cast.output[0] for cast in typed_casts}
    for node in front.graph.node:
        node.input[:] = [renamed.get(name, name) for name in node.input]
    graph = helper.make_graph(
        typed_casts + list(front.graph.node) + bridge + list(back.graph.node),
        "typed_pipeline",
        inputs,
        list(back.graph.output),
        list(front.graph.initializer) + list(back.graph.initializer),
    )
    opsets: dict[str, int] = {}
    for entry in [*front.opset_import, *back.opset_import]:
        opsets[entry.domain] = max(opsets.get(entry.domain, 0), entry.version)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(domain, v) for domain, v in opsets.items()]
    )
    model.ir_version = min(front.ir_version, back.ir_version)
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _typed_inputs(graph_inputs: Any, schema: FeatureSchema) -> tuple[list[Any], list[Any]]:
    """The graph's inputs retyped as the schema names them, and a Cast to double in front of
    each int64 or bool one (the graph beyond was converted on double inputs)."""
    from onnx import TensorProto, helper

    elem = {"int64": TensorProto.INT64, "bool": TensorProto.BOOL}
    inputs, casts = [], []
    for graph_input in graph_inputs:
        column = schema.column(graph_input.name)
        kind = onnx_input(column) if column is not None else "double"
        if kind not in elem:
            inputs.append(graph_input)
            continue
        inner = f"{graph_input.name}__as_double"
        inputs.append(helper.make_tensor_value_info(graph_input.name, elem[kind], [None, 1]))
        casts.append(
            helper.make_node(
                "Cast", [graph_input.name], [inner], to=TensorProto.DOUBLE, name=f"{inner}_cast"
            )
        )
    return inputs, casts


def measure_typed_parity(
    pipeline: Any, onnx_bytes: bytes, schema: FeatureSchema, frame: Any
) -> Parity:
    """How the ONNX model agrees with ``pipeline`` on ``frame`` (a frame as read, NaN missing),
    fed as the serving path will feed it."""
    import onnxruntime

    rows = pipeline_frame(schema, frame)
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    feed = onnx_feed(schema, {name: frame[name].tolist() for name in schema.names})
    classes, probabilities = session.run(None, feed)
    expected_probabilities = pipeline.predict_proba(rows)
    return Parity(
        rows=len(rows),
        class_agreement=float(np.mean(classes == pipeline.predict(rows))),
        max_probability_diff=float(np.max(np.abs(probabilities - expected_probabilities))),
    )
