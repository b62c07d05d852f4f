"""Swap-reservation accounting strategies: one module each, found by scanning this package
(emu.kernel.strategies).

vm_map_insert charges a private writable mapping to swap, swap_reserve_by_cred(), and
vm_map_entry_delete gives the charge back, swap_release_by_cred() (sys/vm/swap_pager.c):
the global `swap_reserved` and the uid's `ui_vmsize`.  The counters themselves, shared by
the strategies that update them with atomics, are emu/kernel/swap_pager.py.

A strategy module defines (checked by emu.kernel.strategies.check_interface):

    swap_reserve_by_cred(k, bytes)  generators: kernel paths (emu/kernel/kthread.py) run
    swap_release_by_cred(k, bytes)  on the CPU by `run_local`, with k a KCtx whose `td` is
                                    the CPU's Td; they yield what the accounting costs
    configure(kc)                   declare its locks and lines on the KernelConfig, before
                                    the supervisor forks

and may define `DEFAULT = True` (the strategy used when none is named: one module per
kind) and `init_state(ks)` (its state in the actor, `ks.strategy_state["swap"]`).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from emu.kernel.kthread import KCtx, KPath

# The hooks a swap strategy implements: generator functions taking a KCtx and a size.
HOOKS = ("swap_reserve_by_cred", "swap_release_by_cred")


@runtime_checkable
class SwapStrategy(Protocol):
    """A swap-reservation strategy module."""

    def swap_reserve_by_cred(self, k: KCtx, incr: int) -> KPath:
        """Reserve `incr` bytes for k.td's credential (never fails: vm.overcommit = 0)."""

    def swap_release_by_cred(self, k: KCtx, decr: int) -> KPath:
        """Give back `decr` bytes."""

    def configure(self, kc: Any) -> None:
        """Declare the strategy's locks and lines on the KernelConfig."""


INTERFACE = SwapStrategy   # what emu.kernel.strategies.check_interface holds a module to
