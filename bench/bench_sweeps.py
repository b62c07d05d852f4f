"""Benchmark: the case study's two 11-point sweeps (mmap1_processes: the stock kernel,
--di mutex, and the write-up's epoch kernel, --di epoch --swap atomic) on the default
machine, timed on this host, with the curves beside the write-up's.

The epoch kernel behind the write-up's 3.55M had its swap reservation locking changed too:
its flame graph has no mutex frame under swap_reserve_by_cred, and the same machine with
the 2018 swap mutexes and no DI at all in munmap ran 1.03M (emu/kernel/swap/mutex.py).

    python bench/bench_sweeps.py [--plot docs/mmap1-mutex-vs-epoch.png] [--serial]

The two sweeps are independent, so they run side by side, as two `emu sweep` commands in
two terminals would (--serial: one after the other).  Each run's result is the same either
way: the virtual clock does not depend on the host.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

EMU = [sys.executable, "-m", "emu.cli"]
TASKS = "1,2,4,8,12,16,24,32,48,64,96"
CASE_STUDY_96 = {"mutex": 1_009_119, "epoch": 3_550_000}  # medians of the write-up's samples


KERNELS = {"mutex": ["--di", "mutex"], "epoch": ["--di", "epoch", "--swap", "atomic"]}


def start(kernel: str, out: str) -> subprocess.Popen:
    cmd = [*EMU, "sweep", "mmap1_processes", "--tasks", TASKS, *KERNELS[kernel], "--json", out]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finish(proc: subprocess.Popen, t0: float) -> float:
    if proc.wait() != 0:
        sys.exit(f"bench: {' '.join(proc.args)} failed")
    return time.perf_counter() - t0


def side_by_side(a: subprocess.Popen, b: subprocess.Popen, t0: float) -> tuple[float, float]:
    """Wait for both, noting when each finished (not when we got round to asking)."""
    done: dict[int, float] = {}
    while len(done) < 2:
        for i, proc in enumerate((a, b)):
            if i not in done and proc.poll() is not None:
                done[i] = finish(proc, t0)
        time.sleep(0.1)
    return done[0], done[1]


def plot(path: str, epoch_json: str, mutex_json: str) -> None:
    """The epoch sweep with the mutex sweep beside it, as `emu sweep --compare-json` draws."""
    from emu.report.plot import plot_sweeps

    epoch, mutex = (json.load(open(p))["sweep"] for p in (epoch_json, mutex_json))
    plot_sweeps(path, [epoch, {**mutex, "file": "mutex.json"}], ["this sweep", "mutex.json"])


def averages(path: str) -> dict[int, int]:
    doc = json.load(open(path))
    return {run["tasks"]: run["average"] for run in doc["runs"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", help="also draw both curves into this PNG")
    ap.add_argument("--serial", action="store_true", help="run the sweeps one after the other")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mutex_json, epoch_json = os.path.join(tmp, "mutex.json"), os.path.join(tmp, "epoch.json")
        t0 = time.perf_counter()
        if args.serial:
            t_mutex = finish(start("mutex", mutex_json), t0)
            t1 = time.perf_counter()
            t_epoch = finish(start("epoch", epoch_json), t1)
        else:
            t_mutex, t_epoch = side_by_side(
                start("mutex", mutex_json), start("epoch", epoch_json), t0)
        both = time.perf_counter() - t0
        if args.plot:
            plot(args.plot, epoch_json, mutex_json)
        mutex, epoch = averages(mutex_json), averages(epoch_json)
    print(f"host: {os.cpu_count()} cores; emu sweep mmap1_processes --tasks {TASKS} "
          "(virtual clock, 2 warmup + 3 samples of 10ms each)")
    print(f"stock: {' '.join(KERNELS['mutex'])}; epoch: {' '.join(KERNELS['epoch'])}")
    print(f"{'tasks':>5} {'stock':>10} {'epoch':>10} {'epoch/stock':>11}")
    for t in sorted(mutex):
        print(f"{t:>5} {mutex[t]:>10} {epoch[t]:>10} {epoch[t] / mutex[t]:>11.2f}")
    print(f"case study at 96: mutex {CASE_STUDY_96['mutex']}, epoch {CASE_STUDY_96['epoch']}, "
          f"ratio {CASE_STUDY_96['epoch'] / CASE_STUDY_96['mutex']:.2f}")
    how = "one after the other" if args.serial else "side by side"
    print(f"host seconds ({how}): mutex sweep {t_mutex:.1f}, epoch sweep {t_epoch:.1f}, "
          f"both {both:.1f} (goal <= 120)")


if __name__ == "__main__":
    main()
