"""The cache-line model: who holds each hot line, what moving it costs, and its queue.

A line has an owner (the CPU that last wrote it, holding it Modified), sharers (CPUs that
read it since, holding it Shared) and the time until which it is busy: accesses to one line
serialise, since the coherence protocol moves it to one core at a time.  A transfer costs
by topology distance (SMT sibling, same socket, other socket; see the machine preset); a
write must also invalidate the sharers, which costs the farthest one's distance.  Sources:
David, Guerraoui, Trigonakis, "Everything you always wanted to know about synchronization
but were afraid to ask" (SOSP'13), for the shape; Intel MLC figures for the numbers.
"""

from __future__ import annotations

from collections.abc import Hashable


class Line:
    __slots__ = ("owner", "sharers", "busy_until", "transfers", "accesses", "wait", "busy")

    def __init__(self) -> None:
        self.owner = -1                 # -1: in memory, nobody's cache
        self.sharers: set[int] = set()
        self.busy_until = 0
        self.transfers = 0              # times it moved between caches
        self.accesses = 0
        self.wait = 0                   # cycles accesses queued behind earlier ones
        self.busy = 0                   # cycles it was being moved or modified

    def account(self, t: int, start: int, done: int) -> None:
        self.accesses += 1
        self.wait += start - t
        self.busy += done - start


class Coherence:
    """All hot lines of the emulated machine, by id (any hashable: "swap_reserved",
    ("invl_gen", cpu), a lock word...)."""

    def __init__(self, transfer: list[list[int]], hit: int, atomic: int,
                 memory: int) -> None:
        self.transfer = transfer    # transfer[a][b]: cycles to move a line from a to b
        self.hit = hit              # load or store hitting the local L1
        self.atomic = atomic        # a lock-prefixed RMW on a line already held exclusive
        self.memory = memory        # first touch: the line comes from DRAM
        self.lines: dict[Hashable, Line] = {}

    def line(self, key: Hashable) -> Line:
        ln = self.lines.get(key)
        if ln is None:
            ln = self.lines[key] = Line()
        return ln

    def _fetch(self, ln: Line, cpu: int) -> int:
        """Cycles to bring the line to cpu, for a read."""
        if ln.owner == cpu or cpu in ln.sharers:
            return self.hit
        ln.transfers += 1
        return self.memory if ln.owner < 0 else self.transfer[ln.owner][cpu]

    def _own(self, ln: Line, cpu: int, invalidate: int) -> int:
        """Cycles to hold the line exclusive at cpu (an RFO): fetch it, invalidate sharers
        (those it tracks, and `invalidate`: the price of copies tracked by the caller)."""
        cost = self.hit if ln.owner == cpu else (
            self.memory if ln.owner < 0 else self.transfer[ln.owner][cpu])
        if ln.owner != cpu:
            ln.transfers += 1
        if ln.sharers:
            row = self.transfer[cpu]
            cost = max(cost, max(row[s] for s in ln.sharers))
            ln.sharers.clear()
        ln.owner = cpu
        return cost if cost >= invalidate else invalidate

    def read(self, key: Hashable, cpu: int, t: int) -> int:
        """A load at t: returns when the value is in hand."""
        ln = self.line(key)
        start = t if t >= ln.busy_until else ln.busy_until
        done = start + self._fetch(ln, cpu)
        ln.account(t, start, done)
        if ln.owner != cpu:
            ln.sharers.add(cpu)  # the owner keeps a copy: a later write need not fetch
        if done > start + self.hit:
            ln.busy_until = done
        return done

    def write(self, key: Hashable, cpu: int, t: int) -> int:
        """A plain store at t (the store buffer hides nothing here: it is in a critical
        section, and the line must be ours before the next access to it)."""
        ln = self.line(key)
        start = t if t >= ln.busy_until else ln.busy_until
        done = start + self._own(ln, cpu, 0)
        ln.busy_until = done
        ln.account(t, start, done)
        return done

    def rmw(self, key: Hashable, cpu: int, t: int, invalidate: int = 0) -> int:
        """A lock-prefixed read-modify-write (CAS, XCHG, fetchadd) at t."""
        ln = self.line(key)
        start = t if t >= ln.busy_until else ln.busy_until
        done = start + self._own(ln, cpu, invalidate) + self.atomic
        ln.busy_until = done
        ln.account(t, start, done)
        return done
