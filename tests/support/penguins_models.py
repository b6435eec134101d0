"""A penguins model trained "elsewhere": a scikit-learn Pipeline with a ColumnTransformer, fitted
on the CSV as pandas reads it (NaN for a missing value, species names as the classes), saved
with skops, as a team bringing its own model would save it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import palmerpenguins

PENGUINS_CSV = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
STRINGS = ["island", "sex"]
NUMBERS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]


def penguins() -> tuple[Any, Any]:
    """The features (every column but the target) and the species."""
    import pandas as pd

    frame = pd.read_csv(PENGUINS_CSV)
    return frame.drop(columns="species"), frame["species"]


def skops_pipeline(folder: Path, estimator: Any = None, drop: tuple[str, ...] = ()) -> Path:
    """Impute and one-hot island and sex (an unseen island ignored), impute the numbers, then
    ``estimator`` (a forest by default); ``drop`` leaves columns out of the fit."""
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    features, species = penguins()
    features = features.drop(columns=list(drop))
    strings = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("one_hot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    numbers = [name for name in NUMBERS if name not in drop]
    preprocess = ColumnTransformer(
        [("numbers", SimpleImputer(strategy="median"), numbers), ("strings", strings, STRINGS)]
    )
    if estimator is None:
        estimator = RandomForestClassifier(30, max_depth=6, random_state=0, n_jobs=1)
    model = Pipeline([("preprocess", preprocess), ("classifier", estimator)])
    model.fit(features, species)
    path = folder / "penguins_pipeline.skops"
    sio.dump(model, path)
    return path
