"""The stats side channel: a run publishes snapshots (emu/stats.py) on a ZeroMQ PUB socket.

    endpoint   ipc://<rundir>/stats.sock, in the run's private 0700 directory
    message    two frames: TOPIC, then the snapshot as UTF-8 JSON
    run.json   beside the socket: pid, endpoint and what runs, for discovery

PUB is right for this side channel (and only here: docs/design.md "Time" keeps it off the data
path): a slow or absent reader never holds up the run, and a reader that joins late simply gets
the next snapshot.  The publisher lives in the supervisor and is created after the children
are forked (no ZeroMQ context may exist at fork time).

`find_runs` is how `emu top` finds runs by itself: `emu-*/stats.sock` under the run-directory
root (emu/machine/rundir.py: $EMU_RUNDIR, else $TMPDIR) in directories owned by this user,
private to them, whose supervisor is alive.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import zmq

from emu.hw.machine import machine_label
from emu.machine import rundir

TOPIC = b"emu.stats.1"
SOCKET_NAME = "stats.sock"
RUN_FILE = "run.json"
LINGER_MS = 200  # the final snapshot may still reach a reader after the run ends


def endpoint_of(rundir: str) -> str:
    return f"ipc://{rundir}/{SOCKET_NAME}"


class StatsPublisher:
    """The PUB end, in the supervisor: publish() never blocks."""

    def __init__(self, rundir: str, header: dict) -> None:
        self.endpoint = endpoint_of(rundir)
        self.ctx = zmq.Context(io_threads=1)
        self.sock = self.ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, LINGER_MS)
        self.sock.setsockopt(zmq.SNDHWM, 16)
        try:
            self.sock.bind(self.endpoint)
            info = {**header, "endpoint": self.endpoint, "started": time.time()}
            Path(rundir, RUN_FILE).write_text(json.dumps(info))
        except BaseException:
            self.close()
            raise

    def publish(self, snapshot: dict) -> None:
        data = json.dumps(snapshot, separators=(",", ":")).encode()
        try:
            self.sock.send_multipart([TOPIC, data], zmq.NOBLOCK)
        except zmq.Again:  # no room for a slow reader: it gets a later snapshot
            pass

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


# ---------------------------------------------------------------- discovery


@dataclass(frozen=True)
class RunInfo:
    endpoint: str
    rundir: str
    pid: int
    what: str  # one line: testcase, tasks, machine, strategies


def _describe(info: dict) -> str:
    strategies = " ".join(f"{k}={v}" for k, v in (info.get("strategies") or {}).items())
    machine = machine_label(info.get("machine", "?"), info.get("costs_set") or {})
    return (f"{info.get('testcase', '?')} -t {info.get('tasks', '?')} on "
            f"{machine} {strategies} seed {info.get('seed', '?')}").strip()


def find_runs(base: str | None = None) -> list[RunInfo]:
    """Runs in progress under the run-directory root (emu/machine/rundir.py) that this user can
    attach to, oldest first.  A directory whose supervisor is gone is never one of them."""
    runs = []
    for d in rundir.candidates(Path(base) if base else None):
        pid = rundir.supervisor(d)
        if pid is None or not (d / SOCKET_NAME).exists():
            continue
        try:
            info = json.loads((d / RUN_FILE).read_text())
        except (OSError, ValueError):
            continue
        if info.get("pid") != pid:
            continue
        runs.append((info.get("started", 0), RunInfo(endpoint_of(str(d)), str(d), pid,
                                                      _describe(info))))
    return [r for _, r in sorted(runs, key=lambda x: x[0])]


def normalise_endpoint(where: str) -> str:
    """An endpoint (ipc://, tcp://), a run directory, or the socket file itself."""
    if "://" in where:
        return where
    path = Path(where)
    if path.is_dir():
        path = path / SOCKET_NAME
    return f"ipc://{path.resolve()}"


# ---------------------------------------------------------------- subscriber


class StatsTimeout(Exception):
    """No snapshot came in time."""


def snapshots(endpoint: str, timeout_s: float) -> Iterator[dict]:
    """Snapshots as they arrive; StatsTimeout when none comes for `timeout_s`."""
    ctx = zmq.Context(io_threads=1)
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, TOPIC)
    try:
        sock.connect(endpoint)
        while True:
            if not sock.poll(int(timeout_s * 1000)):
                raise StatsTimeout(f"no snapshot from {endpoint} in {timeout_s:g} s")
            frames = sock.recv_multipart()
            try:
                snap = json.loads(frames[-1])
            except ValueError:
                continue
            if isinstance(snap, dict):
                yield snap
    finally:
        sock.close(0)
        ctx.term()
