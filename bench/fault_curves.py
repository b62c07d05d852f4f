"""The fault path's predictions: each VM testcase's curve on skylake-2s, stock and epoch
kernel, with the top lock and line at each point (docs/fault-path.md is written from it).

    python bench/fault_curves.py [--tasks 1,12,48,96] [--period 10ms] [-s 1] [--warmup 1]
                                 [--testcases page_fault1,...] [--json out.json]

Each point is one `emu run TESTCASE_processes -t N` (seed 0) for the stock kernel and for
`--di epoch --swap atomic`; the table gives ops/s, the lock with the most spin+block time
(its share of the run's CPU time), and the busiest line or memory controller (its busy
share of the run).
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
TESTCASES = ("page_fault1", "page_fault2", "page_fault3", "page_fault4", "tlb_flush1",
             "tlb_flush2", "tlb_flush3", "brk1")
VARIANTS = {"stock": [], "epoch": ["--di", "epoch", "--swap", "atomic"]}


def point(tc: str, tasks: int, extra: list[str], args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.json")
        cmd = [*EMU, "run", f"{tc}_processes", "-t", str(tasks), "-s", str(args.samples),
               "--warmup", str(args.warmup), "--period", args.period, "--json", path, *extra]
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[2:])}: {p.stderr.strip()}")
        doc = json.loads(open(path).read())
    run_cycles = doc["freq_hz"] * doc["period_s"] * (len(doc["warmup"]) + len(doc["samples"]))
    cpu_cycles = run_cycles * tasks
    locks = sorted(doc["locks"], key=lambda r: -(r["spin_cycles"] + r["block_cycles"]))
    top_lock = None
    if locks and locks[0]["spin_cycles"] + locks[0]["block_cycles"] > 0:
        r = locks[0]
        top_lock = (r["name"], round(100 * (r["spin_cycles"] + r["block_cycles"]) / cpu_cycles,
                                     1))
    top_line = None
    if doc["lines"]:
        r = doc["lines"][0]
        top_line = (r["name"], round(100 * r["busy_cycles"] / run_cycles, 1))
    return {"testcase": tc, "tasks": tasks, "average": doc["average"], "top_lock": top_lock,
            "top_line": top_line, "host_s": doc["host"]["wall_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="1,12,48,96")
    ap.add_argument("--period", default="10ms")
    ap.add_argument("-s", "--samples", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--testcases", default=",".join(TESTCASES))
    ap.add_argument("--json")
    args = ap.parse_args()
    tasks = [int(t) for t in args.tasks.split(",")]
    out = []
    t0 = time.monotonic()
    for tc in args.testcases.split(","):
        for variant, extra in VARIANTS.items():
            for n in tasks:
                r = point(tc, n, extra, args)
                r["variant"] = variant
                out.append(r)
                print(f"{tc:12} {variant:6} {n:3} {r['average']:>11} "
                      f"lock {r['top_lock']} line {r['top_line']} ({r['host_s']:.0f}s)",
                      file=sys.stderr, flush=True)
    print(f"| testcase | kernel | {' | '.join(str(n) for n in tasks)} |")
    print(f"|---|---|{'---|' * len(tasks)}")
    for tc in args.testcases.split(","):
        for variant in VARIANTS:
            row = [r for r in out if r["testcase"] == tc and r["variant"] == variant]
            print(f"| {tc} | {variant} | "
                  + " | ".join(f"{r['average'] / 1e6:.2f}M" for r in row) + " |")
    print(f"\nhost {time.monotonic() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
