"""Today's results, pinned exactly: a restructuring of the emulator must leave every one of
them bit-identical (the runs' streams, per-task counts, lock and line statistics, profiles,
and the checker's verdicts with their traces).  tests/golden/pins.py lists the runs."""

from __future__ import annotations

import json
import os

import pytest

from emu.compiled import PURE_ENV
from tests.golden.pins import CHECKS, PINNED, RUNS, check_result, run_result

pytestmark = pytest.mark.slow

PINS = json.loads(PINNED.read_text())


@pytest.mark.parametrize("name", sorted(RUNS))
def test_run_is_as_pinned(name):
    got = run_result(RUNS[name])
    want = PINS[name]
    assert got["returncode"] == want["returncode"] == 0, got["stdout"]
    for key in sorted(want):
        assert got.get(key) == want[key], f"{name}: {key} moved"


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_verdict_is_as_pinned(name):
    got = check_result(CHECKS[name])
    want = PINS[name]
    for key in sorted(want):
        assert got.get(key) == want[key], f"{name}: {key} moved"


# The model's Python source (EMU_PURE=1) against the same pins: the compiled modules
# (emu/compiled.py) and the text they are compiled from give the same machine.  Runs that
# work every compiled path: many contended locks and lines, SMT, IPIs, the checker.
PURE_RUNS = ("mmap1-stock-96", "mmap1-poc-smt-12", "tlb_flush2-threads-8")


@pytest.mark.parametrize("name", PURE_RUNS)
def test_python_source_gives_the_pins(name):
    got = run_result(RUNS[name], env={**os.environ, PURE_ENV: "1"})
    want = PINS[name]
    for key in sorted(want):
        assert got.get(key) == want[key], f"{name} (Python source): {key} moved"


def test_python_source_gives_the_checkers_verdict():
    got = check_result(CHECKS["check-mutex"], env={**os.environ, PURE_ENV: "1"})
    assert got == PINS["check-mutex"]
