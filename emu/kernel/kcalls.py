"""Names shared by the CPU processes and the actor, fixed when modules are imported.

* kernel calls: functions on shared kernel state that a CPU asks the actor to run at its
  virtual time (`td.call(id)`), e.g. the DI tracker list insert inside invl_gen_mtx;
* callers: the kernel function a lock is taken from, for lockstat's Caller column.

Every module that registers one is imported by the supervisor before it forks, so an id
means the same thing in every process.  Ids follow import order, so a CPU proves it has
the actor's registry: its HELLO carries `registry_digest()`, which the actor compares with
its own (`check_registry`) and refuses with ERROR if they differ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

HANDLERS: list[Callable] = []   # handler(ks, th, t) -> vtime done, or None if it blocked
CALL_NAMES: list[str] = []
CALLERS: list[str] = ["-"]      # caller 0: unknown


def kcall(handler: Callable) -> int:
    """Register an actor-side handler; returns its id for `td.call`."""
    HANDLERS.append(handler)
    CALL_NAMES.append(handler.__name__)
    return len(HANDLERS) - 1


def caller(name: str) -> int:
    """The id of a kernel function name as a lock caller."""
    if name not in CALLERS:
        CALLERS.append(name)
    return CALLERS.index(name)


# A LOCK or UNLOCK op carries lock id and caller id in one int.
CALLER_SHIFT = 16


def pack_lock(lock: int, caller_id: int) -> int:
    return lock | (caller_id << CALLER_SHIFT)


def unpack_lock(arg: int) -> tuple[int, int]:
    return arg & ((1 << CALLER_SHIFT) - 1), arg >> CALLER_SHIFT


def registry_digest() -> str:
    """sha1 over the registry, in id order: each kernel call's `module.qualname`, then each
    lock caller's name."""
    h = hashlib.sha1()
    for fn in HANDLERS:
        h.update(f"call {fn.__module__}.{fn.__qualname__}\n".encode())
    for name in CALLERS:
        h.update(f"caller {name}\n".encode())
    return h.hexdigest()


def check_registry(digest: object) -> None:
    """A peer's HELLO digest against ours: ProtocolError (one line) if they differ, since
    its kernel-call and caller ids would then mean other functions here."""
    from emu.protocol import ProtocolError

    mine = registry_digest()
    if digest != mine:
        raise ProtocolError(f"kernel-call registry mismatch: the CPU's digest is {digest!r}, "
                            f"the actor's {mine!r} (different code or import order on the "
                            f"two sides)")
