"""Models trained "elsewhere" on Iris, saved as each format `mlops models import` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlops_pipeline.training.data import Dataset


def frame(iris: Dataset) -> Any:
    import pandas as pd

    return pd.DataFrame(iris.features, columns=list(iris.feature_names))


def class_names(iris: Dataset) -> Any:
    return np.asarray(iris.class_names)[iris.labels]


def skops_pipeline(iris: Dataset, folder: Path, *steps: Any) -> Path:
    """A Pipeline fitted on named columns and class names (not indices), saved with skops."""
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(
        *(steps or (StandardScaler(),)), RandomForestClassifier(20, random_state=0, n_jobs=1)
    )
    model.fit(frame(iris), class_names(iris))
    path = folder / "forest.skops"
    sio.dump(model, path)
    return path


def xgboost_booster(iris: Dataset, folder: Path, name: str = "booster.json") -> Path:
    from xgboost import XGBClassifier

    model = XGBClassifier(n_estimators=20, max_depth=3, random_state=0, n_jobs=1)
    model.fit(iris.features, iris.labels)  # a bare matrix: the booster names no features
    path = folder / name
    model.get_booster().save_model(path)
    return path


def lightgbm_text(iris: Dataset, folder: Path) -> Path:
    from lightgbm import LGBMClassifier

    model = LGBMClassifier(n_estimators=20, random_state=0, n_jobs=1, verbose=-1)
    model.fit(iris.features, iris.labels)
    path = folder / "lightgbm.txt"
    model.booster_.save_model(path)
    return path


def mlflow_xgboost(iris: Dataset, folder: Path) -> Path:
    """Written by MLflow's own save_model, with the column signature infer_signature gives."""
    import mlflow.xgboost
    from mlflow.models import infer_signature
    from xgboost import XGBClassifier

    rows = frame(iris)
    model = XGBClassifier(n_estimators=20, max_depth=3, random_state=0, n_jobs=1)
    model.fit(rows, iris.labels)
    path = folder / "mlflow_model"
    mlflow.xgboost.save_model(model, path, signature=infer_signature(rows, model.predict(rows)))
    return path
