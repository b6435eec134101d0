"""Retrain: base data + labelled production rows -> a verified candidate, registered at weight 0,
compared with the champion on the most recent labels, optionally handed to a rollout.

Runs in `mlops retrain` or in the leading monitor (runs queued by the API or a drift alert);
never in an API worker (it imports scikit-learn and takes seconds of CPU). Every run is a row in
``retrain_runs``: what asked for it, who, and how it ended.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlops_pipeline import artifacts
from mlops_pipeline.catalogue import ModelVersionSpec, load_catalogue
from mlops_pipeline.config import Settings
from mlops_pipeline.delivery.model_checks import RegistrationLimits
from mlops_pipeline.delivery.registration import RegistrationRefused, register_folder
from mlops_pipeline.retraining.candidate import Lineage, numeric_candidate
from mlops_pipeline.retraining.champion import (
    Champion,
    RetrainRefused,
    base_dataset,
    find_champion,
    last_label_used,
    next_name,
    recipe,
    taken_names,
)
from mlops_pipeline.retraining.comparison import Comparison
from mlops_pipeline.retraining.dataset import Rows, deduplicate, split_by_time
from mlops_pipeline.retraining.typed import TypedRun, typed_base, typed_candidate
from mlops_pipeline.serving.served_schema import served_schema
from mlops_pipeline.serving.typed_requests import typed_schema
from mlops_pipeline.storage import Storage
from mlops_pipeline.storage.records import RetrainRun
from mlops_pipeline.storage.retrains import FAILED, REFUSED, REGISTERED

logger = logging.getLogger(__name__)
DAY = 86_400.0
# A retrained candidate's rollout ends, rolled back, if not shown better within this many labels.
ROLLOUT_MAX_LABELS = 5_000


def retrain_plan(candidate: str, baseline: str) -> dict[str, object]:
    """The default plan (steps 5/25/50/100%, 200 labels a step), judged for a retrain:

    - promoted only when shown *better* (margin 0): a retrain that is merely as good is churn
      (new artifacts, a new drift reference) for nothing, so it must earn its place;
    - ended (rolled back) if not shown better within ROLLOUT_MAX_LABELS labels, rather than
      hold its first step for ever;
    - not held by a drift alarm: it learnt the drifted traffic, the alarm is what it answers.
    """
    return {
        "candidate": candidate,
        "baseline": baseline,
        "guardrails": {"max_accuracy_drop": 0.0},
        "max_labels": ROLLOUT_MAX_LABELS,
        "hold_on_drift": False,
    }


@dataclass(frozen=True)
class Options:
    """What only the CLI can say: files on its machine."""

    base_data: Path | None = None
    target: str = "target"
    like: str | None = None  # a catalogue entry's recipe instead of the champion's
    out_dir: Path | None = None  # keep the candidate's artifacts folder here


@dataclass(frozen=True)
class Outcome:
    version: str
    champion: str
    comparison: Comparison
    provenance: Lineage
    rollout_id: int | None
    rollout_note: str = ""

    @property
    def lineage(self) -> dict[str, object]:
        """The lineage as the candidate's metadata.json records it."""
        return self.provenance.to_json()

    def summary(self) -> str:
        c = self.comparison
        labels = self.provenance.labels
        rollout = f"; rollout {self.rollout_id} started" if self.rollout_id else self.rollout_note
        return (
            f"registered {self.version} (weight 0) from {labels.count} labelled rows;"
            f" holdout of the newest {c.candidate.rows}: {self.version}"
            f" {c.candidate.accuracy:.1%} [{c.candidate.low:.1%}, {c.candidate.high:.1%}] vs"
            f" {self.champion} {c.champion.accuracy:.1%} [{c.champion.low:.1%},"
            f" {c.champion.high:.1%}], difference {c.difference:+.1%}"
            f" [{c.difference_low:+.1%}, {c.difference_high:+.1%}]: {c.verdict}{rollout}"
        )


class Retrainer:
    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        start_rollout: Callable[[str, str, str], int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``start_rollout(candidate, baseline, actor)`` returns the rollout id."""
        self._storage = storage
        self._settings = settings
        self._start_rollout = start_rollout
        self._clock = clock

    def execute(self, run: RetrainRun, options: Options | None = None) -> Outcome:
        """Run ``run`` (already open in the store) and record how it ended."""
        finish = self._storage.retrains.finish
        try:
            outcome = self._retrain(run, options or Options())
        except RetrainRefused as exc:
            finish(run.id, REFUSED, str(exc), self._clock())
            raise
        except BaseException as exc:  # an interrupted CLI must not leave the run open
            finish(run.id, FAILED, f"{type(exc).__name__}: {exc}", self._clock())
            raise
        finish(
            run.id,
            REGISTERED,
            outcome.summary(),
            self._clock(),
            outcome.version,
            {
                "version": outcome.version,
                "champion": outcome.champion,
                "comparison": outcome.comparison.to_json(),
                "rollout_id": outcome.rollout_id,
            },
        )
        return outcome

    def _retrain(self, run: RetrainRun, options: Options) -> Outcome:
        settings, storage = self._settings, self._storage
        served = artifacts.load_bundle(settings.artifacts_dir)
        taken = taken_names(storage, served)
        version = run.version or next_name(taken)
        if version in taken:
            raise RetrainRefused(f"{version} is served, registered or retired: choose a new name")
        champion = find_champion(storage, served)
        spec, seed = self._recipe(options, champion, version)
        now = self._clock()
        since = now - run.since_days * DAY if run.since_days is not None else 0.0
        schema = typed_schema(
            served_schema({n: v.metadata.raw for n, v in served.versions.items()})
        )
        if schema is not None:  # a mixed-type model: frames of typed rows (typed.py)
            typed_base_data = typed_base(champion, schema, options.base_data)
            found, dropped = self._production_rows(since, storage.labels.labelled_typed_rows)
            held = self._split(found)
            job = TypedRun(
                run, version, spec, seed, champion, typed_base_data, found, dropped, *held,
                since, now,
            )  # fmt: skip
            comparison, lineage, write = typed_candidate(job)
        else:
            base = base_dataset(champion, served, options.base_data, options.target)
            rows, duplicates = self._production_rows(since, storage.labels.labelled_rows)
            train, holdout = self._split(rows)
            comparison, lineage, write = numeric_candidate(
                run, version, spec, seed, champion, base, rows, duplicates, train, holdout,
                since, now,
            )  # fmt: skip
        self._register(run, version, write, options.out_dir)
        rollout_id, rollout_note = self._hand_over(run, version, champion.version, comparison)
        logger.info("retrained %s against %s: %s", version, champion.version, comparison.verdict)
        return Outcome(version, champion.version, comparison, lineage, rollout_id, rollout_note)

    def _split(self, rows: Rows) -> tuple[Rows, Rows]:
        try:
            return split_by_time(rows, self._settings.retrain_holdout_fraction)
        except ValueError as exc:
            raise RetrainRefused(f"no holdout by time: {exc}") from None

    def _recipe(
        self, options: Options, champion: Champion, version: str
    ) -> tuple[ModelVersionSpec, int]:
        """The champion's recipe, or a catalogue entry's when the CLI names one (``like``)."""
        if options.like is None:
            return recipe(champion, version)
        catalogue = load_catalogue(self._settings.versions_file)
        entry = next((v for v in catalogue.versions if v.name == options.like), None)
        if entry is None:
            raise RetrainRefused(f"the catalogue has no version {options.like!r}")
        return entry.model_copy(update={"name": version}), catalogue.seed

    def _register(
        self, run: RetrainRun, version: str, write: Callable[[Path], None], out_dir: Path | None
    ) -> None:
        """Write the candidate's folder, copy it where the CLI asked, register it at weight 0."""
        settings, storage = self._settings, self._storage
        folder = Path(tempfile.mkdtemp(prefix=f"retrain-{version}-"))
        try:
            write(folder)
            if out_dir is not None:  # before registering: a copy that fails stops it
                shutil.copytree(folder, out_dir, dirs_exist_ok=False)
            if not storage.retrains.is_running(run.id):
                # A monitor that lost leadership mid-run had its run failed by the new leader,
                # which may have started the next one: registering now would count twice.
                raise RetrainRefused(
                    f"run {run.id} no longer runs here (reclaimed): not registered"
                )
            try:
                register_folder(
                    storage,
                    folder,
                    version,
                    settings.artifacts_dir,
                    f"retrain:{run.actor}"[:64],
                    self._clock(),
                    RegistrationLimits.from_settings(settings),
                )
            except RegistrationRefused as exc:
                raise RetrainRefused(str(exc)) from exc
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _hand_over(
        self, run: RetrainRun, version: str, champion: str, comparison: Comparison
    ) -> tuple[int | None, str]:
        """Start the rollout the run asked for: (its id, or None with a note saying why not)."""
        rollout_id, rollout_note = None, ""
        if run.rollout and comparison.verdict == "worse":
            rollout_note = "; no rollout started: shown worse than the champion on the holdout"
        elif run.rollout and self._start_rollout is not None:
            try:
                rollout_id = self._start_rollout(version, champion, run.actor)
            except Exception as exc:  # registered all the same: a person can start it later
                logger.exception("retrained %s: the rollout did not start", version)
                rollout_note = f"; no rollout started: {str(exc)[:200]}"
        return rollout_id, rollout_note

    def _production_rows(
        self, since: float, read: Callable[[float, int], Rows]
    ) -> tuple[Rows, int]:
        settings = self._settings
        rows, duplicates = deduplicate(read(since, settings.retrain_max_rows))
        count = len(rows.labels)
        if count < settings.retrain_min_labels:
            window = "" if since <= 0 else f" since {_iso(since)}"
            raise RetrainRefused(
                f"too few labels: {count} labelled routed predictions{window}"
                f" ({duplicates} duplicates left out); a retrain needs at least"
                f" {settings.retrain_min_labels} (MLOPS_RETRAIN_MIN_LABELS)"
            )
        previous = last_label_used(self._storage)
        if previous is not None and float(rows.labelled_at.max()) <= previous[1]:
            raise RetrainRefused(
                f"no new labelled rows since the last retrain ({previous[0]}, labels up to"
                f" {_iso(previous[1])}): it would learn nothing new"
            )
        return rows, duplicates


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
