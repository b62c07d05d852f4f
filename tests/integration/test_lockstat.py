"""`emu run --lockstat` / `--lock-stat`: FreeBSD lockstat(1) and Linux /proc/lock_stat layouts.

The expected lines are written out from the printf formats of FreeBSD's
cddl/contrib/opensolaris/cmd/lockstat/lockstat.c (report_stats) and Linux's
kernel/locking/lockdep_proc.c (seq_header, seq_stats); the lock_stat column header is the
one in Linux's Documentation/locking/lockstat.rst.
"""

# Expected lines are written with the C source's printf formats.
# ruff: noqa: UP031

from __future__ import annotations

import re

from emu.report.linux_lock_stat import lock_stat_report, snprint_time
from emu.report.lock_records import cycles_to_ns, locks_document
from emu.report.lockstat import lockstat_report
from tests.conftest import FAST, emu

FREQ = 2_000_000_000  # 2 cycles per ns keeps the arithmetic readable
RULE = "-" * 79
LS_HEADER = "Count indv cuml rcnt     nsec Lock                   Caller                  "
LINUX_COLUMNS = ("                              class name    con-bounces    contentions"
                 "   waittime-min   waittime-max waittime-total   waittime-avg    acq-bounces"
                 "   acquisitions   holdtime-min   holdtime-max holdtime-total   holdtime-avg")

LOCKS = [
    {"name": "invl_gen_mtx", "acquisitions": 100, "contentions": 30,
     "spin_cycles": 2 * 25_000, "block_cycles": 0, "hold_cycles": 2 * 30_000, "events": 200,
     "callers": [
         {"caller": "pmap_delayed_invl_finished", "acquisitions": 50, "contentions": 10,
          "spin_cycles": 2 * 5_000, "block_cycles": 0, "hold_cycles": 2 * 10_000},
         {"caller": "pmap_delayed_invl_started", "acquisitions": 50, "contentions": 20,
          "spin_cycles": 2 * 20_000, "block_cycles": 0, "hold_cycles": 2 * 20_000},
     ]},
    # No callers: the lock is its own only row, caller "-".
    {"name": "sw_dev_mtx", "acquisitions": 40, "contentions": 5, "spin_cycles": 2 * 10_000,
     "block_cycles": 2 * 500_000, "hold_cycles": 2 * 4_000, "events": 80},
    {"name": "idle_mtx", "acquisitions": 0, "contentions": 0, "spin_cycles": 0,
     "block_cycles": 0, "hold_cycles": 0, "events": 0},
]


def test_lockstat_layout_is_report_stats():
    text = lockstat_report(LOCKS, FREQ, elapsed_s=0.5)
    assert text.splitlines() == [
        "",
        "Adaptive mutex spin: 35 events in 0.500 seconds (70 events/sec)",
        "",
        LS_HEADER,
        RULE,
        # sorted by count; indv/cuml are %3.0f%%; nsec = time / count; rcnt 0.00 as FreeBSD
        "   20  57%  57% 0.00     1000 invl_gen_mtx           pmap_delayed_invl_started",
        "   10  29%  86% 0.00      500 invl_gen_mtx           pmap_delayed_invl_finished",
        "    5  14% 100% 0.00     2000 sw_dev_mtx             -                       ",
        RULE,
        "",
        "Adaptive mutex block: 5 events in 0.500 seconds (10 events/sec)",
        "",
        LS_HEADER,
        RULE,
        "    5 100% 100% 0.00   100000 sw_dev_mtx             -                       ",
        RULE,
    ]


def test_lockstat_widths_follow_the_printf_formats():
    assert len(RULE) == 79
    # "%5s %4s %4s %4s %8s %-22s %-24s"
    assert len(LS_HEADER) == 5 + 1 + 4 + 1 + 4 + 1 + 4 + 1 + 8 + 1 + 22 + 1 + 24
    assert LS_HEADER.split() == ["Count", "indv", "cuml", "rcnt", "nsec", "Lock", "Caller"]


def test_lockstat_prints_nothing_without_contention():
    quiet = [{"name": "m", "acquisitions": 9, "contentions": 0, "spin_cycles": 0,
              "block_cycles": 0, "hold_cycles": 90, "events": 18}]
    assert lockstat_report(quiet, FREQ, 1.0) == ""


def test_lockstat_uses_separate_spin_and_block_counts_when_the_model_has_them():
    lock = {"name": "m", "acquisitions": 10, "contentions": 6, "spins": 6, "blocks": 2,
            "spin_cycles": 2 * 600, "block_cycles": 2 * 4_000, "hold_cycles": 0}
    lines = lockstat_report([lock], FREQ, 1.0).splitlines()
    assert lines[1].startswith("Adaptive mutex spin: 6 events")
    assert lines[5].split()[:5] == ["6", "100%", "100%", "0.00", "100"]
    assert lines[8].startswith("Adaptive mutex block: 2 events")
    assert lines[12].split()[:5] == ["2", "100%", "100%", "0.00", "2000"]


def test_snprint_time_rounds_to_10ns_like_the_kernel():
    assert snprint_time(0) == "0.00"
    assert snprint_time(4) == "0.00"
    assert snprint_time(5) == "0.01"
    assert snprint_time(939_100) == "939.10"
    assert snprint_time(16_371_534) == "16371.53"


def test_lock_stat_header_is_seq_header():
    lines = lock_stat_report([], FREQ).split("\n")
    assert lines[0] == "lock_stat version 0.4"
    assert lines[1] == "-" * (40 + 1 + 12 * (14 + 1))
    assert lines[2] == LINUX_COLUMNS
    assert lines[3] == lines[1]
    assert lines[4] == "" and lines[5] == ""  # seq_printf(m, "\n") then the end


def test_lock_stat_rows_are_seq_stats():
    lines = lock_stat_report(LOCKS, FREQ).splitlines()[5:]
    # Sorted by contentions; a never-acquired lock prints nothing.
    assert [x.split(":")[0].strip() for x in lines if x.endswith(tuple("0123456789"))
            and ":" in x] == ["invl_gen_mtx", "sw_dev_mtx"]
    row = lines[0]
    assert row.startswith(" " * 28 + "invl_gen_mtx:")
    # con-bounces, contentions, wait min/max/total/avg, acq-bounces, acquisitions, hold ...
    assert row[41:].split() == ["30", "30", "0.00", "0.00", "25.00", "0.83", "0", "100",
                                "0.00", "0.00", "30.00", "0.30"]
    # Every value ends where its column's title ends.
    header_ends = [m.end() for m in re.finditer(r"\S+", LINUX_COLUMNS[40:])]
    value_ends = [m.end() for m in re.finditer(r"\S+", row[41:])]
    assert [e + 1 for e in value_ends] == header_ends
    # Contention points: the name underlined, then "%40s %14lu %29s %pS", largest first.
    assert lines[1] == " " * 28 + "-" * 12
    assert lines[2] == "%40s %14d %29s %s" % ("invl_gen_mtx", 20, "[<0000000000000000>]",
                                              "pmap_delayed_invl_started")
    assert lines[3].split()[1] == "10" and lines[3].endswith("pmap_delayed_invl_finished")
    assert lines[4] == "" and lines[5] == "." * 221 and lines[6] == ""
    # A lock without callers has no contention points; wait time is spin + block.
    assert lines[7].startswith(" " * 30 + "sw_dev_mtx:")
    assert lines[7][41:].split()[:6] == ["5", "5", "0.00", "0.00", "510.00", "102.00"]
    assert len(lines) == 8


def test_lock_stat_prints_the_extremes_the_model_kept():
    lock = dict(LOCKS[1], wait_min_cycles=2 * 3_000, wait_max_cycles=2 * 400_000,
                hold_min_cycles=2 * 20, hold_max_cycles=2 * 900)
    row = lock_stat_report([lock], FREQ).splitlines()[5]
    assert row[41:].split() == ["5", "5", "3.00", "400.00", "510.00", "102.00", "0", "40",
                                "0.02", "0.90", "4.00", "0.10"]


def test_run_json_locks_carry_ns_and_cycles():
    doc = locks_document(LOCKS, FREQ)
    first = doc[0]
    assert first["spin_ns"] == 25_000 and first["spin_cycles"] == 50_000
    assert first["hold_ns"] == 30_000 and first["block_ns"] == 0
    assert [c["caller"] for c in first["callers"]] == ["pmap_delayed_invl_finished",
                                                       "pmap_delayed_invl_started"]
    assert first["callers"][1]["spin_ns"] == 20_000
    assert doc[1]["callers"] == []
    assert cycles_to_ns(2_100, 2_100_000_000) == 1000


def test_run_prints_both_reports_after_the_stream(no_trace):
    r = emu("run", "mmap1_processes", "-t", "4", "-s", "1", *FAST, "--lockstat",
            "--lock-stat")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    end = next(i for i, x in enumerate(lines) if x.startswith("average:"))
    ls = lines[end + 1:]
    assert ls[0] == ""
    # 2 samples (1 warmup + 1 measured) of 2 ms: the span the counters cover.
    assert re.fullmatch(r"Adaptive mutex spin: \d+ events in 0\.004 seconds "
                        r"\(\d+ events/sec\)", ls[1])
    assert ls[2] == "" and ls[3] == LS_HEADER and ls[4] == RULE
    row = re.compile(r"^ *\d+ +\d+% +\d+% 0\.00 +\d+ \S+ +\S+ *$")
    k = 5
    while ls[k] != RULE:
        assert row.match(ls[k]) and len(ls[k]) >= 72, ls[k]
        k += 1
    assert k > 5
    rest = ls[k + 1:]
    assert rest[0] == "" and rest[1] == "lock_stat version 0.4" and rest[3] == LINUX_COLUMNS
    invl = next(x for x in rest if x.strip().startswith("invl_gen_mtx:"))
    # The extremes come from the model: min <= avg <= max, for waits and holds alike.
    f = invl[41:].split()
    wmin, wmax, wavg, hmin, hmax, havg = (float(f[i]) for i in (2, 3, 5, 8, 9, 11))
    assert 0 < wmin <= wavg <= wmax and 0 < hmin <= havg <= hmax
