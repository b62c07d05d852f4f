"""What one run is (RunSpec: testcase, tasks, machine, strategies, clock, period, seed) and
what it measured (RunResult), as the supervisor, the clocks and the reports share them."""

from __future__ import annotations

from dataclasses import dataclass, field

from emu.clock import PROFILERS
from emu.hw.machine import Machine
from emu.hw.topology import (
    HOME_SOCKET,
    OTHER_CCX,
    OTHER_SOCKET,
    SAME_CPU,
    SAME_SOCKET,
    SMT_SIBLING,
    Topology,
)
from emu.kernel.config import KernelConfig, build_kernel
from emu.kernel.strategies import choose
from emu.testcases import Testcase

MAX_TASKS = 2048


class RunFailed(Exception):
    """The run could not finish; the message is one line for the user."""


@dataclass
class RunSpec:
    testcase: Testcase
    tasks: int
    machine: Machine
    clock: str = "virtual"
    seed: int = 0
    period_s: float = 0.01
    warmup: int = 6
    samples: int = 5            # 0: until interrupted
    smt: bool = False
    unbound: bool = False
    strategies: dict[str, str] = field(default_factory=dict)  # kind -> name; see strategies.py
    profile: bool = False       # attribute emulated cycles to kernel functions (--profile)
    speedup: object = None      # emu whatif: one target virtually sped up (emu/causal/speedup)
    # Filled in by prepare():
    cpus: list[int] = field(default_factory=list)
    kernel: KernelConfig | None = None
    rundir: str = ""
    endpoint: str = ""

    @property
    def period_cycles(self) -> int:
        return self.machine.cycles(self.period_s)

    @property
    def boundaries(self) -> int | None:
        """Sample boundaries after time 0 (warmup + measured), or None: run forever."""
        return None if self.samples == 0 else self.warmup + self.samples

    def transfer_table(self) -> list[list[int]]:
        """table[a][b]: cycles to move a cache line from CPU a's cache to CPU b, by topology
        distance and, across sockets, by direction: into the home socket is dearer."""
        topo = Topology.of(self.machine)
        price = {SAME_CPU: 0,
                 SMT_SIBLING: self.machine.cost("line_smt_sibling"),
                 SAME_SOCKET: self.machine.cost("line_same_socket"),
                 OTHER_SOCKET: self.machine.cost("line_other_socket")}
        if topo.ccx_per_socket > 1:  # another L3 of the same socket (AMD: another CCX)
            price[OTHER_CCX] = self.machine.cost("line_other_ccx")
        to_home = self.machine.cost("line_other_socket_to_home")

        n = topo.ncpus
        home = [topo.socket_of(b) == HOME_SOCKET for b in range(n)]

        def row(a: int) -> list[int]:
            return [to_home if d == OTHER_SOCKET and h else price[d]
                    for d, h in zip(topo.distance_row(a), home, strict=True)]

        return [row(a) for a in range(n)]

    def validate(self) -> None:
        if not 1 <= self.tasks <= MAX_TASKS:
            raise ValueError(f"-t must be between 1 and {MAX_TASKS}, not {self.tasks}")
        if self.tasks > self.machine.ncpus:
            raise ValueError(f"-t {self.tasks} exceeds machine {self.machine.name}'s "
                             f"{self.machine.ncpus} CPUs")
        if self.smt and self.unbound:
            raise ValueError("-m and -n cannot be used together")
        if self.samples < 0 or self.warmup < 0:
            raise ValueError("-s and --warmup must not be negative")
        if self.period_cycles < 1:
            raise ValueError("--period must be positive")
        if self.profile and self.clock not in PROFILERS:
            raise ValueError("--profile needs the virtual clock (cycles are only known there)")
        if self.speedup is not None and (self.clock != "virtual" or self.profile):
            raise ValueError("a virtual speed-up needs the virtual clock, without --profile")
        self.strategies = choose(**self.strategies)

    def prepare(self) -> None:
        self.validate()
        self.cpus = Topology.of(self.machine).place(self.tasks, self.smt, self.unbound)
        self.kernel = build_kernel(self.testcase.mode, self.cpus, self.strategies)
        if self.speedup is not None:
            self.speedup.check(self.kernel)
            self.kernel.speedup = self.speedup   # Td and KernelState apply it (emu/causal)


@dataclass
class Sample:
    index: int                 # 1-based, warmup samples first
    warmup: bool
    deltas: list[int]          # operations of each task in the period


@dataclass
class RunResult:
    spec: RunSpec
    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0
    shared_events: int = 0
    locks: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)   # the busiest shared cache lines
    ipis_sent: int = 0
    ipis_received: int = 0
    ipis_acked: int = 0        # ACKs the initiators got back (each IPI is acknowledged)
    tlb_shootdowns: int = 0    # smp_targeted_tlb_shootdown calls that sent IPIs
    error: str | None = None
    profile: dict | None = None  # --profile: emu.clock.profile.read_profile's result

    @property
    def warmup_samples(self) -> list[Sample]:
        return [s for s in self.samples if s.warmup]

    @property
    def measured(self) -> list[Sample]:
        return [s for s in self.samples if not s.warmup]

    @property
    def per_task(self) -> list[int]:
        """Operations of each task over all measured samples."""
        return [sum(col) for col in zip(*(s.deltas for s in self.measured), strict=True)] \
            if self.measured else [0] * self.spec.tasks


