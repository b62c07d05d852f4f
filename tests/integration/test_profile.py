"""`emu run --profile`: pmcstat -T's layout, the attribution of cycles, determinism."""

from __future__ import annotations

import json
import re

from emu.clock.profile import LOCK_DELAY, MTX_SLEEP, MTX_SPIN, merge_profile
from emu.report.pmcstat import SAMPLE_CYCLES, format_row, pmcstat_report
from tests.conftest import FAST, emu

HEADER = re.compile(r"^PMC: \[UNHALTED_CORE_CYCLES\] Samples: \d+ \(100\.0%\) , \d+ unresolved$")
RUN = ["run", "mmap1_processes", "-t", "4", "-s", "1", *FAST]


def row(image: str, func: str, caller: str, cycles: int) -> dict:
    return {"image": image, "function": func, "caller": caller, "cycles": cycles}


# ---------------------------------------------------------------- the layout


def test_row_is_pmcstat_cgnode_topprint():
    # "%5.5s" of "%.1f", " %-10.10s %-20.20s", then " name:pct" per caller when several.
    line = format_row("kernel", "pmap_delayed_invl_started", 12.34,
                      [("pmap_remove", 12.0), ("other", 0.3)])
    assert line == " 12.3 kernel     pmap_delayed_invl_st pmap_remove"  # one shown: no pct
    line = format_row("kernel", "__mtx_lock_sleep", 60.55,
                      [("pmap_delayed_invl_started", 30.0), ("swap_reserve_by_cred", 2.0)])
    assert line == (" 60.5 kernel     __mtx_lock_sleep     pmap_delayed_invl_started:30.0 "
                    "swap_reserve_by_cred:2.0")
    assert format_row("mmap1_processes", "testcase", 100.0, []) == \
        "100.0 mmap1_proc testcase            "


def test_callers_stop_at_the_display_width():
    callers = [(f"caller_number_{i:02d}_with_a_long_name", 1.0) for i in range(40)]
    line = format_row("kernel", "f", 40.0, callers)
    assert line.endswith(" ...") and len(line) <= 1024


def test_report_header_threshold_and_order():
    total = 200 * SAMPLE_CYCLES
    profile = {"rows": [row("kernel", "a", "x", total // 2), row("kernel", "b", "-", total // 4),
                        row("kernel", "a", "y", total // 4 - 1000),
                        row("kernel", "tiny", "-", 1000)],
               "unresolved_cycles": 3 * SAMPLE_CYCLES}
    lines = pmcstat_report(profile).splitlines()
    assert HEADER.match(lines[0]) and lines[0].endswith(", 3 unresolved")
    assert "Samples: 203 " in lines[0]
    assert lines[1] == ""
    assert lines[2] == "%SAMP IMAGE      FUNCTION             CALLERS"
    assert lines[3].startswith(" 75.0 kernel     a                    x:50.0 y:25.0")
    assert lines[4].startswith(" 25.0 kernel     b")
    assert len(lines) == 5  # `tiny` is under pmcstat's 0.5% threshold


def test_shared_op_cycles_split_by_who_issued_them():
    cpu_docs = {0: {"local": [["kernel", "f", "g", 100]],
                    "ops": [[4, 7, "kernel", "crhold", "vm_map_insert", 3],
                            [4, 7, "kernel", "crfree", "vm_map_entry_delete", 1]]}}
    actor = {"ops": [[0, 4, 7, 400], [0, 6, 9, 50]], "steal": [[0, 30]]}
    locks = [{"name": "invl_gen_mtx", "callers": [
                 {"caller": "pmap_delayed_invl_started", "spin_cycles": 70}]},
             {"name": "smp_ipi_mtx", "callers": [{"caller": "smp_targeted", "spin_cycles": 5}]}]
    prof = merge_profile(cpu_docs, actor, locks, {"smp_ipi_mtx"})
    got = {(r["function"], r["caller"]): r["cycles"] for r in prof["rows"]}
    assert got[("crhold", "vm_map_insert")] == 300 and got[("crfree", "vm_map_entry_delete")] == 100
    assert got[("f", "g")] == 100
    assert got[(MTX_SLEEP, "pmap_delayed_invl_started")] == 70
    assert got[(MTX_SPIN, "smp_targeted")] == 5
    assert got[("ipi_handler", "-")] == 30
    assert prof["unresolved_cycles"] == 50  # nobody counted issuing (6, 9)


def test_lock_delays_pauses_are_its_own_as_pmcstat_shows_them():
    locks = [{"name": "invl_gen_mtx", "callers": [
                 {"caller": "pmap_delayed_invl_started", "spin_cycles": 700, "pause_cycles": 600},
                 {"caller": "pmap_delayed_invl_finished", "spin_cycles": 300,
                  "pause_cycles": 250}]},
             {"name": "smp_ipi_mtx", "callers": [
                 {"caller": "smp_targeted", "spin_cycles": 50, "pause_cycles": 40}]}]
    prof = merge_profile({}, {}, locks, {"smp_ipi_mtx"})
    got = {(r["function"], r["caller"]): r["cycles"] for r in prof["rows"]}
    assert got == {(LOCK_DELAY, MTX_SLEEP): 850, (LOCK_DELAY, MTX_SPIN): 40,
                   (MTX_SLEEP, "pmap_delayed_invl_started"): 100,
                   (MTX_SLEEP, "pmap_delayed_invl_finished"): 50,
                   (MTX_SPIN, "smp_targeted"): 10}


def test_smt_stretch_is_spread_over_the_cpus_local_functions():
    cpu_docs = {0: {"local": [["kernel", "f", "-", 100], ["kernel", "h", "-", 300]]},
                1: {"local": [["kernel", "f", "-", 50]]}}
    prof = merge_profile(cpu_docs, {"ops": [], "smt": [[0, 41]]}, [], set())
    got = {r["function"]: r["cycles"] for r in prof["rows"]}
    assert got == {"f": 100 + 10 + 50, "h": 300 + 31}  # CPU 1's sibling never worked


# ---------------------------------------------------------------- a real run


def test_profile_names_the_collapse_and_is_deterministic(tmp_path):
    first = emu(*RUN, "--profile", "--json", str(tmp_path / "run.json"))
    assert first.returncode == 0, first.stderr
    out = first.stdout
    report = out[out.index("PMC:"):]
    lines = report.splitlines()
    assert HEADER.match(lines[0])
    assert lines[2] == "%SAMP IMAGE      FUNCTION             CALLERS"
    sleep = next(line for line in lines if " __mtx_lock_sleep " in line)
    assert "pmap_delayed_invl_started" in sleep  # the write-up's profile
    assert any(" lock_delay " in line and line.rstrip().endswith(" __mtx_lock_sleep")
               for line in lines)
    assert any(" sys_munmap " in line and line.rstrip().endswith("munmap") for line in lines)
    # The stream before it is will-it-scale's, untouched.
    assert out.startswith("testcase:") and "\naverage:" in out
    doc = json.loads((tmp_path / "run.json").read_text())
    assert doc["profile"]["rows"] and doc["profile"]["unresolved_cycles"] >= 0
    again = emu(*RUN, "--profile")
    assert again.returncode == 0 and again.stdout == out


def test_profile_with_busy_smt_siblings_is_deterministic():
    run = ["run", "mmap1_processes", "-t", "4", "-m", "-s", "1", *FAST, "--profile"]
    first, again = emu(*run), emu(*run)
    assert first.returncode == 0, first.stderr
    assert again.stdout == first.stdout


def test_profile_needs_the_virtual_clock():
    p = emu(*RUN, "--profile", "--clock", "wall")
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == ["emu: --profile needs the virtual clock (cycles "
                                             "are only known there)"]
