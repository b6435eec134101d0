"""Import a model: read it, agree its schema with the served one, convert, check parity, then
register the result exactly as `mlops models register` registers a trained folder.

The converted version is written as a one-version artifacts folder (model.onnx, metadata.json
with the import's lineage, the served training statistics, a manifest) and handed to
``delivery.registration.register_folder``: the same hash, size, operator and realistic-batch
checks, the same store every replica polls, weight 0.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_pipeline import artifacts
from mlops_pipeline.importing.common import ImportRefused, Source, file_format, pickle_refusal
from mlops_pipeline.schema.compare import schema_differences
from mlops_pipeline.schema.model import Column, FeatureSchema, SchemaError, Task

if TYPE_CHECKING:
    from mlops_pipeline.delivery.model_checks import RegistrationLimits
    from mlops_pipeline.storage import Storage
    from mlops_pipeline.storage.records import RegisteredModel

ALWAYS_RECORDED = ("skl2onnx", "onnxmltools", "onnx", "onnxruntime")


@dataclass(frozen=True)
class Imported:
    folder: Path  # the one-version artifacts folder handed to registration
    metadata: dict[str, Any]
    seconds: float


def read_source(path: Path, schema_file: Path | None) -> Source:
    from mlops_pipeline.importing.boosters import read_lightgbm, read_xgboost
    from mlops_pipeline.importing.mlflow_model import read_mlflow
    from mlops_pipeline.importing.onnx_model import read_onnx
    from mlops_pipeline.importing.sklearn_model import read_skops

    if path.is_dir():
        if not (path / "MLmodel").is_file():
            raise ImportRefused(f"{path} is a directory without an MLmodel file")
        return read_mlflow(path)
    if not path.is_file():
        raise ImportRefused(f"no model file {path}")
    kind = file_format(path)
    if kind == "pickle":
        raise pickle_refusal(path)
    if kind == "skops":
        return read_skops(path)
    if kind.startswith("xgboost"):
        return read_xgboost(path, kind)
    if kind == "lightgbm-text":
        return read_lightgbm(path)
    return read_onnx(path, schema_file)


def served_schema(bundle: artifacts.ArtifactBundle) -> FeatureSchema:
    """The schema every served version shares: recorded by typed training, else today's
    all-numeric one (Iris's training statistics name features and classes only)."""
    recorded = bundle.training_stats.get("schema")
    if recorded is not None:
        return FeatureSchema.from_json(recorded)
    columns = tuple(Column(name, "double") for name in bundle.feature_names)
    return FeatureSchema(columns, Task(classes=bundle.class_names))


def candidate_schema(
    source: Source, served: FeatureSchema, schema_file: Path | None
) -> FeatureSchema:
    """The model's own schema as far as it states one (schema file, MLflow signature, feature
    names), the served task's class names where the model learnt indices, and the served
    categories where it states none (a signature has none)."""
    from mlops_pipeline.importing.onnx_model import read_schema_file

    given = read_schema_file(schema_file) if schema_file is not None else None
    known = {column.name: column for column in served.columns}
    if given is not None:
        columns: tuple[Column, ...] = given.columns
    elif source.columns is not None:
        columns = source.columns
    elif source.feature_names is not None:
        # Names without types (a Pipeline fitted on a frame): a served column of that name is
        # taken as served, its type, nullability and categories; any other is a number.
        columns = tuple(known.get(name, Column(name, "double")) for name in source.feature_names)
    else:
        columns = served.columns  # a model trained on a bare matrix: positions are the names
    columns = tuple(
        Column(c.name, c.type, c.nullable, known[c.name].categories)
        if c.type == "string" and not c.categories and c.name in known
        else c
        for c in columns
    )
    if source.classes is not None:
        classes = source.classes
    elif given is not None:
        classes = given.task.classes
    elif source.n_classes == len(served.task.classes):
        classes = served.task.classes
    else:
        classes = tuple(str(index) for index in range(source.n_classes))
    try:
        return FeatureSchema(columns, Task(classes=classes, target=served.task.target))
    except SchemaError as exc:
        raise ImportRefused(f"the model's schema: {exc}") from exc


def convert(
    path: Path,
    version: str,
    served: artifacts.ArtifactBundle,
    out: Path,
    schema_file: Path | None = None,
    sample: Path | None = None,
) -> Imported:
    """Everything but registration: ``out`` becomes a one-version folder ready for it."""
    from mlops_pipeline.importing.parity import check_parity, generated_sample, read_sample

    started = time.perf_counter()
    source = read_source(path, schema_file)
    reference = served_schema(served)
    schema = candidate_schema(source, reference, schema_file)
    differences = schema_differences(reference, schema)
    if differences:
        raise ImportRefused(
            f"{version}'s schema differs from the served versions': {'; '.join(differences)}"
        )
    try:
        onnx_bytes = source.to_onnx(schema)
    except ImportRefused:
        raise
    except Exception as exc:  # a converter's own refusal, said as the conversion step
        raise ImportRefused(f"conversion of {source.algorithm} to ONNX failed: {exc}") from exc
    if sample is not None:
        frame, where = read_sample(sample, schema), f"sample {sample.name}"
    else:
        frame, where = (
            generated_sample(schema, served.training_stats),
            "rows generated from the schema",
        )
    parity = check_parity(source, onnx_bytes, schema, frame, where)
    if sample is not None:
        parity["sample_sha256"] = artifacts.sha256_file(sample)
    metadata = _metadata(path, version, source, schema, parity)
    _write_folder(out, version, onnx_bytes, metadata, served.training_stats)
    return Imported(out, metadata, time.perf_counter() - started)


def _metadata(
    path: Path, version: str, source: Source, schema: FeatureSchema, parity: dict[str, Any]
) -> dict[str, Any]:
    return {
        "version": version,
        "algorithm": f"imported {source.algorithm}",
        "default_weight": 0.0,
        "feature_names": schema.names,
        "class_names": list(schema.task.classes),
        "schema": schema.to_json(),
        "import": {
            "source": path.name,
            "source_format": source.source_format,
            "sha256": artifacts.sha256_file(path) if path.is_file() else None,
            "files_sha256": source.files,
            "converter_versions": _versions((*source.libraries, *ALWAYS_RECORDED)),
            "parity": parity,
        },
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _write_folder(
    out: Path, version: str, onnx_bytes: bytes, metadata: dict[str, Any], stats: dict[str, Any]
) -> None:
    folder = out / version
    folder.mkdir(parents=True, exist_ok=True)
    (folder / artifacts.MODEL_ONNX).write_bytes(onnx_bytes)
    files = {artifacts.MODEL_ONNX: artifacts.sha256_bytes(onnx_bytes)}
    artifacts.write_json(folder / artifacts.METADATA, {**metadata, "files": files})
    # The served statistics: the import's reference for drift and registration's batches.
    artifacts.write_json(out / artifacts.TRAINING_STATS, stats)
    artifacts.write_manifest(out, [version], {version: 0.0})


def _versions(names: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for name in dict.fromkeys(names):
        try:
            found[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def import_model(
    storage: Storage,
    path: Path,
    version: str,
    served_dir: Path,
    actor: str,
    limits: RegistrationLimits | None = None,
    schema_file: Path | None = None,
    sample: Path | None = None,
) -> tuple[RegisteredModel, Imported]:
    """Convert, check, and register at weight 0 through ``register_folder``."""
    from mlops_pipeline.delivery.registration import RegistrationRefused, register_folder

    try:
        served = artifacts.load_bundle(served_dir)
    except artifacts.ArtifactError as exc:
        raise ImportRefused(str(exc)) from exc
    with tempfile.TemporaryDirectory(prefix="mlops-import-") as staging:
        imported = convert(path, version, served, Path(staging), schema_file, sample)
        try:
            model = register_folder(
                storage, imported.folder, version, served_dir, actor, time.time(), limits
            )
        except RegistrationRefused as exc:
            raise ImportRefused(str(exc)) from exc
    return model, imported
