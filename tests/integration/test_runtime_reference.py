"""The emulator (processes, sockets, batches, lookahead) against a one-process reference
discrete-event simulation of the same cost model: per-task counts must be identical."""

from __future__ import annotations

import json
import re

import pytest

from emu.clock.reference import simulate
from emu.hw.machine import load_machine
from emu.machine.spec import RunSpec
from emu.testcases import resolve
from tests.conftest import emu


@pytest.mark.parametrize("testcase, tasks, extra", [
    ("mmap1_processes", 5, []),
    ("mmap1_threads", 4, []),          # every mmap and munmap fights for one map lock
    ("mmap1_processes", 6, ["-m"]),    # SMT siblings: other transfer costs
    # The fault path: reservations, vmd_free_count, the page-queue batches, PV chunks and
    # each socket's memory controllers (MEMCTL); the copy-on-write path; the break.
    ("page_fault1_processes", 3, []),
    ("page_fault2_processes", 2, []),
    ("brk1_processes", 3, []),
])
def test_emulator_matches_reference(tmp_path, testcase, tasks, extra):
    period, warmup, samples, seed = "1ms", 1, 2, 11
    path = tmp_path / "run.json"
    r = emu("run", testcase, "-t", str(tasks), "-s", str(samples), "--warmup", str(warmup),
            "--period", period, "--seed", str(seed), "-v", *extra, "--json", str(path))
    assert r.returncode == 0, r.stderr
    doc = json.loads(path.read_text())

    spec = RunSpec(testcase=resolve(testcase), tasks=tasks, machine=load_machine(),
                   seed=seed, period_s=0.001, warmup=warmup, samples=samples,
                   smt="-m" in extra)
    counts = simulate(spec)
    expected_per_task = [c[warmup + samples] - c[warmup] for c in counts]
    assert doc["per_task"] == expected_per_task
    assert doc["cpus"] == spec.cpus

    # And sample by sample, task by task (the -v lines, in ops per emulated second).
    per_sample = [[c[k] - c[k - 1] for c in counts] for k in range(1, warmup + samples + 1)]
    printed = [int(m.group(1)) for m in re.finditer(r"-> (\d+)", r.stdout)]
    assert printed == [round(d / 0.001) for row in per_sample for d in row]


def test_reference_sees_contention():
    """Sanity of the oracle itself: more tasks on one lock do not scale linearly."""
    def total(tasks: int) -> int:
        spec = RunSpec(testcase=resolve("mmap1_threads"), tasks=tasks, machine=load_machine(),
                       period_s=0.0005, warmup=0, samples=1)
        return sum(c[-1] for c in simulate(spec))

    one, eight = total(1), total(8)
    assert eight < 8 * one
