"""Live statistics of a running emulated machine, read from the counter board.

The supervisor takes a snapshot a few times a second (`StatsProbe.snapshot`) without
sending a message: every figure is already on the counter board (emu/counters.py) or, for
the epoch, in the ck_epoch block the CPUs share.  The snapshot goes to the stats socket
(emu/statsock.py, read by `emu top`) and to the live view (emu/report/live.py).

A snapshot is a JSON-able dict (version SNAPSHOT_VERSION):

    state        running | done | failed | interrupted
    run          what runs: testcase, tasks, machine, strategies, seed, clock, period ...
    host_s       host seconds since the CPUs were started
    emulated_s   emulated seconds every CPU has reached (the slowest CPU's clock)
    progress     emulated_s over the run's emulated length (null for -s 0)
    samples      {"done", "total"} (total null for -s 0)
    ops_per_s    operations per emulated second, all tasks
    cpus         per task: cpu, iterations, emulated_s, ops_per_s, ipis_sent,
                 ipis_received, shootdowns
    locks        per lock: acquisitions, contentions, spin/block/hold ns, acq_per_s,
                 cont_per_s, spin_pct (share of the tasks' CPU time spent spinning on it)
    ipis, shootdowns   totals and per emulated second
    epoch        null, or the global epoch and its ticks (a grace period takes two)
    host         shared events and shared events per host second

Rates are over the last RATE_WINDOW_S host seconds (top's delta mode), in operations per
*emulated* second, like will-it-scale's stream.  Lock counters reach the board a few times
a second (the actor's publish()), so lock rates are the smoothest over that window.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass

from emu.counters import (
    H_EVENTS,
    LOCK_FIELDS,
    T_IPI_RECEIVED,
    T_IPI_SENT,
    T_ITERATIONS,
    T_SHOOTDOWNS,
    T_VTIME,
    CounterBoard,
)
from emu.report.lock_records import cycles_to_ns

SNAPSHOT_VERSION = 1
RATE_WINDOW_S = 1.0
_SPIN, _BLOCK, _HOLD = (LOCK_FIELDS.index(f) for f in ("spin_cycles", "block_cycles",
                                                       "hold_cycles"))
_ACQ, _CONT = LOCK_FIELDS.index("acquisitions"), LOCK_FIELDS.index("contentions")


@dataclass
class Reading:
    """The raw counters at one host moment."""

    host: float
    vtime: list[int]            # per task, emulated cycles (ns under the wall clock)
    iterations: list[int]
    ipis_sent: list[int]
    ipis_received: list[int]
    shootdowns: list[int]
    locks: list[list[int]]      # per lock, LOCK_FIELDS
    events: int
    epoch: int | None


def run_header(spec) -> dict:
    """What runs, as the snapshot's `run` carries it."""
    m = spec.machine
    return {"testcase": spec.testcase.name, "description": spec.testcase.description,
            "tasks": spec.tasks, "cpus": list(spec.cpus), "machine": m.name,
            "costs_set": dict(m.changed), "ncpus": m.ncpus, "freq_hz": m.freq_hz,
            "clock": spec.clock, "seed": spec.seed,
            "strategies": dict(spec.strategies), "period_s": spec.period_s,
            "warmup": spec.warmup, "samples": spec.samples, "pid": os.getpid()}


class StatsProbe:
    """Reads the board of one run and turns readings into snapshots."""

    def __init__(self, spec, board: CounterBoard, epoch=None) -> None:
        self.spec = spec
        self.board = board
        self.epoch = epoch          # emu.epoch.Epoch when the DI strategy uses one
        self.header = run_header(spec)
        self.t0 = time.monotonic()
        # Cycles -> seconds: the wall clock's CPUs keep host ns in T_VTIME.
        self.scale = 1e-9 if spec.clock == "wall" else 1.0 / spec.machine.freq_hz
        n = spec.tasks
        start = Reading(self.t0, [0] * n, [0] * n, [0] * n, [0] * n, [0] * n,
                        [[0] * len(LOCK_FIELDS)] * board.nlocks, 0,
                        None if epoch is None else 1)  # ck_epoch starts at 1
        self.history: deque[Reading] = deque([start])

    def read(self) -> Reading:
        b, n = self.board, self.spec.tasks

        def col(field: int) -> list[int]:
            return [b.task(t, field) for t in range(n)]

        epoch = self.epoch.ck.epoch if self.epoch is not None else None
        return Reading(time.monotonic(), col(T_VTIME), col(T_ITERATIONS), col(T_IPI_SENT),
                       col(T_IPI_RECEIVED), col(T_SHOOTDOWNS),
                       [list(b.lock_stats(i).values()) for i in range(b.nlocks)],
                       b.get(H_EVENTS), epoch)

    def _base(self, now: Reading) -> Reading:
        """The oldest reading within the rate window (at first, the start: all zero)."""
        hist = self.history
        while len(hist) > 1 and now.host - hist[1].host >= RATE_WINDOW_S:
            hist.popleft()
        return hist[0]

    def snapshot(self, state: str = "running", samples_done: int = 0) -> dict:
        now = self.read()
        base = self._base(now)
        self.history.append(now)
        return build_snapshot(self.spec, self.header, now, base, now.host - self.t0, state,
                              samples_done, self.scale)


def _rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def build_snapshot(spec, header: dict, now: Reading, base: Reading, host_s: float,
                   state: str, samples_done: int, scale: float) -> dict:
    """The snapshot of reading `now`, with rates against the earlier reading `base`."""
    n = spec.tasks
    cpus, total = [], 0.0
    for t in range(n):
        dv = (now.vtime[t] - base.vtime[t]) * scale
        ops = _rate(now.iterations[t] - base.iterations[t], dv)
        total += ops
        cpus.append({"task": t, "cpu": spec.cpus[t], "iterations": now.iterations[t],
                     "emulated_s": now.vtime[t] * scale, "ops_per_s": round(ops),
                     "ipis_sent": now.ipis_sent[t], "ipis_received": now.ipis_received[t],
                     "shootdowns": now.shootdowns[t]})
    # Machine-wide rates over the CPUs' mean emulated advance in the window.
    dt = sum(now.vtime[t] - base.vtime[t] for t in range(n)) * scale / n
    cpu_cycles = dt * spec.machine.freq_hz * n  # the tasks' CPU time in the window
    freq = spec.machine.freq_hz
    locks = []
    for name, cur, old in zip(spec.kernel.locks.names, now.locks, base.locks, strict=True):
        locks.append({
            "name": name, "acquisitions": cur[_ACQ], "contentions": cur[_CONT],
            "spin_ns": cycles_to_ns(cur[_SPIN], freq), "block_ns": cycles_to_ns(cur[_BLOCK], freq),
            "hold_ns": cycles_to_ns(cur[_HOLD], freq),
            "acq_per_s": round(_rate(cur[_ACQ] - old[_ACQ], dt)),
            "cont_per_s": round(_rate(cur[_CONT] - old[_CONT], dt)),
            "spin_pct": round(100.0 * _rate(cur[_SPIN] - old[_SPIN], cpu_cycles), 2),
        })
    emulated_s = min(now.vtime) * scale if n else 0.0
    boundaries = spec.boundaries
    length = boundaries * spec.period_s if boundaries else None
    epoch = None
    if now.epoch is not None:
        epoch = {"global": now.epoch, "ticks": now.epoch - 1,
                 "ticks_per_s": round(_rate(now.epoch - (base.epoch or 1), dt))}
    sent, got, shot = sum(now.ipis_sent), sum(now.ipis_received), sum(now.shootdowns)
    return {
        "version": SNAPSHOT_VERSION, "state": state, "run": header,
        "host_s": round(host_s, 3), "emulated_s": emulated_s,
        "progress": min(1.0, emulated_s / length) if length else None,
        "samples": {"done": samples_done, "total": boundaries},
        "ops_per_s": round(total), "cpus": cpus, "locks": locks,
        "ipis": {"sent": sent, "received": got,
                 "per_s": round(_rate(sent - sum(base.ipis_sent), dt))},
        "shootdowns": {"total": shot, "per_s": round(_rate(shot - sum(base.shootdowns), dt))},
        "epoch": epoch,
        "host": {"shared_events": now.events,
                 "events_per_s": round(_rate(now.events - base.events,
                                             now.host - base.host))},
    }
