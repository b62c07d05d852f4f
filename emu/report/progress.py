"""The progress of a matrix of runs (`emu experiment`, `emu sweep`) on stderr: runs done of
the total, and the ETA.

Each finished run is one line, `emu: [3/12] <what> (1.2s host, ETA 36s)` (no ETA on the
last).  On a terminal a bar also stays below those lines, redrawn in place by
emu/report/live.py's LiveView (hidden while a line is printed above it), so a long matrix
shows where it stands between runs; elsewhere (a pipe, a file, CI) there are the lines
alone.  The ETA is the runs still to go at the pace so far (elapsed / done), which counts
every worker of a cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from emu.report.live import LiveView, terminal_size

BAR_WIDTH = 20


def clock(seconds: float) -> str:
    """36s, 4m05s, 1h02m: host time at a glance."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def bar_line(done: int, total: int, elapsed_s: float, where: str = "") -> str:
    """`runs 3/12 [#####---------------]  25%  elapsed 12s  ETA 36s`."""
    fraction = done / total if total else 1.0
    full = int(round(fraction * BAR_WIDTH))
    line = (f"runs {done}/{total} [{'#' * full}{'-' * (BAR_WIDTH - full)}] "
            f"{fraction * 100:3.0f}%  elapsed {clock(elapsed_s)}")
    if 0 < done < total:
        line += f"  ETA {clock(elapsed_s / done * (total - done))}"
    return line + (f"  on {where}" if where else "")


class Progress:
    """Counts finished runs of `total` and tells `out` (see the module's docstring)."""

    def __init__(self, out: TextIO, total: int, where: str = "",
                 terminal: bool | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.out, self.total, self.where, self.now = out, total, where, now
        self.done = 0
        self.t0 = now()
        if terminal is None:
            terminal = bool(getattr(out, "isatty", lambda: False)())
        self.view = LiveView(out) if terminal and total else None
        self._draw()

    def _draw(self) -> None:
        if self.view is not None:
            width, _ = terminal_size(self.out)
            line = bar_line(self.done, self.total, self.now() - self.t0, self.where)
            self.view.lines = [line[:max(1, width - 1)]]  # one row: a wrapped one would
            self.view.show()                              # break the redraw

    def finished(self, what: str, host_s: float) -> None:
        """One run finished: `what` is `<run>: average N ops/s` or why not."""
        self.done += 1
        eta = ""
        if self.done < self.total:
            elapsed = self.now() - self.t0
            eta = f", ETA {clock(elapsed / self.done * (self.total - self.done))}"
        if self.view is not None:
            self.view.hide()
        self.out.write(f"emu: [{self.done}/{self.total}] {what} ({host_s:.1f}s host{eta})\n")
        self.out.flush()
        self._draw()

    def hide(self) -> None:
        """Erase the bar while something else is printed to the terminal (then show())."""
        if self.view is not None:
            self.view.hide()

    def show(self) -> None:
        self._draw()

    def close(self) -> None:
        """Erase the bar (the lines stay)."""
        if self.view is not None:
            self.view.close()
