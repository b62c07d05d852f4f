"""run_local: a kernel path run on the CPU that takes it, in its own process.

Costs become `td.cycles`, a private line or mutex (None) a local cost, and shared ones the
CPU's operations (emu/kernel/ops.py); what needs shared state the actor owns (an IPI, a
sleep) is refused.  The kernel actor's own driver is emu/kernel/kthread.py's `start`.
This driver stays Python source, never compiled (emu/compiled.py): `--profile` reads its
frame to charge each cycle to the generator it drives (emu/clock/profile.py).
"""

from __future__ import annotations

from typing import Any

from emu.kernel.requests import (
    Call,
    Cycles,
    Delay,
    KPath,
    Lock,
    Mark,
    MemXfer,
    Read,
    Rmw,
    Unlock,
    Write,
)


def run_local(td, gen: KPath) -> Any:
    """Run a kernel path on this CPU; returns its value."""
    cost = td.cost
    value = None
    try:
        while True:
            req = gen.send(value)
            value = None
            k = req.__class__
            if k is Cycles:
                td.cycles(req.n)
            elif k is Mark:
                continue
            elif k is Rmw:
                if req.line is None:
                    td.cycles(cost.atomic_local)
                else:
                    td.atomic(req.line)
            elif k is Read or k is Write:
                if req.line is None:
                    td.cycles(cost.l1_hit)
                elif k is Read:
                    td.read(req.line)
                else:
                    td.write(req.line)
            elif k is Lock:
                if req.lock is None:
                    td.cycles(cost.atomic_local)
                else:
                    td.mtx_lock(req.lock, req.caller)
            elif k is Unlock:
                if req.lock is None:
                    td.cycles(cost.atomic_local)
                else:
                    td.mtx_unlock(req.lock, req.caller)
            elif k is MemXfer:
                td.memctl(req.arg)
            elif k is Call:
                td.call(req.kid, *req.args)
            elif k is Delay:
                td.off_cpu(req.n)
            else:
                raise RuntimeError(f"{req!r} needs the kernel actor: not on a CPU's path")
    except StopIteration as stop:
        return stop.value
