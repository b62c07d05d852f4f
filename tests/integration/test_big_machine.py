"""A machine of hundreds of CPUs (zen5c-2s, 768): it starts with the open-file limit it
needs, runs, and leaves nothing behind; one whose limit cannot be raised is refused in one
line.  (The full 768-task run takes about a minute here: bench/bench_scale.py measures it.)"""

from __future__ import annotations

import json
import resource

from tests.conftest import emu


def _nofile(soft: int, hard: int | None = None):
    def limit() -> None:
        h = resource.getrlimit(resource.RLIMIT_NOFILE)[1] if hard is None else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, h))
    return limit


def test_a_768_cpu_machine_runs_under_a_low_soft_limit(tmp_path, no_trace):
    """64 busy CPUs of 768, with a soft limit of 128 open files (below the 384 the run
    asks for): the supervisor raises it toward the hard limit, and every child goes."""
    out = tmp_path / "run.json"
    r = emu("run", "mmap1_processes", "-t", "64", "-s", "1", "--warmup", "0",
            "--period", "0.5ms", "--machine", "zen5c-2s", "--json", str(out),
            preexec_fn=_nofile(128))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert (doc["ncpus"], doc["tasks"]) == (768, 64)
    assert doc["cpus"] == list(range(0, 128, 2))   # one task per core, hwloc order
    assert sum(doc["per_task"]) > 0


def test_a_hard_limit_too_low_is_one_line(no_trace):
    r = emu("run", "mmap1_processes", "-t", "64", "-s", "1", "--machine", "zen5c-2s",
            preexec_fn=_nofile(128, 128))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == ("emu: -t 64 needs about 384 open files and this host allows 128 "
                         "(ulimit -Hn); raise it or run fewer tasks")
