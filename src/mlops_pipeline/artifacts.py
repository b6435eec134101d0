"""Artifact files: safe model formats, hashes, the manifest, and verified loading.

Layout of an artifacts folder::

    manifest.json            SHA-256 of every other file, served versions, default weights
    training_stats.json      reference statistics for drift detection
    <version>/model.skops    scikit-learn model (skops: loads only trusted types, never pickle)
    <version>/model.onnx     compiled form the API serves
    <version>/metadata.json  hyper-parameters, evaluation, library versions, file hashes
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_pipeline.version_metadata import VersionMetadata

MANIFEST = "manifest.json"
TRAINING_STATS = "training_stats.json"
MODEL_SKOPS = "model.skops"
MODEL_ONNX = "model.onnx"
METADATA = "metadata.json"
MANIFEST_FORMAT = 1

# The only non-default types a forest's skops file may contain; anything else is refused.
TRUSTED_SKOPS_TYPES = ("sklearn.tree._tree.Tree",)


class ArtifactError(RuntimeError):
    """Artifacts are missing, tampered with or unreadable; the message names the file."""


@dataclass(frozen=True)
class VersionArtifacts:
    name: str
    metadata: VersionMetadata
    onnx_bytes: bytes


@dataclass(frozen=True)
class ArtifactBundle:
    root: Path
    manifest: dict[str, Any]
    versions: dict[str, VersionArtifacts]
    training_stats: dict[str, Any]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.training_stats["feature_names"])

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.training_stats["class_names"])

    @property
    def default_weights(self) -> dict[str, float]:
        return {name: float(weight) for name, weight in self.manifest["default_weights"].items()}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_skops(model: Any, path: Path) -> None:
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, path)


def load_skops(path: Path) -> Any:
    """Load a scikit-learn model, refusing any type outside TRUSTED_SKOPS_TYPES."""
    import skops.io as sio

    untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED_SKOPS_TYPES)
    if untrusted:
        raise ArtifactError(f"{path}: refusing to load untrusted types {sorted(untrusted)}")
    return sio.load(path, trusted=list(TRUSTED_SKOPS_TYPES))


def write_manifest(root: Path, versions: list[str], default_weights: dict[str, float]) -> None:
    files = {
        path.relative_to(root).as_posix(): sha256_file(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }
    write_json(
        root / MANIFEST,
        {
            "format": MANIFEST_FORMAT,
            "versions": versions,
            "default_weights": default_weights,
            "files": files,
        },
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"artifact missing: {path} (run `mlops train` first)") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"artifact unreadable: {path}: {exc}") from exc


def _read_verified(root: Path, relative: str, expected: dict[str, str]) -> bytes:
    path = root / relative
    if relative not in expected:
        raise ArtifactError(f"{path} is not listed in {root / MANIFEST}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"artifact missing: {path}") from None
    actual = sha256_bytes(data)
    if actual != expected[relative]:
        raise ArtifactError(
            f"artifact hash mismatch: {path} has SHA-256 {actual},"
            f" manifest says {expected[relative]}"
        )
    return data


def verify_files(root: Path) -> dict[str, Any]:
    """Check every file the manifest lists exists with its recorded hash; return the manifest."""
    manifest = _read_json(root / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ArtifactError(f"{root / MANIFEST}: unknown manifest format")
    for relative in manifest["files"]:
        _read_verified(root, relative, manifest["files"])
    return manifest


def load_bundle(root: Path) -> ArtifactBundle:
    """Read what the API serves, verifying each file's bytes against the manifest as read."""
    manifest = verify_files(root)
    files: dict[str, str] = manifest["files"]

    def read_json(relative: str) -> Any:
        return json.loads(_read_verified(root, relative, files))

    versions = {}
    for name in manifest["versions"]:
        onnx_bytes = _read_verified(root, f"{name}/{MODEL_ONNX}", files)
        versions[name] = VersionArtifacts(
            name, VersionMetadata.parse(read_json(f"{name}/{METADATA}")), onnx_bytes
        )
    return ArtifactBundle(
        root=root,
        manifest=manifest,
        versions=versions,
        training_stats=read_json(TRAINING_STATS),
    )
