"""A run's lock statistics, from the counter board's cycles to the units reports print.

`RunResult.locks` holds one dict per named lock, in cycles of the emulated machine:

    {"name", "acquisitions", "contentions", "spin_cycles", "block_cycles", "hold_cycles",
     "events", "wait_min_cycles", "wait_max_cycles", "hold_min_cycles", "hold_max_cycles",
     "pause_cycles" (the part of spin_cycles in lock_delay's PAUSEs),
     "callers": [{"caller", "acquisitions", "contentions", "spin_cycles", "block_cycles",
                  "hold_cycles", and the same extremes and pause}, ...]}

`callers` may be missing or empty (a model that does not attribute acquisitions to call
sites); then the lock is its own only row, with caller NO_CALLER.  lockstat(1), the Linux
/proc/lock_stat work-alike and the run JSON all read the rows through this module, so the
three agree on every number.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_CALLER = "-"
COUNT_FIELDS = ("acquisitions", "contentions")
CYCLE_FIELDS = ("spin_cycles", "block_cycles", "hold_cycles",
                # a contended acquisition's least and greatest whole wait, and hold's
                "wait_min_cycles", "wait_max_cycles", "hold_min_cycles", "hold_max_cycles",
                "pause_cycles")  # the part of spin_cycles in lock_delay's PAUSEs


def cycles_to_ns(cycles: int, freq_hz: int) -> int:
    """Cycles of the emulated clock as whole nanoseconds (rounded)."""
    return round(cycles * 1_000_000_000 / freq_hz) if freq_hz else 0


@dataclass(frozen=True)
class LockRow:
    """One (lock, caller) pair; times in emulated nanoseconds."""

    lock: str
    caller: str
    acquisitions: int
    contentions: int
    spin_ns: int
    block_ns: int
    hold_ns: int
    # Contended acquisitions that spun / that blocked on the turnstile.  A model that counts
    # only `contentions` leaves these None; readers then count every contended acquisition
    # of a row with spin (block) time: exact while all waiters of a row do the same (today's
    # model only spins), an upper bound once some spin and others block.
    spins: int | None = None
    blocks: int | None = None


def _opt(d: dict, key: str) -> int | None:
    return None if d.get(key) is None else int(d[key])


def _row(lock: str, caller: str, d: dict, freq_hz: int) -> LockRow:
    return LockRow(lock, caller, int(d.get("acquisitions", 0)), int(d.get("contentions", 0)),
                   cycles_to_ns(int(d.get("spin_cycles", 0)), freq_hz),
                   cycles_to_ns(int(d.get("block_cycles", 0)), freq_hz),
                   cycles_to_ns(int(d.get("hold_cycles", 0)), freq_hz),
                   _opt(d, "spins"), _opt(d, "blocks"))


def lock_rows(locks: list[dict], freq_hz: int) -> list[LockRow]:
    """Every (lock, caller) row; a lock without callers is one row with caller NO_CALLER."""
    rows: list[LockRow] = []
    for lock in locks:
        callers = lock.get("callers") or []
        if callers:
            rows.extend(_row(lock["name"], str(c.get("caller", NO_CALLER)), c, freq_hz)
                        for c in callers)
        else:
            rows.append(_row(lock["name"], NO_CALLER, lock, freq_hz))
    return rows


def _with_ns(d: dict, freq_hz: int) -> dict:
    out = {k: int(d.get(k, 0)) for k in COUNT_FIELDS}
    for f in CYCLE_FIELDS:
        out[f.replace("_cycles", "_ns")] = cycles_to_ns(int(d.get(f, 0)), freq_hz)
    for f in CYCLE_FIELDS:  # the raw cycle counts too: exact, and what the model counted
        out[f] = int(d.get(f, 0))
    return out


def locks_document(locks: list[dict], freq_hz: int) -> list[dict]:
    """`locks` of the run JSON: counts, times in ns (and raw cycles), per caller."""
    doc = []
    for lock in locks:
        entry = {"name": lock["name"], **_with_ns(lock, freq_hz),
                 "events": int(lock.get("events", 0))}
        entry["callers"] = [{"caller": str(c.get("caller", NO_CALLER)), **_with_ns(c, freq_hz)}
                            for c in lock.get("callers") or []]
        doc.append(entry)
    return doc


def covered_seconds(samples: int, period_s: float) -> float:
    """Emulated seconds the lock counters cover: every sample, warmup included.

    The counters run from emulated time 0 to the end of the run (the actor never resets
    them at the warmup/measurement boundary), so the span is all samples' periods; each CPU
    also finishes the iteration it is in at the last boundary, a few microseconds more.
    """
    return samples * period_s
