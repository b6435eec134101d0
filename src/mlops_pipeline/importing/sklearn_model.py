"""A scikit-learn estimator or Pipeline saved with skops (its XGBoost and LightGBM wrappers too).

skops stores data, not code: loading builds only the types it is told to trust. Here that is
skops' own defaults plus :data:`TRUSTED_TYPES`; a file naming any other type is refused with the
list, before anything is built. Conversion is skl2onnx's (the boosters' converters registered by
``training.estimators``); a step it has no converter for is named before it is tried.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlops_pipeline.artifacts import TRUSTED_SKOPS_TYPES
from mlops_pipeline.importing.common import ImportRefused, Source
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.training.onnx_export import INPUT_NAME, TARGET_OPSET

# Beyond skops' defaults: a forest's trees (HistGradientBoosting's too), the boosters'
# scikit-learn wrappers, whose state is the booster's own serialized model (bytes), never code,
# and a numpy dtype (OneHotEncoder's output dtype: a type name, rebuilt by numpy.dtype(name)).
TRUSTED_TYPES = (
    *TRUSTED_SKOPS_TYPES,
    "collections.OrderedDict",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # node arrays
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
)


def load_skops_model(path: Path) -> Any:
    import skops.io as sio

    try:
        untrusted = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    except Exception as exc:  # a zip that is not a skops file
        raise ImportRefused(f"{path} is not a readable skops file: {exc}") from exc
    if untrusted:
        raise ImportRefused(
            f"{path} names types outside the trusted list, refused: {untrusted}"
            f" (trusted beyond skops' defaults: {list(TRUSTED_TYPES)})"
        )
    return sio.load(path, trusted=list(TRUSTED_TYPES))


def leaf_steps(model: Any, name: str = "model") -> list[tuple[str, Any]]:
    """Every estimator inside Pipelines, ColumnTransformers and FeatureUnions, with its path."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(model, Pipeline):
        return [leaf for step, inner in model.steps for leaf in leaf_steps(inner, step)]
    if isinstance(model, ColumnTransformer):
        return [
            leaf
            for step, inner, _ in model.transformers_
            if not isinstance(inner, str)  # "drop" and "passthrough" convert as they are
            for leaf in leaf_steps(inner, f"{name}/{step}")
        ]
    if isinstance(model, FeatureUnion):
        return [leaf for step, inner in model.transformer_list for leaf in leaf_steps(inner, step)]
    return [(name, model)]


def unconvertible_step(model: Any) -> str | None:
    from skl2onnx._supported_operators import sklearn_operator_name_map

    from mlops_pipeline.training.estimators import register_boosting_converters

    register_boosting_converters()
    for name, step in leaf_steps(model):
        if type(step) not in sklearn_operator_name_map:
            return (
                f"step {name!r} ({type(step).__name__}) cannot be converted to ONNX: skl2onnx"
                " has no converter for it (rewrite it with converted steps, e.g. a"
                " FunctionTransformer's function as a built-in transformer)"
            )
    return None


def final_estimator(model: Any) -> Any:
    from sklearn.pipeline import Pipeline

    return final_estimator(model.steps[-1][1]) if isinstance(model, Pipeline) else model


def _index_classes(estimator: Any, n_classes: int) -> None:
    """Make the converted labels class indices (what serving answers), whatever the names."""
    indices = np.arange(n_classes)
    try:
        estimator.classes_ = indices
    except AttributeError:  # LGBMClassifier's classes_ is a read-only property
        estimator._classes = indices


def to_onnx(model: Any, schema: FeatureSchema) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    from mlops_pipeline.importing.common import float_input
    from mlops_pipeline.importing.typed import typed_pipeline_to_onnx
    from mlops_pipeline.training.estimators import estimator_precision

    estimator = final_estimator(model)
    _index_classes(estimator, len(schema.task.classes))
    options = {id(estimator): {"zipmap": False}}
    if schema.all_numeric:
        # Today's layout: one float64 matrix named "input", which the served path feeds.
        # Boosters compute in float32: fed float32, as they were fed when answering.
        in_float = estimator_precision(estimator) == "float"
        tensor = FloatTensorType if in_float else DoubleTensorType
        onnx_model = convert_sklearn(
            model,
            initial_types=[(INPUT_NAME, tensor([None, len(schema.columns)]))],
            options=options,
            target_opset=TARGET_OPSET,
        )
        if in_float:
            float_input(onnx_model)
        return bytes(onnx_model.SerializeToString())
    return typed_pipeline_to_onnx(model, schema)


def _named_failure(model: Any, schema: FeatureSchema) -> bytes:
    """``to_onnx``, a converter's refusal naming the step it is about (a converter exists for
    FunctionTransformer, say, but refuses any function but the identity)."""
    try:
        return to_onnx(model, schema)
    except Exception as exc:
        step = next(
            ((name, s) for name, s in leaf_steps(model) if type(s).__name__ in str(exc)), None
        )
        if step is None:
            raise
        raise ImportRefused(
            f"step {step[0]!r} ({type(step[1]).__name__}) cannot be converted to ONNX: {exc}"
        ) from exc


def read_skops(path: Path) -> Source:
    from mlops_pipeline.importing.typed import original_rows

    model = load_skops_model(path)
    problem = unconvertible_step(model)
    if problem is not None:
        raise ImportRefused(problem)
    estimator = final_estimator(model)
    if not hasattr(estimator, "predict_proba") or not hasattr(estimator, "classes_"):
        raise ImportRefused(
            f"step {type(estimator).__name__} is not a fitted classifier with predict_proba"
        )
    raw_classes = list(estimator.classes_)
    names = getattr(model, "feature_names_in_", None)
    by_name = names is not None

    def predict_proba(frame: Any) -> Any:
        # A model fitted on a DataFrame wants its column names; one fitted on a matrix, none.
        typed = frame.dtypes.eq(object).any()
        rows = original_rows(model, frame) if typed else frame
        rows = rows if by_name or typed else rows.to_numpy()
        return np.asarray(model.predict_proba(rows), dtype=np.float64)

    steps = [type(step).__name__ for _, step in leaf_steps(model)]
    return Source(
        source_format="skops",
        algorithm=f"{type(model).__name__}({', '.join(steps)})",
        n_classes=len(raw_classes),
        predict_proba=predict_proba,
        to_onnx=lambda schema: _named_failure(model, schema),
        feature_names=None if names is None else tuple(str(n) for n in names),
        classes=_class_names(raw_classes),
        libraries=("scikit-learn", "skops", "skl2onnx", "onnxmltools"),
    )


def _class_names(raw: list[Any]) -> tuple[str, ...] | None:
    """Names when the model learnt names; None when it learnt indices 0..k-1 (the served
    versions' own encoding, so the served class names apply in that order)."""
    if all(isinstance(c, int | np.integer) for c in raw) and list(raw) == list(range(len(raw))):
        return None
    return tuple(str(c) for c in raw)
