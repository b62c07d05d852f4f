"""Interrupt handlers run by a CPU process when the actor delivers an IPI.

The handler's cost is fixed by the machine preset and the interrupt itself, never drawn from
the CPU's RNG: an interrupt arrives at a host moment unrelated to the CPU's own stream, and
a draw there would make the rest of the stream depend on host timing.

TLB shootdown vectors (amd64 invltlb_handler, invlpg_handler, invlrng_handler): invalidate,
then store the generation to this CPU's pc_smp_tlb_done, which the initiator spins on (the
ACK).  The invalidation is posted to the TLB with its delivery time (emu/hw/tlb.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emu.counters import T_IPI_RECEIVED
from emu.hw.tlb import IPI_INVLPG, IPI_INVLRNG, IPI_INVLTLB, IPI_RENDEZVOUS, PAGE_SHIFT

if TYPE_CHECKING:
    from emu.counters import CounterBoard
    from emu.cpu.td import Td

__all__ = ["IPI_INVLPG", "IPI_INVLRNG", "IPI_INVLTLB", "IPI_RENDEZVOUS", "handle_interrupt",
           "handler_cycles"]


def handler_cycles(cost, vector: int, a1: int, a2: int) -> int:
    """Interrupt entry/exit plus the invalidation the vector asks for."""
    n = cost.ipi_handler
    if vector == IPI_INVLPG:
        n += getattr(cost, "invlpg", 0)
    elif vector == IPI_INVLRNG:
        n += getattr(cost, "invlpg", 0) * ((a2 - a1) >> PAGE_SHIFT)
    elif vector == IPI_INVLTLB:
        n += getattr(cost, "invltlb", 0)
    return n


def handle_interrupt(td: Td, board: CounterBoard, vtime: int, vector: int, initiator: int,
                     a1: int = 0, a2: int = 0) -> int:
    """Run the handler for `vector`, delivered at `vtime`; returns the cycles it took."""
    del initiator
    board.words[board.task_index(td.task, T_IPI_RECEIVED)] += 1
    td.tlb.post(vtime, vector, a1, a2)
    return handler_cycles(td.cost, vector, a1, a2)
