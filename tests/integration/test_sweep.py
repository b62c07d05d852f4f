"""`emu sweep`: runtest.py's CSV, -1 for a failed run, Ctrl-C, bad input, JSON and PNG."""

from __future__ import annotations

import io
import json
import re

import pytest

from emu.hw.machine import load_machine
from emu.machine.spec import RunFailed, RunResult, Sample
from emu.report.runtest import FIRST_ROW, HEADER
from emu.run import UsageError, build_spec
from emu.sweep import default_tasks, idle_percent, parse_tasks, plan_sweep, run_sweep, step_tasks
from tests.conftest import emu

# runtest.py: print '%d,%d,%0.2f,%d,%0.2f,%d' % (...)
ROW = re.compile(r"^\d+,-?\d+,\d{1,3}\.\d{2},-?\d+,\d{1,3}\.\d{2},-?\d+$")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["--warmup", "1", "-s", "1", "--period", "2ms"]


# ---------------------------------------------------------------- task counts


def test_parse_tasks_sorts_and_dedupes():
    assert parse_tasks("4,1,2,4", 96, "m") == [1, 2, 4]
    assert parse_tasks(" 1, 96 ", 96, "m") == [1, 96]


@pytest.mark.parametrize("text, words", [
    ("0", "at least 1"), ("-2", "at least 1"), ("a,b", "'a' is not a task count"),
    ("1,,2", "'' is not a task count"), ("1,97", "97 exceeds machine m's 96 CPUs"),
])
def test_parse_tasks_rejects(text, words):
    with pytest.raises(UsageError, match=re.escape(words)):
        parse_tasks(text, 96, "m")


def test_step_is_runtests_data_points_clipped_at_the_cpus():
    assert step_tasks(1, 4) == [1, 2, 3, 4]
    assert step_tasks(8, 24) == [1, 8, 16, 24]
    assert step_tasks(5, 12) == [1, 5, 10]
    with pytest.raises(UsageError):
        step_tasks(0, 12)


def test_default_tasks_end_on_the_machines_cpus():
    assert default_tasks(96) == [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96]
    assert default_tasks(16) == [1, 2, 4, 8, 12, 16]
    assert default_tasks(6) == [1, 2, 4, 6]


def test_plan_always_starts_at_one_task():
    plan = plan_sweep("mmap1", "2,4", None, "skylake-2s", {}, period="2ms", warmup=1,
                      samples=1)
    assert plan.tasks == [1, 2, 4] and plan.added_one
    assert plan.variants == ["processes", "threads"]
    one = plan_sweep("mmap1_threads", "1", None, "skylake-2s", {}, period="2ms")
    assert one.variants == ["threads"] and one.base == "mmap1"


@pytest.mark.parametrize("args, words", [
    (["mmap1", "--tasks", "0"], "at least 1"),
    (["mmap1", "--tasks", "a,b"], "is not a task count"),
    (["mmap1", "--tasks", "1,97"], "exceeds machine skylake-2s's 96 CPUs"),
    (["mmap1", "--tasks", "1", "--step", "2"], "not both"),
    (["mmap1", "--step", "0"], "at least 1"),
    (["mmap1", "-s", "0"], "-s must be at least 1"),
    (["mmap1", "--di", "bogus"], "unknown di strategy"),
    (["nosuch"], "unknown testcase 'nosuch'"),
    (["mmap1", "--compare-json", "x.json"], "--plot"),
    (["mmap1", "--plot", "/no/such/dir/x.png"], "no directory"),
])
def test_bad_input_is_one_line_and_exit_2(args, words):
    r = emu("sweep", *args, "--period", "2ms")
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("emu: ") and words in r.stderr


# ---------------------------------------------------------------- idle


def test_idle_counts_blocked_time_as_idle():
    spec = build_spec("mmap1_processes", 4, 1, False, False, "skylake-2s", "virtual", 0,
                      "2ms", 1)
    res = RunResult(spec, samples=[Sample(1, True, [1] * 4), Sample(2, False, [1] * 4)])
    assert idle_percent(res) == pytest.approx(100 * (96 - 4) / 96)
    span = spec.machine.cycles(2 * 0.002)
    # one CPU-equivalent asleep on a turnstile for the whole run: 3 busy CPUs
    res.locks = [{"name": "m", "block_cycles": span // 2}, {"name": "n", "block_cycles": span
                                                           - span // 2}]
    assert idle_percent(res) == pytest.approx(100 * (96 - 3) / 96)


# ---------------------------------------------------------------- the sweep, with fake runs


class FakeSupervisor:
    """Stands in for emu.machine.supervisor.Supervisor: 1000 ops per task per sample
    (threads 500)."""

    fail: set[tuple[str, int]] = set()
    interrupt: set[tuple[str, int]] = set()

    def __init__(self, spec) -> None:
        self.spec = spec
        self.result = RunResult(spec)

    def run(self, on_sample):
        spec = self.spec
        key = (spec.testcase.mode, spec.tasks)
        per = 1000 if spec.testcase.mode == "processes" else 500
        for k in range(1, spec.warmup + spec.samples + 1):
            if key in self.interrupt and k == 2:
                raise KeyboardInterrupt
            sample = Sample(k, k <= spec.warmup, [per] * spec.tasks)
            self.result.samples.append(sample)
            on_sample(sample)
        if key in self.fail:
            raise RunFailed("CPU 1 (task 1, pid 4242) died: killed by signal SIGKILL")
        self.result.locks = [{"name": "invl_gen_mtx", "acquisitions": 10, "contentions": 2,
                              "spin_cycles": 100, "block_cycles": 0, "hold_cycles": 50,
                              "events": 20}]
        return self.result


@pytest.fixture
def fake(monkeypatch):
    FakeSupervisor.fail, FakeSupervisor.interrupt = set(), set()
    monkeypatch.setattr("emu.sweep.Supervisor", FakeSupervisor)
    return FakeSupervisor


def sweep(testcase, tasks="1,2,4", **kw):
    plan = plan_sweep(testcase, tasks, None, "skylake-2s", {}, period="2ms", warmup=1,
                      samples=1)
    out, err = io.StringIO(), io.StringIO()
    code = run_sweep(plan, out=out, err=err, **kw)
    return code, out.getvalue().splitlines(), err.getvalue()


def test_csv_is_runtests(fake):
    code, lines, err = sweep("mmap1")
    assert code == 0
    assert lines == [HEADER, FIRST_ROW,
                     "1,500000,98.96,250000,98.96,500000",
                     "2,1000000,97.92,500000,97.92,1000000",
                     "4,2000000,95.83,1000000,95.83,2000000"]
    assert "emu: [6/6] mmap1_threads -t 4: average 1000000 ops/s" in err


def test_failed_run_is_minus_one_and_the_sweep_goes_on(fake, tmp_path):
    fake.fail = {("threads", 2)}
    out = tmp_path / "s.json"
    code, lines, err = sweep("mmap1", json_path=str(out))
    assert code == 1
    assert lines[3] == "2,1000000,97.92,-1,97.92,1000000"
    assert lines[4].startswith("4,2000000,")
    assert all(ROW.match(x) for x in lines[2:])
    assert "mmap1_threads -t 2: failed: CPU 1 (task 1, pid 4242) died" in err
    runs = json.loads(out.read_text())["runs"]
    assert len(runs) == 6 and runs[3]["error"].startswith("CPU 1")


def test_failure_at_one_task_gives_runtests_linear(fake):
    fake.fail = {("processes", 1), ("threads", 1)}
    code, lines, _ = sweep("mmap1", "1,2")
    # runtest.py: linear = max(-1, -1) at 1 task, times the task count
    assert lines[2] == "1,-1,98.96,-1,98.96,-1" and lines[3].endswith(",-2")


def test_one_variant_fills_the_other_with_not_run(fake):
    code, lines, _ = sweep("mmap1_threads", "1,2")
    assert code == 0
    assert lines[2:] == ["1,0,100.00,250000,98.96,250000", "2,0,100.00,500000,97.92,500000"]


def test_ctrl_c_keeps_what_was_measured(fake, tmp_path):
    fake.interrupt = {("processes", 4)}
    csv, js = tmp_path / "s.csv", tmp_path / "s.json"
    code, lines, err = sweep("mmap1", csv_path=str(csv), json_path=str(js))
    assert code == 130 and err.endswith("emu: interrupted\n")
    assert len(lines) == 4  # header, 0 row, 1 and 2 tasks
    assert csv.read_text().splitlines() == lines
    doc = json.loads(js.read_text())
    assert [r["tasks"] for r in doc["sweep"]["rows"]] == [1, 2]
    assert len(doc["runs"]) == 5 and doc["runs"][-1]["error"] == "interrupted"


def test_compare_json_plot(fake, tmp_path):
    first, png = tmp_path / "a.json", tmp_path / "a.png"
    assert sweep("mmap1", "1,2", json_path=str(first))[0] == 0
    code, _, _ = sweep("mmap1_processes", "1,2,4", plot_path=str(png),
                       compare_json=str(first))
    assert code == 0
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000


def test_compare_json_must_be_a_sweep(fake, tmp_path):
    bad = tmp_path / "run.json"
    bad.write_text('{"samples": []}')
    with pytest.raises(UsageError, match="not an `emu sweep --json` file"):
        sweep("mmap1", "1", plot_path=str(tmp_path / "x.png"), compare_json=str(bad))


# ---------------------------------------------------------------- a real sweep


def test_real_sweep_csv_json_png(tmp_path, no_trace):
    csv, js, png = tmp_path / "s.csv", tmp_path / "s.json", tmp_path / "s.png"
    r = emu("sweep", "mmap1", "--tasks", "1,2", *TINY, "--csv", str(csv), "--json", str(js),
            "--plot", str(png))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "tasks,processes,processes_idle,threads,threads_idle,linear"
    assert lines[1] == "0,0,100,0,100,0"
    assert len(lines) == 4 and all(ROW.match(x) for x in lines[2:])
    rows = [x.split(",") for x in lines[2:]]
    assert [int(x[0]) for x in rows] == [1, 2]
    linear1 = max(int(rows[0][1]), int(rows[0][3]))
    assert [int(x[5]) for x in rows] == [linear1, 2 * linear1]
    ncpus = load_machine("skylake-2s").ncpus
    for x in rows:  # blocked time only adds idle to the CPUs no task runs on
        for idle in (float(x[2]), float(x[4])):
            assert 100 * (ncpus - int(x[0])) / ncpus - 0.005 <= idle <= 100
    assert csv.read_text() == r.stdout
    doc = json.loads(js.read_text())
    assert doc["sweep"]["csv"] == lines
    assert [(d["testcase"], d["tasks"]) for d in doc["runs"]] == [
        ("mmap1_processes", 1), ("mmap1_threads", 1), ("mmap1_processes", 2),
        ("mmap1_threads", 2)]
    assert all("strategies" in d and "locks" in d for d in doc["runs"])
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert "emu: [4/4] mmap1_threads -t 2: average" in r.stderr
