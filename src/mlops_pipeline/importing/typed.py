"""Mixed-type models: one named input per column, typed as ``serving.feed`` feeds them.

The converters build the graph on string and double inputs (scikit-learn sees integer and
boolean columns as float64 too); each required integer or boolean column then gets its int64 or
bool input and a Cast in front, as ``training.typed_export`` does for trained versions.
"""

from __future__ import annotations

from typing import Any

from mlops_pipeline.schema.model import FeatureSchema


def typed_inputs(model: Any, schema: FeatureSchema) -> bytes:
    import onnx

    # Shared with the training export, so imported and trained versions take the same inputs.
    from mlops_pipeline.training.typed_export import _typed_inputs

    inputs, casts = _typed_inputs(model.graph.input, schema)
    renamed = {cast.input[0]: cast.output[0] for cast in casts}
    for node in model.graph.node:
        node.input[:] = [renamed.get(name, name) for name in node.input]
    nodes = [*casts, *model.graph.node]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def feed(schema: FeatureSchema, frame: Any) -> dict[str, Any]:
    """The ONNX Runtime feed for rows as read (NaN missing), as the serving path builds it."""
    import numpy as np

    from mlops_pipeline.serving.feed import onnx_feed
    from mlops_pipeline.training.onnx_export import INPUT_NAME

    if schema.all_numeric:
        return {INPUT_NAME: frame[schema.names].to_numpy(dtype=np.float64)}
    return onnx_feed(schema, {name: frame[name].tolist() for name in schema.names})
