"""Benchmark of the emulated machine runtime (issue: emulated machine runtime).

    python bench/bench_runtime.py [--tasks 96] [--samples 5] [--python]

Measures, on this host:
  * shared events sequenced per host second with 96 emulated CPUs,
  * host seconds for `emu run mmap1_processes -t 96 -s 5` and the coefficient of
    variation of its measured totals,
  * private memory (USS) of each CPU process and of the actor, sampled mid-run;
with --python, the same again with the model's Python source (EMU_PURE=1) in place of its
compiled modules (emu/compiled.py), to show what compiling buys.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

from emu.compiled import PURE_ENV, compiled_in_use

EMU = [sys.executable, "-m", "emu.cli"]


def run_once(tasks: int, samples: int, extra: list[str], env: dict | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.json")
        cmd = [*EMU, "run", "mmap1_processes", "-t", str(tasks), "-s", str(samples),
               "--json", path, *extra]
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        uss_cpu, uss_actor = [], []
        # Sample memory once the machine is up and running.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None:
            try:
                kids = sorted(psutil.Process(p.pid).children(), key=lambda k: k.pid)
            except psutil.NoSuchProcess:
                break
            if len(kids) == tasks + 1:
                time.sleep(1.0)
                for i, k in enumerate(kids):
                    try:
                        uss = k.memory_full_info().uss / 2**20
                    except psutil.Error:
                        continue
                    (uss_actor if i == 0 else uss_cpu).append(uss)
                break
            time.sleep(0.05)
        _, err = p.communicate()
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"run failed: {err.decode().strip()}")
        doc = json.load(open(path))
    totals = [s["total"] for s in doc["samples"]]
    return {
        "wall_s": wall,
        "events": doc["host"]["shared_events"],
        "events_per_s": doc["host"]["events_per_s"],
        "cv_pct": 100 * statistics.pstdev(totals) / statistics.mean(totals),
        "average": doc["average"],
        "uss_cpu_max": max(uss_cpu) if uss_cpu else float("nan"),
        "uss_cpu_mean": statistics.mean(uss_cpu) if uss_cpu else float("nan"),
        "uss_actor": uss_actor[0] if uss_actor else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=96)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--python", action="store_true",
                    help="also run the model's Python source (EMU_PURE=1)")
    args = ap.parse_args()
    models = [("compiled" if compiled_in_use() else "python", None)]
    if args.python:
        models.append(("python", {**os.environ, PURE_ENV: "1"}))
    rows = [(model, run_once(args.tasks, args.samples, [], env))
            for model, env in models for _ in range(args.repeat)]
    print(f"host: {os.cpu_count()} cores; emu run mmap1_processes -t {args.tasks} "
          f"-s {args.samples} (virtual clock, default 20ms samples)")
    print(f"{'model':>8} {'host s':>7} {'events':>9} {'events/s':>9} {'CV %':>6} "
          f"{'average':>9} {'USS cpu max':>11} {'USS cpu mean':>12} {'USS actor':>9}")
    for model, r in rows:
        print(f"{model:>8} {r['wall_s']:7.2f} {r['events']:9d} {r['events_per_s']:9d} "
              f"{r['cv_pct']:6.2f} {r['average']:9d} {r['uss_cpu_max']:9.2f}Mi "
              f"{r['uss_cpu_mean']:10.2f}Mi {r['uss_actor']:7.2f}Mi")


if __name__ == "__main__":
    main()
