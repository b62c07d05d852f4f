"""FreeBSD lockstat(1)'s contention report of an emulated run (`emu run --lockstat`).

The layout is report_stats() of FreeBSD's cddl/contrib/opensolaris/cmd/lockstat/lockstat.c
(the DTrace consumer, default `-C` events, `-t` timing records), printf for printf:

    "\\n%s: %.0f events in %.3f seconds (%.0f events/sec)\\n\\n"
    "%5s %4s %4s %4s %8s %-22s %-24s\\n"  Count indv cuml rcnt nsec Lock Caller
    79 dashes
    "%5llu " "%3.0f%% " "%3.0f%% " "%4.2f %8s " "%-22s " "%-24s\\n"   one per (lock, caller)
    79 dashes

one section per event type, records sorted by count (countcmp), nsec = time / count.

What emu feeds it:
- "Adaptive mutex spin": contended acquisitions that spun (the adaptive-spin probe fires
  once per such acquisition), time = emulated spin time.
- "Adaptive mutex block": contended acquisitions that slept on the turnstile, time =
  emulated block time; printed only when some block time was emulated.
- seconds: the emulated time the counters cover, all samples' periods, warmup included
  (emu.report.lock_records.covered_seconds), as lockstat's is the wall time of its command.
- rcnt: printed 0.00, as FreeBSD's lockstat prints it: its lsrec_fill() zeroes ls_refcnt
  and nothing sets it (only the pre-DTrace Solaris driver counted references).
- Lock is the lock's name (FreeBSD prints lo_name); Caller the emulated kernel function,
  without the `+0x..` offset emu has no code addresses for; `-` when the model did not
  attribute the acquisitions to callers.
"""

# printf formats are kept as the C source writes them: Python's %-formatting is C's.
# ruff: noqa: UP031

from __future__ import annotations

from dataclasses import dataclass

from emu.machine.spec import RunResult
from emu.report.lock_records import LockRow, covered_seconds, lock_rows

RULE = "-" * 79  # lockstat.c prints "---------------------------------" "-----...(46)"
HEADER = "%5s %4s %4s %4s %8s %-22s %-24s" % ("Count", "indv", "cuml", "rcnt", "nsec", "Lock",
                                              "Caller")
SPIN = "Adaptive mutex spin"
BLOCK = "Adaptive mutex block"
NANOSEC = 1_000_000_000


@dataclass(frozen=True)
class Record:
    """One lsrec_t: an event type's count and total time (ns) at one (lock, caller)."""

    lock: str
    caller: str
    count: int
    time_ns: int


def _records(rows: list[LockRow], kind: str) -> list[Record]:
    out = []
    for r in rows:
        if kind == SPIN:
            time_ns, count = r.spin_ns, r.spins
        else:
            time_ns, count = r.block_ns, r.blocks
        if count is None:  # no separate count: every contended acquisition with time
            count = r.contentions if time_ns > 0 else 0
        if count > 0:
            out.append(Record(r.lock, r.caller, count, time_ns))
    # countcmp: by count, highest first; ties by lock and caller, so the output is stable.
    out.sort(key=lambda rec: (-rec.count, rec.lock, rec.caller))
    return out


def format_section(desc: str, records: list[Record], elapsed_s: float) -> str:
    """One event type as report_stats() prints it (no -R, -g, -p, -P, -W, -w flags)."""
    total = sum(r.count for r in records)
    rate = total / elapsed_s if elapsed_s > 0 else 0.0
    lines = ["", "%s: %.0f events in %.3f seconds (%.0f events/sec)" % (desc, total, elapsed_s,
                                                                       rate), "",
             HEADER, RULE]
    cuml = 0.0
    for r in records:
        indv = r.count * 100.0 / total
        cuml += indv
        nsec = str(r.time_ns // r.count)
        lines.append("%5d %3.0f%% %3.0f%% %4.2f %8s %-22s %-24s"
                     % (r.count, indv, cuml, 0.0, nsec, r.lock, r.caller))
    lines.append(RULE)
    return "\n".join(lines) + "\n"


def lockstat_report(locks: list[dict], freq_hz: int, elapsed_s: float) -> str:
    """The whole report: a spin section, then a block section if any time blocked.

    Like lockstat(1), prints nothing at all when no lock was contended.
    """
    rows = lock_rows(locks, freq_hz)
    out = []
    for desc in (SPIN, BLOCK):
        records = _records(rows, desc)
        if records:
            out.append(format_section(desc, records, elapsed_s))
    return "".join(out)


def run_lockstat(result: RunResult) -> str:
    """lockstat_report of a RunResult."""
    spec = result.spec
    return lockstat_report(result.locks, spec.machine.freq_hz,
                           covered_seconds(len(result.samples), spec.period_s))
