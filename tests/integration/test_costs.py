"""`--cost NAME=VALUE`: a machine's costs set over its preset, on every path that builds a run
(emu run, emu sweep, an experiment's variants), recorded wherever the machine is named."""

from __future__ import annotations

import io
import json

import pytest

from emu.experiment.model import ExperimentError, load_experiment
from emu.experiment.run import run_experiment
from emu.hw.machine import NOT_CYCLES, MachineError, cost_reasons, load_machine, set_costs
from emu.machine.spec import RunResult, Sample
from emu.report.listing import cost_listing
from emu.run import UsageError, build_spec, describe
from emu.sweep import Measured
from tests.conftest import FAST, emu
from tests.integration.test_experiment import TINY, write


def test_cycles_and_durations_at_the_machines_clock():
    m = load_machine("skylake-2s")
    s = set_costs(m, ["pause=100", "line_other_socket=150ns", "ipi_latency=1.5us"])
    assert s.costs["pause"] == 100
    assert s.costs["line_other_socket"] == round(150e-9 * m.freq_hz) == 315
    assert s.costs["ipi_latency"] == 3150
    assert s.changed == {"pause": 100, "line_other_socket": 315, "ipi_latency": 3150}
    assert s.label == "skylake-2s with pause=100 line_other_socket=315 ipi_latency=3150"
    assert m.costs["pause"] == 140 and not m.changed and m.label == "skylake-2s"  # untouched
    # The slower clock of another preset gives the same duration fewer cycles.
    d = load_machine("desktop-16")
    assert set_costs(d, ["pause=150ns"]).costs["pause"] == round(150e-9 * d.freq_hz)


def test_costs_that_are_not_cycles_keep_their_kind():
    m = set_costs(load_machine(), ["smt_slowdown=1.25", "local_jitter=0", "tlb_entries=64"])
    assert m.costs["smt_slowdown"] == 1.25 and m.costs["local_jitter"] == 0.0
    assert m.costs["tlb_entries"] == 64 and isinstance(m.costs["tlb_entries"], int)


@pytest.mark.parametrize("setting, words", [
    ("pause", "bad cost setting 'pause'"),
    ("pause=", "bad cost setting"),
    ("paus=100", "has no cost 'paus' (did you mean pause?"),
    ("nothing_like_it=1", "`emu list --costs` lists them"),
    ("pause=-1", "cost pause is cycles, at least 0"),
    ("pause=inf", "cost pause is cycles"),
    ("pause=nan", "cost pause is cycles"),
    ("pause=fast", "bad duration 'fast'"),
    ("smt_slowdown=10ns", "cost smt_slowdown is a factor, not '10ns'"),
    ("smt_slowdown=0.5", "cost smt_slowdown is a factor, at least 1"),
    ("local_jitter=1", "cost local_jitter is a fraction"),
    ("tlb_entries=1.5", "cost tlb_entries is a count"),
])
def test_bad_settings_say_what_is_wrong(setting, words):
    with pytest.raises(MachineError) as exc:
        set_costs(load_machine(), [setting])
    assert words in str(exc.value)
    with pytest.raises(UsageError):  # as emu run and emu sweep see it
        build_spec("mmap1_processes", 2, 1, False, False, "skylake-2s", "virtual", 0, "2ms", 1,
                   costs=[setting])


def test_listing_gives_each_cost_its_value_and_reason():
    text = cost_listing("skylake-2s")
    m, reasons = load_machine("skylake-2s"), cost_reasons("skylake-2s")
    assert set(reasons) == set(m.costs) and all(reasons.values())  # every cost has a reason
    width = max(map(len, m.costs))  # the names line up, the longest included
    assert f"  {'line_other_socket':<{width}} 237 cycles = 112.9 ns" in text
    assert f"  {'line_other_socket_to_home':<{width}} 374 cycles = 178.1 ns" in text
    assert "Cross-socket transfer over UPI" in text
    for name in NOT_CYCLES:
        assert f"  {name:<{width}} {m.costs[name]:g} ({NOT_CYCLES[name][0]})" in text


def test_a_set_cost_reaches_the_model_and_every_report(tmp_path, no_trace):
    """A dearer syscall makes the uncontended path slower by what the model adds up: each
    mmap1 iteration makes two syscalls; the stderr line and the JSON say what was set."""
    runs = {}
    for name, extra in (("preset", []), ("slow", ["--cost", "syscall=2us"])):
        out = tmp_path / f"{name}.json"
        r = emu("run", "mmap1_processes", "-t", "1", "-s", "1", *FAST, *extra,
                "--json", str(out))
        assert r.returncode == 0, r.stderr
        runs[name] = (r.stderr, json.loads(out.read_text()))
    (err0, doc0), (err1, doc1) = runs["preset"], runs["slow"]
    assert doc0["costs_set"] == {} and "on skylake-2s (96 CPUs" in err0
    assert doc1["costs_set"] == {"syscall": 4200} and "on skylake-2s with syscall=4200 (" in err1
    freq = doc0["freq_hz"]
    per_op = [freq / doc["average"] for doc in (doc0, doc1)]  # cycles per iteration
    assert per_op[1] - per_op[0] == pytest.approx(2 * (4200 - 700), rel=0.05)


def test_cli_bad_cost_is_one_line_exit_2(no_trace):
    for command in (["run", "mmap1_processes", "-t", "2", "-s", "1", *FAST],
                    ["sweep", "mmap1_processes", "-t", "2"]):
        r = emu(*command, "--cost", "line_same_sockets=60ns")
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.strip().splitlines() == [
            "emu: machine 'skylake-2s' has no cost 'line_same_sockets' (did you mean "
            "line_same_socket? `emu list --costs` lists them)"]


def test_cli_list_costs():
    r = emu("list", "--costs", "--machine", "desktop-16")
    assert r.returncode == 0 and r.stdout.startswith("costs of desktop-16 (")
    assert emu("list", "--machine", "desktop-16").stdout == r.stdout  # --machine implies it
    assert emu("list", "--costs").stdout.startswith("costs of skylake-2s (")
    r = emu("list", "--costs", "--machine", "nope")
    assert r.returncode == 2 and r.stderr.startswith("emu: unknown machine preset 'nope'")


# ---------------------------------------------------------------- experiments

COSTLY = TINY.replace('di = "epoch"', 'di = "epoch"\ncosts = { pause = 100, '
                      'line_other_socket = "150ns" }')


def test_a_variant_sets_costs_for_its_runs(tmp_path):
    exp = load_experiment(str(write(tmp_path, COSTLY)), str(tmp_path / "out"))
    changed = {r.variant.name: r.spec.machine.changed for r in exp.runs}
    assert changed == {"mutex": {}, "epoch": {"pause": 100, "line_other_socket": 315}}
    assert "epoch" in describe(exp.runs[-1].spec) and "with pause=100" in describe(
        exp.runs[-1].spec)


@pytest.mark.parametrize("costs, words", [
    ('costs = "pause=100"', "`costs` must be a table of costs"),
    ("costs = { pause = true }", "`costs` must be a table of costs"),
    ("costs = { paus = 100 }", "variant 'epoch': machine 'skylake-2s' has no cost 'paus'"),
    ("costs = { pause = -5 }", "variant 'epoch': cost pause is cycles, at least 0"),
])
def test_bad_variant_costs_are_one_line(tmp_path, costs, words):
    path = write(tmp_path, TINY.replace('di = "epoch"', f'di = "epoch"\n{costs}'))
    with pytest.raises(ExperimentError) as exc:
        load_experiment(str(path), str(tmp_path / "out"))
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_changed_costs_are_not_taken_for_finished_runs(tmp_path, monkeypatch):
    """Resume reuses a run's JSON only if it was run with the same costs."""
    calls = []

    def fake_measure(spec):
        calls.append(spec.machine.changed)
        result = RunResult(spec, [Sample(1, True, [100] * spec.tasks),
                                  Sample(2, False, [100] * spec.tasks)], wall_s=0.1)
        return Measured(100 * spec.tasks * 500, 0.0, result, 0.1)

    monkeypatch.setattr("emu.sweep.measure", fake_measure)
    out = str(tmp_path / "out")
    for text, ran in ((COSTLY, 6), (COSTLY, 0), (COSTLY.replace("pause = 100", "pause = 90"), 3)):
        calls.clear()
        exp = load_experiment(str(write(tmp_path, text)), out)
        assert run_experiment(exp, out, err=io.StringIO()) == 0
        assert len(calls) == ran
    report = (tmp_path / "out/report.md").read_text()
    assert "| epoch | epoch | mutex | shared | `pause=90` `line_other_socket=315` |" in report
    assert "| mutex | mutex | mutex | shared | preset |" in report


def test_plots_name_the_costs_a_sweep_set():
    from emu.report.plot import _labels, title_of

    base = {"testcase": "mmap1", "description": "", "machine": "skylake-2s", "ncpus": 96,
            "strategies": {"di": "mutex", "swap": "mutex", "ucred": "shared"}}
    far = {**base, "costs_set": {"line_other_socket": 315}}
    assert " with " not in title_of([base]) and " with " not in title_of([base, far])
    assert "mmap1 on skylake-2s with line_other_socket=315 (96 CPUs)" in title_of([far])
    assert _labels([base, far], None) == [" (preset costs)", " (line_other_socket=315)"]
    assert _labels([far, far], ["a", "b"]) == [" (a)", " (b)"]


@pytest.mark.parametrize("example", ["case-study.toml", "cost-ranges.toml"])
def test_the_example_experiments_are_well_formed(example, tmp_path):
    from pathlib import Path

    exp = load_experiment(str(Path(__file__).parents[2] / "examples" / example),
                          str(tmp_path / "out"))
    variants = {v.name: v for v in exp.variants}
    assert len(exp.runs) == len(variants) * len(exp.tasks) * len(exp.seeds)
    if example == "cost-ranges.toml":  # each range end on both kernels
        changed = {r.variant.name: r.spec.machine.changed for r in exp.runs}
        assert changed["stock-other150"] == changed["epoch-other150"] == {
            "line_other_socket": 315}
        assert changed["stock"] == changed["epoch"] == {}
