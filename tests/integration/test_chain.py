"""`emu chain` on mmap1 at 8 tasks, from the stock kernel, with the user's examples as
candidates: the first bound is the DI mutex, every unsafe DI (the built-in `none`, the
lazy example) is held back by emu check, a safe one is kept; the next bound is the swap
accounting's mutex, and an atomic strategy is kept; each step compared with the one
before over three seeds, as ministat does."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import emu

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "strategies"


def test_two_steps_from_the_stock_kernel(tmp_path):
    path = tmp_path / "chain.json"
    r = emu("chain", "mmap1_processes", "-t", "8", "--period", "2ms", "-s", "1",
            "--warmup", "1", "--steps", "2", "--check-trials", "20", "--floor", "30",
            "--candidates", str(EXAMPLES), "--json", str(path))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "step 1  bound: lock invl_gen_mtx (di)" in out
    assert "step 2  bound: lock sw_dev_mtx (swap)" in out
    assert out.count("Difference at 95.0% confidence") == 2
    doc = json.loads(path.read_text())
    s0, s1, s2 = doc["steps"]
    assert len(s0["ops"]) == len(s1["ops"]) == len(s2["ops"]) == 3
    tried = {t["name"]: t for t in s1["tried"]}
    lazy = str(EXAMPLES / "di_pcpu_lazy.py")
    assert tried[lazy]["why_not"].startswith("unsafe") and tried[lazy]["ops"] is None
    assert tried["none"]["why_not"].startswith("unsafe")
    assert s1["chosen"]["kind"] == "di" and s1["chosen"]["name"] not in ("none", lazy)
    assert s1["mean"] > s0["mean"] * 1.05 and s2["mean"] > s1["mean"] * 1.05
    assert s2["chosen"]["kind"] == "swap" and s2["strategies"]["swap"] != "mutex"
    assert doc["stop"] == "2 steps taken (--steps)"


def test_bad_input_is_one_line(tmp_path):
    for args in (["--steps", "0"], ["--seeds", "1"], ["--candidates", str(tmp_path)]):
        r = emu("chain", "mmap1_processes", *args)
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, (args, r.stderr)
