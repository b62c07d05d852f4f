"""Benchmark: the case study's two 11-point sweeps (mmap1_processes, --di mutex and --di
epoch) on the default machine, timed on this host, with the curves beside the write-up's.

    python bench/bench_sweeps.py [--plot docs/mmap1-mutex-vs-epoch.png]
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


def sweep(di: str, out: str, plot: str | None = None, other: str | None = None) -> float:
    cmd = [*EMU, "sweep", "mmap1_processes", "--tasks", TASKS, "--di", di, "--json", out]
    if plot:
        cmd += ["--plot", plot] + (["--compare-json", other] if other else [])
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def averages(path: str) -> dict[int, int]:
    doc = json.load(open(path))
    return {run["tasks"]: run["average"] for run in doc["runs"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", help="also draw both curves into this PNG")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mutex_json, epoch_json = os.path.join(tmp, "mutex.json"), os.path.join(tmp, "epoch.json")
        t_mutex = sweep("mutex", mutex_json)
        t_epoch = sweep("epoch", epoch_json, args.plot, mutex_json)
        mutex, epoch = averages(mutex_json), averages(epoch_json)
    print(f"host: {os.cpu_count()} cores; emu sweep mmap1_processes --tasks {TASKS} "
          "(virtual clock, 2 warmup + 3 samples of 10ms each)")
    print(f"{'tasks':>5} {'di=mutex':>10} {'di=epoch':>10} {'epoch/mutex':>11}")
    for t in sorted(mutex):
        print(f"{t:>5} {mutex[t]:>10} {epoch[t]:>10} {epoch[t] / mutex[t]:>11.2f}")
    print(f"case study at 96: mutex {CASE_STUDY_96['mutex']}, epoch {CASE_STUDY_96['epoch']}, "
          f"ratio {CASE_STUDY_96['epoch'] / CASE_STUDY_96['mutex']:.2f}")
    print(f"host seconds: mutex sweep {t_mutex:.1f}, epoch sweep {t_epoch:.1f}, "
          f"both {t_mutex + t_epoch:.1f} (goal <= 120)")


if __name__ == "__main__":
    main()
