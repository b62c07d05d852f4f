"""TLB shootdowns as IPIs: none where an address space is private, one per madvise where it
is shared, every IPI acknowledged, deterministic under the virtual clock, and the same code
under the wall clock."""

from __future__ import annotations

import json

from emu.hw.tlb import IPI_INVLPG, IPI_INVLTLB, Tlb
from tests.conftest import emu

SHORT = ["-s", "1", "--period", "1ms", "--warmup", "1"]


def run(tmp_path, tag: str, *args: str) -> tuple[dict, str]:
    path = tmp_path / f"{tag}.json"
    r = emu("run", *args, "--json", str(path))
    assert r.returncode == 0, r.stderr
    return json.loads(path.read_text()), r.stdout


def iterations(doc: dict) -> int:
    """Iterations counted in every sample, warmup included."""
    return round(sum(s["total"] for s in doc["warmup"] + doc["samples"]) * doc["period_s"])


def test_mmap1_processes_sends_no_ipi(tmp_path):
    doc, _ = run(tmp_path, "m", "mmap1_processes", "-t", "4", *SHORT)
    assert doc["ipis"] == {"sent": 0, "received": 0, "acked": 0}
    assert doc["tlb_shootdowns"] == 0


def test_tlb_flush2_threads_shoots_down_every_iteration(tmp_path, no_trace):
    doc, _ = run(tmp_path, "t", "tlb_flush2_threads", "-t", "8", *SHORT)
    shootdowns, ipis = doc["tlb_shootdowns"], doc["ipis"]
    # Every madvise(MADV_DONTNEED) of a touched page invalidates on the 7 other CPUs.
    assert shootdowns >= iterations(doc) > 0
    assert ipis["sent"] == 7 * shootdowns
    assert ipis["acked"] == ipis["received"] == ipis["sent"]
    assert any(lock["name"] == "smp_ipi_mtx" for lock in doc["locks"])


def test_ipi_workload_is_deterministic(tmp_path):
    args = ("tlb_flush2_threads", "-t", "4", *SHORT, "--seed", "9", "-v")
    a, out_a = run(tmp_path, "a", *args)
    b, out_b = run(tmp_path, "b", *args)
    assert out_a == out_b
    assert a["ipis"] == b["ipis"] and a["tlb_shootdowns"] == b["tlb_shootdowns"]
    assert a["per_task"] == b["per_task"]


def test_wall_clock_shootdowns_balance(tmp_path, no_trace):
    doc, _ = run(tmp_path, "w", "tlb_flush2_threads", "-t", "4", "--clock", "wall",
                 "-s", "1", "--warmup", "1", "--period", "300ms")
    ipis = doc["ipis"]
    assert doc["tlb_shootdowns"] > 0
    assert ipis["sent"] == ipis["received"] == ipis["acked"] > 0
    # Host time decides who is in pm_active when (threads still starting, or already gone
    # at the end), so a shootdown targets at most the 3 others, not always all of them.
    assert doc["tlb_shootdowns"] <= ipis["sent"] <= 3 * doc["tlb_shootdowns"]


def test_tlb_applies_posted_invalidations_by_delivery_time():
    tlb = Tlb(capacity=4)
    for va in (0x1000, 0x2000, 0x3000):
        tlb.fill(va, (1, 1, 0, 0, 0))
    tlb.post(500, IPI_INVLPG, 0x2000, 0x3000)
    tlb.post(900, IPI_INVLTLB, 0, 0)
    tlb.deliver(499)
    assert tlb.lookup(0x2000) is not None          # not delivered yet at 499
    tlb.deliver(500)
    assert tlb.lookup(0x2000) is None and tlb.lookup(0x1000) is not None
    tlb.deliver(1000)
    assert not tlb.entries
    for va in range(0, 5 * 0x1000, 0x1000):        # capacity: the oldest fill goes
        tlb.fill(va, (1, 1, 0, 0, 0))
    assert 0 not in tlb.entries and len(tlb.entries) == 4
