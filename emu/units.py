"""Parsing of the quantities users type: durations like `10ms`, `0.5s`, `200us`."""

from __future__ import annotations

import re

_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(s|ms|us|µs|ns)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds in `text` (a bare number is seconds); ValueError if malformed or not > 0."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"bad duration {text!r} (try 10ms, 0.5s, 200us)")
    seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return seconds


def format_duration(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:g}{unit}"
    return f"{seconds / 1e-9:g}ns"
