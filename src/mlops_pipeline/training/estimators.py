"""The algorithms a versions file may name: each a factory of an unfitted classifier.

Every one exports to ONNX with a parity check (skl2onnx; onnxmltools for XGBoost and LightGBM,
registered by ``register_boosting_converters``). A version's ``params`` are passed
to the estimator as written; ``seed`` fixes its randomness, and one thread keeps a fit
reproducible and leaves the machine's other cores to the other versions' fits.
XGBoost and LightGBM are the optional ``[boost]`` extra: naming them without it says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _random_forest(params: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**{"random_state": seed, "n_jobs": 1, **params})


def _hist_gradient_boosting(params: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(**{"random_state": seed, **params})


def _logistic_regression(params: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{"random_state": seed, "max_iter": 1000, **params})


def _boost_missing(library: str) -> ValueError:
    return ValueError(
        f"this algorithm needs {library}, of the optional extra:"
        " pip install 'mlops-pipeline[boost]'"
    )


def _xgboost(params: dict[str, Any], seed: int) -> Any:
    try:
        from xgboost import XGBClassifier
    except ImportError:
        raise _boost_missing("xgboost") from None
    return XGBClassifier(**{"random_state": seed, "n_jobs": 1, **params})


def _lightgbm(params: dict[str, Any], seed: int) -> Any:
    try:
        from lightgbm import LGBMClassifier
    except ImportError:
        raise _boost_missing("lightgbm") from None
    # verbose=-1: LightGBM otherwise prints its own progress lines into `mlops train`'s table.
    return LGBMClassifier(**{"random_state": seed, "n_jobs": 1, "verbose": -1, **params})


ALGORITHMS: dict[str, Callable[[dict[str, Any], int], Any]] = {
    "random_forest": _random_forest,
    "hist_gradient_boosting": _hist_gradient_boosting,
    "logistic_regression": _logistic_regression,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
}


_registered = False


def register_boosting_converters() -> None:
    """Teach skl2onnx XGBClassifier and LGBMClassifier (the ``[boost]`` extra); idempotent,
    and a no-op for a library that is not installed."""
    global _registered
    if _registered:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier

        update_registered_converter(
            XGBClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            options=options,
        )
    except ImportError:
        pass
    try:
        from lightgbm import LGBMClassifier
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options=options,
        )
    except ImportError:
        pass
    _registered = True


def estimator_precision(estimator: Any) -> str:
    """How the estimator reads its features, so the ONNX graph reads them alike: "double";
    "rounded" (scikit-learn's trees cast to float32, then compare against float64 thresholds);
    or "float" (XGBoost, LightGBM and HistGradientBoosting exports compute in float32)."""
    name = type(estimator).__name__
    if name in {"RandomForestClassifier", "ExtraTreesClassifier", "DecisionTreeClassifier"}:
        return "rounded"
    if name in {"HistGradientBoostingClassifier", "XGBClassifier", "LGBMClassifier"}:
        return "float"
    return "double"
