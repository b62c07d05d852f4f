"""`emu run --di/--swap/--ucred`, the strategies in `emu list`, the stderr line and the JSON."""

from __future__ import annotations

import json

import pytest

from emu.kernel.strategies import DEFAULTS, STRATEGIES
from emu.report.listing import listing
from emu.run import UsageError, build_spec, describe
from tests.conftest import FAST, emu


def spec(**strategies):
    return build_spec("mmap1_processes", 2, 1, False, False, "skylake-2s", "virtual", 0,
                      "2ms", 1, strategies)


def test_defaults_fill_every_kind():
    assert spec().strategies == DEFAULTS
    assert spec(di=None, swap=None, ucred=None).strategies == DEFAULTS


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_every_registered_name_is_accepted(kind):
    for name in STRATEGIES[kind]:
        assert spec(**{kind: name}).strategies[kind] == name


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_unknown_name_is_a_usage_error_naming_the_known_ones(kind):
    with pytest.raises(UsageError) as exc:
        spec(**{kind: "no-such-strategy"})
    message = str(exc.value)
    assert f"unknown {kind} strategy 'no-such-strategy'" in message
    assert all(name in message for name in STRATEGIES[kind])


def test_description_states_every_strategy():
    line = describe(spec())
    words = " ".join(f"{k}={DEFAULTS[k]}" for k in STRATEGIES)
    assert f", {words}, " in line


def test_list_shows_the_registry():
    text = listing()
    block = text[text.index("strategies:"):].splitlines()[1:]
    assert len(block) == len(STRATEGIES)
    for line, (kind, names) in zip(block, STRATEGIES.items(), strict=True):
        assert line.split()[0] == kind
        for name in names:
            assert name in line
        assert f"{DEFAULTS[kind]} (default)" in line


@pytest.mark.parametrize("flag", ["--di", "--swap", "--ucred"])
def test_cli_bad_strategy_is_one_line_exit_2(flag):
    r = emu("run", "mmap1_processes", "-t", "2", "-s", "1", *FAST, flag, "bogus")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("emu: unknown ")
    assert "Traceback" not in r.stderr


def test_cli_strategies_reach_the_run_and_its_json(tmp_path, no_trace):
    di, swap, ucred = STRATEGIES["di"][0], STRATEGIES["swap"][0], STRATEGIES["ucred"][0]
    out = tmp_path / "run.json"
    r = emu("run", "mmap1_processes", "-t", "2", "-s", "1", *FAST, "--di", di, "--swap", swap,
            "--ucred", ucred, "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert f"di={di} swap={swap} ucred={ucred}" in r.stderr
    doc = json.loads(out.read_text())
    assert doc["strategies"] == {"di": di, "swap": swap, "ucred": ucred}
    freq = doc["freq_hz"]
    assert doc["locks"], "the run has named locks"
    for lock in doc["locks"]:
        for key in ("name", "acquisitions", "contentions", "spin_ns", "block_ns", "hold_ns",
                    "callers"):
            assert key in lock
        for f in ("spin", "block", "hold"):
            assert lock[f"{f}_ns"] == round(lock[f"{f}_cycles"] * 1e9 / freq)
