"""Machine presets: topology, clock rate and the cost table of an emulated machine.

Each preset is a TOML file beside this module; every cost carries a one-line reason in it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

DEFAULT_MACHINE = "skylake-2s"


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

    @property
    def ncpus(self) -> int:
        return self.sockets * self.cores_per_socket * self.threads_per_core

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


def preset_names() -> list[str]:
    return sorted(
        p.name[:-5] for p in resources.files(__package__).iterdir() if p.name.endswith(".toml")
    )


def load_machine(name_or_path: str = DEFAULT_MACHINE) -> Machine:
    """Load a preset by name (see `emu list`) or from a TOML file path."""
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") and path.exists():
        text = path.read_text()
    else:
        res = resources.files(__package__) / f"{name_or_path}.toml"
        if not res.is_file():
            known = ", ".join(preset_names())
            raise MachineError(f"unknown machine preset {name_or_path!r} (known: {known})")
        text = res.read_text()
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
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MachineError(f"machine preset {name_or_path!r} is malformed: {exc}") from None
    if min(machine.sockets, machine.cores_per_socket, machine.threads_per_core) < 1:
        raise MachineError(f"machine preset {name_or_path!r} has an empty topology")
    return machine
