"""A strategy from a user's file through the commands: `emu run` and `emu check` take it
like a built-in's name; a file that cannot be used is one line on stderr and exit status 2,
before anything runs; `emu list --interface` prints what a file must define."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FAST, emu

ROOT = Path(__file__).resolve().parents[2]
GOOD = str(ROOT / "examples" / "strategies" / "di_pcpu_count.py")
LAZY = str(ROOT / "examples" / "strategies" / "di_pcpu_lazy.py")


def test_a_user_di_runs_under_emu_run(tmp_path):
    path = tmp_path / "run.json"
    r = emu("run", "mmap1_processes", "-t", "4", "-s", "1", *FAST, "--di", GOOD,
            "--json", str(path))
    assert r.returncode == 0, r.stderr
    assert f"di={GOOD}" in r.stderr
    doc = json.loads(path.read_text())
    assert doc["strategies"]["di"] == GOOD and doc["average"] > 0
    assert "invl_gen_mtx" not in {lk["name"] for lk in doc["locks"]}   # not the 2018 DI


def test_emu_check_passes_the_safe_one_and_catches_the_lazy_one():
    r = emu("check", "--di", GOOD, "--trials", "4")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 violations in 4 interleavings" in r.stdout
    r = emu("check", "--di", LAZY, "--trials", "20")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "VIOLATION" in r.stdout and f"--di {LAZY}" in r.stdout


def test_a_bad_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad_di.py"
    bad.write_text("import os\n\ndef pmap_delayed_invl_started(k):\n    yield\n")
    for args in (["run", "mmap1_processes", "-s", "1", *FAST, "--di", str(bad)],
                 ["check", "--di", str(bad)],
                 ["whatif", "mmap1_processes", "--di", str(bad)],
                 ["chain", "mmap1_processes", "--di", str(bad)]):
        r = emu(*args)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("emu: ") and str(bad) in lines[0], \
            (args, r.stderr)
        assert "imports os" in lines[0]
    raises = tmp_path / "raises_di.py"
    raises.write_text(Path(GOOD).read_text().replace(
        "yield Cycles(k.cost.l1_hit)", "yield Cycles(k.cost.no_such_cost)"))
    r = emu("run", "mmap1_processes", "-s", "1", *FAST, "--di", str(raises))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert "pmap_delayed_invl_started raised AttributeError" in r.stderr


def test_emu_list_shows_the_interface():
    r = emu("list", "--interface", "di")
    assert r.returncode == 0, r.stderr
    for word in ("pmap_delayed_invl_started", "pmap_delayed_invl_finished", "invl_model",
                 "configure", "emu.kernel.kthread", "k.td.pcpu", "global"):
        assert word in r.stdout, word
    r = emu("list", "--interface", "nope")
    assert r.returncode == 2 and r.stderr.startswith("emu: unknown strategy kind")
