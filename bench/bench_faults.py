"""Benchmark of the fault path's host cost: host microseconds per emulated fault.

    python bench/bench_faults.py [--tasks 96] [--samples 2] [--warmup 1] [--period 20ms]

Runs `emu run page_fault1_processes` and `page_fault4_processes` on the default preset and
prints, for each, the host seconds of the run, the emulated iterations (page_fault1: one
zero-fill fault each; page_fault4: one page read each, a fault mapping it and up to four
resident pages ahead: vm_fault_prefault), host microseconds per iteration, and the shared
events the actor sequenced per emulated iteration and per host second: the host cost of a
fault is its CPU-side Python plus its share of the actor's events (COUNT, the
vmd_free_count atomic, MEMCTL, the free's atomic at munmap, the batched locks).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

EMU = [sys.executable, "-m", "emu.cli"]
TESTCASES = ("page_fault1_processes", "page_fault4_processes")


def run(testcase: str, tasks: int, samples: int, warmup: int, period: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.json")
        cmd = [*EMU, "run", testcase, "-t", str(tasks), "-s", str(samples), "--warmup",
               str(warmup), "--period", period, "--json", path]
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise SystemExit(f"{testcase}: {p.stderr.strip()}")
        doc = json.loads(open(path).read())
    totals = [s["total"] for s in doc["warmup"] + doc["samples"]]
    iterations = round(sum(totals) * doc["period_s"])
    host = doc["host"]
    return {"testcase": testcase, "wall_s": host["wall_s"], "iterations": iterations,
            "us_per_iteration": host["wall_s"] * 1e6 / max(iterations, 1),
            "events_per_iteration": host["shared_events"] / max(iterations, 1),
            "events_per_s": host["events_per_s"], "average": doc["average"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=96)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--period", default="20ms")
    args = ap.parse_args()
    rows = [run(tc, args.tasks, args.samples, args.warmup, args.period) for tc in TESTCASES]
    print(f"fault path, {args.tasks} tasks, {args.warmup}+{args.samples} samples of "
          f"{args.period} emulated time")
    print(f"{'testcase':24} {'host s':>8} {'iterations':>11} {'host us/iter':>13} "
          f"{'events/iter':>12} {'events/s':>10} {'ops/s':>12}")
    for r in rows:
        print(f"{r['testcase']:24} {r['wall_s']:8.1f} {r['iterations']:11d} "
              f"{r['us_per_iteration']:13.2f} {r['events_per_iteration']:12.2f} "
              f"{r['events_per_s']:10d} {r['average']:12d}")


if __name__ == "__main__":
    main()
