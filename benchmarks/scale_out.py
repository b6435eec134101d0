"""Throughput per replica count on PostgreSQL against one replica on SQLite, in one run.

Each replica is one `mlops serve --workers 1` in its own network namespace
(tests/support/cluster.py), with its `mlops monitor`, behind haproxy; wrk sends single-row POST
/predict through haproxy. The SQLite line is one replica of the same kind on loopback behind the
same haproxy. PostgreSQL runs once per configuration (CONFIGURATIONS: the non-durable one this
release replaced, the durable default) and replica count, the configurations alternating. Prints
numbers; asserts nothing. Everything shares this machine's cores, so more replicas add
coordination, not CPU: read the ratios, not the absolute numbers. Needs root, iproute2, postgresql,
haproxy, wrk.

Run: .venv/bin/python -m benchmarks.scale_out [--duration 10] [--connections 16]
     [--replicas 1,2,3] [--configurations before,durable-1,off-8,durable-4,durable] [--no-sqlite]
     [--today REF]

--today REF adds the configuration "today": the code of git revision REF (checked out into a
temporary worktree, run from its src/ with this venv) with its own defaults and
synchronous_commit=off, the figure a release is measured against in the same run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
from tests.support.cluster import (  # noqa: E402
    MONITOR_INTERVAL,
    Cluster,
    kill_group,
    running_cluster,
    skip_reason,
)
from tests.support.servers import free_port, running_api, wait_until_ready  # noqa: E402

from benchmarks.revisions import checkout, revision_env  # noqa: E402
from mlops_pipeline.config import load_catalogue  # noqa: E402
from mlops_pipeline.training.data import load_iris_dataset  # noqa: E402
from mlops_pipeline.training.trainer import train_all  # noqa: E402


def wrk(url: str, duration: int, connections: int) -> tuple[float, float, int]:
    output = subprocess.run(
        [
            "wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency",
            "-s", str(HERE / "post_predict.lua"), url + "/predict",
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99_match = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    assert p99_match is not None
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99_match.group(2)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return rate, float(p99_match.group(1)) * scale, int(non_2xx.group(1)) if non_2xx else 0


def sqlite_line(artifacts: Path, work: Path, duration: int, connections: int) -> str:
    env = {"MLOPS_ACCESS_LOG": "false"}
    with running_api(artifacts, work / "sqlite.db", workers=1, extra_env=env) as api:
        port = free_port()
        config = work / "haproxy-sqlite.cfg"
        config.write_text(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n"
            "    timeout server 10s\nfrontend api\n"
            f"    bind 127.0.0.1:{port}\n    default_backend one\nbackend one\n"
            f"    server api {api.removeprefix('http://')} check\n"
        )
        proxy = subprocess.Popen(["haproxy", "-db", "-f", str(config)])
        try:
            wait_until_ready(f"http://127.0.0.1:{port}/ready")
            wrk(f"http://127.0.0.1:{port}", 2, connections)  # warm up
            rate, p99, bad = wrk(f"http://127.0.0.1:{port}", duration, connections)
        finally:
            proxy.terminate()
            proxy.wait()
    return f"  SQLite,     1 replica : {rate:7.0f} req/s   p99 {p99:6.2f} ms   non-2xx {bad}"


ROW = [5.1, 3.5, 1.4, 0.2]


def failovers(cluster: Cluster) -> str:
    """SIGKILL one replica under load through haproxy, then the leading monitor."""
    answered, failed = [], 0
    stop_at = time.monotonic() + 8

    def load() -> tuple[list[str], int]:
        ids, errors = [], 0
        with requests.Session() as http:
            while time.monotonic() < stop_at:
                try:
                    response = http.post(
                        cluster.proxy + "/predict",
                        json={"features": [5.1, 3.5, 1.4, 0.2]},
                        timeout=10,
                    )
                except requests.RequestException:
                    errors += 1
                    continue
                if response.status_code == 200:
                    ids.append(response.json()["request_id"])
                else:
                    errors += 1
        return ids, errors

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(load) for _ in range(8)]
        time.sleep(3)
        kill_group(cluster.replicas[cluster.hosts[-1].name])
        for future in futures:
            ids, errors = future.result()
            answered += ids
            failed += errors
    logged = cluster.rows(answered)
    missing = sum(1 for request_id in answered if logged.get(request_id) != 1)
    leader = next(
        host
        for host in cluster.hosts
        if requests.get(cluster.monitor_url(host) + "/health", timeout=5).json()["leader"]
    )
    kill_group(cluster.monitors[leader.name])
    killed = time.monotonic()
    while not any(
        requests.get(cluster.monitor_url(host) + "/health", timeout=5).json()["leader"]
        for host in cluster.hosts
        if host != leader
    ):
        time.sleep(0.05)
    takeover = time.monotonic() - killed
    total = len(answered) + failed
    return (
        f"failover, 3 replicas, 8 connections: SIGKILL of one replica under load: {failed} of"
        f" {total} requests failed ({100 * failed / total:.2f}%),"
        f" answered but not logged: {missing};"
        f" SIGKILL of the leading monitor: a standby led after {takeover:.2f} s"
        f" (monitor interval {MONITOR_INTERVAL:g} s)"
    )


# Each PostgreSQL configuration measured per replica count; "before" is the one this release
# replaced (commits answered from the server's memory, one thread per worker).
CONFIGURATIONS = {
    "before": (
        "synchronous_commit=off, 1 thread per worker (before)",
        {"MLOPS_DB_DURABLE_COMMIT": "false", "MLOPS_THREADS": "1"},
    ),
    "durable-1": (
        "durable commits, 1 thread per worker (nothing to group)",
        {"MLOPS_DB_DURABLE_COMMIT": "true", "MLOPS_THREADS": "1"},
    ),
    "off-8": (
        "synchronous_commit=off, 8 threads per worker",
        {"MLOPS_DB_DURABLE_COMMIT": "false", "MLOPS_THREADS": "8"},
    ),
    "durable-4": (
        "durable commits, group commit, 4 threads per worker",
        {"MLOPS_DB_DURABLE_COMMIT": "true", "MLOPS_THREADS": "4"},
    ),
    "durable": (
        "durable commits, group commit, 8 threads per worker (default)",
        {"MLOPS_DB_DURABLE_COMMIT": "true"},
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--replicas", default="1,2,3", help="replica counts, e.g. 2")
    parser.add_argument(
        "--configurations", default="before,durable", help=f"of {','.join(CONFIGURATIONS)}"
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite line")
    parser.add_argument("--today", metavar="REF", help="git revision measured as 'today'")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.today:
            CONFIGURATIONS["today"] = (
                f"synchronous_commit=off, the code of {args.today} (today)",
                {
                    "MLOPS_DB_DURABLE_COMMIT": "false",
                    **revision_env(stack.enter_context(checkout(args.today))),
                },
            )
        run(args)


def run(args: argparse.Namespace) -> None:
    counts = [int(count) for count in args.replicas.split(",")]
    names = args.configurations.split(",")
    reason = skip_reason()
    if reason is not None:
        sys.exit(f"cannot run: {reason}")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        artifacts = work / "artifacts"
        train_all(load_iris_dataset(), load_catalogue(), artifacts)
        print(
            f"wrk -t2 -c{args.connections} -d{args.duration}s, single-row POST /predict through"
            " haproxy; one worker per replica; every answer committed to the log:"
        )
        if not args.no_sqlite:
            print(sqlite_line(artifacts, work, args.duration, args.connections))
        rates: dict[tuple[str, int], float] = {}
        # A name given twice is measured twice (A B A B ...); each line pairs with the first
        # configuration's run just before it.
        lines: dict[str, list[str]] = {name: [] for name in names}
        failover = None
        # Configurations alternate within each replica count, so a change in this shared
        # machine's load between them shows in both, not as a difference between them.
        for count in counts:
            for name in names:
                env = CONFIGURATIONS[name][1]
                with running_cluster(artifacts, count, extra_env=env) as cluster:
                    wrk(cluster.proxy, 2, args.connections)  # warm up
                    rate, p99, bad = wrk(cluster.proxy, args.duration, args.connections)
                    if count == 3 and name == names[-1]:
                        failover = failovers(cluster)
                rates[name, count] = rate
                base = rates.get((name, counts[0]), rate)
                line = (
                    f"  {count} replica{'s' if count > 1 else ' '}: {rate:7.0f} req/s"
                    f"   p99 {p99:6.2f} ms   non-2xx {bad}"
                    f"   ({rate / base:.2f}x {counts[0]} replica{'s' if counts[0] > 1 else ''}"
                )
                if name != names[0]:
                    line += f"; {rate / rates[names[0], count]:.2f}x {names[0]}"
                lines[name].append(line + ")")
        for name in lines:
            print(f"PostgreSQL, {CONFIGURATIONS[name][0]}:")
            print("\n".join(lines[name]))
        if failover is not None:
            print(failover)


if __name__ == "__main__":
    main()
