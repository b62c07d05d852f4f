"""The CPU's TLB: virtual page -> physical page, filled by accesses, emptied by invalidations.

Entries are (pa, writable, gen, wgen, filled_at): `gen` and `wgen` are the page's allocation
and write-protection generations when the entry was filled, so the checker can tell a stale
entry from a fresh one.  The second-level TLB of a Skylake core holds 1536 entries; the
oldest fill is evicted first.

Remote invalidations (TLB shootdown IPIs) are *posted* with their virtual delivery time and
applied by `deliver(T)` once the CPU knows it is at T (emu/clock/virtual.py explains why
this is exact); under the wall clock they are applied on arrival.
"""

from __future__ import annotations

from collections import OrderedDict
from heapq import heappop, heappush

PAGE_SHIFT = 12

# IPI vectors (amd64 apicvar.h): the generic one and the three TLB shootdowns.
IPI_RENDEZVOUS, IPI_INVLTLB, IPI_INVLPG, IPI_INVLRNG = 1, 2, 3, 4


class Tlb:
    __slots__ = ("entries", "capacity", "pending", "seq", "fills", "misses")

    def __init__(self, capacity: int = 1536) -> None:
        self.entries: OrderedDict[int, tuple] = OrderedDict()
        self.capacity = capacity
        self.pending: list[tuple[int, int, int, int, int]] = []  # (vtime, seq, vector, a1, a2)
        self.seq = 0
        self.fills = 0
        self.misses = 0

    def lookup(self, va: int) -> tuple | None:
        return self.entries.get(va)

    def fill(self, va: int, entry: tuple) -> None:
        entries = self.entries
        if va not in entries and len(entries) >= self.capacity:
            # The oldest fill, in O(1): a plain dict's first key is found by scanning past
            # the slots its deletions left, which a TLB refilled in order makes quadratic.
            entries.popitem(last=False)
        entries[va] = entry
        self.fills += 1

    # invlpg / invlrng / invltlb
    def invlpg(self, va: int) -> None:
        self.entries.pop(va, None)

    def invlrng(self, sva: int, eva: int) -> None:
        entries = self.entries
        if (eva - sva) >> PAGE_SHIFT < len(entries):
            for va in range(sva, eva, 1 << PAGE_SHIFT):
                entries.pop(va, None)
        else:
            for va in [v for v in entries if sva <= v < eva]:
                del entries[va]

    def invltlb(self) -> None:
        self.entries.clear()

    def invalidate(self, vector: int, a1: int, a2: int) -> None:
        if vector == IPI_INVLPG:
            self.invlpg(a1)
        elif vector == IPI_INVLRNG:
            self.invlrng(a1, a2)
        elif vector == IPI_INVLTLB:
            self.invltlb()

    # remote invalidations
    def post(self, vtime: int, vector: int, a1: int, a2: int) -> None:
        if vector == IPI_RENDEZVOUS:
            return
        self.seq += 1
        heappush(self.pending, (vtime, self.seq, vector, a1, a2))

    def deliver(self, now: int | None) -> None:
        """Apply the invalidations delivered at or before `now` (None: all of them)."""
        pending = self.pending
        while pending and (now is None or pending[0][0] <= now):
            _, _, vector, a1, a2 = heappop(pending)
            self.invalidate(vector, a1, a2)
