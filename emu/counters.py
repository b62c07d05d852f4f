"""The run's counter board: one anonymous shared mapping read without messages.

The supervisor creates it before forking, so every child inherits the same pages and there
is no name in /dev/shm to leak, whatever way the run ends.  All fields are uint64 words:

    header   HDR_WORDS words: state, actor heartbeat, shared events, ...
    tasks    per task, TASK_WORDS words (one 64-byte line each): iterations, vtime, passed
    ring     per task, RING boundary snapshots: iterations completed by each sample boundary
    locks    per lock, LOCK_WORDS words: see LOCK_FIELDS
"""

from __future__ import annotations

import mmap

HDR_WORDS = 8
H_STATE, H_HEARTBEAT, H_EVENTS, H_FRONTIER = range(4)
STATE_STARTING, STATE_RUNNING, STATE_DONE, STATE_FAILED = range(4)

TASK_WORDS = 8
T_ITERATIONS, T_VTIME, T_PASSED, T_IPI_SENT, T_IPI_RECEIVED, T_SHOOTDOWNS, \
    T_IPI_ACKED = range(7)
# T_SHOOTDOWNS: TLB shootdowns this task initiated (smp_targeted_tlb_shootdown); the live
# view and `emu top` show its rate.  T_IPI_ACKED: ACKs this task's IPIs got back.

LOCK_WORDS = 12
LOCK_FIELDS = ("acquisitions", "contentions", "spin_cycles", "block_cycles", "hold_cycles",
               "events", "wait_min_cycles", "wait_max_cycles", "hold_min_cycles",
               "hold_max_cycles", "pause_cycles")
# The extremes: a contended acquisition's whole wait (spin + block), and each hold.
# pause_cycles: the part of spin_cycles spent in lock_delay's PAUSEs (the rest is the
# spinner's own reads and fcmpsets of the lock word), as a profile splits it.
L_WAIT_MIN = LOCK_FIELDS.index("wait_min_cycles")   # then wait_max_cycles
L_HOLD_MIN = LOCK_FIELDS.index("hold_min_cycles")   # then hold_max_cycles


def note_extremes(row: list[int], lo: int, value: int) -> None:
    """row[lo] and row[lo + 1]: the least and the greatest value seen (0: none yet)."""
    if value and (row[lo] == 0 or value < row[lo]):
        row[lo] = value
    if value > row[lo + 1]:
        row[lo + 1] = value

RING = 4096


class CounterBoard:
    """uint64 counters in an anonymous MAP_SHARED mapping, inherited across fork."""

    def __init__(self, ntasks: int, nlocks: int) -> None:
        self.ntasks, self.nlocks = ntasks, nlocks
        self._task0 = HDR_WORDS
        self._ring0 = self._task0 + ntasks * TASK_WORDS
        self._lock0 = self._ring0 + ntasks * RING
        nwords = self._lock0 + nlocks * LOCK_WORDS
        self._map = mmap.mmap(-1, nwords * 8, flags=mmap.MAP_SHARED)
        self.words = memoryview(self._map).cast("Q")

    # header
    def get(self, field: int) -> int:
        return self.words[field]

    def set(self, field: int, value: int) -> None:
        self.words[field] = value

    # per task
    def task_index(self, task: int, field: int) -> int:
        return self._task0 + task * TASK_WORDS + field

    def task(self, task: int, field: int) -> int:
        return self.words[self._task0 + task * TASK_WORDS + field]

    def ring_index(self, task: int, boundary: int) -> int:
        return self._ring0 + task * RING + boundary % RING

    def boundary_count(self, task: int, boundary: int) -> int:
        """Iterations task had completed by sample boundary `boundary`."""
        return self.words[self._ring0 + task * RING + boundary % RING]

    # per lock
    def lock_index(self, lock: int) -> int:
        return self._lock0 + lock * LOCK_WORDS

    def lock_stats(self, lock: int) -> dict[str, int]:
        base = self._lock0 + lock * LOCK_WORDS
        return {name: self.words[base + i] for i, name in enumerate(LOCK_FIELDS)}

    def close(self) -> None:
        self.words.release()
        self._map.close()
