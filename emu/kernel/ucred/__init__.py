"""ucred reference-count strategies: one module each, found by scanning this package
(emu.kernel.strategies).

A map entry holds a reference on its credential: vm_map_insert takes it, crhold(), and
vm_map_entry_delete drops it, crfree(); the swap accounting reads the credential's uidinfo
(`cred->cr_ruidinfo`), cred_read().

A strategy module defines (checked by emu.kernel.strategies.check_interface):

    crhold(k)        generators: kernel paths (emu/kernel/kthread.py) run on the CPU by
    crfree(k)        `run_local` (or delegated to with `yield from`, as the swap strategies
    cred_read(k)     do with cred_read), with k a KCtx whose `td` is the CPU's Td
    configure(kc)    declare its lines on the KernelConfig, before the supervisor forks

and may define `DEFAULT = True` (the strategy used when none is named: one module per
kind) and `init_state(ks)` (its state in the actor, `ks.strategy_state["ucred"]`).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from emu.kernel.kthread import KCtx, KPath

# The hooks a ucred strategy implements: generator functions taking a KCtx.
HOOKS = ("crhold", "crfree", "cred_read")


@runtime_checkable
class UcredStrategy(Protocol):
    """A ucred reference-count strategy module."""

    def crhold(self, k: KCtx) -> KPath:
        """Take a reference on k.td's credential (atomic_add_int(&cr->cr_ref, 1))."""

    def crfree(self, k: KCtx) -> KPath:
        """Drop one."""

    def cred_read(self, k: KCtx) -> KPath:
        """Read a field of the credential (cr_ruidinfo)."""

    def configure(self, kc: Any) -> None:
        """Declare the strategy's lines on the KernelConfig."""


INTERFACE = UcredStrategy   # what emu.kernel.strategies.check_interface holds a module to
