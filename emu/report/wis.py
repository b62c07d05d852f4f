"""will-it-scale's output stream (main.c) and emu's run JSON.

    testcase:<description>
    warmup
    min:%llu max:%llu total:%llu      x warmup samples
    measurement
    min:%llu max:%llu total:%llu      x -s samples
    average:%llu                      integer mean of the measured totals

Numbers are operations per emulated second: a sample's deltas scaled by 1 / period.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from emu.machine.spec import RunResult, Sample
from emu.report.lock_records import locks_document


def per_second(ops: int, period_s: float) -> int:
    return int(round(ops / period_s))


def sample_stats(sample: Sample, period_s: float) -> dict[str, int]:
    rates = [per_second(d, period_s) for d in sample.deltas]
    return {"min": min(rates), "max": max(rates), "total": sum(rates)}


class WillItScaleStream:
    """Writes the stream line by line as samples arrive (flushing, for `-s 0` and pipes)."""

    def __init__(self, out: TextIO, description: str, warmup: int, period_s: float,
                 verbose: bool = False) -> None:
        self.out = out
        self.warmup = warmup
        self.period_s = period_s
        self.verbose = verbose
        self.totals: list[int] = []
        self._line(f"testcase:{description}")
        self._line("warmup")
        if warmup == 0:
            self._line("measurement")

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def sample(self, sample: Sample) -> None:
        if self.verbose:
            for i, d in enumerate(sample.deltas):
                self._line(f"{i:4d} -> {per_second(d, self.period_s)}")
        s = sample_stats(sample, self.period_s)
        self._line(f"min:{s['min']} max:{s['max']} total:{s['total']}")
        if sample.warmup:
            if sample.index == self.warmup:
                self._line("measurement")
        else:
            self.totals.append(s["total"])

    def average(self) -> None:
        if self.totals:
            self._line(f"average:{sum(self.totals) // len(self.totals)}")


def run_average(result: RunResult) -> int:
    """The `average:` line's number: integer mean of the measured samples' totals."""
    totals = [sample_stats(s, result.spec.period_s)["total"] for s in result.measured]
    return sum(totals) // len(totals) if totals else 0


def run_document(result: RunResult) -> dict:
    """The run as `--json` writes it."""
    spec = result.spec
    period = spec.period_s
    measured = [sample_stats(s, period) for s in result.measured]
    doc = {
        "testcase": spec.testcase.name,
        "description": spec.testcase.description,
        "tasks": spec.tasks,
        "machine": spec.machine.name,
        "ncpus": spec.machine.ncpus,
        "freq_hz": spec.machine.freq_hz,
        "costs_set": dict(spec.machine.changed),  # --cost: costs set over the preset's
        "strategies": dict(spec.strategies),
        "clock": spec.clock,
        "seed": spec.seed,
        "period_s": period,
        "cpus": spec.cpus,
        "warmup": [sample_stats(s, period) for s in result.warmup_samples],
        "samples": measured,
        "average": (sum(m["total"] for m in measured) // len(measured)) if measured else 0,
        "per_task": result.per_task,
        # Times in emulated ns (from the machine's clock rate) beside the raw cycle counts.
        "locks": locks_document(result.locks, spec.machine.freq_hz),
        "lines": result.lines,
        "ipis": {"sent": result.ipis_sent, "received": result.ipis_received,
                 "acked": result.ipis_acked},
        "tlb_shootdowns": result.tlb_shootdowns,
        "host": {
            "wall_s": round(result.wall_s, 3),
            "shared_events": result.shared_events,
            "events_per_s": round(result.shared_events / result.wall_s) if result.wall_s else 0,
        },
    }
    if result.profile is not None:  # --profile: cycles by (image, function, caller)
        doc["profile"] = result.profile
    if result.error:
        doc["error"] = result.error
    return doc


def write_json(result: RunResult, path: str) -> None:
    Path(path).write_text(json.dumps(run_document(result), indent=2) + "\n")
