"""The live view of a run: a few lines redrawn in place at the bottom of a terminal.

`render(snapshot)` turns a snapshot (emu/stats.py) into lines; `LiveView` draws them with
plain ANSI cursor movement (cursor up, erase to end of screen), the way progress meters
such as pv(1) redraw, so it works in any VT100-compatible terminal, tmux included.  The
view is transient: `hide()` erases it before a line of will-it-scale's stream is printed
(then `show()` draws it again below), and `close()` erases it for good.

`emu run` draws it on stderr, never on stdout unless stdout is that same terminal; `emu top`
draws the same lines.
"""

from __future__ import annotations

import os
import shutil
from typing import TextIO

from emu.hw.machine import machine_label

BAR_WIDTH = 20
MAX_LOCKS = 6
UP, ERASE_DOWN = "\x1b[{n}A\r", "\x1b[J"


def si(x: float) -> str:
    """1234567 -> 1.23M: compact counts and rates."""
    x = float(x)
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}" if scale > 1e3 else f"{x / scale:.1f}{unit}"
    return f"{x:.0f}"


def seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.3f} ms"
    return f"{s:.3f} s"


def _bar(fraction: float) -> str:
    full = int(round(max(0.0, min(1.0, fraction)) * BAR_WIDTH))
    return "[" + "#" * full + "-" * (BAR_WIDTH - full) + f"] {fraction * 100:3.0f}%"


def _header(snap: dict) -> str:
    run = snap["run"]
    strategies = " ".join(f"{k}={v}" for k, v in run.get("strategies", {}).items())
    clock = "" if run["clock"] == "virtual" else f"  clock {run['clock']}"
    machine = machine_label(run["machine"], run.get("costs_set", {}))
    return (f"emu {run['testcase']} -t {run['tasks']} on {machine}  {strategies}  "
            f"seed {run['seed']}{clock}  [{snap['state']}]")


def _time_line(snap: dict) -> str:
    emu_s, host_s = snap["emulated_s"], snap["host_s"]
    samples = snap["samples"]
    line = f"emulated {seconds(emu_s)}"
    if snap["progress"] is not None:
        length = samples["total"] * snap["run"]["period_s"]
        line += f" of {seconds(length)}"
    line += f"  host {host_s:.1f} s"
    if emu_s > 0:
        line += f" (x{host_s / emu_s:,.0f})"
    if snap["progress"] is not None:
        line += f"  {_bar(snap['progress'])}  sample {samples['done']}/{samples['total']}"
    else:
        line += f"  sample {samples['done']} (-s 0)"
    return line


def _cpu_lines(snap: dict, width: int, max_rows: int) -> list[str]:
    cpus = snap["cpus"]
    rates = [c["ops_per_s"] for c in cpus]
    lines = [f"ops/s {si(snap['ops_per_s'])} total   per task: min {si(min(rates))}  "
             f"max {si(max(rates))}" if rates else "ops/s -"]
    cells = [f"cpu{c['cpu']:<3d}{si(c['ops_per_s']):>7}" for c in cpus]
    per_row = max(1, (width - 2) // 14)
    rows = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    if len(rows) > max_rows:
        shown = max(0, max_rows - 1)
        hidden = len(cells) - shown * per_row
        rows = rows[:shown] + [[f"... {hidden} more tasks"]]
    lines.extend("  " + "  ".join(r) for r in rows)
    return lines


def _lock_lines(snap: dict) -> list[str]:
    locks = [lk for lk in snap["locks"] if lk["acquisitions"]]
    if not locks:
        return ["locks: none taken yet"]
    locks.sort(key=lambda lk: (-lk["spin_pct"], -lk["cont_per_s"], -lk["acquisitions"]))
    out = [f"{'lock':<28} {'acq/s':>8} {'cont/s':>8} {'spin%':>6} {'acq':>9} {'cont':>9} "
           f"{'spin ms':>9} {'block ms':>9}"]
    for lk in locks[:MAX_LOCKS]:
        out.append(f"{lk['name'][:28]:<28} {si(lk['acq_per_s']):>8} {si(lk['cont_per_s']):>8} "
                   f"{lk['spin_pct']:>6.1f} {si(lk['acquisitions']):>9} "
                   f"{si(lk['contentions']):>9} {lk['spin_ns'] / 1e6:>9.3f} "
                   f"{lk['block_ns'] / 1e6:>9.3f}")
    if len(locks) > MAX_LOCKS:
        out.append(f"... {len(locks) - MAX_LOCKS} more locks")
    return out


def _events_line(snap: dict) -> str:
    ipis, shoot, epoch = snap["ipis"], snap["shootdowns"], snap["epoch"]
    line = (f"IPIs {si(ipis['per_s'])}/s ({ipis['sent']} sent)   shootdowns "
            f"{si(shoot['per_s'])}/s ({shoot['total']})   ")
    if epoch is None:
        line += "epoch: not in use"
    else:
        line += f"epoch {epoch['global']} ({epoch['ticks_per_s']} ticks/s, 2 per grace period)"
    line += f"   shared events {si(snap['host']['events_per_s'])}/host s"
    return line


def render(snap: dict, width: int = 100, height: int = 40) -> list[str]:
    """The view's lines for one snapshot, each at most width - 1 columns."""
    top = [_header(snap), _time_line(snap)]
    bottom = [*_lock_lines(snap), _events_line(snap)]
    room = max(2, height - 2 - len(top) - len(bottom) - 1)
    lines = top + _cpu_lines(snap, width, room) + bottom
    return [line[:max(1, width - 1)] for line in lines]


def terminal_size(out: TextIO) -> tuple[int, int]:
    """Columns and lines of the terminal `out` (100 x 40 when it does not say: a pty
    whose size was never set reports 0 x 0)."""
    try:
        size = os.get_terminal_size(out.fileno())
    except (OSError, ValueError, AttributeError):
        size = shutil.get_terminal_size((100, 40))
    return size.columns or 100, size.lines or 40


class LiveView:
    """Draws a snapshot's lines at the bottom of the terminal `out`, redrawing in place."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lines: list[str] = []
        self.drawn = 0  # lines on screen now
        self.frames = 0

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing
            self.lines, self.drawn = [], 0

    def _erase(self) -> str:
        return (UP.format(n=self.drawn) + ERASE_DOWN) if self.drawn else ""

    def update(self, snap: dict) -> None:
        width, height = terminal_size(self.out)
        self.lines = render(snap, width, height)
        self.show()

    def show(self) -> None:
        if not self.lines:
            return
        text = self._erase() + "\n".join(self.lines) + "\n"
        self.drawn = len(self.lines)
        self.frames += 1
        self._write(text)

    def hide(self) -> None:
        if self.drawn:
            text = self._erase()
            self.drawn = 0
            self._write(text)

    def close(self) -> None:
        self.hide()
        self.lines = []
