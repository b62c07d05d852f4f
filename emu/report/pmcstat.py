"""FreeBSD `pmcstat -T` (top mode, callgraph plugin) of an emulated run: `emu run --profile`.

The layout is FreeBSD's usr.sbin/pmcstat, printf for printf:

    pmcstat_log.c pmcstat_refresh_top():
        "PMC: %s Samples: %u " "(%.1f%%) " ", %u unresolved\\n\\n"
    pmcpl_callgraph.c pmcpl_cg_topdisplay():
        "%5.5s %-10.10s %-20.20s %s\\n"  %SAMP IMAGE FUNCTION CALLERS
    pmcpl_callgraph.c pmcstat_cgnode_topprint(), one row per function:
        "%5.5s" of "%.1f" (its share), " %-10.10s %-20.20s" image and function, then each
        caller as " %s" (its name, at most 29 characters: char ns[30]), followed by ":%.1f"
        (the caller's share of all samples) only when more than one caller is shown;
        callers below the threshold are left out, " ..." ends a line past the display width.

Rows are sorted by samples and stop below pmcstat_threshold (0.5%) or at the display height.
Writing to a file, pmcstat's "display" is DEFAULT_DISPLAY_WIDTH x HEIGHT = 1024 x 256.

What emu counts (emu/clock/profile.py): the emulated CPUs' unhalted cycles, one sample per
DEFAULT_SAMPLE_COUNT (65536) cycles as pmcstat's default -n rate samples them; shares are
exact shares of cycles.  The event is [UNHALTED_CORE_CYCLES] (bracketed: pmcstat merges
the per-CPU PMCs of one event, its default).  Samples whose function is unknown are
"unresolved", outside the percentages, like pmcstat's dubious frames.
"""

# printf formats are kept as the C source writes them: Python's %-formatting is C's.
# ruff: noqa: UP031

from __future__ import annotations

import struct

PMC_NAME = "[UNHALTED_CORE_CYCLES]"
SAMPLE_CYCLES = 65536          # pmcstat.h DEFAULT_SAMPLE_COUNT
THRESHOLD = 0.5                # pmcstat_log.c pmcstat_threshold
DISPLAY_WIDTH, DISPLAY_HEIGHT = 1024, 256  # pmcstat.h DEFAULT_DISPLAY_WIDTH/HEIGHT
NAME_MAX = 29                  # char ns[30]
NO_CALLER = "-"


def _f32(x: float) -> float:
    """`float v = ...`: the C code keeps percentages in single precision."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _rows_by_function(rows: list[dict]) -> list[tuple[str, str, int, list[tuple[str, int]]]]:
    """(image, function, cycles, [(caller, cycles), ...]) sorted as pmcstat sorts nodes."""
    funcs: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        callers = funcs.setdefault((r["image"], r["function"]), {})
        callers[r["caller"]] = callers.get(r["caller"], 0) + int(r["cycles"])
    out = []
    for (image, func), callers in funcs.items():
        total = sum(callers.values())
        named = sorted(((c, v) for c, v in callers.items() if c != NO_CALLER),
                       key=lambda cv: (-cv[1], cv[0]))
        out.append((image, func, total, named))
    out.sort(key=lambda f: (-f[2], f[1], f[0]))  # pmcstat_cgnode_compare, ties by name
    return out


def format_row(image: str, func: str, pct: float, callers: list[tuple[str, float]]) -> str:
    """pmcstat_cgnode_topprint(): one function and its callers (share of all samples)."""
    line = "%5.5s" % ("%.1f" % pct) + " %-10.10s %-20.20s" % (image, func[:NAME_MAX])
    if not callers:
        return line
    shown = [(c, v) for c, v in callers if v >= THRESHOLD]
    width = DISPLAY_WIDTH - 40
    for name, v in shown:
        ns = name[:NAME_MAX]
        vs = ":%.1f" % v if len(shown) > 1 else ""
        n = len(ns) + len(vs) + 1
        if width - n < 0:
            line += " ..."
            break
        width -= n
        line += " %s%s" % (ns, vs)
    return line


def pmcstat_report(profile: dict) -> str:
    """The top-mode screen for a profile ({"rows", "unresolved_cycles"}), as text."""
    funcs = _rows_by_function(profile.get("rows", []))
    resolved = sum(f[2] for f in funcs)
    unresolved = int(profile.get("unresolved_cycles", 0))
    samples = (resolved + unresolved) // SAMPLE_CYCLES
    lines = ["PMC: %s Samples: %u " % (PMC_NAME, samples) + "(%.1f%%) " % 100.0
             + ", %u unresolved" % (unresolved // SAMPLE_CYCLES), "",
             "%5.5s %-10.10s %-20.20s %s" % ("%SAMP", "IMAGE", "FUNCTION", "CALLERS")]
    if resolved:
        for image, func, cycles, callers in funcs[:DISPLAY_HEIGHT - 2]:
            pct = _f32(cycles * 100.0 / resolved)
            if pct < THRESHOLD:
                break
            lines.append(format_row(image, func, pct,
                                    [(c, _f32(v * 100.0 / resolved)) for c, v in callers]))
    return "\n".join(lines) + "\n"
