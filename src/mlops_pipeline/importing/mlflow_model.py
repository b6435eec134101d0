"""An MLflow model directory, read as data: the MLmodel file (YAML, ``safe_load``) gives the
column signature and the flavour's model file, which is then read by its own format's reader.

No ``mlflow`` import and no flavour loader: those unpickle models and may import the directory's
``code`` paths. A model file is judged by its bytes, not by what MLmodel says it is, so a
pickled or cloudpickled scikit-learn model (MLflow's default before skops) is refused, and a
skops file is loaded with this project's trusted list, never the one MLmodel lists.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from mlops_pipeline.artifacts import sha256_file
from mlops_pipeline.importing.common import ImportRefused, Source, file_format, pickle_refusal
from mlops_pipeline.schema.mlflow_signature import columns_from_signature, read_mlmodel_signature
from mlops_pipeline.schema.model import SchemaError

FLAVOURS = ("sklearn", "xgboost", "lightgbm")
# Where each flavour's MLmodel entry names its model file.
_DATA_KEY = {"sklearn": "pickled_model", "xgboost": "data", "lightgbm": "data"}


def _mlmodel(directory: Path) -> tuple[str, dict[str, Any]]:
    # Imported by name: PyYAML ships no type stubs; safe_load builds plain values only.
    yaml = importlib.import_module("yaml")
    text = (directory / "MLmodel").read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ImportRefused(f"{directory / 'MLmodel'} is not plain YAML: {exc}") from exc
    flavours = document.get("flavors") if isinstance(document, dict) else None
    if not isinstance(flavours, dict):
        raise ImportRefused(f"{directory / 'MLmodel'} lists no flavours")
    return text, flavours


def _model_file(directory: Path, flavour: str, entry: dict[str, Any]) -> Path:
    relative = entry.get(_DATA_KEY[flavour])
    if not isinstance(relative, str):
        raise ImportRefused(f"MLmodel's {flavour} flavour names no model file")
    path = (directory / relative).resolve()
    # The file must be inside the directory: MLmodel is input, and '../x' would read anything.
    if directory.resolve() not in path.parents or not path.is_file():
        raise ImportRefused(f"MLmodel's {flavour} model file {relative!r} is not in {directory}")
    return path


def read_mlflow(directory: Path) -> Source:
    from mlops_pipeline.importing.boosters import read_lightgbm, read_xgboost
    from mlops_pipeline.importing.sklearn_model import read_skops

    text, flavours = _mlmodel(directory)
    flavour = next((name for name in FLAVOURS if name in flavours), None)
    if flavour is None:
        raise ImportRefused(
            f"{directory}: flavours {sorted(flavours)}; this command reads {list(FLAVOURS)}"
        )
    entry = flavours[flavour] if isinstance(flavours[flavour], dict) else {}
    path = _model_file(directory, flavour, entry)
    kind = file_format(path)
    if kind == "pickle":
        raise pickle_refusal(path)
    readers = {
        "skops": read_skops,
        "xgboost-json": lambda p: read_xgboost(p, "xgboost-json"),
        "xgboost-ubj": lambda p: read_xgboost(p, "xgboost-ubj"),
        "lightgbm-text": read_lightgbm,
    }
    if kind not in readers:
        raise ImportRefused(f"{path}: a {kind} file is not a {flavour} model this command reads")
    source = readers[kind](path)
    try:
        columns = columns_from_signature(read_mlmodel_signature(text)["inputs"])
    except SchemaError as exc:
        raise ImportRefused(f"{directory / 'MLmodel'}: {exc}") from exc
    source.source_format = f"mlflow/{flavour}/{source.source_format}"
    source.feature_names = tuple(column.name for column in columns)
    source.columns = columns  # the signature has no classes: the model or the served task does
    source.files = {
        "MLmodel": sha256_file(directory / "MLmodel"),
        str(path.relative_to(directory.resolve())): sha256_file(path),
    }
    return source
