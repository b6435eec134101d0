"""examples/penguins/README.md, run as written: its bash blocks, in order, in one shell (from a
scratch folder beside the repository's .venv and examples), from `mlops train` to a promoted
rollout. Only `make install` is left out (the venv exists) and the ports are free ones."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from mlops_pipeline.cli.main import build_parser
from tests.e2e.test_rollout_e2e import FAST
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "examples" / "penguins" / "README.md"


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)


def commands(kind: str) -> list[list[str]]:
    """Each `.venv/bin/mlops <kind> ...` line of the walkthrough, continuation lines joined."""
    text = "\n".join(bash_blocks()).replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.split("#")[0].split(">")[0].strip().rstrip("&").strip()
        if line.startswith(f".venv/bin/mlops {kind}"):
            found.append(line.split()[1:])
    return found


@pytest.mark.parametrize("kind", ["train", "serve", "monitor", "models", "rollout", "db"])
def test_every_mlops_command_parses(kind: str) -> None:
    """The flags the walkthrough gives exist: each line parsed by `mlops`' own parser (an
    unknown flag or a missing value exits 2), nothing run."""
    found = commands(kind)
    assert found, f"the walkthrough runs no `mlops {kind}`"
    for args in found:
        parsed = build_parser().parse_args([arg.strip("\"'") for arg in args])
        assert parsed.command == kind, args


@pytest.mark.e2e
def test_the_walkthrough_runs_to_a_promoted_rollout(tmp_path: Path) -> None:
    for name in (".venv", "examples"):
        (tmp_path / name).symlink_to(ROOT / name)
    script = "\n".join(
        line
        for block in bash_blocks()
        for line in block.splitlines()
        if not line.startswith("make ")
    )
    env = {
        **os.environ,
        **FAST,
        "MLOPS_PORT": str(free_port()),
        "MLOPS_MONITOR_PORT": str(free_port()),
    }
    shell = f"set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n{script}"
    done = subprocess.run(
        ["bash", "-c", shell], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400
    )
    logs = "".join(f"\n--- {log.name}\n{log.read_text()[-3000:]}" for log in tmp_path.glob("*.log"))
    assert done.returncode == 0, done.stdout + done.stderr + logs
    out = done.stdout
    assert "artifacts written to artifacts-penguins" in out
    assert '"class_name":"Adelie"' in out.replace(" ", "")
    assert '"code":"wrong_type"' in out.replace(" ", "") or "missing_column" in out
    assert "imported v3 from skops" in out
    assert "rollout promoted" in out, out + logs
