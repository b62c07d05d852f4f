"""Benchmark of emu.epoch: atomics, begin/end, synchronize vs records, multi-process scaling.

Run: ``python bench/bench_epoch.py`` (about 10-20 s). Every figure is the best of
``REPEAT`` runs of a timed Python loop, loop overhead included: it is what emulator code
pays per call. Scaling uses real processes (``wall`` clock), one epoch record each.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import multiprocessing
import os
import platform
import secrets
import sys
import time
from collections.abc import Callable
from multiprocessing import shared_memory

from emu.epoch import atomics
from emu.epoch.atomics import Words
from emu.epoch.ck_epoch import CkEpoch
from emu.epoch.epoch9 import Epoch

REPEAT = 5
N = 200_000
FORK = multiprocessing.get_context("fork")


def best_ns(fn: Callable[[int], None], n: int = N, repeat: int = REPEAT) -> float:
    """Best-of-``repeat`` nanoseconds per iteration of ``fn(n)``."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn(n)
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        print("| " + " | ".join(cells) + " |")


def bench_atomics(buf: memoryview) -> None:
    w = Words(buf)
    fa, ld, cas = atomics.fetch_add, w.load, w.cas

    def empty(n: int) -> None:
        for _ in range(n):
            pass

    def mod_fetch_add(n: int) -> None:
        for _ in range(n):
            fa(buf, 64, 1)

    def words_fetch_add(n: int) -> None:
        f = w.fetch_add
        for _ in range(n):
            f(64, 1)

    def words_cas(n: int) -> None:
        for i in range(n):
            cas(64, i, i + 1)  # succeeds every time: the word counts along

    def words_load(n: int) -> None:
        for _ in range(n):
            ld(64)

    rows = [["empty loop (reference)", f"{best_ns(empty):.0f}"]]
    rows.append(["fetch_add(buf, off, 1) (module function)", f"{best_ns(mod_fetch_add):.0f}"])
    rows.append(["Words.fetch_add(off, 1)", f"{best_ns(words_fetch_add):.0f}"])
    w.store(64, 0)
    rows.append(["Words.cas(off, old, new) (succeeding)", f"{best_ns(words_cas):.0f}"])
    rows.append(["Words.load(off)", f"{best_ns(words_load):.0f}"])
    lib = ctypes.util.find_library("atomic")
    if lib:  # the alternative the issue measured at ~0.4 us
        f8 = ctypes.CDLL(lib).__atomic_fetch_add_8
        f8.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int]
        f8.restype = ctypes.c_uint64
        cell = ctypes.c_char.from_buffer(buf, 64)
        addr = ctypes.addressof(cell)

        def ctypes_fetch_add(n: int) -> None:
            for _ in range(n):
                f8(addr, 1, 5)

        rows.append(["ctypes libatomic __atomic_fetch_add_8", f"{best_ns(ctypes_fetch_add):.0f}"])
        del cell
    w.release()
    table("Atomics on a SharedMemory block (one process)", ["operation", "ns/op"], rows)


def bench_begin_end() -> None:
    touched: list = []
    m = mmap.mmap(-1, Epoch.size(4))
    ep = Epoch.alloc(m, 4)
    ck, fast = ep.ck, ep.ck.fast
    b, e = fast.begin, fast.end

    def fast_pair(n: int) -> None:
        for _ in range(n):
            b(1)
            e(1)

    def fast_nested(n: int) -> None:
        for _ in range(n):
            b(1)
            e(1)

    def fast_vtime(n: int) -> None:
        for i in range(n):
            b(1, i)
            e(1, i)

    def ck_pair(n: int) -> None:
        cb, ce = ck.begin, ck.end
        for _ in range(n):
            cb(1)
            ce(1)

    def epoch9_pair(n: int) -> None:
        en, ex = ep.epoch_enter, ep.epoch_exit
        for _ in range(n):
            en(1)
            ex(1)

    def traced_pair(n: int) -> None:
        cb, ce = ck.begin, ck.end
        for _ in range(n):
            cb(1)
            ce(1)
            touched.clear()

    rows = [["Records.begin(i); Records.end(i) (fast path)", f"{best_ns(fast_pair):.0f}"]]
    b(1)
    rows.append(["same, nested inside an open section", f"{best_ns(fast_nested):.0f}"])
    e(1)
    rows.append(["same, with vtime stamps", f"{best_ns(fast_vtime):.0f}"])
    rows.append(["CkEpoch.begin/end", f"{best_ns(ck_pair):.0f}"])
    rows.append(["Epoch.epoch_enter/epoch_exit (epoch(9))", f"{best_ns(epoch9_pair):.0f}"])
    ck.touched = touched
    rows.append(["CkEpoch.begin/end with touched-line tracing", f"{best_ns(traced_pair):.0f}"])
    ck.touched = None
    ep.release()
    m.close()
    table("begin+end pairs (one process)", ["path", "ns/pair"], rows)


def bench_synchronize() -> None:
    rows = []
    for nrec in (8, 96, 768):
        m = mmap.mmap(-1, CkEpoch.size(nrec))
        ck = CkEpoch.create(m, nrec)
        for i in range(nrec):
            ck.register(i)
        n = max(200, 40_000 // nrec)
        sync = best_ns(lambda k: [ck.synchronize(0) for _ in range(k)], n)  # noqa: B023
        poll = best_ns(lambda k: [ck.poll(0) for _ in range(k)], n)  # noqa: B023
        scan = best_ns(lambda k: [ck.fast.scan(1, 0, -1) for _ in range(k)], n)  # noqa: B023
        rows.append([str(nrec), f"{sync / 1000:.2f}", f"{poll / 1000:.2f}", f"{scan / 1000:.2f}"])
        ck.release()
        m.close()
    table(
        "synchronize latency vs registered records, all idle (one process)",
        ["records", "synchronize µs", "poll µs", "of which C scan µs"],
        rows,
    )


def _worker(m: mmap.mmap, me: int, nproc: int, pairs: int, shared_word: bool) -> None:
    ep = Epoch.attach(m)
    w = Words(m)
    go = Epoch.size(nproc)
    w.fetch_add(go + 8, 1)  # ready
    while w.load(go) == 0:
        pass
    t0 = time.perf_counter_ns()
    if shared_word:
        f = w.fetch_add
        for _ in range(pairs):
            f(go + 64, 1)
    else:
        b, e = ep.ck.fast.begin, ep.ck.fast.end
        for _ in range(pairs):
            b(me)
            e(me)
    w.store(go + 128 + 8 * me, time.perf_counter_ns() - t0)


def _scaling_run(nproc: int, pairs: int, shared_word: bool) -> tuple[float, float]:
    """(aggregate Mops/s, mean ns per op per process) for one run."""
    size = Epoch.size(nproc) + 128 + 8 * nproc
    m = mmap.mmap(-1, size)
    ep = Epoch.alloc(m, nproc)
    w = Words(m)
    go = Epoch.size(nproc)
    kids = [
        FORK.Process(target=_worker, args=(m, i, nproc, pairs, shared_word)) for i in range(nproc)
    ]
    try:
        for k in kids:
            k.start()
        while w.load(go + 8) < nproc:
            time.sleep(0.001)
        t0 = time.perf_counter_ns()
        w.store(go, 1)
        for k in kids:
            k.join()
        wall = time.perf_counter_ns() - t0
        per = [w.load(go + 128 + 8 * i) / pairs for i in range(nproc)]
    finally:
        for k in kids:
            if k.is_alive():
                k.kill()
                k.join()
        w.release()
        ep.release()
        m.close()
    return nproc * pairs / wall * 1000, sum(per) / len(per)


def bench_scaling() -> None:
    cores = os.cpu_count() or 1
    pairs = 3_000_000
    rows = []
    for nproc in [*range(1, cores + 1), 2 * cores]:  # the last row oversubscribes
        agg, per = max(_scaling_run(nproc, pairs, False) for _ in range(5))
        sagg, sper = max(_scaling_run(nproc, pairs, True) for _ in range(5))
        rows.append([str(nproc), f"{agg:.2f}", f"{per:.0f}", f"{sagg:.2f}", f"{sper:.0f}"])
    table(
        f"wall-clock scaling across processes ({cores} host cores, best of 5)",
        [
            "processes",
            "begin+end Mpairs/s (all)",
            "ns/pair per process",
            "fetch_add one word Mops/s",
            "ns/op per process",
        ],
        rows,
    )


def main() -> None:
    print(
        f"emu.epoch benchmark: Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, {platform.processor() or 'unknown CPU'}"
    )
    name = f"emu-bench-{os.getpid()}-{secrets.token_hex(4)}"
    shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
    try:
        bench_atomics(shm.buf)
    finally:
        shm.close()
        shm.unlink()
    bench_begin_end()
    bench_synchronize()
    bench_scaling()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
