"""`emu top`: follow a run's stats stream, like top(1) for the emulated machine.

It attaches to the run's PUB socket (emu/statsock.py): the endpoint given with --attach, or
the one run in progress found under the run-directory root (emu/machine/rundir.py: $EMU_RUNDIR or
`emu --rundir`, else $TMPDIR; a run whose supervisor is gone is never one).  It shows the
live view (emu/report/live.py) until the run ends or Ctrl-C; --once prints one snapshot;
--json prints snapshots as JSON (one object, or one per line).
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from emu.report.live import LiveView, render
from emu.statsock import StatsTimeout, find_runs, normalise_endpoint, snapshots

WAIT_S = 10.0  # a run publishes every 0.25 s: this long without a snapshot means it is gone


class TopError(Exception):
    """One line for the user; `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def pick_endpoint(attach: str | None) -> str:
    if attach:
        return normalise_endpoint(attach)
    runs = find_runs()
    if not runs:
        raise TopError("top: no emu run in progress (start one with `emu run`, or give "
                       "--attach ENDPOINT)")
    if len(runs) > 1:
        listing = "; ".join(f"{r.endpoint} (pid {r.pid}: {r.what})" for r in runs)
        raise TopError(f"top: {len(runs)} runs in progress, pick one with --attach: {listing}",
                       2)
    return runs[0].endpoint


def run_top(attach: str | None, once: bool, as_json: bool, out: TextIO | None = None,
            wait_s: float = WAIT_S) -> int:
    """Returns the exit status; TopError for a run that cannot be found or read."""
    out = out or sys.stdout
    endpoint = pick_endpoint(attach)
    view = LiveView(out) if not (once or as_json) and out.isatty() else None
    try:
        for snap in snapshots(endpoint, wait_s):
            if as_json:
                out.write(json.dumps(snap, indent=2 if once else None) + "\n")
            elif view is not None:
                view.update(snap)
            else:
                out.write("\n".join(render(snap, 10_000, 10_000)) + "\n\n")  # whole lines
            out.flush()
            if once or snap.get("state") != "running":
                break
    except StatsTimeout:
        raise TopError(f"top: nothing from {endpoint} for {wait_s:g} s (has the run "
                       "ended?)") from None
    except KeyboardInterrupt:
        pass
    return 0
