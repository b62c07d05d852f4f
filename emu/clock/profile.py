"""`--profile`: where the emulated cycles go, by kernel function and caller (virtual clock).

An emulated CPU's time is its local work plus its shared operations (docs/design.md "Time"), and
each half is attributed where it is known:

* Local cycles, in the CPU process: `ProfilingTd.cycles` charges them to the function that
  called `td.cycles` and that function's caller (two frames, looked up only when profiling;
  without --profile the plain VirtualTd runs and pays nothing).  A kernel path driven by
  `run_local` (emu/kernel/run_local.py) is charged as if its generators were frames: the
  innermost generator of the driven `yield from` chain, called from the generator that
  delegated to it, or, for the outermost, from the function that called run_local.  Shared
  operations are attributed to their issuer the same way.
* Shared operations, in the actor: `ProfilingEngine` adds up, per CPU and per operation
  (op, arg), the virtual time from the operation's start to its completion: line transfers,
  uncontended fcmpsets, kernel calls, waiting for IPI acknowledgements, and the interrupt
  handlers it ran for others.  The CPU counts which function issued each (op, arg), and the
  actor's cycles are split between those functions in proportion to their counts.
* Contended mutexes: the spin time of each (lock, caller) from the mutex model's statistics
  (the same numbers lockstat prints) is split as pmcstat shows it on FreeBSD: the PAUSEs
  go to `lock_delay`, called from `__mtx_lock_sleep` (spin mutexes:
  `_mtx_lock_spin_cookie`), and the rest (the spinner's reads and fcmpsets of the lock
  word, and the misses they wait for) to `__mtx_lock_sleep` itself, called from that
  caller.

Local cycles are counted as the CPU issued them; the engine stretches them while an SMT
sibling works (emu/hw/smt.py), and `ProfilingEngine` adds up, per CPU, the cycles that
stretching added in the batches the CPU committed.  The merge spreads them over that
CPU's local functions in proportion to their cycles: a slowed thread's functions take
longer, as UNHALTED_CORE_CYCLES would see them.

Time asleep (a turnstile block, off CPU) is not counted: UNHALTED_CORE_CYCLES does not
count a halted CPU.  Shared-operation cycles whose issuing function is unknown are the
profile's "unresolved" part.

Determinism: the actor's side is exact.  A CPU runs up to two batches past the end of the
run, and how far depends on host timing, so a batch's local cycles and op counts count only
if the actor ran it to the end: the profile stops at the CPU's last whole batch (at most 256
operations before its end), the same point on every run.  The actor says which batch that
was (`full`); the CPU only keeps each batch's share until then, since a loaded host may stop
it before it has read every DONE.
"""

from __future__ import annotations

import _signal
import json
import sys
from pathlib import Path
from types import CodeType, FrameType, GeneratorType

import emu
from emu.clock import virtual
from emu.clock.engine import BLOCKED, Engine
from emu.clock.virtual import VirtualTd
from emu.cpu.libc import Ctx
from emu.hw import smt
from emu.kernel.ops import OP_IPI, OP_WIDTH
from emu.kernel.run_local import run_local

# The profile stops at a CPU's last whole batch (the module's docstring), so its batches stay
# short whatever the plain clock's BATCH_OPS: the cut is at most 256 operations from the end.
PROFILE_BATCH_OPS = 256
CPU_FILE = "profile-cpu{cpu}.json"
ACTOR_FILE = "profile-actor.json"
MTX_SLEEP, MTX_SPIN = "__mtx_lock_sleep", "_mtx_lock_spin_cookie"
LOCK_DELAY = "lock_delay"      # sys/kern/subr_lock.c: the backoff both of them call
IPI_HANDLER = "ipi_handler"    # the target's handler time (the engine knows no vector)
NO_CALLER = "-"
KERNEL, LIBC = "kernel", "libc.so.7"
_SIGTERM = (_signal.SIGTERM,)

_EMU_DIR = str(Path(emu.__file__).parent)
_LIBC_FILE = sys.modules[Ctx.__module__].__file__
_USER_GLUE = {Ctx.iterations.fset.__code__}  # `ctx.iterations += 1`: the testcase's own loop
_ROOTS = ("emu/machine/cpu.py", "emu/clock/")  # frames above the testcase: no caller


def _image(code: CodeType, testcase: str) -> str:
    path = code.co_filename
    if path == _LIBC_FILE:
        return LIBC
    return KERNEL if path.startswith(_EMU_DIR) else testcase


def _caller(code: CodeType | None) -> str:
    if code is None or any(root in code.co_filename for root in _ROOTS):
        return NO_CALLER
    return code.co_name


_RUN_LOCAL = run_local.__code__   # the driver of a kernel path on the CPU (its local `gen`)


def _kpath(f: FrameType) -> tuple[CodeType, CodeType | None]:
    """(function, caller) for a charge made by run_local's frame `f`: the innermost generator
    of the path it drives (through `gi_yieldfrom`), and the generator that delegated to it,
    or, for the outermost, the frame that called run_local (nested drivers skipped)."""
    back = f.f_back
    while back is not None and back.f_code is _RUN_LOCAL:
        back = back.f_back
    caller = back.f_code if back is not None else None
    gen = f.f_locals.get("gen")
    if type(gen) is not GeneratorType:
        return f.f_code, caller
    while True:
        sub = gen.gi_yieldfrom
        if type(sub) is not GeneratorType:   # None, or requests from a tuple ("inlined")
            return gen.gi_code, caller
        caller, gen = gen.gi_code, sub


class ProfilingTd(VirtualTd):
    """A VirtualTd that also records who charged each local cycle and issued each op."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("batch_ops", PROFILE_BATCH_OPS)
        super().__init__(*args, **kwargs)
        self.cur_local: dict[tuple, int] = {}   # (code, caller code) -> cycles
        self.cur_ops: dict[tuple, int] = {}     # (op, arg, code, caller code) -> count
        self.pending: dict[int, tuple[dict, dict]] = {}  # batch seq -> its share
        self.done_local: dict[tuple, int] = {}
        self.done_ops: dict[tuple, int] = {}

    def cycles(self, n: int) -> None:
        c = self.local(n)
        self.pre += c
        f = sys._getframe(1)
        if f.f_code is _RUN_LOCAL:
            key = _kpath(f)
        else:
            if f.f_code in _USER_GLUE:
                f = f.f_back
            back = f.f_back
            key = (f.f_code, back.f_code if back else None)
        self.cur_local[key] = self.cur_local.get(key, 0) + c

    def _op(self, op: int, arg: int) -> None:
        super()._op(op, arg)
        f = sys._getframe(2)  # 1: the Td method (mtx_lock, atomic, ...); 2: who called it
        if f.f_code is _RUN_LOCAL:
            key = (op, arg, *_kpath(f))
        else:
            back = f.f_back
            key = (op, arg, f.f_code, back.f_code if back else None)
        self.cur_ops[key] = self.cur_ops.get(key, 0) + 1

    def _ship(self, lookahead: int) -> None:
        self.pending[self.seq] = (self.cur_local, self.cur_ops)
        self.cur_local, self.cur_ops = {}, {}
        super()._ship(lookahead)

    def _batch_done(self, seq: int, stopped: bool) -> None:
        # The supervisor's SIGTERM raises wherever this process is (save_on_sigterm in
        # emu/machine/children.py), and comes as soon as the actor has left: a batch taken
        # from `pending` but not yet all in `done` would be lost to the file, by host timing.
        _signal.pthread_sigmask(_signal.SIG_BLOCK, _SIGTERM)
        try:
            local, ops = self.pending.pop(seq, ({}, {}))
            if stopped:  # the actor stopped inside it or before: how far is host-timed
                return
            for src, dst in ((local, self.done_local), (ops, self.done_ops)):
                for k, v in src.items():
                    dst[k] = dst.get(k, 0) + v
        finally:
            _signal.pthread_sigmask(_signal.SIG_UNBLOCK, _SIGTERM)

    def profile_document(self, testcase: str) -> dict:
        """The committed share, and each batch still awaiting its DONE: whether the actor
        ran it to the end is the actor's to say (its "full" seq), not this CPU's, which may
        be stopped before the DONE arrives."""
        def rows(done_local: dict, done_ops: dict) -> dict:
            local: dict[tuple, int] = {}
            for (code, back), c in done_local.items():
                k = (_image(code, testcase), code.co_name, _caller(back))
                local[k] = local.get(k, 0) + c
            ops: dict[tuple, int] = {}
            for (op, arg, code, back), n in done_ops.items():
                k = (op, arg, _image(code, testcase), code.co_name, _caller(back))
                ops[k] = ops.get(k, 0) + n
            return {"local": [[*k, v] for k, v in local.items()],
                    "ops": [[*k, v] for k, v in ops.items()]}

        doc = rows(self.done_local, self.done_ops)
        doc["pending"] = [{"seq": seq, **rows(*share)} for seq, share in self.pending.items()]
        return doc

    def save_profile(self, rundir: str, testcase: str) -> None:
        path = Path(rundir, CPU_FILE.format(cpu=self.cpu))
        path.write_text(json.dumps(self.profile_document(testcase)))


class ProfilingEngine(Engine):
    """An Engine that adds up each CPU's cycles per shared operation."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.op_cycles: dict[tuple[int, int, int], int] = {}  # (cpu, op, arg) -> cycles
        self.steal: dict[int, int] = {}    # cpu -> interrupt handler cycles
        self._started: dict[int, tuple[int, int, int]] = {}  # cpu -> (t, op, arg)
        # Cycles the SMT stretch added: in the batch under way, and in the batches whose
        # local cycles the CPU committed (those the engine reported run to the end).
        self._smt_batch: dict[int, int] = {}
        self.smt: dict[int, int] = {}
        self.full: dict[int, int] = {}     # cpu -> the last batch it ran to the end

    def _step(self, th, t: int) -> None:
        op = th.ops[th.pc]
        self._started[th.cpu] = (t, op, th.ops[th.pc + 2])
        super()._step(th, t)
        if th.state == BLOCKED and op != OP_IPI:
            # A contended mutex (its spin time comes from the mutex's statistics), a sleep,
            # or a kernel call that blocked: not counted here.
            self._started.pop(th.cpu, None)

    def _advance(self, th, t: int) -> None:
        started = self._started.pop(th.cpu, None)
        if started is not None and t > started[0]:
            key = (th.cpu, started[1], started[2])
            self.op_cycles[key] = self.op_cycles.get(key, 0) + t - started[0]
        if th.steal:
            self.steal[th.cpu] = self.steal.get(th.cpu, 0) + th.steal
        if th.pc + OP_WIDTH >= len(th.ops):   # the batch ends (run to the end): commit
            self.full[th.cpu] = th.seq
            extra = self._smt_batch.pop(th.cpu, 0)
            if extra:
                self.smt[th.cpu] = self.smt.get(th.cpu, 0) + extra
            super()._advance(th, t)
            return
        works = self.sibling_works(th)        # as super()._advance decides it
        super()._advance(th, t)
        if works:
            self._stretched(th, th.ops[th.pc + 1])

    def _load(self, th) -> None:
        super()._load(th)
        if th.stretch:
            self._stretched(th, th.ops[1])

    def _stretched(self, th, pre: int) -> None:
        extra = smt.stretch(pre, self.smt_slowdown, True) - pre
        if extra:
            self._smt_batch[th.cpu] = self._smt_batch.get(th.cpu, 0) + extra

    def finish(self, rundir: str) -> None:
        self.write_profile(rundir)

    def write_profile(self, rundir: str) -> None:
        doc = {"ops": [[*k, v] for k, v in self.op_cycles.items()],
               "steal": [[cpu, v] for cpu, v in self.steal.items()],
               "smt": [[cpu, v] for cpu, v in self.smt.items()],
               "full": [[cpu, seq] for cpu, seq in self.full.items()]}
        Path(rundir, ACTOR_FILE).write_text(json.dumps(doc))


# ---------------------------------------------------------------- the clock's entry points
# `--profile` is the virtual clock with these two in its place (emu/clock/__init__.py).

def make_td(spec, task: int, sock, board) -> ProfilingTd:
    return virtual.make_td(spec, task, sock, board, cls=ProfilingTd)


def serve(router, spec, board, alive) -> None:
    virtual.serve(router, spec, board, alive, cls=ProfilingEngine)


# ---------------------------------------------------------------- the supervisor's side


def _spread(rows: list[tuple[tuple, int]], extra: int) -> list[tuple[tuple, int]]:
    """rows with `extra` cycles shared out in proportion to their cycles (the remainder to
    the largest row)."""
    total = sum(c for _, c in rows)
    if not extra or not total:
        return rows
    out = [(key, c + extra * c // total) for key, c in rows]
    big = max(range(len(out)), key=lambda i: (rows[i][1], rows[i][0]))
    key, c = out[big]
    out[big] = (key, c + extra - sum(extra * c0 // total for _, c0 in rows))
    return out


def merge_profile(cpu_docs: dict[int, dict], actor_doc: dict, locks: list[dict],
                  spin_locks: set[str]) -> dict:
    """One profile from the CPUs' and the actor's files and the run's lock statistics:
    {"rows": [{"image", "function", "caller", "cycles"}, ...], "unresolved_cycles": n}."""
    rows: dict[tuple[str, str, str], int] = {}

    def add(key: tuple[str, str, str], cycles: int) -> None:
        if cycles:
            rows[key] = rows.get(key, 0) + cycles

    issuers: dict[tuple[int, int, int], list[tuple[tuple[str, str, str], int]]] = {}
    smt = dict(map(tuple, actor_doc.get("smt", [])))
    full = dict(map(tuple, actor_doc.get("full", [])))
    for cpu, doc in cpu_docs.items():
        # Batches the actor ran to the end whose DONE the CPU had not read when it stopped.
        late = [b for b in doc.get("pending", []) if b["seq"] <= full.get(cpu, -1)]
        local: dict[tuple[str, str, str], int] = {}
        for part in (doc, *late):
            for image, func, caller, cycles in part.get("local", []):
                local[image, func, caller] = local.get((image, func, caller), 0) + cycles
        for key, cycles in _spread(list(local.items()), smt.get(cpu, 0)):
            add(key, cycles)
        counts: dict[tuple, int] = {}
        for part in (doc, *late):
            for op, arg, image, func, caller, count in part.get("ops", []):
                k = (op, arg, image, func, caller)
                counts[k] = counts.get(k, 0) + count
        for (op, arg, image, func, caller), count in counts.items():
            issuers.setdefault((cpu, op, arg), []).append(((image, func, caller), count))
    unresolved = 0
    for cpu, op, arg, cycles in actor_doc.get("ops", []):
        who = sorted(issuers.get((cpu, op, arg), []), key=lambda kv: (-kv[1], kv[0]))
        total = sum(n for _, n in who)
        if not total:
            unresolved += cycles
            continue
        shares = [cycles * n // total for _, n in who]
        shares[0] += cycles - sum(shares)
        for (key, _), share in zip(who, shares, strict=True):
            add(key, share)
    for _, cycles in actor_doc.get("steal", []):
        add((KERNEL, IPI_HANDLER, NO_CALLER), cycles)
    for lock in locks:
        func = MTX_SPIN if lock["name"] in spin_locks else MTX_SLEEP
        for c in lock.get("callers") or []:
            spin, paused = int(c.get("spin_cycles", 0)), int(c.get("pause_cycles", 0))
            add((KERNEL, LOCK_DELAY, func), paused)
            add((KERNEL, func, str(c.get("caller", NO_CALLER))), spin - paused)
    out = [{"image": i, "function": f, "caller": c, "cycles": v}
           for (i, f, c), v in sorted(rows.items(), key=lambda kv: (-kv[1], kv[0]))]
    return {"rows": out, "unresolved_cycles": unresolved}


def read_profile(rundir: str, spec, locks: list[dict]) -> dict | None:
    """The run's profile from the files its processes left (None if the actor left none)."""
    try:
        actor_doc = json.loads(Path(rundir, ACTOR_FILE).read_text())
    except (OSError, ValueError):
        return None
    cpu_docs = {}
    for cpu in spec.cpus:
        try:
            cpu_docs[cpu] = json.loads(Path(rundir, CPU_FILE.format(cpu=cpu)).read_text())
        except (OSError, ValueError):
            continue  # a CPU that died: its shared operations count as unresolved
    return merge_profile(cpu_docs, actor_doc, locks, set(spec.kernel.spin_locks))

