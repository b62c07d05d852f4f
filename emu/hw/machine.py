"""Machine presets: topology, clock rate and the cost table of an emulated machine.

Each preset is a TOML file in presets/; every cost carries a one-line reason in it.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

from emu.units import parse_duration

DEFAULT_MACHINE = "skylake-2s"

# The costs that are not cycles, what each is and its range: a duration makes no sense for them.
NOT_CYCLES = {"smt_slowdown": ("a factor", "at least 1"),
              "local_jitter": ("a fraction", "from 0 to below 1"),
              "tlb_entries": ("a count", "a whole number, at least 1"),
              # A socket's DRAM (emu/hw/memctl.py): its channels, their transfer rate in
              # MT/s, and the fraction of the peak a sustained stream reaches.
              "dram_channels": ("a count", "a whole number, at least 1"),
              "dram_mts": ("a rate in MT/s", "a whole number, at least 1"),
              "dram_efficiency": ("a fraction", "above 0, at most 1"),
              "pagezero_dram_bytes": ("a count of bytes", "a whole number, at least 1"),
              "pagecopy_dram_bytes": ("a count of bytes", "a whole number, at least 1"),
              "vm_ndomains": ("a count", "a whole number, at least 1")}
COUNTS = {"tlb_entries", "dram_channels", "dram_mts", "pagezero_dram_bytes",
          "pagecopy_dram_bytes", "vm_ndomains"}   # NOT_CYCLES that are whole numbers
_SETTING = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*=\s*(\S+)\s*$")


class MachineError(ValueError):
    """A preset that does not exist or does not parse."""


@dataclass(frozen=True)
class Machine:
    name: str
    description: str
    sockets: int
    cores_per_socket: int
    threads_per_core: int
    freq_hz: int
    costs: dict[str, float] = field(default_factory=dict)
    changed: dict[str, float] = field(default_factory=dict)  # costs set over the preset's
    # Cores sharing one L3, the cache domain that decides a line transfer's cost (AMD's CCX):
    # 0 means the whole socket.  A preset with several per socket prices transfers between
    # them with its line_other_ccx cost (emu/hw/topology.py OTHER_CCX).
    cores_per_ccx: int = 0

    @property
    def ncpus(self) -> int:
        return self.sockets * self.cores_per_socket * self.threads_per_core

    @property
    def label(self) -> str:
        """`skylake-2s`, or `skylake-2s with pause=100 line_other_socket=315`: a machine
        whose costs were set (--cost) is not the preset, and every line naming it says so."""
        return machine_label(self.name, self.changed)

    @property
    def ncores(self) -> int:
        return self.sockets * self.cores_per_socket

    def cost(self, name: str) -> int:
        """A cost in cycles, by its name in the preset's [costs] table."""
        try:
            return int(self.costs[name])
        except KeyError:
            raise MachineError(f"machine {self.name!r} has no cost {name!r}") from None

    def cycles(self, seconds: float) -> int:
        return round(seconds * self.freq_hz)


def cost_words(changed: Mapping[str, float]) -> str:
    """`pause=100 line_other_socket=315`: costs set over a preset (a run JSON's costs_set)."""
    return " ".join(f"{k}={v:g}" for k, v in changed.items())


def machine_label(name: str, changed: Mapping[str, float]) -> str:
    """A machine as every report names it: the preset, and the costs set over it, if any."""
    return f"{name} with {cost_words(changed)}" if changed else name


def preset_names() -> list[str]:
    return sorted(
        p.name[:-5] for p in resources.files(__package__).joinpath("presets").iterdir()
        if p.name.endswith(".toml")
    )


def _text(name_or_path: str) -> str:
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") and path.exists():
        return path.read_text()
    res = resources.files(__package__) / "presets" / f"{name_or_path}.toml"
    if not res.is_file():
        known = ", ".join(preset_names())
        raise MachineError(f"unknown machine preset {name_or_path!r} (known: {known})")
    return res.read_text()


def cost_reasons(name_or_path: str = DEFAULT_MACHINE) -> dict[str, str]:
    """Each cost's reason: the comment lines just above it in the preset's [costs] table, or
    above the costs it follows with no line between (turnstile_block, turnstile_wakeup).
    tomllib keeps no comments, so they are read from the text."""
    reasons: dict[str, str] = {}
    comment: list[str] = []
    section, reason = "", ""
    for line in _text(name_or_path).splitlines():
        line = line.strip()
        if line.startswith("["):
            section, comment, reason = line, [], ""
        elif line.startswith("#"):
            comment.append(line.lstrip("#").strip())
        elif "=" in line and section == "[costs]":
            reason = " ".join(c for c in comment if c) if comment else reason
            reasons[line.split("=", 1)[0].strip()] = reason
            comment = []
        else:
            comment, reason = [], ""
    return reasons


def load_machine(name_or_path: str = DEFAULT_MACHINE) -> Machine:
    """Load a preset by name (see `emu list`) or from a TOML file path."""
    text = _text(name_or_path)
    try:
        data = tomllib.loads(text)
        machine = Machine(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            sockets=int(data["sockets"]),
            cores_per_socket=int(data["cores_per_socket"]),
            threads_per_core=int(data["threads_per_core"]),
            freq_hz=int(data["freq_hz"]),
            costs=dict(data.get("costs", {})),
            cores_per_ccx=int(data.get("cores_per_ccx", 0)),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MachineError(f"machine preset {name_or_path!r} is malformed: {exc}") from None
    if min(machine.sockets, machine.cores_per_socket, machine.threads_per_core) < 1:
        raise MachineError(f"machine preset {name_or_path!r} has an empty topology")
    ccx = machine.cores_per_ccx
    if ccx and (ccx < 1 or machine.cores_per_socket % ccx):
        raise MachineError(f"machine preset {name_or_path!r}: cores_per_ccx {ccx} does not "
                           f"divide cores_per_socket {machine.cores_per_socket}")
    if ccx and ccx < machine.cores_per_socket and "line_other_ccx" not in machine.costs:
        raise MachineError(f"machine preset {name_or_path!r} has several L3 domains per "
                           "socket and no line_other_ccx cost")
    return machine


def set_costs(machine: Machine, settings: Iterable[str]) -> Machine:
    """The machine with some of its costs set, each setting `NAME=VALUE` (`--cost`): a
    number in the preset table's own unit (cycles at the machine's clock, or what NOT_CYCLES
    says), or for a cycle cost a duration (`150ns`, `1.5us`), converted at the clock.  The
    result remembers what was set (`changed`), so reports can say the machine is not the
    preset.  MachineError (one line) for an unknown name or a value out of range."""
    costs, changed = dict(machine.costs), dict(machine.changed)
    for setting in settings:
        m = _SETTING.match(setting)
        if not m:
            raise MachineError(f"bad cost setting {setting!r} (try line_other_socket=150ns "
                               "or pause=140)")
        name, text = m.groups()
        if name not in costs:
            near = get_close_matches(name, costs, n=1)
            hint = f"did you mean {near[0]}? " if near else ""
            raise MachineError(f"machine {machine.name!r} has no cost {name!r} ({hint}"
                               "`emu list --costs` lists them)")
        costs[name] = changed[name] = _cost_value(machine, name, text)
    return replace(machine, costs=costs, changed=changed)


def _cost_value(machine: Machine, name: str, text: str) -> float:
    kind, rule = NOT_CYCLES.get(name, ("cycles", "at least 0"))
    try:
        value = float(text)
    except ValueError:
        if name in NOT_CYCLES:  # a duration is cycles: not this one
            raise MachineError(f"cost {name} is {kind}, not {text!r}") from None
        try:
            value = parse_duration(text) * machine.freq_hz
        except ValueError as exc:
            raise MachineError(f"cost {name}: {exc}") from None
    ok = {"smt_slowdown": value >= 1, "local_jitter": 0 <= value < 1,
          "dram_efficiency": 0 < value <= 1}.get(
              name, value >= 1 and value.is_integer() if name in COUNTS else value >= 0)
    if not ok or not math.isfinite(value):
        raise MachineError(f"cost {name} is {kind}, {rule}: not {text!r}")
    return value if name in NOT_CYCLES and name not in COUNTS else int(round(value))


def cost_table(machine: Machine) -> SimpleNamespace:
    """The preset's costs as attributes (`td.cost.syscall`), cycles as ints."""
    return SimpleNamespace(**{
        k: (v if isinstance(v, float) else int(v)) for k, v in machine.costs.items()})
