"""A git revision's code beside this checkout's, for "before/after, measured in one run".

`checkout(ref)` makes a detached worktree of ``ref`` in a temporary folder; a server started
with ``PYTHONPATH=<tree>/src`` (this venv, this interpreter) then runs that revision's package
ahead of the editable install, so one benchmark run can measure both under the same load.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """A detached checkout of ``ref`` (its root folder), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mlops-revision-") as parent:
        folder = Path(parent) / "tree"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(folder), ref],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            yield folder
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)],
                check=False, capture_output=True,
            )  # fmt: skip


def revision_env(tree: Path) -> dict[str, str]:
    """Environment entries that make a child process import ``tree``'s package."""
    return {"PYTHONPATH": str(tree / "src")}
