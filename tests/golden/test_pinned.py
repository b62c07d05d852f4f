"""Today's results, pinned exactly: a restructuring of the emulator must leave every one of
them bit-identical (the runs' streams, per-task counts, lock and line statistics, profiles,
and the checker's verdicts with their traces).  tests/golden/pins.py lists the runs."""

from __future__ import annotations

import json

import pytest

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
