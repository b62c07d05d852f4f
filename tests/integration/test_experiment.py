"""`emu experiment`: the file's checks, the output directory, ministat in report.md, resume."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from emu.experiment.model import ExperimentError, load_experiment
from emu.experiment.run import run_experiment
from emu.machine.spec import RunResult, Sample
from emu.sweep import Measured
from tests.conftest import emu

TINY = """
[experiment]
name = "tiny"
testcase = "mmap1_processes"
tasks = [2]
seeds = [1, 2, 3]
period = "2ms"
warmup = 1
samples = 1
baseline = "mutex"

[[variant]]
name = "mutex"
description = "the 2018 kernel"

[[variant]]
name = "epoch"
di = "epoch"
"""


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- malformed files


BAD = [
    ("[experiment\n", "not valid TOML"),
    ("[[variant]]\nname = 'a'\n", "no [experiment] table"),
    (TINY.replace('tasks = [2]', 'tasks = "2"'), "`tasks` must be a non-empty list"),
    (TINY.replace('tasks = [2]', 'tasks = [2, 500]'), "500 exceeds machine skylake-2s's 96"),
    (TINY.replace('seeds = [1, 2, 3]', 'seeds = [1, 2]'), "at least 3 seeds"),
    (TINY.replace('baseline = "mutex"', 'baseline = "nope"'), "`baseline` 'nope' is not a"),
    (TINY.replace('di = "epoch"', 'di = "rcu"'), "variant 'epoch': unknown di strategy"),
    (TINY.replace('warmup = 1', 'warmup = 1\nwarmpu = 2'), "unknown key `warmpu`"),
    (TINY.replace('testcase = "mmap1_processes"', 'testcase = "nope"'), "unknown testcase"),
    (TINY.replace('period = "2ms"', 'period = "fast"'), "bad duration"),
    (TINY.replace('name = "epoch"', 'name = "mutex"'), "a second variant named 'mutex'"),
    (TINY.replace('name = "epoch"', 'name = "a/b"'), "`name` must be letters"),
    (TINY.split("[[variant]]")[0], "no [[variant]] tables"),
    (TINY + "\ncompare_at = 4\n", "unknown key `compare_at`"),  # lands in the variant
    (TINY.replace('samples = 1', 'samples = 1\ncompare_at = 4'), "`compare_at` 4 is not"),
]


@pytest.mark.parametrize("text, words", BAD)
def test_malformed_file_is_one_line_and_exit_2(tmp_path, text, words):
    path = write(tmp_path, text)
    p = emu("experiment", str(path), "--out", str(tmp_path / "out"))
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"emu: {path}"), lines
    assert words in lines[0]
    assert not (tmp_path / "out").exists()  # nothing ran


def test_missing_file():
    p = emu("experiment", "/nonexistent/exp.toml")
    assert p.returncode == 2
    assert p.stderr.strip() == "emu: cannot read /nonexistent/exp.toml: No such file or directory"


def test_plan_is_the_whole_matrix(tmp_path):
    exp = load_experiment(str(write(tmp_path, TINY)), str(tmp_path / "out"))
    assert len(exp.runs) == 2 * 1 * 3
    assert exp.compare_at == 2 and exp.baseline == "mutex"
    assert {r.spec.strategies["di"] for r in exp.runs} == {"mutex", "epoch"}
    assert exp.runs[0].path == tmp_path / "out/runs/mmap1_processes/mutex/t2-seed1.json"
    with pytest.raises(ExperimentError):
        load_experiment(str(write(tmp_path, TINY.replace("seeds = [1, 2, 3]", "seeds = [1]"))))


# ---------------------------------------------------------------- interrupt and resume


def test_interrupted_experiment_resumes_where_it_stopped(tmp_path, monkeypatch):
    """Ctrl-C during the third run keeps the first two; the next invocation runs the rest.
    (Runs are faked here; the real pipeline is the test below.)"""
    exp = load_experiment(str(write(tmp_path, TINY)), str(tmp_path / "out"))
    calls = []

    def fake_measure(spec, interrupt_at=None):
        calls.append(spec.seed)
        ops = 100 + spec.seed + (50 if spec.strategies["di"] == "epoch" else 0)
        result = RunResult(spec, [Sample(1, True, [ops] * spec.tasks),
                                  Sample(2, False, [ops] * spec.tasks)], wall_s=0.1)
        return Measured(ops * spec.tasks * 500, 0.0, result, 0.1,
                        interrupted=interrupt_at is not None and len(calls) == interrupt_at)

    monkeypatch.setattr("emu.sweep.measure", lambda spec: fake_measure(spec, interrupt_at=3))
    err = io.StringIO()
    assert run_experiment(exp, str(tmp_path / "out"), err=err) == 130
    done = sorted(p.name for p in (tmp_path / "out/runs").rglob("*.json"))
    assert done == ["t2-seed1.json", "t2-seed2.json"]
    assert "the same command carries on" in err.getvalue()
    assert not (tmp_path / "out/report.md").exists()

    calls.clear()
    monkeypatch.setattr("emu.sweep.measure", lambda spec: fake_measure(spec))
    err = io.StringIO()
    assert run_experiment(exp, str(tmp_path / "out"), err=err) == 0
    assert len(calls) == 4 and "resuming: 2 runs already" in err.getvalue()
    assert (tmp_path / "out/report.md").exists()


# ---------------------------------------------------------------- the real thing


def test_experiment_directory_report_and_resume(tmp_path, no_trace):
    path = write(tmp_path, TINY)
    out = tmp_path / "out"
    p = emu("experiment", str(path), "--out", str(out))
    assert p.returncode == 0, p.stderr
    runs = sorted(str(f.relative_to(out)) for f in (out / "runs").rglob("*.json"))
    assert runs == [f"runs/mmap1_processes/{v}/t2-seed{s}.json"
                    for v in ("epoch", "mutex") for s in (1, 2, 3)]
    for name in ("report.md", "experiment.toml", "csv/mmap1_processes-mutex.csv",
                 "csv/mmap1_processes-epoch.csv", "plots/mmap1_processes.png",
                 "ministat/mmap1_processes-t2-mutex.txt",
                 "ministat/mmap1_processes-t2-epoch.txt"):
        assert (out / name).is_file(), name
    assert (out / "plots/mmap1_processes.png").read_bytes().startswith(b"\x89PNG")
    csv = (out / "csv/mmap1_processes-mutex.csv").read_text().splitlines()
    assert csv[:2] == ["tasks,processes,processes_idle,threads,threads_idle,linear",
                       "0,0,100,0,100,0"]
    assert csv[2].startswith("2,") and csv[2].endswith(",0,100.00,0")  # no 1-task run
    report = (out / "report.md").read_text()
    # ministat's own text, as `emu compare` prints it for the two files.
    compare = emu("compare", "ministat/mmap1_processes-t2-mutex.txt",
                  "ministat/mmap1_processes-t2-epoch.txt", cwd=out)
    assert compare.returncode == 0
    assert compare.stdout.rstrip("\n") in report
    assert "x ministat/mmap1_processes-t2-mutex.txt" in report
    assert "    N           Min           Max        Median           Avg        Stddev" in report
    assert ("Difference at 95.0% confidence" in report
            or "No difference proven at 95.0% confidence" in report)
    assert "![mmap1_processes" in report and "| mutex | mutex | mutex | shared |" in report

    # Resume: only the missing run runs again, and it comes out the same (virtual clock).
    victim = out / "runs/mmap1_processes/epoch/t2-seed2.json"
    before = json.loads(victim.read_text())
    victim.unlink()
    again = emu("experiment", str(path), "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "resuming: 5 runs already" in again.stderr and "[1/1]" in again.stderr
    after = json.loads(victim.read_text())
    for key in ("samples", "warmup", "average", "per_task", "locks"):
        assert after[key] == before[key]
    assert (out / "report.md").read_text() == report
