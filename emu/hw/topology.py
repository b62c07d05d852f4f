"""CPU numbering, distances and will-it-scale task placement.

CPU ids follow hwloc's logical PU order (and FreeBSD amd64's): SMT siblings are adjacent,
cores fill socket 0 before socket 1.  cpu = (socket * cores_per_socket + core) * threads + thread.
hwloc numbers depth-first (Package > L3 > Core > PU), so the cores sharing one L3 (a CCX on
AMD) are consecutive: core c of a socket is in that socket's CCX c // cores_per_ccx, and
the formula above is hwloc's logical order on such a part too.
"""

from __future__ import annotations

from dataclasses import dataclass

from emu.hw.machine import Machine

# Distance classes between two CPUs, used by the cache-line model to price a transfer.
# SAME_SOCKET: the same socket and the same L3 (cache domain); OTHER_CCX: the same socket,
# another L3, so the line crosses the socket's fabric (AMD's CCD-to-IO-die links).  A preset
# whose socket is one cache domain (cores_per_ccx = cores_per_socket, the default: skylake-2s,
# and desktop-16, which prices its two CCDs as one mean) has no OTHER_CCX pair.
SAME_CPU, SMT_SIBLING, SAME_SOCKET, OTHER_SOCKET, OTHER_CCX = 0, 1, 2, 3, 4

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
    cores_per_ccx: int = 0      # cores sharing one L3; 0: the whole socket

    def __post_init__(self) -> None:
        if not self.cores_per_ccx:
            object.__setattr__(self, "cores_per_ccx", self.cores_per_socket)

    @classmethod
    def of(cls, machine: Machine) -> Topology:
        return cls(machine.sockets, machine.cores_per_socket, machine.threads_per_core,
                   machine.cores_per_ccx)

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

    @property
    def ccx_per_socket(self) -> int:
        return self.cores_per_socket // self.cores_per_ccx

    def ccx_of(self, cpu: int) -> int:
        """The machine-wide index of cpu's cache domain (hwloc's logical L3 index)."""
        return self.core_of(cpu) // self.cores_per_ccx

    def distance(self, a: int, b: int) -> int:
        if a == b:
            return SAME_CPU
        if self.core_of(a) == self.core_of(b):
            return SMT_SIBLING
        if self.socket_of(a) == self.socket_of(b):
            return SAME_SOCKET if self.ccx_of(a) == self.ccx_of(b) else OTHER_CCX
        return OTHER_SOCKET

    def distance_row(self, a: int) -> list[int]:
        """[distance(a, b) for every CPU b], built from the topology's blocks (a 768-CPU
        machine's transfer table is 590k entries: one distance() call each takes seconds)."""
        t, per_ccx = self.threads_per_core, self.cores_per_ccx * self.threads_per_core
        per_socket = self.cores_per_socket * self.threads_per_core
        core = [SMT_SIBLING] * t
        core[a % t] = SAME_CPU
        c = (a // t) % self.cores_per_ccx
        ccx = [SAME_SOCKET] * (c * t) + core + [SAME_SOCKET] * (per_ccx - (c + 1) * t)
        x = (a // per_ccx) % self.ccx_per_socket
        socket = [OTHER_CCX] * (x * per_ccx) + ccx + [OTHER_CCX] * (per_socket - (x + 1) * per_ccx)
        s = a // per_socket
        return ([OTHER_SOCKET] * (s * per_socket) + socket
                + [OTHER_SOCKET] * ((self.sockets - s - 1) * per_socket))

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
