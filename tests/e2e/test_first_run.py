"""A newcomer's first run: a fresh checkout, then the README's first command verbatim.

The tests of `mlops up` elsewhere pass a database path in a folder that exists; a fresh clone has
no `data/` (it is git-ignored), which is exactly what broke the first `make up` once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from mlops_pipeline.cli.checks import verified
from mlops_pipeline.config import Settings
from mlops_pipeline.storage.schema import current_revision, head_revision
from tests.support.helpers import ADMIN_TOKEN, FEEDBACK_TOKEN
from tests.support.servers import free_port, stop, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]


def readme_first_commands() -> list[str]:
    """The commands of the README's first code block (`make up`, `make test`), comments cut."""
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def fresh_checkout(destination: Path) -> Path:
    """What `git clone` gives: the tracked files (and new, not ignored ones), nothing ignored.

    Copied from the work tree rather than cloned from HEAD so uncommitted work is what is tested;
    on CI's clean clone the two are the same. Modification times are kept, so make sees the
    reused virtual environment as newer than pyproject.toml and installs nothing.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = ROOT / name
        if not source.is_file():  # deleted in the work tree, not yet committed
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return destination


def test_the_readme_opens_with_make_up_and_make_test() -> None:
    assert readme_first_commands()[:2] == ["make up", "make test"]


@pytest.mark.e2e
def test_make_up_from_a_fresh_checkout_answers_a_prediction(tmp_path: Path) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    checkout = fresh_checkout(tmp_path / "clone")
    assert not (checkout / "data").exists()
    assert not (checkout / "artifacts").exists()
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MLOPS_") and key != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        {
            # The README's command, verbatim; only the download is saved (the venv of this
            # checkout, which `make` finds up to date) and the ports are moved off the defaults.
            "VENV": str(Path(sys.prefix)),
            "PYTHONPATH": str(checkout / "src"),
            "MLOPS_PORT": str(port),
            "MLOPS_UI_PORT": str(free_port()),
            "MLOPS_PROMETHEUS_PORT": str(free_port()),
            "MLOPS_GRPC_PORT": str(free_port()),
            "MLOPS_MONITOR_PORT": str(free_port()),
            "MLOPS_ALERTMANAGER_PORT": str(free_port()),
        }
    )
    command = readme_first_commands()[0].split()
    process = subprocess.Popen(
        command,
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/ready", timeout=180, process=process)
        answer = requests.post(
            f"http://127.0.0.1:{port}/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}, timeout=5
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["class_name"] == "setosa"
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole group
        output, _ = process.communicate(timeout=60)
    finally:
        stop(process)
    text = output.decode()
    # make itself reports the interrupt; what it ran stops in order, without tracebacks.
    assert "Traceback" not in text, text
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
    assert "pip install" not in text  # the reused environment was up to date
    assert "training them first" in text
    assert (checkout / "data" / "predictions.db").exists()
    assert (checkout / "data" / "tokens.env").exists()
    assert current_revision(f"sqlite:///{checkout / 'data' / 'predictions.db'}") == head_revision()


def test_a_server_on_a_new_sqlite_path_makes_its_folder_and_schema(
    artifacts_dir: Path, tmp_path: Path
) -> None:
    db_path = tmp_path / "not" / "yet" / "there" / "log.db"
    settings = Settings(
        artifacts_dir=artifacts_dir,
        db_path=db_path,
        admin_token=ADMIN_TOKEN,
        feedback_token=FEEDBACK_TOKEN,
    )
    verified(settings)
    assert current_revision(f"sqlite:///{db_path}") == head_revision()
    verified(settings)  # idempotent: a second start changes nothing
    assert current_revision(f"sqlite:///{db_path}") == head_revision()


def test_a_loopback_stack_counts_its_one_client_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_pipeline.cli.up import local_drift_bound

    monkeypatch.delenv("MLOPS_DRIFT_MAX_CLIENT_SHARE", raising=False)
    assert local_drift_bound(Settings(host="127.0.0.1")).drift_max_client_share == 1.0
    exposed = Settings(host="0.0.0.0")
    assert local_drift_bound(exposed).drift_max_client_share == exposed.drift_max_client_share
    monkeypatch.setenv("MLOPS_DRIFT_MAX_CLIENT_SHARE", "0.05")
    assert local_drift_bound(Settings(host="127.0.0.1")).drift_max_client_share == 0.05


def test_servers_started_together_upgrade_one_new_sqlite_file_once(tmp_path: Path) -> None:
    """`mlops serve` and `mlops monitor` started at once both bring a new file up to date."""
    url = f"sqlite:///{tmp_path / 'new' / 'log.db'}"
    code = f"from mlops_pipeline.storage.schema import upgrade; upgrade({url!r})"
    starts = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(4)]
    assert [start.wait(60) for start in starts] == [0, 0, 0, 0]
    assert current_revision(url) == head_revision()
