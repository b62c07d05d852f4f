"""Scenarios for `emu check`: workloads that race the kernel's TLB invalidation against the
page daemon.  Each module is a testcase (run as `_threads`: one address space) with:

    testcase_description, testcase(ctx)   as in workloads/
    SHARED          [(start, end)]: mappings the process has before its threads start
    TASKS           the threads per trial: a choice made by each trial's seed
    PAGEDAEMON      the page daemon's pacing: (min, max) cycles between pages, launder share
    LENGTH_S        emulated seconds per trial
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

SCENARIOS = {
    "shared-pages": "emu.scenarios.shared_pages",
}
DEFAULT = "shared-pages"


def scenario(name: str) -> ModuleType:
    try:
        return import_module(SCENARIOS[name])
    except KeyError:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})") from None
