"""A socket's memory controllers as a shared resource (emu/hw/memctl.py): a lone zeroing is
bound by its core, many at once share the bandwidth, sockets do not share it."""

from __future__ import annotations

import pytest

from emu.hw.machine import MachineError, load_machine
from emu.hw.memctl import MemCtl, bandwidth_bytes_per_s, memctl_arg, memctl_for, run_memctl

PAGE, CORE = 4096, 500


def zero_rounds(mc: MemCtl, cpus: int, rounds: int, socket: int = 0) -> int:
    """`cpus` CPUs zero a page after another, each starting its next when the last is done;
    returns when the last page is done (a closed loop, as faults are)."""
    t = [0] * cpus
    for _ in range(rounds):
        for i in range(cpus):
            t[i] = mc.transfer(socket, t[i] + CORE, PAGE, CORE)
    return max(t)


def test_a_lone_zeroing_is_bound_by_its_core():
    mc = MemCtl(1, bytes_per_cycle=48.0)         # 100 GB/s at 2.1 GHz: 86 cycles a page
    assert zero_rounds(mc, 1, 100) == 100 * CORE
    assert mc.wait == [0]


def test_bandwidth_shares_slow_zeroing_as_more_cpus_zero():
    per_page = {}
    for cpus in (1, 4, 8, 16, 32):
        mc = MemCtl(1, bytes_per_cycle=48.0)
        per_page[cpus] = zero_rounds(mc, cpus, 200) / 200
    assert per_page[1] == per_page[4] == CORE        # below the bandwidth: no slower
    assert per_page[8] > CORE                        # 8 x 4 KB per 500 cycles > 48 B/cycle
    assert per_page[16] > per_page[8] and per_page[32] > per_page[16]
    # Bound by the bandwidth: pages per cycle across the CPUs tends to bytes_per_cycle / 4 KB.
    assert 32 / per_page[32] == pytest.approx(48.0 / PAGE, rel=0.02)


def test_sockets_have_their_own_controllers():
    mc = MemCtl(2, bytes_per_cycle=48.0)
    t = [0] * 32
    for _ in range(100):
        for i in range(32):
            t[i] = mc.transfer(i % 2, t[i] + CORE, PAGE, CORE)
    both = max(t)
    mc1 = MemCtl(2, bytes_per_cycle=48.0)
    assert zero_rounds(mc1, 32, 100) > both          # the same CPUs on one socket: slower


def test_the_preset_bandwidth_and_the_op():
    m = load_machine("skylake-2s")
    assert bandwidth_bytes_per_s(m.costs) == pytest.approx(6 * 2666e6 * 8 * 0.8)
    mc = memctl_for(m)

    class Ks:
        events = 0
        memctl = mc

    done = run_memctl(None, Ks, None, 1000, memctl_arg(1, PAGE, CORE))
    assert done == 1000 and mc.requests == [0, 1] and Ks.events == 1
    with pytest.raises(MachineError, match="dram_channels"):
        bandwidth_bytes_per_s({})
