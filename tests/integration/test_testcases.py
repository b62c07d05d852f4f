"""The will-it-scale VM testcases: each runs in both variants, `emu list` describes it, and a
workload file given by path runs exactly as the built-in of that name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from emu.testcases import builtin_names, resolve
from tests.conftest import emu

TESTCASES = ["mmap1", "mmap2", "page_fault1", "page_fault2", "page_fault3", "page_fault4",
             "tlb_flush1", "tlb_flush2", "tlb_flush3"]
SHORT = ["-t", "2", "-s", "1", "--period", "1ms", "--warmup", "1"]
WORKLOADS = Path(__file__).parents[2] / "workloads"


@pytest.mark.parametrize("name", [f"{t}_{m}" for t in TESTCASES for m in ("processes", "threads")])
def test_every_testcase_runs_in_both_variants(tmp_path, name):
    path = tmp_path / "run.json"
    r = emu("run", name, *SHORT, "--json", str(path))
    assert r.returncode == 0, r.stderr
    doc = json.loads(path.read_text())
    assert doc["average"] > 0 and "error" not in doc
    assert r.stdout.startswith(f"testcase:{resolve(name).description}\n")
    if name.endswith("_processes"):   # a private address space never shoots anyone down
        assert doc["ipis"]["sent"] == 0 and doc["tlb_shootdowns"] == 0


def test_list_shows_each_with_its_description():
    r = emu("list")
    assert r.returncode == 0, r.stderr
    for t in TESTCASES:
        for m in ("processes", "threads"):
            name = f"{t}_{m}"
            assert name in builtin_names()
            line = next(x for x in r.stdout.splitlines() if x.split()[:1] == [name])
            assert resolve(name).description in line


def test_descriptions_are_will_it_scales():
    assert resolve("page_fault1_threads").description == "Anonymous memory page fault"
    assert resolve("page_fault4_processes").description == \
        "Separate file private mapping page read fault"
    assert resolve("tlb_flush2_processes").description == \
        "TLB flush of anonymous memory private mapping"
    assert resolve("mmap2_threads").description == "Separate file mmap/munmap of 128MB"


def test_workload_file_runs_as_the_builtin(tmp_path):
    copy = tmp_path / "tlb_flush2_threads.py"
    shutil.copy(WORKLOADS / "tlb_flush2.py", copy)
    args = [*SHORT, "--seed", "4", "-v"]
    builtin = emu("run", "tlb_flush2_threads", *args)
    by_path = emu("run", str(copy), *args)
    assert builtin.returncode == by_path.returncode == 0, by_path.stderr
    assert by_path.stdout == builtin.stdout
