"""A target's virtual speed-up (emu/causal/speedup.py), in the reference simulation (the
same kernel model and cost model, one process): a 0% speed-up changes nothing, bit for
bit; removing a contended lock's cost buys throughput; a speed-up of something that is not
there is refused."""

from __future__ import annotations

import pytest

from emu.causal.speedup import Speedup, Target
from emu.clock.reference import simulate
from emu.hw.machine import load_machine
from emu.kernel.config import build_kernel
from emu.machine.spec import RunSpec
from emu.testcases import resolve


def counts(speedup: Speedup | None) -> list[int]:
    spec = RunSpec(testcase=resolve("mmap1_processes"), tasks=3, machine=load_machine(),
                   seed=4, period_s=0.0004, warmup=1, samples=1, speedup=speedup)
    return [c[2] - c[1] for c in simulate(spec)]


@pytest.fixture(scope="module")
def baseline() -> list[int]:
    return counts(None)


@pytest.mark.parametrize("target", [Target("lock", "invl_gen_mtx"),
                                    Target("line", "md_invl_gen (per thread)"),
                                    Target("function", "pmap_remove")], ids=lambda t: t.kind)
def test_a_zero_speedup_is_the_baseline_exactly(baseline, target):
    assert counts(Speedup(target, 0)) == baseline


def test_removing_the_di_mutex_buys_throughput(baseline):
    sped = counts(Speedup(Target("lock", "invl_gen_mtx"), 100))
    assert sum(sped) > sum(baseline) * 1.05


def test_targets_are_checked():
    with pytest.raises(ValueError):
        Target("queue", "x")
    with pytest.raises(ValueError):
        Target("line", "swap_reserved", caller="swap_reserve_by_cred")
    with pytest.raises(ValueError):
        Speedup(Target("lock", "invl_gen_mtx"), 101)
    kc = build_kernel("processes", [0], {})
    with pytest.raises(ValueError, match="no lock"):
        Speedup(Target("lock", "no_such_mtx"), 50).check(kc)
    with pytest.raises(ValueError, match="no line"):
        Speedup(Target("line", "no_such_line"), 50).check(kc)
    Speedup(Target("lock", "invl_gen_mtx", "pmap_delayed_invl_started"), 50).check(kc)
    assert Target("lock", "invl_gen_mtx", "pmap_delayed_invl_started").label == \
        "lock invl_gen_mtx @ pmap_delayed_invl_started"
