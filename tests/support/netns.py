"""Test hosts as Linux network namespaces: each has its own address, joined to this machine by a
veth pair whose root end is the host's gateway (where PostgreSQL, haproxy and Prometheus listen).

Only addresses assigned here, inside namespaces made here, ever carry traffic; a namespace has no
default route, so nothing in it can reach any other network. Everything is deleted afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

SUBNET = "10.213"
_SERIAL = itertools.count()  # 10.213.<host>.0/24: .1 the gateway (this machine), .2 the host


@dataclass(frozen=True)
class Host:
    name: str  # the namespace
    address: str
    gateway: str

    def command(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def popen(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, **kwargs: object
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command(argv), env=dict(env or os.environ), **kwargs)  # type: ignore[call-overload, no-any-return]


def unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "`ip` not installed (Debian package iproute2)"
    probe = f"mlops-probe-{os.getpid()}"
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False)
    if result.returncode != 0:
        return f"cannot create network namespaces: {result.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False)
    return None


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


@contextlib.contextmanager
def namespace_hosts(count: int, first: int = 1) -> Iterator[list[Host]]:
    """``count`` hosts; host k is 10.213.k.2 with gateway 10.213.k.1."""
    # Unique per call: a deleted namespace's veth pair can outlive it by a moment.
    tag = f"{os.getpid() % 10_000}{next(_SERIAL)}"
    hosts: list[Host] = []
    try:
        for index in range(first, first + count):
            name = f"mlops{tag}h{index}"
            outside, inside = f"mo{tag}h{index}"[:15], f"mi{tag}h{index}"[:15]
            gateway, address = f"{SUBNET}.{index}.1", f"{SUBNET}.{index}.2"
            _ip("netns", "add", name)
            hosts.append(Host(name, address, gateway))
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", name)
            _ip("addr", "add", f"{gateway}/24", "dev", outside)
            _ip("link", "set", outside, "up")
            _ip("netns", "exec", name, "ip", "addr", "add", f"{address}/24", "dev", inside)
            _ip("netns", "exec", name, "ip", "link", "set", inside, "up")
            _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield hosts
    finally:
        for host in hosts:
            # Deleting the namespace deletes its veth end, and with it the pair.
            subprocess.run(["ip", "netns", "del", host.name], check=False, capture_output=True)
