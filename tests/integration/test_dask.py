"""`emu experiment` and `emu sweep` on Dask (emu/runners.py): a local cluster (--workers)
and a scheduler with two workers, one of them killed mid-experiment (--scheduler), give the
bytes of the serial run; bad flags are one line.  Everything listens on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from emu.machine.spec import RunResult, Sample
from emu.report.progress import Progress
from emu.runners import InProcess, RunnerError, open_cluster
from emu.sweep import Measured, plan_sweep, run_sweep
from tests.conftest import EMU, HANG_S, emu

DASK_CLI = str(Path(sys.executable).with_name("dask"))  # installed by emu[cluster]
LOCAL = "127.0.0.1"

# 3 runs (seeds), short, with a strategy, costs and --profile: every path of
# emu.runners.run_args.  (One variant: the other runs would cost time and test nothing more.)
TINY = """
[experiment]
name = "tiny"
testcase = "mmap1_processes"
tasks = [1]
seeds = [1, 2, 3]
period = "1ms"
warmup = 0
samples = 1
profile = true

[[variant]]
name = "epoch"
di = "epoch"
costs = { pause = 100, line_other_socket = "150ns" }
"""
SWEEP = ["sweep", "mmap1_threads", "-t", "1", "--warmup", "0", "-s", "1", "--period", "1ms"]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def sweep_rows(path: Path) -> list:
    return json.loads(path.read_text())["sweep"]["rows"]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The experiment and the sweep run here, one run after another: the bytes to match."""
    base = tmp_path_factory.mktemp("serial")
    (base / "tiny.toml").write_text(TINY)
    rundir = base / "rd"
    p = emu("--rundir", str(rundir), "experiment", str(base / "tiny.toml"), "--out",
            str(base / "out"))
    assert p.returncode == 0, p.stderr
    s = emu("--rundir", str(rundir), *SWEEP, "--json", str(base / "sweep.json"))
    assert s.returncode == 0, s.stderr
    assert not list(rundir.iterdir())
    return base, tree(base / "out"), s.stdout


def local_listeners(pids: set[int]) -> set[str]:
    """The addresses the processes `pids` listen on (TCP)."""
    found = set()
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for c in psutil.Process(pid).net_connections(kind="tcp"):
                if c.status == psutil.CONN_LISTEN:
                    found.add(f"{c.laddr.ip}:{c.laddr.port}")
    return found


def family(pid: int) -> set[int]:
    with contextlib.suppress(psutil.Error):
        return {pid} | {c.pid for c in psutil.Process(pid).children(recursive=True)}
    return set()


def running_emu_run(pid: int) -> bool:
    """Whether the process `pid` has an `emu run` child going."""
    with contextlib.suppress(psutil.Error):
        for c in psutil.Process(pid).children():
            cmd = c.cmdline()
            if "emu.cli" in cmd and "run" in cmd:
                return True
    return False


def wait_for(what, timeout: float = HANG_S, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, f"gave up waiting for {what.__doc__}"
        time.sleep(poll)


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---------------------------------------------------------------- bad input


def test_bad_flags_are_one_line_and_exit_2(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    with socket.socket() as s:  # a port nothing listens on
        s.bind((LOCAL, 0))
        port = s.getsockname()[1]
    for args, words in (
            (["experiment", str(path), "--out", str(tmp_path / "out"), "--workers", "0"],
             "--workers must be at least 1, not 0"),
            ([*SWEEP, "--scheduler", f"tcp://{LOCAL}:{port}"],
             f"cannot reach the Dask scheduler at tcp://{LOCAL}:{port}")):
        p = emu(*args)
        assert p.returncode == 2, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("emu: ") and words in lines[0], lines
        assert p.stdout == ""
    assert not (tmp_path / "out").exists()


def test_no_dask_or_both_flags_is_a_runner_error(monkeypatch):
    with pytest.raises(RunnerError, match="give --workers or --scheduler, not both"):
        with open_cluster(2, "tcp://127.0.0.1:1"):
            pass
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(RunnerError, match=r"need Dask: pip install 'emu\[cluster\]'"):
        with open_cluster(2, None):
            pass
    with open_cluster(None, None) as runner:  # neither flag: run here
        assert runner is None


# ---------------------------------------------------------------- progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_lines_and_on_a_terminal_a_bar():
    clock = [0.0]
    for out in (io.StringIO(), Terminal()):
        clock[0] = 0.0
        p = Progress(out, 3, "2 workers", now=lambda: clock[0])
        for t, run in ((12.0, "a"), (30.0, "b"), (40.0, "c")):
            clock[0] = t
            p.finished(f"{run}: average 1 ops/s", 1.0)
        p.close()
        text = out.getvalue()
        assert "emu: [1/3] a: average 1 ops/s (1.0s host, ETA 24s)\n" in text
        assert "emu: [2/3] b: average 1 ops/s (1.0s host, ETA 15s)\n" in text
        assert "emu: [3/3] c: average 1 ops/s (1.0s host)\n" in text
        bar = "runs 2/3 [#############-------]  67%  elapsed 30s  ETA 15s  on 2 workers"
        assert (bar in text) == isinstance(out, Terminal)
        assert text.endswith("\x1b[1A\r\x1b[J" if isinstance(out, Terminal) else "host)\n")


# ---------------------------------------------------------------- runs that come out of order


class Backwards:
    """A runner whose runs finish last first, as a cluster's may."""

    where = ""

    def __init__(self, inner) -> None:
        self.inner = inner

    def run(self, jobs):
        yield from reversed(list(self.inner.run(jobs)))


def fake_measure(spec) -> Measured:
    ops = 100 * spec.tasks + (7 if spec.testcase.mode == "threads" else 0)
    result = RunResult(spec, [Sample(1, False, [ops] * spec.tasks)], wall_s=0.1)
    return Measured(ops * spec.tasks * 1000, 0.0, result, 0.1)


def test_a_sweep_writes_its_runs_in_the_plans_order(tmp_path):
    """runtest.py's CSV rows and the JSON's runs are in the plan's order, whatever order the
    runs finish in."""
    plan = plan_sweep("mmap1", "1,2,4", None, "skylake-2s", {}, period="1ms", warmup=0,
                      samples=1)
    got = []
    for name, runner in (("here", InProcess(fake_measure)),
                         ("backwards", Backwards(InProcess(fake_measure)))):
        out, err = io.StringIO(), io.StringIO()
        path = tmp_path / f"{name}.json"
        assert run_sweep(plan, json_path=str(path), out=out, err=err, runner=runner) == 0
        assert "emu: [1/6] mmap1_threads -t 4: average" in err.getvalue() or name == "here"
        got.append((out.getvalue(), path.read_text()))
    assert got[0] == got[1]
    assert len(got[0][0].splitlines()) == 2 + 3


# ---------------------------------------------------------------- --workers N


def test_local_workers_give_the_serial_bytes(serial, tmp_path):
    base, want, _ = serial
    out = tmp_path / "out"
    p = subprocess.Popen([*EMU, "experiment", str(base / "tiny.toml"), "--out", str(out),
                          "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    heard: set[str] = set()
    while p.poll() is None:  # what the cluster listens on, while it runs
        heard |= local_listeners(family(p.pid))
        time.sleep(0.5)
    _, err = p.communicate(timeout=HANG_S)
    assert p.returncode == 0, err
    assert "running on a local Dask cluster of 2 workers" in err and "[3/3]" in err
    assert heard and all(a.startswith(f"{LOCAL}:") for a in heard), heard
    got = tree(out)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name


# ---------------------------------------------------------------- --scheduler, a worker killed


@contextlib.contextmanager
def cluster(tmp_path: Path):
    """`dask scheduler` and two `dask worker`s (no nanny: a killed worker stays dead), one
    thread each, everything on 127.0.0.1; stopped on the way out."""
    info = tmp_path / "scheduler.json"
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []

    # Every server's scratch space under tmp_path (dask's default is /tmp/dask-scratch-space).
    env = {**os.environ, "DASK_TEMPORARY_DIRECTORY": str(tmp_path / "dask")}

    def start(cmd: list[str], name: str) -> subprocess.Popen:
        with open(logs / name, "w") as log:
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env))
        return procs[-1]

    try:
        start([DASK_CLI, "scheduler", "--host", LOCAL, "--port", "0", "--no-dashboard",
               "--dashboard-address", f"{LOCAL}:0", "--scheduler-file", str(info)], "scheduler")
        wait_for(lambda: info.exists() and info.stat().st_size > 0)
        address = json.loads(info.read_text())["address"]
        workers = [start([DASK_CLI, "worker", "--scheduler-file", str(info), "--nthreads", "1",
                          "--no-nanny", "--host", LOCAL, "--no-dashboard",
                          "--dashboard-address", f"{LOCAL}:0"], f"worker{i}")
                   for i in range(2)]

        def both_joined() -> bool:
            """both workers joined"""
            return "Registered to:" in (logs / "worker0").read_text() and \
                "Registered to:" in (logs / "worker1").read_text()

        wait_for(both_joined, poll=0.2)
        yield address, workers, {p.pid for p in procs}
    finally:
        stop(procs)


def test_a_killed_worker_loses_nothing(serial, tmp_path):
    base, want, want_csv = serial
    out = tmp_path / "out"
    with cluster(tmp_path) as (address, workers, pids):
        p = subprocess.Popen([*EMU, "experiment", str(base / "tiny.toml"), "--out", str(out),
                              "--scheduler", address], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)

        going: list[subprocess.Popen] = []

        def a_run_is_going() -> bool:
            """a worker running an emu run"""
            going.extend(w for w in workers if running_emu_run(w.pid))
            return bool(going) or p.poll() is not None

        wait_for(a_run_is_going, poll=0.1)
        assert going, "the experiment ended before a worker ran anything"
        victim = going[0]
        os.kill(victim.pid, signal.SIGKILL)  # at once: the run it was seen with is short
        _, err = p.communicate(timeout=HANG_S)
        assert victim.wait(timeout=HANG_S) == -signal.SIGKILL
        assert p.returncode == 0, err
        assert "[3/3]" in err and "lost" not in err
        got = tree(out)
        assert sorted(got) == sorted(want)  # every run's JSON, and every output
        for name in want:
            assert got[name] == want[name], name

        # The sweep on what is left of the cluster: runtest.py's CSV, as serial.
        s = emu(*SWEEP, "--scheduler", address, "--json", str(tmp_path / "sweep.json"))
        assert s.returncode == 0, s.stderr
        assert s.stdout == want_csv
        assert sweep_rows(tmp_path / "sweep.json") == sweep_rows(base / "sweep.json")
        assert all(a.startswith(f"{LOCAL}:") for a in local_listeners(pids))
