"""A socket's memory controllers as one shared resource: its DRAM bandwidth.

Zeroing or copying a page moves its bytes through the memory controllers of the socket whose
DRAM holds it (the page's domain).  A socket's controllers serve every CPU's transfers at
the socket's bandwidth, so when the CPUs of a socket together ask for more than that, each
transfer waits behind the others: a fault's zeroing slows as more CPUs zero at once.

The controllers are a FIFO server in virtual time: a transfer of n bytes occupies them for
n / bandwidth cycles, from when it is issued or when the transfers ahead of it are done,
whichever is later.  A CPU's own core moves a page no faster than its line fill buffers
allow (the preset's pmap_zero_page / pmap_copy_page cycles, paid as local work), so a
transfer is issued when the core's work on the page began and the CPU is done at the
later of its core's end and the controllers' (`transfer`).  A 4 KB page is 64 line
transfers the controllers interleave with everyone else's; serving it as one request is
the fluid view of those 64, exact in the bytes each interval carries.

Bandwidth per socket: channels x MT/s x 8 bytes x efficiency, the preset's `dram_*` costs
(emu/hw/presets/*.toml gives each its source).  The server runs in the actor, one per
socket, made with the run's KernelState (`memctl_for`); the op that reaches it is MEMCTL
(emu/kernel/ops.py), which the reference simulation runs through the same table.
"""

from __future__ import annotations

import math
from typing import Any

from emu.hw.machine import MachineError

CORE_SHIFT = 32            # MEMCTL's argument: core cycles << 32 | bytes << 4 | domain
BYTES_MASK = (1 << 28) - 1
DOMAIN_MASK = 0xF


def memctl_arg(domain: int, nbytes: int, core: int) -> int:
    """The MEMCTL operand: which socket's DRAM, how many bytes, and the core's own cycles
    for them (paid as local work just before the op)."""
    return core << CORE_SHIFT | nbytes << 4 | domain


DRAM_COSTS = ("dram_channels", "dram_mts", "dram_efficiency")


def bandwidth_bytes_per_s(costs: dict) -> float:
    """A socket's sustained DRAM bandwidth: channels x MT/s x 8 bytes x efficiency."""
    missing = [name for name in DRAM_COSTS if name not in costs]
    if missing:
        raise MachineError(f"the machine has no cost {missing[0]!r} (a socket's DRAM: "
                           f"{', '.join(DRAM_COSTS)})")
    return (float(costs["dram_channels"]) * float(costs["dram_mts"]) * 1e6 * 8.0
            * float(costs["dram_efficiency"]))


class MemCtl:
    """The memory controllers of each socket: a FIFO server of bytes at `bw` per cycle."""

    __slots__ = ("bytes_per_cycle", "free_at", "requests", "bytes", "busy", "wait")

    def __init__(self, sockets: int, bytes_per_cycle: float) -> None:
        if bytes_per_cycle <= 0:
            raise ValueError("the DRAM bandwidth must be positive")
        self.bytes_per_cycle = bytes_per_cycle
        self.free_at = [0] * sockets     # when each socket's queued transfers are done
        self.requests = [0] * sockets
        self.bytes = [0] * sockets
        self.busy = [0] * sockets        # cycles of service
        self.wait = [0] * sockets        # cycles CPUs waited past their core's own time

    def service(self, nbytes: int) -> int:
        """Cycles the controllers spend on n bytes (rounded up: never free)."""
        return max(1, math.ceil(nbytes / self.bytes_per_cycle))

    def transfer(self, domain: int, t: int, nbytes: int, core: int) -> int:
        """A transfer whose core work ended at t, having taken `core` cycles: when the CPU
        may go on."""
        svc = self.service(nbytes)
        issue = t - core
        free = self.free_at[domain]
        start = issue if issue > free else free
        free = start + svc
        self.free_at[domain] = free
        self.requests[domain] += 1
        self.bytes[domain] += nbytes
        self.busy[domain] += svc
        if free > t:
            self.wait[domain] += free - t
            return free
        return t

    def rows(self, cycles: int = 0) -> list[dict]:
        """Per socket: requests, bytes, busy and wait cycles, utilisation over `cycles`."""
        return [{"name": f"memory controllers (socket {s})", "requests": self.requests[s],
                 "bytes": self.bytes[s], "busy_cycles": self.busy[s],
                 "wait_cycles": self.wait[s],
                 "utilisation": round(self.busy[s] / cycles, 4) if cycles else 0.0}
                for s in range(len(self.free_at)) if self.requests[s]]


def memctl_for(machine: Any) -> MemCtl:
    """The memory controllers of a machine preset (KernelState makes one per run)."""
    return MemCtl(machine.sockets, bandwidth_bytes_per_s(machine.costs) / machine.freq_hz)


def run_memctl(sim: Any, ks: Any, th: Any, t: int, arg: int) -> int:
    """The MEMCTL op (emu/kernel/ops.py): the transfer's end, as the queue makes it."""
    ks.events += 1
    return ks.memctl.transfer(arg & DOMAIN_MASK, t, (arg >> 4) & BYTES_MASK,
                                  arg >> CORE_SHIFT)
