"""A penguins model trained "elsewhere", the way a team brings its own: a scikit-learn Pipeline
with a ColumnTransformer, fitted on the CSV as pandas reads it (NaN for a missing value, species
names as the classes), saved with skops (data only, no pickle) for `mlops models import`.

Run: .venv/bin/python examples/penguins/pipeline.py [OUT]   (default penguins_pipeline.skops)
"""

from __future__ import annotations

import sys
from pathlib import Path

import palmerpenguins
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

CSV = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
NUMBERS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "penguins_pipeline.skops")
    frame = pd.read_csv(CSV)
    features, species = frame.drop(columns="species"), frame["species"]
    strings = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),  # a missing sex
            ("one_hot", OneHotEncoder(handle_unknown="ignore")),  # an island never seen
        ]
    )
    preprocess = ColumnTransformer(
        [
            ("numbers", SimpleImputer(strategy="median"), NUMBERS),
            ("strings", strings, ["island", "sex"]),
        ]
    )
    forest = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0, n_jobs=1)
    model = Pipeline([("preprocess", preprocess), ("classifier", forest)])
    model.fit(features, species)
    sio.dump(model, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
