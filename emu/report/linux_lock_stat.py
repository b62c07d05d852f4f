"""Linux /proc/lock_stat of an emulated run (`emu run --lock-stat`).

The layout is seq_header() and seq_stats() of Linux kernel/locking/lockdep_proc.c:

    "lock_stat version 0.4"
    221 dashes                               seq_line('-', 0, 40 + 1 + 12 * (14 + 1))
    "%40s %14s x 12"                         class name con-bounces contentions ...
    221 dashes
    ""
    "%40s:" "%14lu " seq_lock_time(wait) " %14lu " seq_lock_time(hold)    one per class
    seq_line('-', 40 - namelen, namelen)     then the contention points, at most 4:
    "%40s %14lu %29s %pS"                    name, count, "[<ip>]", caller
    ""  221 dots  ""                         after a class's points

seq_lock_time() prints "%14lu" (nr), then min, max, total, avg, each " %14s" of
snprint_time(): microseconds with two decimals, rounded to 10 ns.  Classes are sorted by
contentions, highest first (lock_stat_cmp); a class never acquired prints nothing.

What emu has and what it does not (printed as 0 / 0.00, never guessed):
- contentions, acquisitions, wait time (spin + block, as Linux's waittime is the whole
  wait) and hold time totals: from the model; avg = total / nr as Linux divides.
- waittime-min/max (a contended acquisition's whole wait) and holdtime-min/max: from
  the model; 0.00 where a report has none (a lock nobody waited for).
- con-bounces = contentions: Linux counts a bounce when the lock was last acquired on
  another CPU, which is always so when this CPU has to wait for it.
- acq-bounces: 0, the model does not record which CPU took a lock before.
- contention points are emu's callers; "[<ip>]" is all zeros (emu has no code addresses)
  and %pS prints the bare function name.  The contending points (where the holder took the
  lock) are not recorded, so that block is absent; the dotted rule that Linux prints
  after them is printed after the contention points instead, to keep classes apart.
"""

# printf formats are kept as the C source writes them: Python's %-formatting is C's.
# ruff: noqa: UP031

from __future__ import annotations

from emu.machine.spec import RunResult
from emu.report.lock_records import NO_CALLER, cycles_to_ns

WIDTH = 40 + 1 + 12 * (14 + 1)
COLUMNS = ("class name", "con-bounces", "contentions", "waittime-min", "waittime-max",
           "waittime-total", "waittime-avg", "acq-bounces", "acquisitions", "holdtime-min",
           "holdtime-max", "holdtime-total", "holdtime-avg")
LOCKSTAT_POINTS = 4  # include/linux/lockdep_types.h
EXTREMES = ("wait_min_cycles", "wait_max_cycles", "hold_min_cycles", "hold_max_cycles")
NO_IP = "[<%016x>]" % 0


def snprint_time(ns: int) -> str:
    """lockdep_proc.c snprint_time(): ns as µs with two decimals, rounded to 10 ns."""
    div, rem = divmod(ns + 5, 1000)
    return "%d.%02d" % (div, rem // 10)


def _lock_time(nr: int, min_ns: int, max_ns: int, total_ns: int) -> str:
    """seq_lock_time(): nr, min, max, total, avg."""
    avg = total_ns // nr if nr else 0
    return "%14d" % nr + "".join(" %14s" % snprint_time(t)
                                 for t in (min_ns, max_ns, total_ns, avg))


def header() -> str:
    return "\n".join(["lock_stat version 0.4", "-" * WIDTH,
                      ("%40s" + " %14s" * 12) % COLUMNS, "-" * WIDTH, ""]) + "\n"


def format_class(lock: dict, freq_hz: int) -> str:
    """seq_stats() of one lock (a lock class in Linux's words)."""
    acq = int(lock.get("acquisitions", 0))
    if acq == 0:  # seq_stats prints a row only for a class with holds
        return ""
    cont = int(lock.get("contentions", 0))
    wait_ns = cycles_to_ns(int(lock.get("spin_cycles", 0)) + int(lock.get("block_cycles", 0)),
                           freq_hz)
    hold_ns = cycles_to_ns(int(lock.get("hold_cycles", 0)), freq_hz)
    wait_min, wait_max, hold_min, hold_max = (
        cycles_to_ns(int(lock.get(f, 0)), freq_hz) for f in EXTREMES)
    con_bounces = int(lock.get("con_bounces", cont))
    acq_bounces = int(lock.get("acq_bounces", 0))
    name = str(lock["name"])[:37]  # snprintf(name, 38, ...) into char name[39]
    lines = ["%40s:" % name + "%14d " % con_bounces + _lock_time(cont, wait_min, wait_max,
                                                                  wait_ns)
             + " %14d " % acq_bounces + _lock_time(acq, hold_min, hold_max, hold_ns)]
    if cont == 0:
        return "\n".join(lines) + "\n"
    points = [c for c in lock.get("callers") or [] if int(c.get("contentions", 0)) > 0]
    points.sort(key=lambda c: (-int(c["contentions"]), str(c.get("caller", NO_CALLER))))
    if points:
        lines.append(" " * (40 - len(name)) + "-" * len(name))
        for c in points[:LOCKSTAT_POINTS]:
            lines.append("%40s %14d %29s %s" % (name, int(c["contentions"]), NO_IP,
                                                 c.get("caller", NO_CALLER)))
        lines += ["", "." * WIDTH, ""]
    return "\n".join(lines) + "\n"


def lock_stat_report(locks: list[dict], freq_hz: int) -> str:
    """The whole file: header, then every acquired lock by contentions."""
    ordered = sorted(locks, key=lambda d: (-int(d.get("contentions", 0)), str(d["name"])))
    return header() + "".join(format_class(lock, freq_hz) for lock in ordered)


def run_lock_stat(result: RunResult) -> str:
    """lock_stat_report of a RunResult."""
    return lock_stat_report(result.locks, result.spec.machine.freq_hz)
