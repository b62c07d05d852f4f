"""Delayed-invalidation (DI) strategies for pmap_remove: one module each, found by scanning
this package (emu.kernel.strategies).

DI brackets pmap_remove and pmap_advise (sys/amd64/amd64/pmap.c): a section opened by
pmap_delayed_invl_started() and closed by pmap_delayed_invl_finished() after the TLB
shootdown, so that pmap_delayed_invl_wait(m) in pmap_remove_all and pmap_remove_write can
wait out every section that removed a mapping of m before it began.

A strategy module defines (checked by emu.kernel.strategies.check_interface):

    pmap_delayed_invl_started(k)    a generator: a kernel path (emu/kernel/kthread.py) run
    pmap_delayed_invl_finished(k)   on the CPU by `run_local`, with k a KCtx whose `td` is
                                    the CPU's Td; it yields what the hook costs (Cycles,
                                    Lock/Unlock, Call, Read/Write/Rmw)
    configure(kc)                   declare its locks and lines on the KernelConfig, before
                                    the supervisor forks (every process agrees on the ids)
    invl_model()                    a fresh InvlModel: what the strategy guarantees, which
                                    `emu check` holds the machine to (emu/kernel/invl.py)

and may define:

    DEFAULT = True        it is the strategy used when none is named (one module per kind)
    NEEDS_EPOCH = True    the supervisor allocates epoch(9) records before forking
                          (`kc.epoch`; emu.kernel.config.KernelConfig.needs_epoch)
    init_state(ks)        the actor's state of the strategy, kept in
                          `ks.strategy_state["di"]` (emu/kernel/state.py)

Kernel calls the hooks make (`Call(kid)`) are registered at import, with kcall or gcall
(emu/kernel/kcalls.py), so the module's import order fixes their ids.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from emu.kernel.kthread import KCtx, KPath

# The hooks a DI strategy implements: generator functions taking a KCtx.
HOOKS = ("pmap_delayed_invl_started", "pmap_delayed_invl_finished")


@runtime_checkable
class InvlModel(Protocol):
    """What a DI strategy promises, in the actor's virtual time (emu/kernel/invl.py drives
    it from the DI_ENTER/DI_EXIT markers and pmap_delayed_invl_page/_wait)."""

    spin: bool      # waiters spin before they sleep (the wakeup's cost)

    def enter(self, cpu: int) -> None:
        """cpu's section opens (just after pmap_delayed_invl_started)."""

    def exit(self, cpu: int) -> bool:
        """cpu's section closes (just before pmap_delayed_invl_finished); True if waiters
        may go now (they are woken and look again)."""

    def page(self, cpu: int, m: Any) -> None:
        """pmap_delayed_invl_page: cpu's open section unmapped page m."""

    def wait_for(self, m: Any) -> Any:
        """pmap_delayed_invl_wait(m) begins: a token of what it must wait out."""

    def done(self, token: Any) -> bool:
        """Whether the wait that began with `token` may return."""


@runtime_checkable
class DiStrategy(Protocol):
    """A DI strategy module."""

    def pmap_delayed_invl_started(self, k: KCtx) -> KPath:
        """Open a DI section for k.td (before pmap_remove's PTE walk)."""

    def pmap_delayed_invl_finished(self, k: KCtx) -> KPath:
        """Close k.td's section (after its TLB shootdown)."""

    def configure(self, kc: Any) -> None:
        """Declare the strategy's locks and lines on the KernelConfig."""

    def invl_model(self) -> InvlModel:
        """A fresh model of what the strategy guarantees, for `emu check`."""


INTERFACE = DiStrategy   # what emu.kernel.strategies.check_interface holds a module to
