"""`emu top`: attach to a running run's stats socket, find it by itself, dump snapshots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from emu.statsock import RUN_FILE, SOCKET_NAME, find_runs, normalise_endpoint
from tests.conftest import EMU, emu

HANG_S = 120  # only a hang takes this long


def start_forever_run(tmpdir: Path) -> subprocess.Popen:
    env = {**os.environ, "EMU_RUNDIR": str(tmpdir)}
    return subprocess.Popen([*EMU, "run", "mmap1_processes", "-t", "2", "-s", "0",
                             "--period", "2ms", "--warmup", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)


def test_top_once_json_against_a_forever_run(tmp_path, no_trace):
    p = start_forever_run(tmp_path)
    try:
        for _ in range(3):  # testcase:, warmup, a first sample: the run is going
            assert p.stdout.readline()
        env = {**os.environ, "EMU_RUNDIR": str(tmp_path)}
        top = emu("top", "--once", "--json", env=env, timeout=HANG_S)
        assert top.returncode == 0, top.stderr
        snap = json.loads(top.stdout)
        assert snap["version"] == 1 and snap["state"] == "running"
        assert snap["run"]["testcase"] == "mmap1_processes" and snap["run"]["tasks"] == 2
        assert snap["run"]["pid"] == p.pid
        assert [c["cpu"] for c in snap["cpus"]] == [0, 2]  # per-CPU figures
        for c in snap["cpus"]:
            assert c["iterations"] > 0 and c["ops_per_s"] > 0 and c["emulated_s"] > 0
        locks = {lk["name"]: lk for lk in snap["locks"]}  # per-lock figures
        assert {"invl_gen_mtx", "sw_dev_mtx"} <= set(locks)
        assert locks["invl_gen_mtx"]["acquisitions"] > 0
        for key in ("contentions", "spin_ns", "block_ns", "acq_per_s", "cont_per_s",
                    "spin_pct"):
            assert key in locks["invl_gen_mtx"]
        assert snap["progress"] is None and snap["samples"]["total"] is None
        assert snap["emulated_s"] > 0 and snap["host_s"] > 0
        assert {"ipis", "shootdowns", "epoch", "host"} <= set(snap)
        # The text form, attached by the endpoint itself.
        endpoint = f"ipc://{find_runs(str(tmp_path))[0].rundir}/{SOCKET_NAME}"
        text = emu("top", "--once", "--attach", endpoint, timeout=HANG_S)
        assert text.returncode == 0 and "invl_gen_mtx" in text.stdout
        assert text.stdout.startswith("emu mmap1_processes -t 2 on skylake-2s")
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=HANG_S)
    assert p.returncode == 130
    assert not list(tmp_path.glob("emu-*")), "the run directory was left behind"


def test_top_follows_a_run_to_its_end(tmp_path, no_trace):
    """`emu top --json` streams snapshots, one per line, and stops with the run's last."""
    p = start_forever_run(tmp_path)
    env = {**os.environ, "EMU_RUNDIR": str(tmp_path)}
    try:
        assert p.stdout.readline()
        top = subprocess.Popen([*EMU, "top", "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
        first = [json.loads(top.stdout.readline()) for _ in range(2)]
        assert all(s["state"] == "running" for s in first)
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=HANG_S)
    rest, err = top.communicate(timeout=HANG_S)
    assert top.returncode == 0, err
    last = json.loads(rest.splitlines()[-1])
    assert last["state"] == "interrupted"  # the last word: how the run ended
    assert last["emulated_s"] >= first[-1]["emulated_s"]


def test_top_without_a_run_says_so(tmp_path):
    p = emu("top", "--once", env={**os.environ, "EMU_RUNDIR": str(tmp_path)})
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        "emu: top: no emu run in progress (start one with `emu run`, or give --attach "
        "ENDPOINT)"]


def test_top_attach_to_nothing_times_out(tmp_path):
    p = emu("top", "--once", "--attach", str(tmp_path / "nowhere.sock"), "--timeout", "0.5")
    assert p.returncode == 1
    assert len(p.stderr.strip().splitlines()) == 1 and "nothing from ipc://" in p.stderr


def fake_run(root: Path, name: str, pid: int, mode: int = 0o700) -> Path:
    d = root / name
    d.mkdir()
    d.chmod(mode)
    (d / SOCKET_NAME).write_text("")
    (d / RUN_FILE).write_text(json.dumps({"pid": pid, "testcase": "mmap1_processes",
                                          "tasks": 4, "machine": "skylake-2s",
                                          "started": time.time()}))
    return d


def test_discovery_keeps_live_private_runs_only(tmp_path):
    live = fake_run(tmp_path, "emu-live", os.getpid())
    fake_run(tmp_path, "emu-dead", 2 ** 22 + 12345)  # beyond pid_max: no such process
    fake_run(tmp_path, "emu-shared", os.getpid(), mode=0o755)
    fake_run(tmp_path, "other-live", os.getpid())
    runs = find_runs(str(tmp_path))
    assert [r.rundir for r in runs] == [str(live)]
    assert runs[0].endpoint == f"ipc://{live}/{SOCKET_NAME}"
    assert "mmap1_processes -t 4 on skylake-2s" in runs[0].what


def test_two_runs_need_attach(tmp_path):
    fake_run(tmp_path, "emu-a", os.getpid())
    fake_run(tmp_path, "emu-b", os.getpid())
    p = emu("top", "--once", env={**os.environ, "EMU_RUNDIR": str(tmp_path)})
    assert p.returncode == 2 and "2 runs in progress, pick one with --attach" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_endpoint_forms(tmp_path):
    assert normalise_endpoint("tcp://127.0.0.1:5555") == "tcp://127.0.0.1:5555"
    assert normalise_endpoint(str(tmp_path)) == f"ipc://{tmp_path}/{SOCKET_NAME}"
    sock = tmp_path / SOCKET_NAME
    assert normalise_endpoint(str(sock)) == f"ipc://{sock}"


def test_snapshot_rates_from_the_board():
    """Rates are per emulated second over the window; lock times in ns; progress."""
    from emu.counters import T_ITERATIONS, T_VTIME, CounterBoard
    from emu.run import build_spec
    from emu.stats import StatsProbe

    spec = build_spec("mmap1_processes", 2, 2, False, False, "skylake-2s", "virtual", 0,
                      "1ms", 1)
    spec.prepare()
    board = CounterBoard(spec.tasks, len(spec.kernel.locks))
    try:
        probe = StatsProbe(spec, board)
        freq = spec.machine.freq_hz
        for t, (iters, cycles) in enumerate([(1000, freq // 1000), (500, freq // 1000)]):
            board.words[board.task_index(t, T_ITERATIONS)] = iters
            board.words[board.task_index(t, T_VTIME)] = cycles
        lock = board.lock_index(0)
        board.words[lock] = 400          # acquisitions
        board.words[lock + 1] = 100      # contentions
        board.words[lock + 2] = freq // 10_000  # spin cycles: 0.1 ms
        snap = probe.snapshot(samples_done=1)
    finally:
        board.close()
    assert [c["ops_per_s"] for c in snap["cpus"]] == [1_000_000, 500_000]
    assert snap["ops_per_s"] == 1_500_000
    assert snap["emulated_s"] == 0.001 and snap["progress"] == 1 / 3
    assert snap["samples"] == {"done": 1, "total": 3}
    lk = snap["locks"][0]
    assert lk["name"] == spec.kernel.locks.names[0] and lk["spin_ns"] == 100_000
    assert lk["acq_per_s"] == 400_000 and lk["cont_per_s"] == 100_000
    assert lk["spin_pct"] == 5.0  # 0.1 ms of the 2 tasks' 2 ms
    json.dumps(snap)  # JSON-able as it is published
