"""CPU numbering, distances and will-it-scale task placement.

CPU ids follow hwloc's logical PU order (and FreeBSD amd64's): SMT siblings are adjacent,
cores fill socket 0 before socket 1.  cpu = (socket * cores_per_socket + core) * threads + thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from emu.hw.machine import Machine

# Distance classes between two CPUs, used by the cache-line model to price a transfer.
SAME_CPU, SMT_SIBLING, SAME_SOCKET, OTHER_SOCKET = 0, 1, 2, 3

# The socket whose memory holds the kernel's hot lines.  The kernel image (its .bss: the
# locks, swap_reserved, the DI tracker head) loads at low physical addresses, which are the
# first socket's DRAM; emu homes every hot line there.  On Skylake-SP a line moving across
# sockets costs more when it moves *to* its home socket (the directory lookup; see the
# preset's line_other_socket_to_home).  Which socket is home hardly changes throughput: a
# line that bounces between sockets moves each way equally often.
HOME_SOCKET = 0


@dataclass(frozen=True)
class Topology:
    sockets: int
    cores_per_socket: int
    threads_per_core: int

    @classmethod
    def of(cls, machine: Machine) -> Topology:
        return cls(machine.sockets, machine.cores_per_socket, machine.threads_per_core)

    @property
    def ncpus(self) -> int:
        return self.sockets * self.cores_per_socket * self.threads_per_core

    @property
    def ncores(self) -> int:
        return self.sockets * self.cores_per_socket

    def core_of(self, cpu: int) -> int:
        return cpu // self.threads_per_core

    def socket_of(self, cpu: int) -> int:
        return self.core_of(cpu) // self.cores_per_socket

    def distance(self, a: int, b: int) -> int:
        if a == b:
            return SAME_CPU
        if self.core_of(a) == self.core_of(b):
            return SMT_SIBLING
        if self.socket_of(a) == self.socket_of(b):
            return SAME_SOCKET
        return OTHER_SOCKET

    def place(self, tasks: int, smt: bool = False, unbound: bool = False) -> list[int]:
        """The CPU each task runs on, as will-it-scale's main.c binds them.

        Default: task i on hwloc CORE i % ncores; a core's tasks take its threads in turn.
        `-m`: task i on hwloc PU i % ncpus (siblings first).  `-n`: no binding; the
        scheduler spreads runnable tasks over idle cores first, which is the default layout.
        """
        if smt:
            return [i % self.ncpus for i in range(tasks)]
        del unbound  # ULE balances an unbound task onto an idle core: the same layout.
        t = self.threads_per_core
        return [(i % self.ncores) * t + (i // self.ncores) % t for i in range(tasks)]
