"""The live view: its lines, its redraws in a real terminal (a pty), and a clean stdout."""

from __future__ import annotations

import io
import os
import pty
import select
import signal
import subprocess
import time

import pytest

from emu.report.live import LiveView, render
from tests.conftest import EMU, FAST, emu

RUN = ["run", "mmap1_processes", "-t", "2", *FAST]
ERASE = b"\x1b[J"


def snapshot(samples: int | None = 3, done: int = 1) -> dict:
    return {
        "version": 1, "state": "running",
        "run": {"testcase": "mmap1_processes", "tasks": 2, "machine": "skylake-2s",
                "strategies": {"di": "mutex", "swap": "mutex", "ucred": "shared"},
                "seed": 0, "clock": "virtual", "period_s": 0.002},
        "host_s": 1.5, "emulated_s": 0.003,
        "progress": None if samples is None else 0.5,
        "samples": {"done": done, "total": samples},
        "ops_per_s": 1_500_000,
        "cpus": [{"task": t, "cpu": 2 * t, "iterations": 1000, "emulated_s": 0.003,
                  "ops_per_s": 750_000, "ipis_sent": 0, "ipis_received": 0, "shootdowns": 0}
                 for t in range(2)],
        "locks": [{"name": "invl_gen_mtx", "acquisitions": 5000, "contentions": 900,
                   "spin_ns": 1_200_000, "block_ns": 0, "hold_ns": 10, "acq_per_s": 2_000_000,
                   "cont_per_s": 300_000, "spin_pct": 12.5},
                  {"name": "unused_mtx", "acquisitions": 0, "contentions": 0, "spin_ns": 0,
                   "block_ns": 0, "hold_ns": 0, "acq_per_s": 0, "cont_per_s": 0,
                   "spin_pct": 0.0}],
        "ipis": {"sent": 0, "received": 0, "per_s": 0},
        "shootdowns": {"total": 0, "per_s": 0},
        "epoch": None, "host": {"shared_events": 10, "events_per_s": 100},
    }


# ---------------------------------------------------------------- rendering


def test_render_shows_time_progress_rates_and_locks():
    lines = render(snapshot(), width=120, height=40)
    text = "\n".join(lines)
    assert "mmap1_processes -t 2 on skylake-2s" in lines[0]
    assert "emulated 3.000 ms of 6.000 ms" in lines[1] and "host 1.5 s" in lines[1]
    assert "[##########----------]  50%" in lines[1] and "sample 1/3" in lines[1]
    assert "ops/s 1.50M total" in text and "cpu0" in text and "cpu2" in text
    assert "invl_gen_mtx" in text and "unused_mtx" not in text  # untaken locks are left out
    assert "IPIs 0/s" in text and "shootdowns 0/s" in text and "epoch: not in use" in text
    assert all(len(line) <= 119 for line in lines)


def test_render_forever_run_and_narrow_terminal():
    lines = render(snapshot(samples=None), width=40, height=12)
    assert "(-s 0)" in lines[1] or len(lines[1]) == 39
    assert all(len(line) <= 39 for line in lines)


def test_many_cpus_fold_into_a_grid_that_fits():
    snap = snapshot()
    snap["cpus"] = [dict(snap["cpus"][0], cpu=c, task=c) for c in range(96)]
    lines = render(snap, width=100, height=20)
    assert len(lines) <= 20 and any("more tasks" in line for line in lines)


def test_liveview_redraws_in_place_and_erases_itself():
    out = io.StringIO()
    view = LiveView(out)
    view.update(snapshot())
    n = len(view.lines)
    first = out.getvalue()
    assert "\x1b[" not in first  # nothing to erase yet
    view.update(snapshot(done=2))
    assert out.getvalue()[len(first):].startswith(f"\x1b[{n}A\r\x1b[J")
    view.hide()
    view.show()
    view.close()
    assert out.getvalue().endswith(f"\x1b[{n}A\r\x1b[J") and view.drawn == 0
    assert view.frames == 3


# ---------------------------------------------------------------- in a real terminal


HANG_S = 120  # only a hang takes this long


def read_until(fd: int, done, timeout: float = HANG_S) -> bytes:
    buf, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline and not done(buf):
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_live_view_redraws_in_a_terminal(no_trace):
    """A -s 0 run in a pty draws the view several times, the stream's lines above it;
    Ctrl-C erases it and stops everything."""
    master, slave = pty.openpty()
    p = subprocess.Popen([*EMU, *RUN, "-s", "0"], stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True, close_fds=True)
    os.close(slave)
    try:
        header = b"emu mmap1_processes -t 2 on skylake-2s"
        buf = read_until(master, lambda b: b.count(header) >= 4 and b.count(b"min:") >= 2)
        assert buf.count(header) >= 4, buf[-2000:]
        assert buf.count(ERASE) >= 3               # redrawn in place
        assert b"testcase:Anonymous memory" in buf and b"min:" in buf
        p.send_signal(signal.SIGINT)
        buf += read_until(master, lambda b: b"emu: interrupted" in b, timeout=HANG_S)
        assert p.wait(timeout=HANG_S) == 130
        assert b"emu: interrupted" in buf
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


@pytest.mark.parametrize("flag", ["--live", None])
def test_redirected_stdout_is_the_plain_stream(flag, tmp_path):
    """With stdout redirected, the stream is byte for byte the --no-live one; --live then
    draws on stderr only, and by default (no terminal) nothing is drawn at all."""
    args = [*RUN, "-s", "2"]
    plain = emu(*args, "--no-live")
    assert plain.returncode == 0
    master, slave = pty.openpty()  # stderr is a terminal, stdout a file
    with open(tmp_path / "out", "wb") as f:
        p = subprocess.Popen([*EMU, *args, *([flag] if flag else [])], stdout=f, stderr=slave,
                             close_fds=True)
        os.close(slave)
        err = read_until(master, lambda b: False, timeout=HANG_S)  # to EOF: the run's end
        assert p.wait(timeout=HANG_S) == 0
    os.close(master)
    assert (tmp_path / "out").read_text() == plain.stdout
    assert b"\x1b[" not in (tmp_path / "out").read_bytes()
    drew = b"emu mmap1_processes -t 2 on" in err
    assert drew == (flag == "--live"), err[-500:]
