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


def held_out_split(fraction: float = 0.25, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """(training features, training species, held-out features, held-out species): the CSV split
    stratified by species (with the default seed, rows missing sex are among the held-out)."""
    from sklearn.model_selection import train_test_split

    features, species = penguins()
    parts = train_test_split(
        features, species, test_size=fraction, stratify=species, random_state=seed
    )
    return parts[0], parts[2], parts[1], parts[3]


def fitted_pipeline(estimator: Any, features: Any, target: Any) -> Any:
    """The Pipeline :func:`skops_pipeline` saves (impute the numbers, impute then one-hot island
    and sex), in front of ``estimator``, fitted on ``features`` and ``target`` as given."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    strings = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("one_hot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    preprocess = ColumnTransformer(
        [("numbers", SimpleImputer(strategy="median"), NUMBERS), ("strings", strings, STRINGS)]
    )
    model = Pipeline([("preprocess", preprocess), ("classifier", estimator)])
    return model.fit(features, target)


def skops_file(model: Any, path: Path) -> Path:
    import skops.io as sio

    sio.dump(model, path)
    return path


def mlflow_sklearn(model: Any, features: Any, folder: Path) -> Path:
    """``model`` written by MLflow's own ``mlflow.sklearn.save_model``: skops serialization (the
    types MLflow asks to be trusted for a forest named), and the signature ``infer_signature``
    gives for the penguins frame: island and sex strings, sex and the measurements optional (they
    have missing values), year a long. The requirements are given, as MLflow otherwise infers
    them by loading the model again in a subprocess (seconds)."""
    import warnings

    import mlflow.sklearn
    from mlflow.models import infer_signature

    with warnings.catch_warnings():  # a hint that an integer column (year) cannot hold NaN
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer column")
        signature = infer_signature(features, model.predict(features))
    path = folder / "mlflow_penguins"
    mlflow.sklearn.save_model(
        model,
        path,
        serialization_format="skops",
        skops_trusted_types=["numpy.dtype", "sklearn.tree._tree.Tree"],
        signature=signature,
        pip_requirements=["scikit-learn", "skops"],
    )
    return path
