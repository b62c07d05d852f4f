"""Giving up the CPU (sys/kern/kern_synch.c): mi_switch to the idle thread and back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from emu.kernel.kthread import Delay, KCtx
from emu.kernel.pmap import pmap_activate

if TYPE_CHECKING:
    from emu.kernel.proc import Proc


def mi_switch(k: KCtx, p: Proc, cycles: int) -> Iterator:
    """Switch away for `cycles` and back: cpu_switch leaves the pmap's pm_active (the %cr3
    load flushes the TLB's user entries) and rejoins it when the thread runs again."""
    yield from pmap_activate(k, p, on=False)
    yield Delay(max(cycles, 1))
    yield from pmap_activate(k, p)
