"""Benchmark of one emulated machine as it grows: 96, 384 and 768 CPUs (docs/scaling.md).

    python bench/bench_scale.py [--sizes 96,384,768] [--samples 1]

Runs `emu run mmap1_processes -t N -s 1 --json P` with every CPU busy: 96 tasks on
skylake-2s (the case study's machine), 384 and 768 on zen5c-2s (two EPYC 9965), and prints
for each: host seconds, startup (the command's start until every child is forked), end
(the last sample until the command has exited: the actor's final statistics, stopping
every child, removing the run directory), shared events sequenced per host second, the
private memory (USS) of each CPU process (max, mean) and of the kernel actor, sampled once
the first sample is out, and the open file descriptors of the supervisor, the actor and the
busiest CPU process then.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psutil

EMU = [sys.executable, "-m", "emu.cli"]
MACHINE = {96: "skylake-2s"}   # a size not listed runs on zen5c-2s
BIG = "zen5c-2s"


def _fds(p: psutil.Process) -> int:
    try:
        return p.num_fds()
    except psutil.Error:
        return -1


def _probe(pid: int) -> dict:
    """USS and descriptors of the run's processes (the actor is named emu-actor)."""
    sup = psutil.Process(pid)
    uss_cpu, actor_uss, fds, fd_actor = [], float("nan"), [], -1
    for k in sup.children():
        try:
            uss, actor = k.memory_full_info().uss / 2**20, k.name() == "emu-actor"
        except psutil.Error:
            continue
        if actor:
            actor_uss, fd_actor = uss, _fds(k)
        else:
            uss_cpu.append(uss)
            fds.append(_fds(k))
    return {"uss_cpu": uss_cpu, "uss_actor": actor_uss, "fd_sup": _fds(sup),
            "fd_actor": fd_actor, "fd_cpu": max(fds, default=-1)}


def run_once(tasks: int, samples: int) -> dict:
    machine = MACHINE.get(tasks, BIG)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.json")
        cmd = [*EMU, "run", "mmap1_processes", "-t", str(tasks), "-s", str(samples),
               "--machine", machine, "--json", path]
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        err: list[str] = []
        drain = threading.Thread(target=lambda: err.extend(p.stderr), daemon=True)
        drain.start()
        forked = float("nan")
        while p.poll() is None:  # every child forked: the actor and one per task
            try:
                if len(psutil.Process(p.pid).children()) >= tasks + 1:
                    forked = time.perf_counter() - t0
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.02)
        probe, lines, last = {}, 0, t0
        for line in p.stdout:  # the stream: one `min:... max:... total:...` line a sample
            if line.startswith("min:"):
                lines += 1
                last = time.perf_counter()
                if lines == 1:
                    probe = _probe(p.pid)
        p.wait()
        end = time.perf_counter()
        drain.join(5)
        if p.returncode != 0:
            raise SystemExit(f"-t {tasks} failed: {''.join(err).strip()}")
        doc = json.load(open(path))
    uss = probe.get("uss_cpu") or [float("nan")]
    return {"tasks": tasks, "machine": machine, "wall_s": end - t0, "forked_s": forked,
            "end_s": end - last, "events": doc["host"]["shared_events"],
            "events_per_s": doc["host"]["events_per_s"], "average": doc["average"],
            "uss_cpu_max": max(uss), "uss_cpu_mean": statistics.mean(uss),
            "uss_actor": probe.get("uss_actor", float("nan")),
            "fd_sup": probe.get("fd_sup", -1), "fd_actor": probe.get("fd_actor", -1),
            "fd_cpu": probe.get("fd_cpu", -1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="96,384,768", help="task counts, comma-separated")
    ap.add_argument("--samples", type=int, default=1)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(f"host: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"open files {soft}/{hard}; emu run mmap1_processes -t N -s {args.samples} "
          "(virtual clock, 6 warmup samples of 20ms)")
    print(f"{'CPUs':>5} {'machine':<11} {'host s':>7} {'start s':>7} {'end s':>6} "
          f"{'events':>9} {'events/s':>9} {'USS cpu max':>11} {'mean':>7} {'USS actor':>9} "
          f"{'fds sup/actor/cpu':>17}")
    for n in sizes:
        r = run_once(n, args.samples)
        fds = f"{r['fd_sup']}/{r['fd_actor']}/{r['fd_cpu']}"
        print(f"{n:>5} {r['machine']:<11} {r['wall_s']:7.1f} {r['forked_s']:7.2f} "
              f"{r['end_s']:6.2f} {r['events']:9d} {r['events_per_s']:9d} "
              f"{r['uss_cpu_max']:9.2f}Mi {r['uss_cpu_mean']:5.2f}Mi {r['uss_actor']:7.1f}Mi "
              f"{fds:>17}", flush=True)


if __name__ == "__main__":
    main()
