"""`emu compare`: a byte-exact work-alike of FreeBSD's ministat(1).

Everything here transliterates FreeBSD's current usr.bin/ministat/ministat.c (the
version with -A and -q and the error-propagated relative percentage); comments name
the C function a rule comes from.  Statistics and formatting are pure functions over
`Dataset`s; `main()` adds ministat's own getopt-style option parsing, file reading and
exit statuses.  Besides ministat's text input it reads emu's run JSON (`--json PATH`):
a `{"samples": [{"min", "max", "total"}, ...]}` file is the dataset of its samples'
`total` values.

Floating point follows the C code operation by operation (IEEE doubles, no FMA), so
`%g` output matches to the last digit; where ministat.c has undefined behaviour
(plotting non-finite data, a plot narrower than 2 columns, `-` after the first file)
this module reports an error or does the evident intent instead, as noted inline.
"""

# printf formats are kept verbatim from ministat.c: Python's %-formatting is C's.
# ruff: noqa: UP031

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

PROG = "ministat"

# ministat.c: NSTUDENT, NCONF, studentpct[], student[][] (row 0 is df = infinity).
NSTUDENT = 100
STUDENT_PCT: tuple[float, ...] = (80.0, 90.0, 95.0, 98.0, 99.0, 99.5)
STUDENT: tuple[tuple[float, ...], ...] = (
    (1.282, 1.645, 1.960, 2.326, 2.576, 3.090),  # inf
    (3.078, 6.314, 12.706, 31.821, 63.657, 318.313),  # 1
    (1.886, 2.920, 4.303, 6.965, 9.925, 22.327),  # 2
    (1.638, 2.353, 3.182, 4.541, 5.841, 10.215),  # 3
    (1.533, 2.132, 2.776, 3.747, 4.604, 7.173),  # 4
    (1.476, 2.015, 2.571, 3.365, 4.032, 5.893),  # 5
    (1.440, 1.943, 2.447, 3.143, 3.707, 5.208),  # 6
    (1.415, 1.895, 2.365, 2.998, 3.499, 4.782),  # 7
    (1.397, 1.860, 2.306, 2.896, 3.355, 4.499),  # 8
    (1.383, 1.833, 2.262, 2.821, 3.250, 4.296),  # 9
    (1.372, 1.812, 2.228, 2.764, 3.169, 4.143),  # 10
    (1.363, 1.796, 2.201, 2.718, 3.106, 4.024),  # 11
    (1.356, 1.782, 2.179, 2.681, 3.055, 3.929),  # 12
    (1.350, 1.771, 2.160, 2.650, 3.012, 3.852),  # 13
    (1.345, 1.761, 2.145, 2.624, 2.977, 3.787),  # 14
    (1.341, 1.753, 2.131, 2.602, 2.947, 3.733),  # 15
    (1.337, 1.746, 2.120, 2.583, 2.921, 3.686),  # 16
    (1.333, 1.740, 2.110, 2.567, 2.898, 3.646),  # 17
    (1.330, 1.734, 2.101, 2.552, 2.878, 3.610),  # 18
    (1.328, 1.729, 2.093, 2.539, 2.861, 3.579),  # 19
    (1.325, 1.725, 2.086, 2.528, 2.845, 3.552),  # 20
    (1.323, 1.721, 2.080, 2.518, 2.831, 3.527),  # 21
    (1.321, 1.717, 2.074, 2.508, 2.819, 3.505),  # 22
    (1.319, 1.714, 2.069, 2.500, 2.807, 3.485),  # 23
    (1.318, 1.711, 2.064, 2.492, 2.797, 3.467),  # 24
    (1.316, 1.708, 2.060, 2.485, 2.787, 3.450),  # 25
    (1.315, 1.706, 2.056, 2.479, 2.779, 3.435),  # 26
    (1.314, 1.703, 2.052, 2.473, 2.771, 3.421),  # 27
    (1.313, 1.701, 2.048, 2.467, 2.763, 3.408),  # 28
    (1.311, 1.699, 2.045, 2.462, 2.756, 3.396),  # 29
    (1.310, 1.697, 2.042, 2.457, 2.750, 3.385),  # 30
    (1.309, 1.696, 2.040, 2.453, 2.744, 3.375),  # 31
    (1.309, 1.694, 2.037, 2.449, 2.738, 3.365),  # 32
    (1.308, 1.692, 2.035, 2.445, 2.733, 3.356),  # 33
    (1.307, 1.691, 2.032, 2.441, 2.728, 3.348),  # 34
    (1.306, 1.690, 2.030, 2.438, 2.724, 3.340),  # 35
    (1.306, 1.688, 2.028, 2.434, 2.719, 3.333),  # 36
    (1.305, 1.687, 2.026, 2.431, 2.715, 3.326),  # 37
    (1.304, 1.686, 2.024, 2.429, 2.712, 3.319),  # 38
    (1.304, 1.685, 2.023, 2.426, 2.708, 3.313),  # 39
    (1.303, 1.684, 2.021, 2.423, 2.704, 3.307),  # 40
    (1.303, 1.683, 2.020, 2.421, 2.701, 3.301),  # 41
    (1.302, 1.682, 2.018, 2.418, 2.698, 3.296),  # 42
    (1.302, 1.681, 2.017, 2.416, 2.695, 3.291),  # 43
    (1.301, 1.680, 2.015, 2.414, 2.692, 3.286),  # 44
    (1.301, 1.679, 2.014, 2.412, 2.690, 3.281),  # 45
    (1.300, 1.679, 2.013, 2.410, 2.687, 3.277),  # 46
    (1.300, 1.678, 2.012, 2.408, 2.685, 3.273),  # 47
    (1.299, 1.677, 2.011, 2.407, 2.682, 3.269),  # 48
    (1.299, 1.677, 2.010, 2.405, 2.680, 3.265),  # 49
    (1.299, 1.676, 2.009, 2.403, 2.678, 3.261),  # 50
    (1.298, 1.675, 2.008, 2.402, 2.676, 3.258),  # 51
    (1.298, 1.675, 2.007, 2.400, 2.674, 3.255),  # 52
    (1.298, 1.674, 2.006, 2.399, 2.672, 3.251),  # 53
    (1.297, 1.674, 2.005, 2.397, 2.670, 3.248),  # 54
    (1.297, 1.673, 2.004, 2.396, 2.668, 3.245),  # 55
    (1.297, 1.673, 2.003, 2.395, 2.667, 3.242),  # 56
    (1.297, 1.672, 2.002, 2.394, 2.665, 3.239),  # 57
    (1.296, 1.672, 2.002, 2.392, 2.663, 3.237),  # 58
    (1.296, 1.671, 2.001, 2.391, 2.662, 3.234),  # 59
    (1.296, 1.671, 2.000, 2.390, 2.660, 3.232),  # 60
    (1.296, 1.670, 2.000, 2.389, 2.659, 3.229),  # 61
    (1.295, 1.670, 1.999, 2.388, 2.657, 3.227),  # 62
    (1.295, 1.669, 1.998, 2.387, 2.656, 3.225),  # 63
    (1.295, 1.669, 1.998, 2.386, 2.655, 3.223),  # 64
    (1.295, 1.669, 1.997, 2.385, 2.654, 3.220),  # 65
    (1.295, 1.668, 1.997, 2.384, 2.652, 3.218),  # 66
    (1.294, 1.668, 1.996, 2.383, 2.651, 3.216),  # 67
    (1.294, 1.668, 1.995, 2.382, 2.650, 3.214),  # 68
    (1.294, 1.667, 1.995, 2.382, 2.649, 3.213),  # 69
    (1.294, 1.667, 1.994, 2.381, 2.648, 3.211),  # 70
    (1.294, 1.667, 1.994, 2.380, 2.647, 3.209),  # 71
    (1.293, 1.666, 1.993, 2.379, 2.646, 3.207),  # 72
    (1.293, 1.666, 1.993, 2.379, 2.645, 3.206),  # 73
    (1.293, 1.666, 1.993, 2.378, 2.644, 3.204),  # 74
    (1.293, 1.665, 1.992, 2.377, 2.643, 3.202),  # 75
    (1.293, 1.665, 1.992, 2.376, 2.642, 3.201),  # 76
    (1.293, 1.665, 1.991, 2.376, 2.641, 3.199),  # 77
    (1.292, 1.665, 1.991, 2.375, 2.640, 3.198),  # 78
    (1.292, 1.664, 1.990, 2.374, 2.640, 3.197),  # 79
    (1.292, 1.664, 1.990, 2.374, 2.639, 3.195),  # 80
    (1.292, 1.664, 1.990, 2.373, 2.638, 3.194),  # 81
    (1.292, 1.664, 1.989, 2.373, 2.637, 3.193),  # 82
    (1.292, 1.663, 1.989, 2.372, 2.636, 3.191),  # 83
    (1.292, 1.663, 1.989, 2.372, 2.636, 3.190),  # 84
    (1.292, 1.663, 1.988, 2.371, 2.635, 3.189),  # 85
    (1.291, 1.663, 1.988, 2.370, 2.634, 3.188),  # 86
    (1.291, 1.663, 1.988, 2.370, 2.634, 3.187),  # 87
    (1.291, 1.662, 1.987, 2.369, 2.633, 3.185),  # 88
    (1.291, 1.662, 1.987, 2.369, 2.632, 3.184),  # 89
    (1.291, 1.662, 1.987, 2.368, 2.632, 3.183),  # 90
    (1.291, 1.662, 1.986, 2.368, 2.631, 3.182),  # 91
    (1.291, 1.662, 1.986, 2.368, 2.630, 3.181),  # 92
    (1.291, 1.661, 1.986, 2.367, 2.630, 3.180),  # 93
    (1.291, 1.661, 1.986, 2.367, 2.629, 3.179),  # 94
    (1.291, 1.661, 1.985, 2.366, 2.629, 3.178),  # 95
    (1.290, 1.661, 1.985, 2.366, 2.628, 3.177),  # 96
    (1.290, 1.661, 1.985, 2.365, 2.627, 3.176),  # 97
    (1.290, 1.661, 1.984, 2.365, 2.627, 3.175),  # 98
    (1.290, 1.660, 1.984, 2.365, 2.626, 3.175),  # 99
    (1.290, 1.660, 1.984, 2.364, 2.626, 3.174),  # 100
)

MAX_DS = 8  # ministat.c: symbol[MAX_DS]; at most MAX_DS - 1 datasets
SYMBOL = " x+*%#@O"
DEFAULT_WIDTH = 74
DEFAULT_CONF_INDEX = 2  # 95%
BUFSIZ = 1024  # FreeBSD <stdio.h>; ReadSet() reads lines with fgets(buf, BUFSIZ)
OPTSTRING = "AC:c:d:snqw:"

USAGE = (
    "Usage: ministat [-C column] [-c confidence] [-d delimiter(s)] [-Anqs] [-w width]"
    " [file [file ...]]\n"
    "\tconfidence = {" + ", ".join("%g%%" % p for p in STUDENT_PCT) + "}\n"
    "\t-A : print statistics only. suppress the graph.\n"
    "\t-C : column number to extract (starts and defaults to 1)\n"
    '\t-d : delimiter(s) string, default to " \\t"\n'
    "\t-n : print summary statistics only, no graph/test\n"
    "\t-q : suppress printing summary-statistics headers and data-set names\n"
    "\t-s : print avg/median/stddev bars on separate lines\n"
    "\t-w : width of graph/test output (default 74 or terminal width)\n"
)

VITALS_HEAD = "    N           Min           Max        Median           Avg        Stddev\n"


class MinistatError(Exception):
    """Bad input: `message` (complete stderr text, newline included) and exit `status`."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _usage(whine: str) -> MinistatError:
    # ministat.c: usage() prints the complaint, then the usage text; exit(2).
    return MinistatError(whine + "\n" + USAGE, 2)


def _errx(message: str) -> MinistatError:
    # err(3)/errx(3): "progname: message".
    return MinistatError(f"{PROG}: {message}\n", 2)


# ---------------------------------------------------------------------------
# C arithmetic and libc parsing helpers


def _fdiv(a: float, b: float) -> float:
    """IEEE division, as C does it (Python raises on division by zero)."""
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _sqrt(a: float) -> float:
    return math.nan if a < 0.0 else math.sqrt(a)


_SPACE = " \t\n\v\f\r"  # isspace() in the C locale
_STRTOD_RE = re.compile(
    r"[ \t\n\v\f\r]*(?P<num>[+-]?(?:"
    r"0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?"
    r"|inf(?:inity)?"
    r"|nan(?:\([0-9a-z_]*\))?))",
    re.IGNORECASE | re.ASCII,
)


def strtod(s: str) -> tuple[float, int]:
    """C strtod(3): the value of the longest numeric prefix and where parsing ended.

    As in C, no conversion returns (0.0, 0): the end pointer is the string's start.
    """
    m = _STRTOD_RE.match(s)
    if m is None:
        return 0.0, 0
    num = m.group("num")
    body = num.lstrip("+-").lower()
    neg = num.startswith("-")
    if body.startswith("nan"):
        value = math.nan
    elif body.startswith("inf"):
        value = -math.inf if neg else math.inf
    elif body.startswith("0x"):
        try:
            value = float.fromhex(num)
        except OverflowError:  # C: HUGE_VAL, ERANGE
            value = -math.inf if neg else math.inf
    else:
        value = float(num)
    return value, m.end()


_STRTOL_RE = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)", re.ASCII)
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def strtol10(s: str) -> tuple[int, int]:
    """C strtol(s, &end, 10) with a 64-bit long: (value, end index), clamped like C."""
    m = _STRTOL_RE.match(s)
    if m is None:
        return 0, 0
    return max(_LONG_MIN, min(_LONG_MAX, int(m.group(1)))), m.end()


def _to_c_int(v: int) -> int:
    """Assigning a long to a 32-bit int (two's-complement wrap, as every ABI does)."""
    return (v + 2**31) % 2**32 - 2**31


def _atoi(s: str) -> int:
    return _to_c_int(strtol10(s)[0])


# ---------------------------------------------------------------------------
# Datasets and statistics (ministat.c: struct dataset, Min ... Stddev)


@dataclass
class Dataset:
    """One dataset: `points` sorted ascending, `sy` summed in input order (AddPoint)."""

    name: str
    points: list[float]
    sy: float
    _syy: float | None = field(default=None, repr=False)

    @classmethod
    def from_points(cls, name: str, values: Sequence[float]) -> Dataset:
        """Build a dataset as ReadSet() does: sum in input order, then sort."""
        points = [float(v) for v in values]
        if not points:
            raise ValueError(f"dataset {name!r} has no data points")
        sy = 0.0
        for v in points:
            sy += v
        points.sort()
        return cls(name, points, sy)

    @property
    def n(self) -> int:
        return len(self.points)

    @property
    def min(self) -> float:
        return self.points[0]

    @property
    def max(self) -> float:
        return self.points[-1]

    @property
    def avg(self) -> float:
        return self.sy / self.n

    @property
    def median(self) -> float:
        # Median(): the mean of the two middle points when n is even.
        m = self.n // 2
        if self.n % 2 == 0:
            return (self.points[m] + self.points[m - 1]) / 2
        return self.points[m]

    @property
    def var(self) -> float:
        # Var(): two-pass sum of squared deviations over the sorted points, cached.
        if self._syy is None:
            a = self.avg
            syy = 0.0
            for p in self.points:
                d = p - a
                syy += d * d
            self._syy = syy
        return _fdiv(self._syy, self.n - 1.0)

    @property
    def stddev(self) -> float:
        return _sqrt(self.var)


def t_value(df: int, conf_index: int) -> float:
    """Student's t from ministat's fixed table; df > 100 uses the infinity row."""
    return STUDENT[0][conf_index] if df > NSTUDENT else STUDENT[df][conf_index]


def vitals(ds: Dataset, flag: int) -> str:
    """Vitals(): one row of the N/Min/Max/Median/Avg/Stddev table."""
    return "%c %3d %13.8g %13.8g %13.8g %13.8g %13.8g\n" % (
        SYMBOL[flag],
        ds.n,
        ds.min,
        ds.max,
        ds.median,
        ds.avg,
        ds.stddev,
    )


@dataclass(frozen=True)
class Comparison:
    """Relative(): dataset `ds` against the baseline `rs` at one confidence level."""

    confidence: float
    t: float
    spool: float  # pooled standard deviation
    diff: float  # Avg(ds) - Avg(rs)
    err: float  # t * spool * sqrt(1/n1 + 1/n2)
    rel_err: float  # relative-error term of the percentage line (current ministat.c)
    base_avg: float

    @property
    def significant(self) -> bool:
        return abs(self.diff) > self.err

    @property
    def diff_pct(self) -> float:
        return _fdiv(self.diff * 100, self.base_avg)

    @property
    def err_pct(self) -> float:
        return _fdiv(self.rel_err * 100, self.base_avg)


def compare(ds: Dataset, rs: Dataset, conf_index: int = DEFAULT_CONF_INDEX) -> Comparison:
    """Student's t test of `ds` against `rs`, computed exactly as Relative() does."""
    n1, n2 = ds.n, rs.n
    t = t_value(n1 + n2 - 2, conf_index)
    spool = (n1 - 1) * ds.var + (n2 - 1) * rs.var
    spool /= float(n1 + n2 - 2)
    spool = _sqrt(spool)
    s = spool * _sqrt(1.0 / n1 + 1.0 / n2)
    d = ds.avg - rs.avg
    e = t * s
    # The percentage's error propagates both variances relative to Avg(rs).
    re_ = (n1 - 1) * ds.var + _fdiv((n2 - 1) * rs.var * (ds.avg * ds.avg), rs.avg * rs.avg)
    re_ *= _fdiv(float(n1 + n2), float(n1 * n2) * (float(n1 + n2) - 2.0))
    re_ = t * _sqrt(re_)
    return Comparison(STUDENT_PCT[conf_index], t, spool, d, e, re_, rs.avg)


def relative(ds: Dataset, rs: Dataset, conf_index: int = DEFAULT_CONF_INDEX) -> str:
    """Relative(): the 'Difference at ...' block or 'No difference proven ...'."""
    c = compare(ds, rs, conf_index)
    if c.significant:
        return (
            "Difference at %.1f%% confidence\n" % c.confidence
            + "\t%g +/- %g\n" % (c.diff, c.err)
            + "\t%g%% +/- %g%%\n" % (c.diff_pct, c.err_pct)
            + "\t(Student's t, pooled s = %g)\n" % c.spool
        )
    return "No difference proven at %.1f%% confidence\n" % c.confidence


# ---------------------------------------------------------------------------
# The ASCII plot (ministat.c: SetupPlot, AdjPlot, DimPlot, PlotSet, DumpPlot)


def _cell(v: float, width: int) -> int:
    """A double converted to a C int that then indexes a plot row of `width` cells."""
    if not math.isfinite(v) or not 0 <= int(v) < width:
        # ministat.c would index out of bounds here (undefined behaviour).
        raise _errx("cannot plot these values (non-finite, or plot narrower than 2); use -A or -n")
    return int(v)  # truncation toward zero, as C's conversion


def plot(datasets: Sequence[Dataset], width: int = DEFAULT_WIDTH, separate: bool = False) -> str:
    """The ASCII-art plot, including its frame, exactly as DumpPlot() prints it."""
    lo, hi = 999e99, -999e99  # SetupPlot()
    for ds in datasets:  # DimPlot(), AdjPlot()
        for a in (ds.min, ds.max, ds.avg - ds.stddev, ds.avg + ds.stddev):
            if a < lo:
                lo = a
            if a > hi:
                hi = a
    span = hi - lo
    if span == 0:
        return "[no plot, span is zero width]\n"
    dx = _fdiv(span, width - 1.0)
    x0 = lo - 0.5 * dx

    height = 0
    data = bytearray()
    bars: list[bytearray | None] = [None] * len(datasets)
    for val, ds in enumerate(datasets, start=1):  # PlotSet(ds, val)
        bar = bars[val - 1 if separate else 0]
        if bar is None:
            bar = bars[val - 1 if separate else 0] = bytearray(width)
        xs = [_cell(_fdiv(p - x0, dx), width) for p in ds.points]
        # m = the tallest stack of points in one column, plus one.
        m, i, j = 1, -1, 0
        for x in xs:
            if x == i:
                j += 1
                m = max(m, j)
            else:
                j, i = 1, x
        m += 1
        if m > height:  # realloc(), then zero the rows from the old height up
            grown = bytearray(width * m)
            grown[: height * width] = data[: height * width]
            data = grown
        height = m  # also when m is smaller: taller earlier stacks are cut off
        i = -1
        for x in xs:
            if x == i:
                j += 1
            else:
                j, i = 1, x
            data[j * width + x] |= val
        av, sd = ds.avg, ds.stddev
        if not math.isnan(sd):
            x = _cell(_fdiv((av - sd) - x0, dx), width)
            mm = _cell(_fdiv((av + sd) - x0, dx), width)
            bar[mm] = ord("|")
            bar[x] = ord("|")
            for z in range(x + 1, mm):
                if bar[z] == 0:
                    bar[z] = ord("_")
        bar[_cell(_fdiv(ds.median - x0, dx), width)] = ord("M")
        bar[_cell(_fdiv(av - x0, dx), width)] = ord("A")

    rule = "+" + "-" * width + "+\n"
    out = [rule]
    for z in range(1, height):
        row = data[(height - z) * width : (height - z + 1) * width]
        out.append("|" + "".join(SYMBOL[k] for k in row) + "|\n")
    for b in bars:
        if b is not None:
            out.append("|" + "".join(chr(k) if k else " " for k in b) + "|\n")
    out.append(rule)
    return "".join(out)


def report(
    datasets: Sequence[Dataset],
    *,
    width: int = DEFAULT_WIDTH,
    conf_index: int = DEFAULT_CONF_INDEX,
    separate: bool = False,
    stats_only: bool = False,
    no_plot: bool = False,
    quiet: bool = False,
) -> str:
    """ministat's whole stdout for these datasets (main() after reading).

    `stats_only` is -n (no plot, no comparisons), `no_plot` is -A, `quiet` is -q.
    """
    out: list[str] = []
    if not quiet:
        out.extend("%c %s\n" % (SYMBOL[i + 1], ds.name) for i, ds in enumerate(datasets))
    if not stats_only and not no_plot:
        out.append(plot(datasets, width, separate))
    if not quiet:
        out.append(VITALS_HEAD)
    out.append(vitals(datasets[0], 1))
    for i in range(1, len(datasets)):
        out.append(vitals(datasets[i], i + 1))
        if not stats_only:
            out.append(relative(datasets[i], datasets[0], conf_index))
    return "".join(out)


# ---------------------------------------------------------------------------
# Input (ministat.c: ReadSet) and emu run JSON


def _fgets(data: bytes) -> list[bytes]:
    """Split `data` as successive fgets(buf, BUFSIZ) calls would."""
    out, pos, size = [], 0, len(data)
    while pos < size:
        nl = data.find(b"\n", pos, pos + BUFSIZ - 1)
        end = nl + 1 if nl >= 0 else min(pos + BUFSIZ - 1, size)
        out.append(data[pos:end])
        pos = end
    return out


def parse_text(data: bytes, name: str, column: int = 1, delim: str = " \t") -> Dataset:
    """ReadSet(): take column `column` of each line, split by strtok(3) on `delim`.

    Lines where that column is missing, or where it or an earlier field starts with
    '#', are skipped; any other token that strtod(3) does not consume whole is an error.
    """
    delims = os.fsencode(delim)
    splitter = re.compile(b"[" + re.escape(delims) + b"]+")
    values: list[float] = []
    for line_no, raw in enumerate(_fgets(data), start=1):
        buf = raw.split(b"\0", 1)[0].rstrip(_SPACE.encode())
        t = None
        for i, tok in enumerate((x for x in splitter.split(buf) if x), start=1):
            if tok.startswith(b"#"):
                break
            if i == column:
                t = tok
                break
        if t is None:
            continue
        text = t.decode("latin-1")
        d, end = strtod(text)
        if end != len(text):
            raise _errx("Invalid data on line %d in %s" % (line_no, name))
        values.append(d)
    return _checked(name, values)


def _checked(name: str, values: list[float]) -> Dataset:
    if len(values) < 3:  # ReadSet()
        raise MinistatError("Dataset %s must contain at least 3 data points\n" % name, 2)
    return Dataset.from_points(name, values)


def parse_run_json(obj: object, name: str) -> Dataset:
    """An emu run's JSON: its dataset is the samples' `total` values, in sample order."""
    if not isinstance(obj, dict):
        raise _errx(f"{name}: not an emu run JSON file")
    if "samples" not in obj and isinstance(obj.get("runs"), list):
        # A sweep mixes task counts; comparing its runs as one dataset would be wrong.
        raise _errx(
            f'{name}: is a sweep ({{"runs": [...]}}); compare single runs '
            "(one `emu run --json` file per dataset)"
        )
    samples = obj.get("samples")
    if not isinstance(samples, list):
        raise _errx(f'{name}: JSON has no "samples" list')
    values: list[float] = []
    for k, s in enumerate(samples, start=1):
        total = s.get("total") if isinstance(s, dict) else None
        if isinstance(total, bool) or not isinstance(total, int | float):
            raise _errx(f'{name}: sample {k} has no numeric "total"')
        values.append(float(total))
    return _checked(name, values)


def parse_input(data: bytes, name: str, column: int = 1, delim: str = " \t") -> Dataset:
    """A dataset from a file's bytes: emu run JSON when it parses as a JSON object,
    else ministat's text format."""
    if data.lstrip()[:1] == b"{":
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):
            obj = None
        if obj is not None:
            return parse_run_json(obj, name)
    return parse_text(data, name, column, delim)


# ---------------------------------------------------------------------------
# Command line (ministat.c: main, with FreeBSD getopt(3) semantics)


def getopt(argv: Sequence[str], optstring: str) -> tuple[list[tuple[str, str | None]], list[str]]:
    """POSIX/BSD getopt(3): options end at the first non-option, `-` or after `--`."""
    opts: list[tuple[str, str | None]] = []
    idx = 0
    while idx < len(argv):
        arg = argv[idx]
        if arg == "--":
            idx += 1
            break
        if len(arg) < 2 or arg[0] != "-":
            break
        pos = 1
        while pos < len(arg):
            c = arg[pos]
            pos += 1
            k = optstring.find(c) if c != ":" else -1
            if k < 0:
                raise MinistatError(f"{PROG}: illegal option -- {c}\n" + "Unknown option\n" + USAGE)
            if optstring[k + 1 : k + 2] != ":":
                opts.append((c, None))
                continue
            if pos < len(arg):
                opts.append((c, arg[pos:]))
            elif idx + 1 < len(argv):
                idx += 1
                opts.append((c, argv[idx]))
            else:
                raise MinistatError(
                    f"{PROG}: option requires an argument -- {c}\n" + "Unknown option\n" + USAGE
                )
            break
        idx += 1
    return opts, list(argv[idx:])


@dataclass
class Options:
    """ministat's settings after option parsing."""

    column: int = 1
    conf_index: int = DEFAULT_CONF_INDEX
    delim: str = " \t"
    separate: bool = False
    stats_only: bool = False
    no_plot: bool = False
    quiet: bool = False
    width: int = DEFAULT_WIDTH
    files: list[str] = field(default_factory=list)


def parse_args(argv: Sequence[str], width: int = DEFAULT_WIDTH) -> Options:
    """main()'s getopt loop and checks; `width` is the default (74, or the terminal's)."""
    o = Options(width=width)
    ci = -1
    opts, o.files = getopt(argv, OPTSTRING)
    for c, optarg in opts:
        arg = optarg if optarg is not None else ""
        if c == "A":
            o.no_plot = True
        elif c == "C":
            v, end = strtol10(arg)
            if end != len(arg):
                raise _usage("Invalid column number.")
            o.column = _to_c_int(v)
            if o.column <= 0:
                raise _usage("Column number should be positive.")
        elif c == "c":
            a, end = strtod(arg)
            if end != len(arg):
                raise _usage("Not a floating point number")
            for i, pct in enumerate(STUDENT_PCT):
                if a == pct:
                    ci = i
            if ci == -1:  # an earlier valid -c still counts, as in ministat.c
                raise _usage("No support for confidence level")
        elif c == "d":
            if arg == "":
                raise _usage("Can't use empty delimiter string")
            o.delim = arg
        elif c == "n":
            o.stats_only = True
        elif c == "q":
            o.quiet = True
        elif c == "s":
            o.separate = True
        elif c == "w":
            v, end = strtol10(arg)
            if end != len(arg):
                raise _usage("Invalid width, not a number.")
            o.width = _to_c_int(v)
            if o.width < 0:
                raise _usage("Unable to move beyond left margin.")
    if ci != -1:
        o.conf_index = ci
    if len(o.files) > MAX_DS - 1:
        raise _usage("Too many datasets.")
    return o


def _terminal_width(stdout: IO[str]) -> int:
    """main(): 74, or on a terminal $COLUMNS, or the window's width less 2."""
    try:
        if not stdout.isatty():
            return DEFAULT_WIDTH
        cols = os.environ.get("COLUMNS", "")
        if cols:
            return _atoi(cols)
        size = os.get_terminal_size(stdout.fileno()).columns
        return size - 2 if size > 0 else DEFAULT_WIDTH
    except (OSError, ValueError, AttributeError):
        return DEFAULT_WIDTH


def _read_stdin(stdin: IO[str]) -> bytes:
    buf = getattr(stdin, "buffer", None)
    if buf is not None:
        return buf.read()
    return stdin.read().encode("utf-8", "surrogateescape")


def run(argv: Sequence[str], stdin: IO[str], stdout: IO[str]) -> str:
    """Everything but the writing: ministat's stdout text, or MinistatError."""
    o = parse_args(argv, _terminal_width(stdout))
    names = o.files or ["<stdin>"]
    # ministat opens every file before reading any (main(), before caph_enter()).
    contents: list[bytes | None] = []  # None: standard input
    for name in o.files:
        if name == "-":
            # ministat.c stores stdin in setfiles[0] whatever the position (undefined
            # behaviour past the first file); here `-` reads stdin wherever it is.
            contents.append(None)
            continue
        try:
            with open(name, "rb") as f:
                try:
                    contents.append(f.read())
                except OSError:
                    contents.append(b"")  # fgets() fails: no data points
        except IsADirectoryError:
            contents.append(b"")  # fopen() succeeds on a directory, fgets() reads nothing
        except OSError as e:
            raise _errx("Cannot open %s: %s" % (name, os.strerror(e.errno or 0))) from None
    if not o.files:
        contents.append(None)
    datasets = []
    for name, data in zip(names, contents, strict=True):
        if data is None:
            data = _read_stdin(stdin)
        datasets.append(parse_input(data, name, o.column, o.delim))
    return report(
        datasets,
        width=o.width,
        conf_index=o.conf_index,
        separate=o.separate,
        stats_only=o.stats_only,
        no_plot=o.no_plot,
        quiet=o.quiet,
    )


def _write(stream: IO[str], text: str) -> None:
    try:
        stream.write(text)
    except UnicodeEncodeError:  # file names that are not valid in the locale
        buf = getattr(stream, "buffer", None)
        raw = text.encode("utf-8", "surrogateescape")
        if buf is None:
            stream.write(raw.decode("utf-8", "replace"))
        else:
            stream.flush()
            buf.write(raw)
    stream.flush()


def main(argv: list[str]) -> int:
    """`emu compare ARGS...`: run ministat(1) on ARGS; returns its exit status."""
    try:
        text = run(argv, sys.stdin, sys.stdout)
    except MinistatError as e:
        _write(sys.stderr, e.message)
        return e.status
    except MemoryError:
        _write(sys.stderr, f"{PROG}: out of memory (is -w too large?)\n")
        return 2
    try:
        _write(sys.stdout, text)
    except BrokenPipeError:
        # Like C's death by SIGPIPE: no traceback, and no second error at exit.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
