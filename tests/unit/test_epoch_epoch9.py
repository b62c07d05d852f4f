"""emu.epoch.epoch9: FreeBSD epoch(9) per CPU, including a real cross-process wait."""

from __future__ import annotations

import mmap
import multiprocessing
import os
import time

import pytest

from emu.epoch.atomics import Words
from emu.epoch.ck_epoch import GLOBAL_LINE, LOAD, RMW, STORE, USED, Section, record_line
from emu.epoch.epoch9 import Epoch

FORK = multiprocessing.get_context("fork")


def test_alloc_registers_one_record_per_cpu() -> None:
    m = mmap.mmap(-1, Epoch.size(8))
    ep = Epoch.alloc(m, 8)
    assert all(ep.ck.record(c).state == USED for c in range(8))
    other = Epoch.attach(m)
    assert other.ncpu == 8
    ep.epoch_enter(3)
    assert other.in_epoch(3) and not other.in_epoch(2)
    ep.epoch_exit(3)
    assert not other.in_epoch(3)
    ep.release()
    other.release()
    m.close()


def test_enter_exit_touch_only_their_cpu_line_and_the_global() -> None:
    touched: list = []
    ep = Epoch.alloc(bytearray(Epoch.size(4)), 4, touched=touched)
    touched.clear()
    ep.epoch_enter(2)
    ep.epoch_exit(2)
    assert touched == [(record_line(2), RMW), (GLOBAL_LINE, LOAD), (record_line(2), STORE)]


def test_epoch_wait_refuses_to_wait_on_itself() -> None:
    ep = Epoch.alloc(bytearray(Epoch.size(2)), 2)
    ep.epoch_enter(0)
    with pytest.raises(RuntimeError, match="inside an epoch section"):
        ep.epoch_wait(0)
    ep.epoch_exit(0)
    ep.epoch_wait(0)  # nobody inside: returns at once
    with pytest.raises(ValueError, match="block"):
        ep.epoch_wait(0, vtime=10)


def test_preempt_sections_and_deferred_calls() -> None:
    ep = Epoch.alloc(bytearray(Epoch.size(2)), 2)
    et1, et2 = Section(), Section()
    ep.epoch_enter_preempt(1, et1)
    ep.epoch_enter_preempt(1, et2)
    done: list[int] = []
    ep.epoch_call(0, done.append, 1)
    ep.epoch_poll(0)
    assert done == []  # cpu 1 may hold it
    ep.epoch_exit_preempt(1, et1)
    ep.epoch_exit_preempt(1, et2)
    assert ep.epoch_drain_callbacks(0) == 1
    assert done == [1]


def test_block_handler_spins_on_a_running_blocker_then_yields() -> None:
    ep = Epoch.alloc(bytearray(Epoch.size(2)), 2, spin_limit=50)
    ep.epoch_enter(1)
    ep.block_handler(ep.ck, 1)
    assert (ep.n_spin, ep.n_yield) == (50, 1)
    ep.is_running = lambda cpu: False  # not on CPU: no spinning, straight to yield
    ep.block_handler(ep.ck, 1)
    assert (ep.n_spin, ep.n_yield) == (50, 2)
    ep.epoch_exit(1)


def _reader(ep: Epoch, flags: Words) -> None:
    ep.epoch_enter(1)
    flags.store(0, 1)  # "I am inside"
    deadline = time.monotonic() + 120  # only a hang gets there
    while flags.load(16) == 0 and time.monotonic() < deadline:
        os.sched_yield()  # hold the section until the parent's wait has blocked on it
    flags.store(8, 1)  # "I am about to leave" — must precede the wait's return
    ep.epoch_exit(1)


def test_epoch_wait_blocks_until_another_process_leaves() -> None:
    m = mmap.mmap(-1, Epoch.size(2) + 64)
    ep = Epoch.alloc(m, 2)
    flags = Words(memoryview(m)[Epoch.size(2) :])
    child = FORK.Process(target=_reader, args=(ep, flags))
    child.start()
    try:
        deadline = time.monotonic() + 120
        while flags.load(0) == 0:
            assert time.monotonic() < deadline and child.exitcode is None
            os.sched_yield()
        def block(ck, blocker: int) -> None:
            flags.store(16, 1)  # "I am blocked on you": the reader may leave now
            ep.block_handler(ck, blocker)

        ep.epoch_wait(0, block=block)
        assert flags.load(8) == 1  # the wait did not return while cpu 1 was inside
        assert ep.n_block >= 1
    finally:
        flags.store(16, 1)  # whatever happened, let the reader go
        child.join(120)
    assert child.exitcode == 0
    flags.release()
    ep.release()
    m.close()
