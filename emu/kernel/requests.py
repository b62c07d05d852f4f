"""What a kernel path yields: the requests its drivers (emu/kernel/kthread.py) carry out.

    Cycles(n)               local work
    Read/Write/Rmw(line)    an access to a cache line of kernel data (None: a line only
                            this CPU's cache ever holds, a private structure's)
    Lock(lock, caller)      a kernel mutex (lock None: one only this CPU ever takes)
    Unlock(lock, caller)
    Call(kid, args)         a kernel call on shared state (on a CPU: td.call)
    Ipi(targets, vector, a1, a2)  interrupt those CPUs and spin until every one acknowledged
    Sleep(chan)             sleep until wakeup(chan)
    MemXfer(arg)            a page's bytes through its socket's memory controllers
    Delay(n)                be off the CPU for n cycles (on a CPU: td.off_cpu)
    SYNC                    what follows happens at this point of virtual time
    NOW                     -> the virtual time here (None on a private path)

Every kernel path makes one request per step, so making one must cost little: each is a
small class with named fields (compiled, a C struct: emu/compiled.py; requests.pxd), which
a driver tells apart by its class.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

KPath = Generator[Any, Any, Any]   # a kernel path: yields requests, returns its value


class _Request:
    """Fields by name, a readable repr, equality by class and fields."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self._fields)

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={v!r}" for f, v in zip(self._fields, self._values(),
                                                         strict=True))
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._values() == self._values()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._values()))


class Cycles(_Request):
    __slots__ = ("n",)
    _fields = __slots__

    def __init__(self, n: int) -> None:
        self.n = n


class Read(_Request):
    __slots__ = ("line",)
    _fields = __slots__

    def __init__(self, line: Any) -> None:
        self.line = line


class Write(_Request):
    __slots__ = ("line",)
    _fields = __slots__

    def __init__(self, line: Any) -> None:
        self.line = line


class Rmw(_Request):
    __slots__ = ("line",)
    _fields = __slots__

    def __init__(self, line: Any) -> None:
        self.line = line


class Lock(_Request):
    __slots__ = ("lock", "caller")
    _fields = __slots__

    def __init__(self, lock: int | None, caller: int = 0) -> None:
        self.lock = lock
        self.caller = caller


class Unlock(_Request):
    __slots__ = ("lock", "caller")
    _fields = __slots__

    def __init__(self, lock: int | None, caller: int = 0) -> None:
        self.lock = lock
        self.caller = caller


class Ipi(_Request):
    __slots__ = ("targets", "vector", "a1", "a2")
    _fields = __slots__

    def __init__(self, targets: tuple[int, ...], vector: int, a1: int = 0,
                 a2: int = 0) -> None:
        self.targets = targets
        self.vector = vector
        self.a1 = a1
        self.a2 = a2


class Sleep(_Request):
    __slots__ = ("chan",)
    _fields = __slots__

    def __init__(self, chan: Any) -> None:
        self.chan = chan


class Delay(_Request):
    __slots__ = ("n",)
    _fields = __slots__

    def __init__(self, n: int) -> None:
        self.n = n


class MemXfer(_Request):
    """Bytes through a socket's memory controllers (emu/hw/memctl.py: memctl_arg)."""

    __slots__ = ("arg",)
    _fields = __slots__

    def __init__(self, arg: int) -> None:
        self.arg = arg


class Call(_Request):
    """td.call(kid, *args): a kernel call run by the actor (emu/kernel/kcalls.py)."""

    __slots__ = ("kid", "args")
    _fields = __slots__

    def __init__(self, kid: int, args: tuple[int, ...] = ()) -> None:
        self.kid = kid
        self.args = args


class Mark(_Request):
    """A point in a path (SYNC, NOW): compared by identity."""

    __slots__ = ("name",)
    _fields = __slots__

    def __init__(self, name: str) -> None:
        self.name = name


SYNC = Mark("SYNC")
NOW = Mark("NOW")
