from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from mlops_pipeline.cli import main
from mlops_pipeline.training.data import Dataset
from tests.support.servers import free_port, stop, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]


def test_train_on_a_users_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "flowers.csv"
    lines = ["width,height,kind"] + [
        f"{1 + n % 5},{2 + (n % 7) * (1 if n % 2 else 3)},{'tall' if n % 2 else 'short'}"
        for n in range(60)
    ]
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "artifacts"
    assert main(["train", "--data", str(csv), "--target", "kind", "--out", str(out)]) == 0
    stats = json.loads((out / "training_stats.json").read_text())
    assert stats["feature_names"] == ["width", "height"]
    assert stats["class_names"] == ["short", "tall"]
    printed = capsys.readouterr().out
    assert "trained on csv:flowers.csv: 60 rows, 2 features" in printed
    assert "v1" in printed
    assert "v2" in printed


def test_train_data_needs_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--data", str(tmp_path / "x.csv")]) == 2
    assert "--data and --target go together" in capsys.readouterr().err


def test_train_reports_bad_csv_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("a,label\n" + "x,1\n" * 12)
    assert (
        main(["train", "--data", str(csv), "--target", "label", "--out", str(tmp_path / "o")]) == 2
    )
    err = capsys.readouterr().err
    assert "'x' is not a number" in err
    assert "Traceback" not in err


def test_serve_refuses_missing_artifacts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--artifacts", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "refusing to start: artifact missing" in err
    assert "run `mlops train` first" in err


def test_serve_refuses_tampered_artifacts_naming_the_file(
    artifacts_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "artifacts"
    shutil.copytree(artifacts_dir, copy)
    with (copy / "v2" / "model.skops").open("ab") as handle:
        handle.write(b"tampered")
    assert main(["serve", "--artifacts", str(copy)]) == 2
    assert "hash mismatch" in capsys.readouterr().err


@pytest.mark.e2e
def test_up_trains_when_needed_serves_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port, prometheus_port, ui_port = free_port(), free_port(), free_port()
    alertmanager_port = free_port()
    env = {
        **os.environ,
        "MLOPS_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "MLOPS_DB_PATH": str(tmp_path / "log.db"),
        "MLOPS_PORT": str(port),
        "MLOPS_PROMETHEUS_PORT": str(prometheus_port),
        "MLOPS_PROMETHEUS_CONFIG_DIR": str(ROOT / "deploy" / "prometheus"),
        "MLOPS_UI_PORT": str(ui_port),
        "MLOPS_GRPC_PORT": str(free_port()),
        "MLOPS_ALERTMANAGER_PORT": str(alertmanager_port),
    }
    for name in ("MLOPS_ADMIN_TOKEN", "MLOPS_FEEDBACK_TOKEN"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_pipeline.cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/ready", timeout=60)
        response = requests.post(
            f"http://127.0.0.1:{port}/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}, timeout=5
        )
        assert response.json()["class_name"] == "setosa"
        token_file = tmp_path / "tokens.env"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        tokens = dict(
            line.split("=", 1) for line in token_file.read_text().splitlines() if "=" in line
        )
        assert all(
            len(tokens[name]) >= 16 for name in ("MLOPS_ADMIN_TOKEN", "MLOPS_FEEDBACK_TOKEN")
        )
        label = {"request_id": response.json()["request_id"], "true_label": "setosa"}
        feedback_token = tokens["MLOPS_FEEDBACK_TOKEN"]
        labelled = requests.post(
            f"http://127.0.0.1:{port}/feedback",
            json=label,
            headers={"Authorization": f"Bearer {feedback_token}"},
            timeout=5,
        )
        assert labelled.status_code == 200
        if shutil.which("prometheus"):
            wait_until_ready(f"http://127.0.0.1:{prometheus_port}/-/ready", timeout=30)
        if shutil.which("prometheus-alertmanager"):  # started, and Prometheus sends to it
            wait_until_ready(f"http://127.0.0.1:{alertmanager_port}/-/ready", timeout=30)
        api_url = f"http://127.0.0.1:{port}"
        prometheus_url = f"http://127.0.0.1:{prometheus_port}" if shutil.which("prometheus") else ""
        health = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "healthcheck"),
                "--api",
                api_url,
                "--ui",
                f"http://127.0.0.1:{ui_port}",
                "--prometheus",
                prometheus_url,
                "--timeout",
                "90",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert health.returncode == 0, health.stdout + health.stderr
        assert "ready: ui" in health.stdout
        smoke = subprocess.run(
            [sys.executable, "-m", "mlops_pipeline.cli", "smoke", "--url", api_url],
            capture_output=True,
            text=True,
            check=False,
        )
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert "ok   every weighted version answers" in smoke.stdout
        assert smoke.stdout.strip().endswith("0 failed")
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        stop(process)
    text = output.decode()
    assert process.returncode == 0, text
    assert "training them first" in text
    assert f"Tokens      {tmp_path / 'tokens.env'}" in text
    assert tokens["MLOPS_ADMIN_TOKEN"] not in text
    assert tokens["MLOPS_FEEDBACK_TOKEN"] not in text
    assert f"API         http://127.0.0.1:{port}" in text
    assert (tmp_path / "artifacts" / "manifest.json").exists()
    if shutil.which("prometheus"):
        assert f"Prometheus  http://127.0.0.1:{prometheus_port}" in text
    assert f"UI          http://127.0.0.1:{ui_port}" in text
    for stopped in (port, prometheus_port, ui_port):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{stopped}/", timeout=2)


def test_drift_command_prints_a_table(
    artifacts_dir: Path, iris: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "batch.csv"
    rows = ["Sepal Length (cm),sepal_width,petal_length,petal_width,species"]
    rows += [",".join(f"{v:.1f}" for v in row) + ",x" for row in iris.features[::2]]
    rows += ["oops,1,1,1,x", "nan,1,1,1,x"]
    csv.write_text("\n".join(rows) + "\n")
    assert main(["drift", "--data", str(csv), "--artifacts", str(artifacts_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("status ")
    assert "rows 75" in out
    assert "petal_length" in out
    assert "bad values: 2 rejected rows" in out


def test_drift_command_json_flags_millimetres(
    artifacts_dir: Path, iris: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "mm.csv"
    lines = ["sepal_length,sepal_width,petal_length,petal_width"]
    lines += [f"{a * 10:.0f},{b},{c},{d}" for a, b, c, d in iris.features[:100]]
    csv.write_text("\n".join(lines) + "\n")
    assert main(["drift", "--data", str(csv), "--artifacts", str(artifacts_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "drift"
    assert report["features"]["sepal_length"]["out_of_range"] == 100


def test_drift_command_names_missing_columns(
    artifacts_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("sepal_length,sepal_width\n1,2\n")
    assert main(["drift", "--data", str(csv), "--artifacts", str(artifacts_dir)]) == 2
    assert "missing feature columns ['petal_length', 'petal_width']" in capsys.readouterr().err


def test_smoke_fails_against_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["smoke", "--url", f"http://127.0.0.1:{free_port()}"]) == 1
    out = capsys.readouterr().out
    assert "FAIL API reachable and answering JSON" in out
    assert out.strip().endswith("1 failed")


def test_healthcheck_times_out_naming_the_service() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "healthcheck"),
            "--api",
            f"http://127.0.0.1:{free_port()}",
            "--ui",
            "",
            "--prometheus",
            "",
            "--timeout",
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "NOT READY after 1s: api" in result.stderr


@pytest.mark.parametrize("command", ["serve", "up"])
@pytest.mark.parametrize("variable", ["MLOPS_ADMIN_TOKEN", "MLOPS_FEEDBACK_TOKEN"])
def test_servers_refuse_short_tokens(
    artifacts_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, "short-token")
    args = [command, "--artifacts", str(artifacts_dir), "--db", str(tmp_path / "log.db")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"refusing to start: {variable} has 11 characters; at least 16" in err
    assert "short-token" not in err
    assert not (tmp_path / "log.db").exists()


def test_the_metrics_folder_is_emptied_in_place(tmp_path: Path) -> None:
    from mlops_pipeline.cli.launcher import fresh_metrics_dir
    from mlops_pipeline.config import Settings

    folder = tmp_path / "metrics"
    (folder / "old").mkdir(parents=True)
    (folder / "counter_123.db").write_bytes(b"stale")
    inode = folder.stat().st_ino
    assert fresh_metrics_dir(Settings(metrics_dir=folder)) == folder
    assert list(folder.iterdir()) == []
    assert folder.stat().st_ino == inode  # the same folder: a mount point survives
