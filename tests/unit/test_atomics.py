"""emu.epoch.atomics: semantics, argument checking, and no lost update across processes."""

from __future__ import annotations

import mmap
import multiprocessing
import os
import secrets
from multiprocessing import shared_memory

import pytest

from emu.epoch import atomics
from emu.epoch.atomics import Words
from emu.machine import rundir

FORK = multiprocessing.get_context("fork")


@pytest.fixture
def shm():
    """A SharedMemory block named as emu names its segments (rundir.shm_prefix(): this
    test's own, so the conftest's no_trace sees a leak), unlinked afterwards."""
    name = f"{rundir.shm_prefix()}atomics-{secrets.token_hex(4)}"
    block = shared_memory.SharedMemory(name=name, create=True, size=4096)
    try:
        yield block
    finally:
        block.close()
        block.unlink()
    assert not os.path.exists(f"/dev/shm/{name}")


@pytest.mark.parametrize("kind", ["bytearray", "mmap", "shm"])
def test_operations_on_every_buffer_kind(kind: str, shm: shared_memory.SharedMemory) -> None:
    buf = {
        "bytearray": lambda: bytearray(64),
        "mmap": lambda: mmap.mmap(-1, 64),
        "shm": lambda: shm.buf,
    }[kind]()
    assert atomics.load(buf, 8) == 0
    atomics.store(buf, 8, 41)
    assert atomics.fetch_add(buf, 8, 1) == 41
    assert atomics.load(buf, 8) == 42
    assert atomics.xchg(buf, 8, 7) == 42
    assert atomics.cas(buf, 8, 6, 9) is False
    assert atomics.load(buf, 8) == 7
    assert atomics.cas(buf, 8, 7, 9) is True
    assert atomics.cas_value(buf, 8, 1, 2) == 9  # failed: returns the value seen
    assert atomics.cas_value(buf, 8, 9, 2) == 9  # swapped: returns expected
    assert atomics.load(buf, 8) == 2
    assert atomics.fetch_add(buf, 8, -3) == 2
    assert atomics.load(buf, 8) == -1
    assert atomics.load(buf, 0) == 0 and atomics.load(buf, 16) == 0  # neighbours untouched
    atomics.fence()
    if kind == "mmap":
        buf.close()


def test_values_are_64_bit_twos_complement() -> None:
    b = bytearray(16)
    atomics.store(b, 0, 2**64 - 1)
    assert atomics.load(b, 0) == -1
    assert bytes(b[:8]) == b"\xff" * 8
    atomics.store(b, 0, 2**63 - 1)
    assert atomics.fetch_add(b, 0, 1) == 2**63 - 1
    assert atomics.load(b, 0) == -(2**63)  # wraps
    with pytest.raises(OverflowError):
        atomics.store(b, 0, 2**64)
    with pytest.raises(OverflowError):
        atomics.store(b, 0, -(2**63) - 1)


def test_words_methods_match_module_functions() -> None:
    b = bytearray(32)
    with Words(b) as w:
        assert w.nbytes == 32
        w.store(24, 5)
        assert w.fetch_add(24, 5) == 5
        assert w.xchg(24, 1) == 10
        assert w.cas(24, 1, 2) and not w.cas(24, 1, 3)
        assert w.cas_value(24, 0, 3) == 2
        assert w.load(24) == atomics.load(b, 24) == 2
    assert w.nbytes == 0
    with pytest.raises(ValueError, match="released"):
        w.load(0)


@pytest.mark.parametrize("off", [-8, 1, 4, 25, 32, 1 << 40])
def test_misaligned_or_out_of_range_offsets_raise_value_error(off: int) -> None:
    b = bytearray(32)
    with pytest.raises(ValueError):
        atomics.load(b, off)
    with pytest.raises(ValueError):
        atomics.fetch_add(b, off, 1)
    with Words(b) as w, pytest.raises(ValueError):
        w.cas(off, 0, 1)


def test_misaligned_base_is_rejected() -> None:
    b = bytearray(32)
    view = memoryview(b)[4:]  # offset 0 of this view is 4 bytes into an aligned block
    with pytest.raises(ValueError, match="aligned"):
        atomics.load(view, 0)
    view.release()


def test_read_only_buffers_and_bad_arguments_are_rejected() -> None:
    with pytest.raises((TypeError, BufferError)):
        atomics.store(b"\0" * 16, 0, 1)
    with pytest.raises(TypeError):
        atomics.load(bytearray(16))
    with pytest.raises(TypeError):
        atomics.load(bytearray(16), 0.0)


def test_held_words_block_close_until_released() -> None:
    m = mmap.mmap(-1, 4096)
    w = Words(m)
    with pytest.raises(BufferError):
        m.close()
    w.release()
    m.close()


def _add_module(buf: memoryview, k: int) -> None:
    for _ in range(k):
        atomics.fetch_add(buf, 64, 1)


def _add_words(buf: memoryview, k: int) -> None:
    w = Words(buf)
    for _ in range(k):
        w.fetch_add(64, 1)


def _add_cas_loop(buf: memoryview, k: int) -> None:
    w = Words(buf)
    for _ in range(k):
        v = w.load(64)
        while (seen := w.cas_value(64, v, v + 1)) != v:
            v = seen


@pytest.mark.parametrize("adder", [_add_module, _add_words, _add_cas_loop])
def test_no_lost_update_across_processes(adder, shm: shared_memory.SharedMemory) -> None:
    """P processes x K increments on one word of a SharedMemory block sum exactly.

    Children inherit the block through fork (no attach by name, so the resource
    tracker is not involved); the fixture checks /dev/shm is left as it was."""
    procs, k = 4, 20_000
    children = [FORK.Process(target=adder, args=(shm.buf, k)) for _ in range(procs)]
    for p in children:
        p.start()
    for p in children:
        p.join(60)
    assert [p.exitcode for p in children] == [0] * procs
    assert atomics.load(shm.buf, 64) == procs * k
