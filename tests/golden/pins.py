"""The runs whose exact results are pinned (tests/golden/test_pinned.py), and how to pin
them anew.

    python -m tests.golden.pins      # rewrites tests/golden/pinned.json: only on purpose

A change to the model that moves a result is a change to these pins, and its commit says
which mechanism moved it.  A restructuring leaves them as they are.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

PINNED = Path(__file__).with_name("pinned.json")
EMU = [sys.executable, "-m", "emu.cli"]

SHORT = ["-s", "2", "--warmup", "1", "--period", "1ms", "--seed", "1", "-v"]
EPOCH_KERNEL = ["--di", "epoch", "--swap", "atomic"]

# name -> `emu run` arguments (each also writes --json)
RUNS: dict[str, list[str]] = {
    "mmap1-stock-4": ["mmap1_processes", "-t", "4", *SHORT],
    "mmap1-stock-96": ["mmap1_processes", "-t", "96", *SHORT],
    "mmap1-epoch-kernel-4": ["mmap1_processes", "-t", "4", *SHORT, *EPOCH_KERNEL],
    "mmap1-epoch-kernel-96": ["mmap1_processes", "-t", "96", *SHORT, *EPOCH_KERNEL],
    "mmap1-di-none-48": ["mmap1_processes", "-t", "48", *SHORT, "--di", "none"],
    "mmap1-poc-smt-12": ["mmap1_processes", "-t", "12", "-m", *SHORT, "--di", "lockless",
                         "--swap", "pcpu", "--ucred", "perproc"],
    "mmap1-threads-8": ["mmap1_threads", "-t", "8", *SHORT],
    "mmap2-processes-4": ["mmap2_processes", "-t", "4", *SHORT],
    "page_fault1-processes-4": ["page_fault1_processes", "-t", "4", *SHORT],
    "page_fault2-threads-8": ["page_fault2_threads", "-t", "8", *SHORT],
    "page_fault3-threads-6": ["page_fault3_threads", "-t", "6", *SHORT, "--di", "lockless"],
    "page_fault4-processes-3": ["page_fault4_processes", "-t", "3", *SHORT],
    "tlb_flush1-processes-2": ["tlb_flush1_processes", "-t", "2", *SHORT],
    "tlb_flush2-threads-8": ["tlb_flush2_threads", "-t", "8", *SHORT],
    "tlb_flush3-threads-4": ["tlb_flush3_threads", "-t", "4", *SHORT, *EPOCH_KERNEL],
    "profile-mmap1-stock-8": ["mmap1_processes", "-t", "8", *SHORT, "--profile"],
    "profile-mmap1-epoch-kernel-8": ["mmap1_processes", "-t", "8", *SHORT, *EPOCH_KERNEL,
                                     "--profile"],
}

# name -> `emu check` arguments (each also writes --json)
CHECKS: dict[str, list[str]] = {
    "check-none": ["--di", "none", "--trials", "12"],
    "check-none-replay-3": ["--di", "none", "--seed", "3", "--trials", "1"],
    "check-mutex": ["--di", "mutex", "--trials", "6"],
    "check-epoch": ["--di", "epoch", "--trials", "6"],
    "check-lockless": ["--di", "lockless", "--trials", "6"],
}

# What a run's JSON says about the emulated machine: every field but the host's timings.
RUN_FIELDS = ("testcase", "tasks", "cpus", "strategies", "warmup", "samples", "average",
              "per_task", "locks", "lines", "ipis", "tlb_shootdowns", "profile")


def run_result(args: list[str], env: dict | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "run.json")
        p = subprocess.run([*EMU, "run", *args, "--json", str(path)], capture_output=True,
                           text=True, timeout=600, env=env)
        doc = json.loads(path.read_text()) if path.exists() else {}
    out = {"returncode": p.returncode, "stdout": p.stdout}
    out.update({k: doc[k] for k in RUN_FIELDS if k in doc})
    out["shared_events"] = doc.get("host", {}).get("shared_events")
    return out


def check_result(args: list[str], env: dict | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "check.json")
        p = subprocess.run([*EMU, "check", *args, "--json", str(path)], capture_output=True,
                           text=True, timeout=600, env=env)
        doc = json.loads(path.read_text()) if path.exists() else {}
    doc.pop("host_s", None)
    return {"returncode": p.returncode, "stdout": p.stdout, "json": doc}


def main() -> None:
    pins = {name: run_result(args) for name, args in RUNS.items()}
    pins.update({name: check_result(args) for name, args in CHECKS.items()})
    PINNED.write_text(json.dumps(pins, indent=1, sort_keys=True) + "\n")
    print(f"pinned {len(pins)} results in {PINNED}")


if __name__ == "__main__":
    main()
