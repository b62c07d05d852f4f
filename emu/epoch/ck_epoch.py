"""ck_epoch (concurrencykit/ck src/ck_epoch.c) over a shared-memory block.

The global epoch and a fixed array of record slots live in a buffer shared by every
process (a ``SharedMemory.buf`` or an anonymous shared ``mmap`` inherited through
``fork``); they are only touched with the SC atomics of ``emu.epoch.atomics``. Deferred
callbacks are process-local lists, kept by the ``CkEpoch`` instance of the process that
owns the record, exactly as ck keeps them in the owner thread's record.

Layout (mirrored by ``_ck_epoch.c``, which implements ``begin``/``end``/``scan``):
the global epoch alone on line 0; line 1 holds a magic, the capacity and ``n_free``;
record ``i`` occupies two 64-byte lines at ``HDR + i * REC``: line A (``state``,
``active``, ``epoch``, ``vtime``), which scanners read, and line B (statistics and
section buckets), which only the owner writes.

Deviations from ck, each for a reason:
- Records are slots of a fixed array (no ``ck_stack`` of records): a slot is UNUSED until
  ``register``, then USED, then FREE after ``unregister`` until ``recycle``. Scans skip
  slots that are not USED, as ck skips FREE records.
- Epochs are 64-bit, so ck's wrap-around guard (``goal > epoch``) is always true.
- ``unregister`` refuses a record with pending callbacks or an open section (ck would
  silently drop the callbacks).
- ``synchronize`` without a callback yields the host CPU between rescans instead of
  spinning with ``ck_pr_stall``: emulated CPUs oversubscribe the host's cores.
- ``poll`` uses ck's current, safe semantics and dispatches nothing before its scan has
  completed.

Time-model hooks: pass ``touched=[]`` and every operation appends ``(line, access)`` for
each cache line it touched, ``line`` being ``GLOBAL_LINE`` or ``record_line(i)`` and
``access`` one of ``LOAD``/``STORE``/``RMW``. ``begin``/``end`` take an optional
``vtime`` stored in the record (before the state change it stamps); ``synchronize_wait``
and ``poll`` take the caller's ``vtime`` and treat a record stamped later as blocking.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

from emu.epoch._ck_epoch import HDR, LINE, MAGIC, REC, Records
from emu.epoch.atomics import Words, fence

__all__ = [
    "FREE",
    "GLOBAL_LINE",
    "GRACE",
    "LENGTH",
    "LOAD",
    "RMW",
    "STORE",
    "UNUSED",
    "USED",
    "CkEpoch",
    "EpochStats",
    "RecordView",
    "Section",
    "WaitCallback",
    "record_line",
]

GRACE = 3
"""CK_EPOCH_GRACE: a grace period is at most two epoch ticks (three distinct values)."""
LENGTH = 4
"""CK_EPOCH_LENGTH: deferral buckets, indexed by ``epoch & (LENGTH - 1)``."""
_SENSE = 2  # CK_EPOCH_SENSE: section buckets

UNUSED, USED, FREE = 0, 1, 2
"""Record slot states (ck has only USED/FREE; UNUSED is a never-registered slot)."""

# Word offsets, relative to the block's offset (keep in step with _ck_epoch.c).
_G_EPOCH = 0
_H_MAGIC = LINE
_H_CAPACITY = LINE + 8
_H_NFREE = LINE + 16
_R_STATE, _R_ACTIVE, _R_EPOCH, _R_VTIME = 0, 8, 16, 24
_R_NPENDING, _R_NPEAK, _R_NDISPATCH = LINE, LINE + 8, LINE + 16
_R_BUCKET = LINE + 24  # {epoch, count} x _SENSE

GLOBAL_LINE = ("epoch", "global")
"""Cache-line id of the global epoch."""
LOAD, STORE, RMW = "load", "store", "rmw"
"""Kinds of access reported in ``touched``."""


def record_line(idx: int) -> tuple[str, str, int]:
    """Cache-line id of record ``idx``'s scanned line (state, active, epoch, vtime)."""
    return ("epoch", "record", idx)


class Section:
    """ck_epoch_section: which section bucket a begin used, for records shared by
    several threads of control under external serialisation (FreeBSD's preemptible
    epoch trackers)."""

    __slots__ = ("bucket",)

    def __init__(self) -> None:
        self.bucket = 0


class EpochStats(NamedTuple):
    """ck_epoch_record's counters."""

    n_pending: int
    n_peak: int
    n_dispatch: int


class RecordView(NamedTuple):
    """A snapshot of a record's scanned line (fields read one by one, not atomically)."""

    state: int
    active: int
    epoch: int
    vtime: int


WaitCallback = Callable[["CkEpoch", int], "int | None"]
"""``cb(ck, blocker)``, ck_epoch_wait_cb_t: called while record ``blocker`` holds a
grace period back. It may wait (spin, yield, sleep); under a virtual clock it returns the
caller's new virtual time, else ``None``."""

_Deferred = tuple[Callable[..., Any], tuple[Any, ...]]


def _yield_block(ck: CkEpoch, blocker: int) -> None:
    os.sched_yield()


class CkEpoch:
    """A ck_epoch global and its records in ``buf[offset:offset + size(capacity)]``.

    ``CkEpoch.create`` initialises a block (ck_epoch_init); ``CkEpoch(buf, offset)``
    attaches to an initialised one. ``fast`` is the method-free hot path:
    ``fast.begin(idx[, vtime])`` / ``fast.end(idx[, vtime])`` are ck_epoch_begin/end
    without a section and without tracing, one C call each.
    """

    def __init__(self, buf: Any, offset: int = 0, *, touched: list | None = None) -> None:
        self.fast = Records(buf, offset)
        self.words = Words(buf)
        self.offset = offset
        self.capacity: int = self.fast.capacity
        self.touched = touched
        # Process-local state of the records this process owns.
        self._pending: dict[int, list[list[_Deferred]]] = {}
        self._counts: dict[int, list[int]] = {}  # n_pending, n_peak, n_dispatch

    @staticmethod
    def size(capacity: int) -> int:
        """Bytes needed for a block of ``capacity`` records."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        return HDR + capacity * REC

    @classmethod
    def create(
        cls, buf: Any, capacity: int, offset: int = 0, *, touched: list | None = None
    ) -> CkEpoch:
        """ck_epoch_init: zero the block, set the global epoch to 1, publish the header."""
        size = cls.size(capacity)
        mv = memoryview(buf)
        try:
            if offset < 0 or offset % 8 or offset + size > mv.nbytes:
                raise ValueError(f"block of {size} bytes does not fit at offset {offset}")
            mv.cast("B")[offset : offset + size] = bytes(size)
        finally:
            mv.release()
        with Words(buf) as w:
            w.store(offset + _G_EPOCH, 1)
            w.store(offset + _H_CAPACITY, capacity)
            # The magic last: an attacher that sees it sees the rest (SC stores).
            w.store(offset + _H_MAGIC, MAGIC)
        return cls(buf, offset, touched=touched)

    def release(self) -> None:
        """Drop this object's exports of the buffer (needed before closing it)."""
        self.fast.release()
        self.words.release()

    def __enter__(self) -> CkEpoch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- addresses and inspection ----------------------------------------------------

    def _rec(self, idx: int) -> int:
        if not 0 <= idx < self.capacity:
            raise IndexError(f"record {idx} out of range [0, {self.capacity})")
        return self.offset + HDR + idx * REC

    @property
    def epoch(self) -> int:
        """The global epoch."""
        return self.fast.epoch()

    @property
    def n_free(self) -> int:
        """Records unregistered and not yet recycled."""
        return self.words.load(self.offset + _H_NFREE)

    def record(self, idx: int) -> RecordView:
        """Read record ``idx``'s scanned line (for the time model and for tests)."""
        r, w = self._rec(idx), self.words
        return RecordView(
            w.load(r + _R_STATE), w.load(r + _R_ACTIVE), w.load(r + _R_EPOCH), w.load(r + _R_VTIME)
        )

    def stats(self, idx: int) -> EpochStats:
        """The owner's counters for record ``idx``, readable from any process."""
        r, w = self._rec(idx), self.words
        return EpochStats(w.load(r + _R_NPENDING), w.load(r + _R_NPEAK), w.load(r + _R_NDISPATCH))

    def _touch(self, line: tuple, access: str) -> None:
        if self.touched is not None:
            self.touched.append((line, access))

    # -- record life cycle -----------------------------------------------------------

    def _own(self, idx: int) -> None:
        self._pending[idx] = [[] for _ in range(LENGTH)]
        self._counts[idx] = [0, 0, 0]

    def adopt(self, idx: int) -> None:
        """Make this process the owner of registered record ``idx`` (its deferred lists
        start empty here). ``call`` adopts implicitly; use this when the record was
        registered by another process, e.g. per-CPU records set up by the supervisor."""
        if self.words.load(self._rec(idx) + _R_STATE) != USED:
            raise ValueError(f"epoch record {idx} is not registered")
        if idx not in self._pending:
            self._own(idx)

    def register(self, idx: int | None = None) -> int:
        """ck_epoch_register: claim slot ``idx`` (or the first never-used one).

        A never-used slot is all zeroes, which is ck's freshly registered record, so
        claiming it by CAS publishes it. Use ``recycle`` for unregistered slots.
        """
        w = self.words
        candidates = range(self.capacity) if idx is None else (idx,)
        for i in candidates:
            r = self._rec(i)
            if w.cas(r + _R_STATE, UNUSED, USED):
                self._touch(record_line(i), RMW)
                self._own(i)
                return i
        if idx is None:
            raise RuntimeError(f"all {self.capacity} epoch records are taken")
        raise ValueError(f"epoch record {idx} is already registered (or awaits recycle)")

    def unregister(self, idx: int) -> None:
        """ck_epoch_unregister: reset the record and mark it FREE for ``recycle``."""
        r, w = self._rec(idx), self.words
        if w.load(r + _R_STATE) != USED:
            raise ValueError(f"epoch record {idx} is not registered")
        if w.load(r + _R_ACTIVE):
            raise RuntimeError(f"unregister of epoch record {idx} inside a section")
        if self._counts.get(idx, (0,))[0]:
            raise RuntimeError(f"epoch record {idx} has pending callbacks; barrier first")
        for off in range(_R_ACTIVE, REC, 8):
            if off != _R_VTIME:
                w.store(r + off, 0)
        # The reset above is visible before FREE (SC stores), as ck's fence_store.
        w.store(r + _R_STATE, FREE)
        w.fetch_add(self.offset + _H_NFREE, 1)
        self._touch(record_line(idx), STORE)
        self._pending.pop(idx, None)
        self._counts.pop(idx, None)

    def recycle(self) -> int | None:
        """ck_epoch_recycle: claim a FREE record, or return None when there is none."""
        w = self.words
        if w.load(self.offset + _H_NFREE) == 0:
            return None
        for i in range(self.capacity):
            r = self._rec(i)
            if w.load(r + _R_STATE) == FREE and w.xchg(r + _R_STATE, USED) == FREE:
                w.fetch_add(self.offset + _H_NFREE, -1)
                self._touch(record_line(i), RMW)
                self._own(i)
                return i
        return None

    # -- read-side sections ----------------------------------------------------------

    def begin(self, idx: int, section: Section | None = None, vtime: int | None = None) -> None:
        """ck_epoch_begin: enter a read section on record ``idx`` (nesting allowed)."""
        depth = self.fast.begin(idx, vtime)
        if self.touched is not None:
            if depth == 1:
                self.touched += [(record_line(idx), RMW), (GLOBAL_LINE, LOAD)]
            else:
                self.touched.append((record_line(idx), STORE))
        if section is not None:
            self._addref(idx, section)

    def end(self, idx: int, section: Section | None = None, vtime: int | None = None) -> bool:
        """ck_epoch_end: leave a read section; True when the record is now idle (or,
        with a section, when the section's bucket has drained)."""
        idle = self.fast.end(idx, vtime)
        self._touch(record_line(idx), STORE)
        if section is not None:
            return self._delref(idx, section)
        return idle

    def _addref(self, idx: int, section: Section) -> None:
        """_ck_epoch_addref: count the section in the bucket of the current epoch."""
        r, w = self._rec(idx), self.words
        epoch = self.fast.epoch()
        self._touch(GLOBAL_LINE, LOAD)
        i = epoch & (_SENSE - 1)
        ref = r + _R_BUCKET + 16 * i
        count = w.load(ref + 8)
        w.store(ref + 8, count + 1)
        if count == 0:
            # A new reference into this bucket caches its epoch. (ck fences here on
            # non-TSO machines when the other bucket is live; our loads are SC.)
            w.store(ref, epoch)
        section.bucket = i

    def _delref(self, idx: int, section: Section) -> bool:
        """_ck_epoch_delref: when a bucket drains and the other bucket is newer and
        live, move the record's epoch forward to it so writers can progress."""
        r, w = self._rec(idx), self.words
        i = section.bucket
        cur = r + _R_BUCKET + 16 * i
        count = w.load(cur + 8) - 1
        w.store(cur + 8, count)
        if count > 0:
            return False
        other = r + _R_BUCKET + 16 * ((i + 1) & (_SENSE - 1))
        if w.load(other + 8) > 0 and w.load(cur) < w.load(other):
            w.store(r + _R_EPOCH, w.load(other))
        return True

    # -- deferral and grace periods --------------------------------------------------

    def call(self, idx: int, fn: Callable[..., Any], *args: Any) -> None:
        """ck_epoch_call: run ``fn(*args)`` after a grace period, from this process.

        The callback is filed in the bucket of the current global epoch. The fence
        orders the caller's unlink before that load even if the unlink was a plain
        buffer write: a bucket must never be older than the epoch at the unlink.
        """
        if idx not in self._pending:
            self.adopt(idx)
        fence()
        e = self.fast.epoch()
        self._touch(GLOBAL_LINE, LOAD)
        self._pending[idx][e & (LENGTH - 1)].append((fn, args))
        c = self._counts[idx]
        c[0] += 1
        self.words.store(self._rec(idx) + _R_NPENDING, c[0])

    def _dispatch(self, idx: int, e: int, deferred: list | None) -> int:
        """ck_epoch_dispatch: run (or hand over) the callbacks of bucket ``e & 3``."""
        buckets = self._pending.get(idx)
        if not buckets:
            return 0
        b = e & (LENGTH - 1)
        if not buckets[b]:
            return 0
        entries, buckets[b] = buckets[b], []
        n = 0
        c = self._counts[idx]
        c[1] = max(c[1], c[0])
        try:
            for fn, args in entries:
                n += 1
                if deferred is not None:
                    deferred.append((fn, args))
                else:
                    fn(*args)
        except BaseException:
            buckets[b] = entries[n:] + buckets[b]  # the raiser ran; keep the rest
            raise
        finally:
            c[0] -= n
            c[2] += n
            r, w = self._rec(idx), self.words
            w.store(r + _R_NPENDING, c[0])
            w.store(r + _R_NPEAK, c[1])
            w.store(r + _R_NDISPATCH, c[2])
        return n

    def reclaim(self, idx: int) -> int:
        """ck_epoch_reclaim: dispatch every bucket (only after a grace period)."""
        return sum(self._dispatch(idx, e, None) for e in range(LENGTH))

    def _trace_scan(self, start: int, stop: int) -> None:
        if self.touched is not None:
            last = self.capacity - 1 if stop < 0 else stop
            self.touched += [(record_line(i), LOAD) for i in range(start, last + 1)]

    def synchronize_wait(self, cb: WaitCallback | None = None, vtime: int | None = None) -> None:
        """ck_epoch_synchronize_wait: return once every section that was open when this
        was called has ended. Must not be called from within a section.

        Up to two passes: each scans the records until all are idle or observed at the
        current epoch ``delta`` (calling ``cb`` on each record that is not), then ticks
        the global epoch. One pass at ``delta`` is not enough: a record seen at
        ``delta`` may have loaded it just before the caller's unlink became visible, so
        it can still hold a reference; once every active record has been seen at
        ``delta + 1`` no such record is left.
        """
        if vtime is not None and cb is None:
            raise ValueError("synchronize_wait with a vtime needs a callback that advances it")
        block = cb if cb is not None else _yield_block
        horizon = -1 if vtime is None else vtime
        fast = self.fast
        # Full fence: the caller's unlink (any store before this call) is ordered before
        # the record loads of the scan; pairs with the XCHG in begin. Then either the
        # scan sees a reader's active=1, or the reader's epoch load comes after our
        # fence and its later pointer loads cannot find what we unlinked.
        fence()
        delta = epoch = fast.epoch()
        self._touch(GLOBAL_LINE, LOAD)
        goal = epoch + GRACE
        for _ in range(GRACE - 1):
            start, resumed = 0, False
            while True:
                cr, active = fast.scan(delta, start, horizon)
                self._trace_scan(start, cr)
                if cr < 0:
                    break
                e_d = fast.epoch()
                self._touch(GLOBAL_LINE, LOAD)
                if e_d != delta:
                    # Another writer ticked: if it ticked past our goal, a grace
                    # period has elapsed since we started; else rescan at its epoch,
                    # since a grace period needs every record seen at one epoch.
                    delta = e_d
                    if delta >= goal:
                        return
                    start, resumed = 0, False
                else:
                    start, resumed = cr, True  # rescan from the blocker itself
                h = block(self, cr)
                if h is not None:
                    horizon = h
            # Every record was seen idle (since our fence): no section predates us.
            if not (active or resumed):
                break
            # Tick. CAS, not add: concurrent synchronizers of one snapshot tick once.
            # On failure we adopt the epoch someone else published, which was also
            # reached only after a full scan at its predecessor.
            seen = self.words.cas_value(self.offset + _G_EPOCH, delta, delta + 1)
            self._touch(GLOBAL_LINE, RMW)
            delta = delta + 1 if seen == delta else seen

    def synchronize(self, idx: int) -> None:
        """ck_epoch_synchronize for record ``idx``'s owner (must be outside a section)."""
        if self.words.load(self._rec(idx) + _R_ACTIVE):
            raise RuntimeError(f"synchronize inside a section of epoch record {idx}")
        self.synchronize_wait()

    def barrier(self, idx: int) -> int:
        """ck_epoch_barrier: synchronize, then dispatch every callback of ``idx``."""
        self.synchronize(idx)
        return self.reclaim(idx)

    def barrier_wait(
        self, idx: int, cb: WaitCallback | None = None, vtime: int | None = None
    ) -> int:
        """ck_epoch_barrier_wait: ``barrier`` with a blocking callback."""
        if self.words.load(self._rec(idx) + _R_ACTIVE):
            raise RuntimeError(f"barrier inside a section of epoch record {idx}")
        self.synchronize_wait(cb, vtime)
        return self.reclaim(idx)

    def poll(self, idx: int, deferred: list | None = None, vtime: int | None = None) -> bool:
        """ck_epoch_poll / ck_epoch_poll_deferred: non-blocking reclamation.

        Scans once at the current epoch E and, only after the scan:
        - dispatches bucket E-2: the tick to E-1 and the tick to E each followed a
          full scan, the latter after every call filed at E-2 (the global was still
          E-2 then), so no section that could see those objects survives;
        - if every record was idle, dispatches everything;
        - if every active record is at E, ticks E -> E+1 and dispatches bucket E-1:
          a section that could see an object filed at <= E-1 would have an epoch
          <= E-1 and would have stopped the scan.
        With ``deferred``, callbacks are appended as ``(fn, args)`` instead of run.
        Returns True when a grace period was observed or callbacks were dispatched.
        """
        horizon = -1 if vtime is None else vtime
        epoch = self.fast.epoch()
        self._touch(GLOBAL_LINE, LOAD)
        # Order the epoch snapshot and the caller's earlier stores before the scan.
        fence()
        cr, active = self.fast.scan(epoch, 0, horizon)
        self._trace_scan(0, cr)
        n = self._dispatch(idx, epoch - 2, deferred)
        if cr >= 0:
            return n > 0
        if not active:
            for e in range(LENGTH):
                self._dispatch(idx, e, deferred)
            return True
        self.words.cas(self.offset + _G_EPOCH, epoch, epoch + 1)
        self._touch(GLOBAL_LINE, RMW)
        self._dispatch(idx, epoch - 1, deferred)
        return True
