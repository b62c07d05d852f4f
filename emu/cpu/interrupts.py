"""Interrupt handlers run by a CPU process when the actor delivers an IPI.

The handler's cost is fixed by the machine preset and never drawn from the CPU's RNG: an
interrupt arrives at a host moment unrelated to the CPU's own stream, and a draw there would
make the rest of the stream depend on host timing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emu.counters import T_IPI_RECEIVED

if TYPE_CHECKING:
    from emu.counters import CounterBoard
    from emu.cpu.td import Td

IPI_RENDEZVOUS = 1  # the generic vector: run the handler, acknowledge


def handle_interrupt(td: Td, board: CounterBoard, vector: int, initiator: int) -> int:
    """Run the handler for `vector`; returns the cycles it took."""
    del vector, initiator  # one vector so far; TLB shootdown handlers join here
    idx = board.task_index(td.task, T_IPI_RECEIVED)
    board.words[idx] += 1
    return td.cost.ipi_handler
