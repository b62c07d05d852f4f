"""`emu whatif`: on a machine where the model clearly says which lock bounds (mmap1 at 8
tasks: the 2018 DI mutex, invl_gen_mtx), removing that lock's cost ranks first and buys a
clear gain, with the Coz plot drawn; a row's figure is a run's `average:` and comes out the
same when run again; with a user's DI strategy that shares nothing, the swap accounting's
mutex ranks first instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import emu

ROOT = Path(__file__).resolve().parents[2]
GOOD = str(ROOT / "examples" / "strategies" / "di_pcpu_count.py")
SHORT = ["-t", "8", "--period", "2ms", "-s", "1", "--warmup", "1", "--kinds", "lock"]


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    d = tmp_path_factory.mktemp("whatif")
    r = emu("whatif", "mmap1_processes", *SHORT, "--speedup", "50,100",
            "--json", str(d / "w.json"), "--plot", str(d / "w.png"))
    return r, json.loads((d / "w.json").read_text()), d / "w.png"


def test_the_stock_kernel_ranks_the_di_mutex_first(stock):
    r, doc, png = stock
    assert r.returncode == 0, r.stderr
    first = doc["rows"][0]
    assert first["target"] == {"kind": "lock", "name": "invl_gen_mtx", "caller": None}
    assert first["gain_pct"]["100"] > 10.0
    assert first["gain_pct"]["50"] > 0.0       # its smaller speed-up was run too
    others = {row["label"]: row for row in doc["rows"][1:]}
    assert others["lock sw_dev_mtx"]["gain_pct"]["100"] < first["gain_pct"]["100"] / 2
    assert doc["baseline"]["average"] > 0 and doc["speedups"] == [50, 100]
    table = r.stdout.splitlines()
    rank1 = next(x for x in table if x.lstrip().startswith("1 "))
    assert "invl_gen_mtx" in rank1 and str(first["ops"]["100"]) in rank1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_row_reproduces_bit_identically(stock, tmp_path):
    _, doc, _ = stock
    again = tmp_path / "again.json"
    r = emu("whatif", "mmap1_processes", *SHORT, "--speedup", "100", "--floor", "50",
            "--json", str(again))
    assert r.returncode == 0, r.stderr
    rows = json.loads(again.read_text())["rows"]
    assert [row["label"] for row in rows] == ["lock invl_gen_mtx"]   # its share: over 50%
    assert rows[0]["ops"]["100"] == doc["rows"][0]["ops"]["100"]


def test_with_a_user_di_the_swap_accounting_ranks_first(tmp_path):
    path = tmp_path / "w.json"
    r = emu("whatif", "mmap1_processes", *SHORT, "--speedup", "100", "--di", GOOD,
            "--json", str(path))
    assert r.returncode == 0, r.stderr
    doc = json.loads(path.read_text())
    assert doc["strategies"]["di"] == GOOD
    assert doc["rows"][0]["label"] == "lock sw_dev_mtx"
    assert doc["rows"][0]["gain_pct"]["100"] > 10.0


def test_bad_input_is_one_line():
    for args in (["--speedup", "0"], ["--speedup", "x"], ["--kinds", "queues"],
                 ["-s", "0"], ["-j", "0"]):
        r = emu("whatif", "mmap1_processes", *args)
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, (args, r.stderr)
