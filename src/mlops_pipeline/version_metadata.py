"""A version's metadata.json as one typed value: the fields the control plane reads, by name.

metadata.json is an open JSON object (evaluation, library versions, parity, lineage...): GET
/models and the V2 metadata route serve it and registration stores it as written, so the value
keeps the object verbatim (``raw``, also readable as a read-only mapping) and adds accessors for
what serving, registration and retraining decide on. An accessor answers None for a field that
is missing or of the wrong type, so a hand-written or older file is judged, not a KeyError.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MODEL_ONNX = "model.onnx"  # artifacts.MODEL_ONNX; not imported: artifacts imports this module


def _object(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class VersionMetadata(Mapping[str, object]):
    raw: dict[str, object]

    @classmethod
    def parse(cls, value: object) -> VersionMetadata:
        """A metadata.json object as read; anything but an object reads as an empty one."""
        return cls(_object(value))

    # Read-only mapping over the file, for readers of free-form fields (tests, reports).
    def __getitem__(self, key: str) -> object:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    @property
    def algorithm(self) -> str | None:
        algorithm = self.raw.get("algorithm")
        return algorithm if isinstance(algorithm, str) else None

    @property
    def onnx_file_hash(self) -> str | None:
        """The SHA-256 metadata.json records for model.onnx; None when it records none."""
        declared = _object(self.raw.get("files")).get(MODEL_ONNX)
        # As text whatever its JSON type, so a malformed record is compared (and refused), not
        # taken for a missing one.
        return None if declared is None else str(declared)

    @property
    def params(self) -> dict[str, Any]:
        """The estimator's hyper-parameters (random_state included), a copy: values of any
        JSON type, handed to the estimator as they are."""
        return dict(_object(self.raw.get("params")))

    @property
    def base_data(self) -> Mapping[str, object]:
        """The original data the version learnt: a retrain's lineage names the base data it
        added production rows to; a trained version's own training_data is that data."""
        recorded = _object(_object(self.raw.get("lineage")).get("base_data"))
        return recorded or _object(self.raw.get("training_data"))

    @property
    def base_data_source(self) -> str:
        return str(self.base_data.get("source", ""))

    @property
    def base_data_sha256(self) -> object:
        return self.base_data.get("sha256")

    @property
    def last_labelled_at(self) -> float | None:
        """For a retrained version: when the newest production label it learnt arrived."""
        lineage = self.raw.get("lineage")
        if not isinstance(lineage, dict):
            return None
        last = _object(lineage.get("production_labels")).get("last_labelled_at")
        return float(last) if isinstance(last, int | float) else None
