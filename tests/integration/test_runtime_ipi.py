"""Interrupts as real messages: delivered at a virtual time, handled by the target CPU
process, acknowledged, and the initiator waits for the ACK."""

from __future__ import annotations

import json
from pathlib import Path

from emu.hw.machine import load_machine
from tests.conftest import emu

RING = str(Path(__file__).parent.parent / "workloads" / "ipi_ring.py")


def run(tmp_path, tag: str, *args: str) -> tuple[dict, str]:
    path = tmp_path / f"{tag}.json"
    r = emu("run", RING, *args, "--json", str(path))
    assert r.returncode == 0, r.stderr
    return json.loads(path.read_text()), r.stdout


def test_ipis_balance_and_are_deterministic(tmp_path, no_trace):
    args = ("-t", "4", "-s", "2", "--warmup", "1", "--period", "1ms", "--seed", "5", "-v")
    doc, out = run(tmp_path, "a", *args)
    again, out2 = run(tmp_path, "b", *args)
    assert out == out2
    ipis = doc["ipis"]
    assert ipis["sent"] > 0 and ipis["sent"] == ipis["received"]
    # IPI + ACK are shared events, counted like lock operations.
    assert doc["host"]["shared_events"] >= 2 * ipis["sent"]


def test_ipi_latency_bounds_the_rate(tmp_path):
    m = load_machine()
    doc, _ = run(tmp_path, "c", "-t", "2", "-s", "1", "--warmup", "1", "--period", "1ms")
    per_iteration = m.cost("ipi_latency") + m.cost("ipi_handler")
    # An iteration cannot be faster than the interrupt's delivery and handling.
    assert doc["samples"][0]["max"] <= m.freq_hz / per_iteration
    assert doc["samples"][0]["min"] > 0
