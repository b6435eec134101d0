"""Retraining from production labels, end to end: what a retrain gains, what the rollout does
with it, and how long a drift alert takes to become a registered candidate.

A) Concept drift that hurts the served models: versicolor (class 1) petal length and width move
   +1 mixture SD, labels unchanged. Per seed: `mlops serve` on fresh artifacts and a fresh
   SQLite file; drift-era rows go through POST /predict (routed, batches of 1-5 rows) and are
   labelled through POST /feedback; after 100, 200, 500 and 1,000 distinct labelled rows (the
   retrain drops repeated (features, label) pairs, so a few more rows are sent) `mlops retrain
   --json` (a subprocess, MLOPS_RETRAIN_MIN_LABELS=100) registers v3..v6. The champion the
   lineage names and each candidate (ONNX bytes read back from the database; v1 and v2 from the
   served files) are scored on 2,000 fresh drift-era rows no retrain saw.
B) The same on drift-free traffic, one retrain after 500 labels. Then 1,000 simulated rollouts
   per candidate (benchmarks/rollout_eval.py's traffic simulation, decisions by the project's
   `delivery.controller.decide`, the plan `mlops retrain --rollout` starts) with the
   measured true accuracies as baseline and candidate, and for a hypothetical candidate exactly
   as accurate as the champion.
C) Drift alert to registered candidate on the real chain: `mlops serve`, `mlops monitor`
   (MLOPS_RETRAIN_ON_DRIFT=register), Prometheus (`for:` 0s, 1 s scrapes) and Alertmanager
   (the repository's config rendered with the retrain receiver, group_wait 1s) when both
   binaries are on PATH; otherwise this script posts the webhook JSON itself and says so.

Synthetic rows come from a class-conditional Gaussian fitted to Iris: "true accuracy" is
accuracy in that synthetic world, where more of its rows help any model a little.
Run: .venv/bin/python -m benchmarks.retrain_eval [--seeds 3] [--runs 1000] [--quick]
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests
from numpy.typing import NDArray

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
from tests.support.helpers import FEEDBACK  # noqa: E402
from tests.support.servers import free_port, running_api, running_monitor, stop  # noqa: E402

from benchmarks import rollout_eval  # noqa: E402
from mlops_pipeline.artifacts import ArtifactBundle, load_bundle  # noqa: E402
from mlops_pipeline.bootstrap import RETRAIN_POLL_SECONDS  # noqa: E402
from mlops_pipeline.cli.alerting import render  # noqa: E402
from mlops_pipeline.cli.launcher import prometheus_config  # noqa: E402
from mlops_pipeline.config import Settings, load_catalogue  # noqa: E402
from mlops_pipeline.retraining.service import retrain_plan  # noqa: E402
from mlops_pipeline.rollout_plan import Plan, parse_plan  # noqa: E402
from mlops_pipeline.serving.inference import OnnxPredictor  # noqa: E402
from mlops_pipeline.storage import open_storage  # noqa: E402
from mlops_pipeline.training.data import load_iris_dataset  # noqa: E402
from mlops_pipeline.training.synthetic import ClassConditionalGaussian, shift_class  # noqa: E402
from mlops_pipeline.training.trainer import train_all  # noqa: E402

SHIFTED_CLASS, SHIFTED_COLUMNS, SHIFT_SDS = 1, (2, 3), 1.0  # versicolor petal length and width
CHECKPOINTS = (100, 200, 500, 1000)
QUICK_CHECKPOINTS = (100, 200, 500)
DRIFT_FREE_LABELS = 500
TEST_ROWS = 2000
MAX_BATCH = 5  # rows per POST /predict: 1 to 5
MIN_LABELS = "100"  # MLOPS_RETRAIN_MIN_LABELS for the `mlops retrain` runs of A and B
LABEL_RATE = 0.25  # share of answered requests labelled in the rollout simulation
WEBHOOK_TOKEN = "bench-retrain-webhook-token"
SERVER_ENV = {"MLOPS_ACCESS_LOG": "false", "MLOPS_GRPC_PORT": "0"}


@dataclass(frozen=True)
class Checkpoint:
    labels: int  # distinct labelled rows sent so far (what the retrain reads)
    sent: int  # labelled rows sent, duplicates included
    version: str
    champion: str
    champion_accuracy: float  # on the fresh test rows
    candidate_accuracy: float
    verdict: str  # the retrain's own holdout verdict
    holdout_difference: float
    holdout_rows: int
    seconds: float  # wall time of `mlops retrain`


@dataclass(frozen=True)
class Scenario:
    seed: int
    shifted: bool
    checkpoints: list[Checkpoint]
    champion_clean_accuracy: float  # the champion on drift-free rows, for reference


# --- traffic ----------------------------------------------------------------------------------


def drift_era(
    gen: ClassConditionalGaussian, count: int, rng: np.random.Generator, shifted: bool
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    rows, labels = gen.sample(count, rng)
    if shifted:
        rows = shift_class(rows, labels, gen, SHIFTED_CLASS, SHIFTED_COLUMNS, SHIFT_SDS)
    return rows, labels


def send_and_label(
    session: requests.Session,
    url: str,
    rows: NDArray[np.float64],
    labels: NDArray[np.int64],
    rng: np.random.Generator,
) -> None:
    """Routed POST /predict in batches of 1-5 rows, then every row labelled via POST /feedback."""
    items: list[dict[str, Any]] = []
    start = 0
    while start < len(rows):
        size = int(rng.integers(1, MAX_BATCH + 1))
        chunk = rows[start : start + size]
        response = session.post(url + "/predict", json={"instances": chunk.tolist()}, timeout=10)
        if response.status_code != 200:
            sys.exit(f"/predict answered {response.status_code}: {response.text[:300]}")
        request_id = response.json()["request_id"]
        items.extend(
            {"request_id": request_id, "row_index": index, "true_label": int(label)}
            for index, label in enumerate(labels[start : start + len(chunk)])
        )
        start += len(chunk)
    response = session.post(url + "/feedback", json=items, headers=FEEDBACK, timeout=30)
    if response.status_code != 200:
        sys.exit(f"/feedback answered {response.status_code}: {response.text[:300]}")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_pipeline.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def retrain(db: Path, artifacts: Path) -> tuple[dict[str, Any] | None, str, float]:
    """(the --json answer or None, the error text, wall seconds) of one `mlops retrain`."""
    started = time.perf_counter()
    done = cli(
        "retrain", "--json", "--db", str(db), "--artifacts", str(artifacts),
        env={"MLOPS_RETRAIN_MIN_LABELS": MIN_LABELS},
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        return None, lines[-1][:300], seconds
    return json.loads(done.stdout), "", seconds


class Scorer:
    """Accuracy of a version on fixed rows; its ONNX bytes from the database (the registry),
    else from the served artifacts (v1 and v2 are served from files)."""

    def __init__(self, db: Path, bundle: ArtifactBundle) -> None:
        self._storage = open_storage(f"sqlite:///{db}")
        self._bundle = bundle
        self._cache: dict[tuple[str, int], float] = {}

    def accuracy(self, version: str, rows: NDArray[np.float64], labels: NDArray[np.int64]) -> float:
        key = (version, id(rows))
        if key not in self._cache:
            onnx = self._storage.models.onnx(version)
            if onnx is None:
                onnx = self._bundle.versions[version].onnx_bytes
            predicted = OnnxPredictor(version, onnx).predict(rows)[0]
            self._cache[key] = float(np.mean(predicted == labels))
        return self._cache[key]

    def close(self) -> None:
        self._storage.close()


def distinct_ends(
    rows: NDArray[np.float64], labels: NDArray[np.int64], targets: Sequence[int]
) -> list[int]:
    """For each target, how many rows of the stream hold that many distinct (features, label)
    pairs: the retrain drops repeated pairs (synthetic rows are rounded to 0.1 cm, so a few
    repeat), and a checkpoint counts the rows it learns from."""
    seen: set[tuple[bytes, int]] = set()
    ends: list[int] = []
    for index in range(len(rows)):
        seen.add((rows[index].astype("<f8").tobytes(), int(labels[index])))
        if len(ends) < len(targets) and len(seen) == targets[len(ends)]:
            ends.append(index + 1)
    if len(ends) < len(targets):
        raise RuntimeError("the synthetic stream repeats too often to reach the checkpoints")
    return ends


def run_scenario(
    seed: int,
    shifted: bool,
    checkpoints: Sequence[int],
    gen: ClassConditionalGaussian,
    trained: Path,
    workdir: Path,
) -> Scenario:
    """One fresh server and database; labelled traffic; a retrain at each checkpoint."""
    folder = workdir / f"{'shifted' if shifted else 'drift-free'}-{seed}"
    artifacts, db = folder / "artifacts", folder / "log.db"
    shutil.copytree(trained, artifacts)
    traffic_rng = np.random.default_rng([seed, 1, int(shifted)])
    rows, labels = drift_era(gen, 2 * max(checkpoints) + 100, traffic_rng, shifted)
    ends = distinct_ends(rows, labels, checkpoints)
    test_rows, test_labels = drift_era(
        gen, TEST_ROWS, np.random.default_rng([seed, 2, int(shifted)]), shifted
    )
    clean_rows, clean_labels = gen.sample(TEST_ROWS, np.random.default_rng([seed, 3]))
    results: list[Checkpoint] = []
    clean = float("nan")
    with (
        running_api(artifacts, db, workers=2, extra_env=SERVER_ENV) as url,
        requests.Session() as session,
    ):
        scorer = Scorer(db, load_bundle(artifacts))  # the database is upgraded by now
        try:
            sent = 0
            for target, end in zip(checkpoints, ends, strict=True):
                send_and_label(session, url, rows[sent:end], labels[sent:end], traffic_rng)
                sent = end
                answer, error, seconds = retrain(db, artifacts)
                if answer is None:
                    print(f"  seed {seed}: no retrain after {target} labels: {error}")
                    continue
                lineage = answer["lineage"]
                champion, candidate = lineage["champion"]["version"], answer["version"]
                production = lineage["production_labels"]
                if production["count"] != target:
                    print(f"  seed {seed}: the retrain read {production['count']} rows ({target})")
                results.append(
                    Checkpoint(
                        target,
                        end,
                        candidate,
                        champion,
                        scorer.accuracy(champion, test_rows, test_labels),
                        scorer.accuracy(candidate, test_rows, test_labels),
                        lineage["comparison"]["verdict"],
                        lineage["comparison"]["difference"],
                        production["holdout_rows"],
                        seconds,
                    )
                )
                clean = scorer.accuracy(champion, clean_rows, clean_labels)
        finally:
            scorer.close()
    return Scenario(seed, shifted, results, clean)


# --- tables -----------------------------------------------------------------------------------


def spread(values: Sequence[float], kind: str = "%") -> str:
    """Mean [min, max]: "%" for accuracies, "n" for counts, "s" for seconds."""
    if not values:
        return "-"
    scale, form = {"%": (100.0, "{:.1f}"), "n": (1.0, "{:,.0f}"), "s": (1.0, "{:.1f}")}[kind]
    mean, low, high = (form.format(scale * v) for v in (statistics.mean(values), *minmax(values)))
    unit = "%" if kind == "%" else ""
    if len(values) == 1:
        return f"{mean}{unit}"
    return f"{mean}{unit} [{low}, {high}]"


def minmax(values: Sequence[float]) -> tuple[float, float]:
    return min(values), max(values)


def gain(values: Sequence[float]) -> str:
    """Accuracy differences in points, mean [min, max]."""
    points = [100 * v for v in values]
    if not points:
        return "-"
    if len(points) == 1:
        return f"{points[0]:+.1f}"
    return f"{statistics.mean(points):+.1f} [{min(points):+.1f}, {max(points):+.1f}]"


def verdicts(points: Sequence[Checkpoint]) -> str:
    counts = Counter(p.verdict for p in points)
    return ", ".join(f"{name} {n}" for name, n in counts.most_common())


def print_accuracy_table(scenarios: Sequence[Scenario], title: str) -> None:
    labels = sorted({p.labels for s in scenarios for p in s.checkpoints})
    print(title)
    print(
        "| distinct labels | rows sent | holdout rows | champion accuracy | retrained accuracy"
        " | gain (points) | holdout difference (points) | holdout verdicts | retrain wall s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for count in labels:
        points = [p for s in scenarios for p in s.checkpoints if p.labels == count]
        print(
            f"| {count:,} | {spread([p.sent for p in points], 'n')}"
            f" | {spread([p.holdout_rows for p in points], 'n')}"
            f" | {spread([p.champion_accuracy for p in points])}"
            f" | {spread([p.candidate_accuracy for p in points])}"
            f" | {gain([p.candidate_accuracy - p.champion_accuracy for p in points])}"
            f" | {gain([p.holdout_difference for p in points])}"
            f" | {verdicts(points)} | {spread([p.seconds for p in points], 's')} |"
        )
    champions = Counter(p.champion for s in scenarios for p in s.checkpoints)
    clean = [s.champion_clean_accuracy for s in scenarios]
    print(
        f"Accuracies on {TEST_ROWS:,} fresh rows of the same era per seed; mean [min, max] over"
        f" {len(scenarios)} seed(s). Champion per lineage: {dict(champions)}; it scores"
        f" {spread(clean)} on drift-free rows."
    )


# --- rollout simulation -----------------------------------------------------------------------


def _simulate(task: tuple[Plan, float, float, int]) -> rollout_eval.Outcome:
    plan, baseline, candidate, seed = task
    # rollout_eval.simulate reads its baseline accuracy from this module constant.
    rollout_eval.BASELINE_ACCURACY = baseline
    return rollout_eval.simulate(plan, candidate, 0.0, LABEL_RATE, seed)


def simulate_rollouts(
    pairs: Sequence[tuple[float, float]], runs: int, pool: Any
) -> list[rollout_eval.Outcome]:
    """``runs`` rollouts, spread evenly over the (baseline, candidate) accuracy pairs."""
    plan = parse_plan(retrain_plan("v3", "v1"), ["v1", "v2", "v3"])
    tasks = [(plan, *pairs[run % len(pairs)], 50_000 + run) for run in range(runs)]
    return list(pool.imap(_simulate, tasks, chunksize=10))


def print_rollout_table(
    rows: Sequence[tuple[str, Sequence[tuple[float, float]]]], runs: int
) -> None:
    plan = parse_plan(retrain_plan("v3", "v1"), ["v1", "v2", "v3"])
    print(
        f"\nB) the plan `mlops retrain --rollout` starts (steps {list(plan.steps)},"
        f" {plan.min_labels_per_step} labels per step, promoted only when shown better: margin"
        f" {plan.guardrails.max_accuracy_drop:.0%}; rolled back if not shown better within"
        f" {plan.max_labels:,} labels) simulated {runs:,} times per row:"
        f" {rollout_eval.TICK_REQUESTS} requests per decision, {LABEL_RATE:.0%} labelled, correct"
        f" with the measured true accuracies (runs spread over the seeds' pairs); cap"
        f" {rollout_eval.MAX_LABELS:,} labels"
    )
    print(
        "| candidate | baseline true accuracy | candidate true accuracy | promoted | rolled back"
        " | still running at the cap | median labels to the end | s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        for name, pairs in rows:
            started = time.perf_counter()
            outcomes = simulate_rollouts(pairs, runs, pool)
            states = Counter(o.state for o in outcomes)
            ended = [o.labels for o in outcomes if o.state != "running"]
            median = f"{statistics.median(ended):,.0f}" if ended else "-"
            print(
                f"| {name} | {spread([b for b, _ in pairs])} | {spread([c for _, c in pairs])}"
                f" | {states['promoted'] / runs:.1%} | {states['rolled_back'] / runs:.1%}"
                f" | {states['running'] / runs:.1%} | {median}"
                f" | {time.perf_counter() - started:.0f} |"
            )


# --- C: drift alert to registered candidate ---------------------------------------------------


def spawn(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def wait_ready(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s")


@contextmanager
def running_tool(binary: str, args: list[str], ready_path: str, what: str) -> Iterator[str]:
    """A server binary on a free loopback port; yields its URL, always stopped afterwards."""
    port = free_port()
    process = spawn([binary, *args, f"--web.listen-address=127.0.0.1:{port}"])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url + ready_path, process, what)
        yield url
    finally:
        stop(process)


def alertmanager_config(folder: Path, retrain_url: str, token_file: Path) -> tuple[Path, str]:
    """The repository's Alertmanager config rendered with the retrain receiver; group waits
    shortened as tests/e2e/test_alert_delivery.py does. Empty text: the template cannot do it."""
    template = (ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text()
    config = render(
        template,
        {"MLOPS_ALERT_RETRAIN_URL": retrain_url, "MLOPS_ALERT_RETRAIN_TOKEN_FILE": str(token_file)},
    )
    if retrain_url not in config:
        return folder / "alertmanager.yml", ""
    for slow, fast in (
        ("group_wait: 30s", "group_wait: 1s"),
        ("group_interval: 5m", "group_interval: 1s"),
    ):
        config = config.replace(slow, fast)
    (folder / "alertmanager.yml").write_text(config)
    return folder / "alertmanager.yml", config


class Watcher(threading.Thread):
    """Records when each stage is first seen, polling every 0.1 s."""

    def __init__(self, api: str, monitor: str, prometheus: str | None) -> None:
        super().__init__(daemon=True)
        self.api, self.monitor, self.prometheus = api, monitor, prometheus
        self.seen: dict[str, float] = {}
        self.latest: dict[str, Any] | None = None  # the newest retraining run
        self.halt = threading.Event()

    def mark(self, stage: str) -> None:
        self.seen.setdefault(stage, time.time())

    def run_once(self, session: requests.Session) -> None:
        metrics = session.get(self.monitor + "/metrics", timeout=2).text
        match = re.search(r"^mlops_drift_detected(?:\{[^}]*\})? (\S+)$", metrics, re.MULTILINE)
        if match and float(match.group(1)) == 1:
            self.mark("monitor")
        if self.prometheus is not None:
            alerts = session.get(self.prometheus + "/api/v1/alerts", timeout=2).json()
            if any(
                a["labels"]["alertname"] == "DriftDetected" and a["state"] == "firing"
                for a in alerts["data"]["alerts"]
            ):
                self.mark("firing")
        runs = session.get(self.api + "/retrains", timeout=2).json()["retrains"]
        if runs:
            self.latest = runs[0]

    def run(self) -> None:
        with requests.Session() as session:
            while not self.halt.is_set():
                with suppress(requests.RequestException, ValueError, KeyError):
                    self.run_once(session)
                if self.latest is not None and self.latest["finished_at"] is not None:
                    return
                time.sleep(0.1)


def prometheus_ok(url: str) -> bool:
    """Prometheus scrapes the monitor and sees no drift yet."""
    try:
        body = requests.get(
            url + "/api/v1/query",
            params={"query": 'max(mlops_drift_detected{job="mlops-monitor"})'},
            timeout=2,
        ).json()
    except (requests.RequestException, ValueError):
        return False
    result = body.get("data", {}).get("result", [])
    return bool(result) and float(result[0]["value"][1]) == 0


def seconds_of(duration: str | None) -> float:
    """A Prometheus duration ("1m", "30s", "1m30s") in seconds; NaN when absent."""
    if duration is None:
        return float("nan")
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+)(ms|s|m|h)", duration)
    return float(sum(int(n) * units[unit] for n, unit in parts))


def production_waits() -> str:
    """What the deploy configs add to the shortened chain measured here."""

    def setting(path: str, pattern: str) -> str | None:
        match = re.search(pattern, (ROOT / path).read_text())
        return match.group(1) if match else None

    hold = setting(
        "deploy/prometheus/alerts.yml", r"- alert: DriftDetected\n(?:\s+.*\n)*?\s+for: (\S+)"
    )
    group_wait = setting("deploy/alertmanager/alertmanager.yml", r"group_wait: (\S+)")
    scrape = setting("deploy/prometheus/prometheus.yml", r"scrape_interval: (\S+)")
    evaluation = setting("deploy/prometheus/prometheus.yml", r"evaluation_interval: (\S+)")
    drift = float(Settings.model_fields["drift_interval_seconds"].default)
    fixed = seconds_of(hold) + seconds_of(group_wait)
    sampling = seconds_of(scrape) + seconds_of(evaluation) + drift
    return (
        f"Production waits this run shortened add to these numbers: DriftDetected `for:` {hold}"
        f" (deploy/prometheus/alerts.yml; here 0s) and Alertmanager group_wait {group_wait}"
        f" (here 1s) add {fixed:.0f} s; scrapes every {scrape} and rule evaluation every"
        f" {evaluation} (here 1s) and the monitor's drift test every {drift:g} s (here 0.5 s) add"
        f" up to {sampling:.0f} s more; a queued run starts within {RETRAIN_POLL_SECONDS:g} s"
        " either way."
    )


def alert_to_candidate(
    gen: ClassConditionalGaussian, trained: Path, workdir: Path, seed: int
) -> None:
    folder = workdir / "alert"
    artifacts, db = folder / "artifacts", folder / "log.db"
    shutil.copytree(trained, artifacts)
    token_file = folder / "retrain-token"
    token_file.write_text(WEBHOOK_TOKEN)
    prometheus_bin = shutil.which("prometheus")
    alertmanager_bin = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    env = {
        **SERVER_ENV,
        "MLOPS_DRIFT_INTERVAL_SECONDS": "0.5",
        "MLOPS_RETRAIN_ON_DRIFT": "register",
        "MLOPS_RETRAIN_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
    }
    rng = np.random.default_rng([seed, 4])
    clean_rows, clean_labels = gen.sample(150, rng)
    drift_rows, drift_labels = drift_era(gen, 200, rng, shifted=True)
    with (
        running_api(artifacts, db, workers=2, extra_env=env) as api,
        running_monitor(artifacts, db, extra_env=env) as monitor,
        requests.Session() as session,
    ):
        am_path, am_text = alertmanager_config(folder, monitor + "/alerts", token_file)
        send_and_label(session, api, clean_rows, clean_labels, rng)
        if prometheus_bin is not None and alertmanager_bin is not None and am_text:
            with (
                running_tool(
                    alertmanager_bin,
                    [
                        f"--config.file={am_path}",
                        f"--storage.path={folder / 'alertmanager-data'}",
                        "--cluster.listen-address=",
                    ],
                    "/-/ready",
                    "Alertmanager",
                ) as alertmanager,
            ):
                config = prometheus_config(
                    ROOT / "deploy" / "prometheus",
                    folder / "prometheus",
                    api.removeprefix("http://"),
                    scrape_interval="1s",
                    alert_for="0s",
                    monitor_target=monitor.removeprefix("http://"),
                    alertmanager_target=alertmanager.removeprefix("http://"),
                )
                with running_tool(
                    prometheus_bin,
                    [f"--config.file={config}", f"--storage.tsdb.path={folder / 'prom-data'}"],
                    "/-/ready",
                    "Prometheus",
                ) as prometheus:
                    deadline = time.monotonic() + 60
                    while not prometheus_ok(prometheus):
                        if time.monotonic() > deadline:
                            raise RuntimeError("Prometheus never saw the monitor without drift")
                        time.sleep(0.25)
                    timeline(session, api, monitor, prometheus, drift_rows, drift_labels, rng)
        else:
            missing = [
                name
                for name, path in (
                    ("prometheus", prometheus_bin),
                    ("prometheus-alertmanager", alertmanager_bin),
                )
                if path is None
            ]
            why = (
                f"{' and '.join(missing)} not on PATH"
                if missing
                else "the rendered Alertmanager config has no retrain receiver"
            )
            print(
                f"C) FALLBACK, not the real chain ({why}): this script posts the Alertmanager"
                " webhook JSON to the monitor itself once the monitor's gauge shows drift."
            )
            timeline(session, api, monitor, None, drift_rows, drift_labels, rng)
    print(production_waits())


def timeline(
    session: requests.Session,
    api: str,
    monitor: str,
    prometheus: str | None,
    rows: NDArray[np.float64],
    labels: NDArray[np.int64],
    rng: np.random.Generator,
) -> None:
    watcher = Watcher(api, monitor, prometheus)
    watcher.start()
    started = time.time()
    try:
        send_and_label(session, api, rows, labels, rng)
        sent = time.time()
        deadline = time.monotonic() + 120
        posted = False
        while watcher.is_alive() and time.monotonic() < deadline:
            if prometheus is None and not posted and "monitor" in watcher.seen:
                alert: dict[str, Any] = {
                    "status": "firing",
                    "labels": {"alertname": "DriftDetected", "severity": "warning"},
                    "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
                watcher.mark("posted")
                response = session.post(
                    monitor + "/alerts",
                    json={"status": "firing", "alerts": [alert]},
                    headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
                    timeout=5,
                )
                posted = True
                if response.status_code != 202:
                    print(f"the monitor answered {response.status_code}: {response.text[:200]}")
            time.sleep(0.1)
    finally:
        watcher.halt.set()
        watcher.join(5)
    run = watcher.latest
    chain = "Prometheus -> Alertmanager -> monitor" if prometheus else "this script -> monitor"
    print(
        f"\nC) drift alert to registered candidate ({chain}); 150 drift-free labelled rows"
        f" first, then {len(rows)} drifted rows (labelled as sent) at t=0; seconds from t=0:"
    )
    print("| stage | s | since the previous stage |")
    print("|---|---:|---:|")
    stages: list[tuple[str, float | None]] = [
        (f"{len(rows)} drifted rows answered and labelled", sent),
        ("monitor's mlops_drift_detected = 1", watcher.seen.get("monitor")),
    ]
    if prometheus is not None:
        stages.append(("Prometheus: DriftDetected firing", watcher.seen.get("firing")))
    else:
        stages.append(("webhook posted by this script", watcher.seen.get("posted")))
    if run is not None:
        stages += [
            ("alert at the monitor: run queued (requested_at)", run["requested_at"]),
            ("run claimed (started_at)", run["started_at"]),
            (f"run finished: {run['status']} (finished_at)", run["finished_at"]),
        ]
    previous = started
    for name, at in stages:
        if at is None:
            print(f"| {name} | never | - |")
            continue
        print(f"| {name} | {at - started:.1f} | {at - previous:.1f} |")
        previous = at
    if run is None:
        print("no retraining run was queued within 120 s")
    elif run["status"] == "registered":
        result = run.get("result") or {}
        print(f"registered {run.get('version') or result.get('version', '?')}: {run['message']}")
    else:
        print(f"the run ended {run['status']}: {run['message']}")


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3, help="traffic seeds for A and B")
    parser.add_argument("--runs", type=int, default=1000, help="simulated rollouts per row (B)")
    parser.add_argument(
        "--quick", action="store_true", help="1 seed, retrains up to 500 labels, 100 rollouts"
    )
    args = parser.parse_args()
    seeds = 1 if args.quick else args.seeds
    runs = 100 if args.quick else args.runs
    checkpoints = QUICK_CHECKPOINTS if args.quick else CHECKPOINTS
    begun = time.perf_counter()

    iris = load_iris_dataset()
    gen = ClassConditionalGaussian.fit(iris.features, iris.labels)
    workdir = Path(tempfile.mkdtemp(prefix="mlops-retrain-bench-"))
    try:
        trained = workdir / "trained"
        train_all(iris, load_catalogue(), trained)
        print(
            f"Concept drift: class {SHIFTED_CLASS} ({iris.class_names[SHIFTED_CLASS]}) columns"
            f" {[iris.feature_names[c] for c in SHIFTED_COLUMNS]} +{SHIFT_SDS:g} mixture SD,"
            f" labels unchanged; {seeds} seed(s); test sets of {TEST_ROWS:,} fresh rows per seed;"
            f" MLOPS_RETRAIN_MIN_LABELS={MIN_LABELS}\n"
        )
        shifted = [
            run_scenario(seed, True, checkpoints, gen, trained, workdir) for seed in range(seeds)
        ]
        print_accuracy_table(shifted, "A) retrained on drift-era labels (v3, v4, ... per seed):")
        free = [
            run_scenario(seed, False, (DRIFT_FREE_LABELS,), gen, trained, workdir)
            for seed in range(seeds)
        ]
        print()
        print_accuracy_table(free, "B) drift-free traffic, one retrain after 500 labels:")

        def pairs(scenarios: Sequence[Scenario]) -> list[tuple[float, float]]:
            return [
                (p.champion_accuracy, p.candidate_accuracy)
                for s in scenarios
                for p in s.checkpoints
                if p.labels == DRIFT_FREE_LABELS
            ]

        rows = [
            ("drift-free, 500 labels", pairs(free)),
            ("shifted, 500 labels", pairs(shifted)),
            # What rollout_eval calls "candidate equal", at the measured champion accuracy.
            ("hypothetical: candidate = champion", [(c, c) for c, _ in pairs(free)]),
        ]
        print_rollout_table([(name, p) for name, p in rows if p], runs)
        print()
        alert_to_candidate(gen, trained, workdir, seed=0)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n(total {time.perf_counter() - begun:.0f} s)")


if __name__ == "__main__":
    main()
