"""The cache-line model: who holds each hot line, what moving it costs, and its queue.

A line has an owner (the CPU that last wrote it, holding it Modified), sharers (CPUs that
read it since, holding it Shared) and the time until which it is busy: accesses to one line
serialise, since the coherence protocol moves it to one core at a time.  A transfer costs
by topology distance (SMT sibling, same socket, other socket; see the machine preset) and,
across sockets, by direction: into the line's home socket is dearer (Skylake-SP reads its
memory directory first; RunSpec.transfer_table).  A write must also invalidate the sharers,
which costs the farthest one's miss to the writer.  Sources:
David, Guerraoui, Trigonakis, "Everything you always wanted to know about synchronization
but were afraid to ask" (SOSP'13), for the shape; Intel MLC figures for the numbers.

A transfer's price is a miss's latency, three legs of a home-snoop protocol (Intel's
MESIF; on Skylake-SP the CHA that tracks the line): the request to the line's home agent,
the snoop from there to the owner, the data from the owner to the requester.  A request
that arrives while the line is busy waits, its first leg travelled.  Behind a transfer it
waits at the home agent, which serialises the transactions on one line, and has the line
two legs (snoop, data) after the transfer ends; behind an operation in the owner's own
cache (a lock release, say) its snoop is already at the owner, whose core answers it once
the operation is done: one leg (data).  Every queued request follows that rule, whichever
path made it: a newcomer's fast-path fcmpset, a spinner's, an atomic.  So a line hammered
by many CPUs serves them somewhat faster than one miss apart, as measured contended
atomics do (SOSP'13, Fig. 4), and the requester still waits at least the full latency.
(The proof of concept's ~7M ops/s at 48 processes, bound by two such lines, agrees
within 10%.)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable


def leg(cost: int) -> int:
    """One leg of a miss of `cost`: a miss is three (request, snoop, data)."""
    return (cost + 2) // 3


class Line:
    __slots__ = ("owner", "sharers", "busy_until", "moving", "written", "transfers",
                 "accesses", "wait", "busy")

    def __init__(self) -> None:
        self.owner = -1                 # -1: in memory, nobody's cache
        self.sharers: set[int] = set()
        self.busy_until = 0
        self.moving = False             # busy with a transfer (not an op in its owner's cache)
        self.written = 0                # when it was last written (its copies invalidated)
        self.transfers = 0              # times it moved between caches
        self.accesses = 0
        self.wait = 0                   # cycles accesses queued behind earlier ones
        self.busy = 0                   # cycles it was being moved or modified

    def account(self, t: int, start: int, done: int) -> None:
        self.accesses += 1
        self.wait += start - t
        self.busy += done - start


def line_handed(ln: Line, cost: int) -> int:
    """When a request with a miss of `cost`, queued at the home agent while the line was
    busy, has the line: two legs (snoop, data) after a transfer ends, since the home
    serialises transactions on one line; one leg (data) after an operation in the owner's
    own cache, whose core held the snoop that had already reached it."""
    return ln.busy_until + ((2 * cost + 2) // 3 if ln.moving else leg(cost))


class Coherence:
    """All hot lines of the emulated machine, by id (any hashable: "swap_reserved",
    ("invl_gen", cpu), a lock word...)."""

    def __init__(self, transfer: list[list[int]], hit: int, atomic: int,
                 memory: int) -> None:
        self.transfer = transfer    # transfer[a][b]: cycles to move a line from a to b
        #                             (not symmetric: see RunSpec.transfer_table)
        # inbound[b][a] = transfer[a][b]: the column an RFO at b reads to price its sharers
        self.inbound = [list(col) for col in zip(*transfer, strict=True)]
        self.hit = hit              # load or store hitting the local L1
        self.atomic = atomic        # a lock-prefixed RMW on a line already held exclusive
        self.memory = memory        # first touch: the line comes from DRAM
        self.lines: defaultdict[Hashable, Line] = defaultdict(Line)  # made on first use

    def line(self, key: Hashable) -> Line:
        return self.lines[key]

    def _fetch(self, ln: Line, cpu: int) -> int:
        """Cycles to bring the line to cpu, for a read."""
        if ln.owner == cpu or cpu in ln.sharers:
            return self.hit
        ln.transfers += 1
        return self.memory if ln.owner < 0 else self.transfer[ln.owner][cpu]

    def _own(self, ln: Line, cpu: int, invalidate: int) -> int:
        """Cycles to hold the line exclusive at cpu (an RFO): fetch it, invalidate sharers
        (those it tracks, and `invalidate`: the price of copies tracked by the caller)."""
        cost = self._rfo(ln, cpu)
        if ln.owner != cpu:
            ln.transfers += 1
        if ln.sharers:
            ln.sharers.clear()
        ln.owner = cpu
        return cost if cost >= invalidate else invalidate

    def _rfo(self, ln: Line, cpu: int) -> int:
        """The price of an RFO at cpu: fetch from the owner (or memory), and invalidate the
        farthest sharer (priced as a miss from its cache to cpu's)."""
        cost = self.hit if ln.owner == cpu else (
            self.memory if ln.owner < 0 else self.transfer[ln.owner][cpu])
        if ln.sharers:
            col = self.inbound[cpu]
            for sharer in ln.sharers:
                far = col[sharer]
                if far > cost:
                    cost = far
        return cost

    def _served(self, ln: Line, t: int, cost: int, extra: int) -> int:
        """When an access issued at t with a miss of `cost` completes, and account it."""
        busy = ln.busy_until
        start = t if t >= busy else busy
        if cost > self.hit:
            done = t + cost
            handed = line_handed(ln, cost)
            if handed > done:
                done = handed
        else:
            done = start + cost
        done += extra
        ln.accesses += 1            # Line.account, inline: this runs for every access
        ln.wait += start - t
        ln.busy += done - start
        return done

    def rfo_cost(self, key: Hashable, cpu: int) -> int:
        """What taking the line exclusive at cpu would cost now (nothing changes)."""
        return self._rfo(self.lines[key], cpu)

    def read(self, key: Hashable, cpu: int, t: int) -> int:
        """A load at t: returns when the value is in hand."""
        ln = self.lines[key]
        cost = self._fetch(ln, cpu)
        done = self._served(ln, t, cost, 0)
        if ln.owner != cpu:
            ln.sharers.add(cpu)  # the owner keeps a copy: a later write need not fetch
        if cost > self.hit:
            ln.busy_until = done
            ln.moving = True
        return done

    def write(self, key: Hashable, cpu: int, t: int) -> int:
        """A store at t: returns when the line is ours and the store done (what a store
        that must be visible before the thread goes on costs; a thread's plain stores go
        through its store buffer, `store`)."""
        ln = self.lines[key]
        cost = self._own(ln, cpu, 0)
        done = self._served(ln, t, cost, 0)
        ln.busy_until = ln.written = done
        ln.moving = cost > self.hit
        return done

    def store(self, th, key: Hashable, t: int) -> int:
        """A plain store by thread th at t, through its store buffer: the core goes on at
        once while the store's RFO runs, so the misses of stores to different lines
        overlap (scattered stores to DRAM retire every 15-20 cycles against a ~200-cycle
        load latency: Downs, "Random writes and microcode, oh my", 2019); th.drain is when
        the last of them is done, which th's next locked instruction waits for (x86 TSO:
        a locked instruction drains the store buffer, Intel SDM vol. 3A, 8.2.2).
        Returns when th goes on."""
        done = self.write(key, th.cpu, t)
        if done > th.drain:
            th.drain = done
        return t

    @staticmethod
    def drained(th, t: int) -> int:
        """When a locked instruction th issues at t can start: once its stores are done."""
        return th.drain if th.drain > t else t

    def rmw(self, key: Hashable, cpu: int, t: int, invalidate: int = 0) -> int:
        """A lock-prefixed read-modify-write (CAS, XCHG, fetchadd) at t."""
        ln = self.lines[key]
        cost = self._own(ln, cpu, invalidate)
        done = self._served(ln, t, cost, self.atomic)
        ln.busy_until = ln.written = done
        ln.moving = cost > self.hit
        return done

    def rmw_arrived(self, key: Hashable, cpu: int, t: int, travel: int) -> int:
        """A lock-prefixed RMW issued `travel` (a whole miss) before t, that arrives now
        (see Mtx.acquire).  If the line was free when its request reached the home agent,
        it is here now; if it was busy, the request waited and is handed the line as in
        _served."""
        ln = self.lines[key]
        moved = ln.owner != cpu
        if moved:
            ln.transfers += 1
        ln.sharers.clear()
        ln.owner = cpu
        busy = ln.busy_until
        start = t if t >= busy else busy
        handed = line_handed(ln, travel)
        done = (handed if handed > t else t) + self.atomic
        ln.account(t, start, done)
        ln.busy_until = ln.written = done
        ln.moving = moved
        return done
