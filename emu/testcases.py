"""Finding testcases: the modules in `workloads/`, each as `_processes` and `_threads`
(as will-it-scale builds each tests/*.c twice), or a workload file given by path."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import workloads

MODES = ("processes", "threads")


class TestcaseError(ValueError):
    """An unknown testcase or a malformed workload file."""


@dataclass(frozen=True)
class Testcase:
    name: str
    module: ModuleType
    mode: str  # "processes": a process per task; "threads": one process, a thread per task

    @property
    def description(self) -> str:
        return self.module.testcase_description


def builtin_names() -> list[str]:
    mods = sorted(m.name for m in pkgutil.iter_modules(workloads.__path__))
    return [f"{m}_{mode}" for m in mods for mode in MODES]


def _check(module: ModuleType, origin: str) -> ModuleType:
    if not isinstance(getattr(module, "testcase_description", None), str):
        raise TestcaseError(f"{origin}: no testcase_description string")
    if not callable(getattr(module, "testcase", None)):
        raise TestcaseError(f"{origin}: no testcase(ctx) function")
    return module


def resolve(name: str) -> Testcase:
    """`mmap1_processes`, `mmap1_threads`, or a path to a workload .py file."""
    if name.endswith(".py") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise TestcaseError(f"no workload file {name!r}")
        spec = importlib.util.spec_from_file_location(f"emu_workload_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise TestcaseError(f"workload file {name!r} does not load: {exc}") from None
        mode = "threads" if path.stem.endswith("_threads") else "processes"
        return Testcase(path.stem, _check(module, name), mode)
    base, _, mode = name.rpartition("_")
    if mode not in MODES or name not in builtin_names():
        known = ", ".join(builtin_names())
        raise TestcaseError(f"unknown testcase {name!r} (known: {known})")
    module = importlib.import_module(f"workloads.{base}")
    return Testcase(name, _check(module, name), mode)
