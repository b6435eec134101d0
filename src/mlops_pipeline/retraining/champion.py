"""What a retrain starts from: the champion (the version with the most traffic), its recipe and
the base data it was trained on, and the version names already taken."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlops_pipeline.artifacts import ArtifactBundle
from mlops_pipeline.catalogue import ModelVersionSpec
from mlops_pipeline.storage import Storage
from mlops_pipeline.storage.models import ACTIVE, RETIRED
from mlops_pipeline.training.data import DataError, Dataset, load_csv_dataset, load_iris_dataset
from mlops_pipeline.training.estimators import ALGORITHMS
from mlops_pipeline.version_metadata import VersionMetadata

DEFAULT_SEED = 42


class RetrainRefused(Exception):
    """The retrain cannot run or would teach nothing new; the message says why."""


@dataclass(frozen=True)
class Champion:
    version: str
    weight: float
    onnx_bytes: bytes
    metadata: VersionMetadata


def find_champion(storage: Storage, served: ArtifactBundle) -> Champion:
    """The served version with the largest share of the current split (ties: the first name)."""
    catalog = storage.models.catalog()
    retired = {m.version for m in catalog if m.status == RETIRED}
    registered = {m.version: m for m in catalog if m.status == ACTIVE}
    stored = storage.weights.current()
    weights = stored.weights if stored is not None else served.default_weights
    candidates = [v for v in [*served.versions, *registered] if v not in retired]
    if not candidates:
        raise RetrainRefused("no version is served: nothing to retrain from")
    version = sorted(candidates, key=lambda v: (-weights.get(v, 0.0), v))[0]
    if version in served.versions:
        artifacts = served.versions[version]
        return Champion(
            version, weights.get(version, 0.0), artifacts.onnx_bytes, artifacts.metadata
        )
    onnx = storage.models.onnx(version)
    if onnx is None:
        raise RetrainRefused(f"the champion {version} has no stored model bytes")
    metadata = VersionMetadata.parse(registered[version].metadata)
    return Champion(version, weights.get(version, 0.0), onnx, metadata)


def recipe(champion: Champion, name: str) -> tuple[ModelVersionSpec, int]:
    """The champion's algorithm and parameters for a version called ``name``, and its seed."""
    params = champion.metadata.params
    seed = int(params.pop("random_state", DEFAULT_SEED))
    algorithm = champion.metadata.algorithm
    if algorithm is None:
        raise RetrainRefused(f"{champion.version}'s metadata names no algorithm")
    if algorithm not in ALGORITHMS:  # an imported model: trained elsewhere, by code not here
        raise RetrainRefused(
            f"{champion.version} is {algorithm!r}, not an algorithm retraining can fit"
            f" ({sorted(ALGORITHMS)}): retrain with a catalogue version's recipe,"
            " `mlops retrain --like NAME`"
        )
    return ModelVersionSpec(name=name, algorithm=algorithm, weight=0.0, params=params), seed


def taken_names(storage: Storage, served: ArtifactBundle) -> set[str]:
    """Every name served, registered or retired: a name is never reused."""
    return set(served.versions) | {m.version for m in storage.models.catalog()}


def next_name(taken: set[str]) -> str:
    """v<N+1> after the highest v<N> taken (v1, v2 served -> v3)."""
    numbers = [int(m.group(1)) for name in taken if (m := re.fullmatch(r"v(\d+)", name))]
    return f"v{max(numbers, default=0) + 1}"


def base_dataset(
    champion: Champion, served: ArtifactBundle, path: Path | None, target: str
) -> Dataset:
    """The original training data: ``path`` if given, else the bundled set the champion names.

    Its features and classes must be the served model's, in the same order: production labels
    are class indices into them.
    """
    # A retrained champion learnt base data + production rows: its lineage names the base data.
    source = champion.metadata.base_data_source
    try:
        if path is not None:
            dataset = load_csv_dataset(path, target)
        elif source == "sklearn:iris":
            dataset = load_iris_dataset()
        else:
            raise RetrainRefused(
                f"{champion.version} was trained on {source or 'unrecorded data'};"
                " pass --base-data CSV (and --target) with that data"
            )
    except DataError as exc:
        raise RetrainRefused(str(exc)) from exc
    if (dataset.feature_names, dataset.class_names) != (served.feature_names, served.class_names):
        raise RetrainRefused(
            f"the base data has features {list(dataset.feature_names)} and classes"
            f" {list(dataset.class_names)}; the served model uses {list(served.feature_names)}"
            f" and {list(served.class_names)}"
        )
    return dataset


def last_label_used(storage: Storage) -> tuple[str, float] | None:
    """(version, newest label time) of the newest retrain registered, from its lineage."""
    newest: tuple[str, float] | None = None
    for model in storage.models.catalog():
        last = VersionMetadata.parse(model.metadata).last_labelled_at
        if last is not None and (newest is None or last > newest[1]):
            newest = (model.version, last)
    return newest
