"""Strategies from a user's file (emu/kernel/strategy_file.py): a good one loads and runs
as a kernel path; a bad one is refused in one line naming the file, before any run: one
that does not define its interface, raises, reaches outside the strategy interface (Python
state that would be one copy per CPU process, the Td's other parts), yields what is not a
request, names an undeclared lock or line, or does not return."""

from __future__ import annotations

import textwrap
import types
from pathlib import Path

import pytest

from emu.kernel import strategy_file
from emu.kernel.config import build_kernel
from emu.kernel.kthread import KCtx
from emu.kernel.run_local import run_local
from emu.kernel.strategies import StrategyError, choose, kind_of_file, strategy

ROOT = Path(__file__).resolve().parents[2]
GOOD = str(ROOT / "examples" / "strategies" / "di_pcpu_count.py")
LAZY = str(ROOT / "examples" / "strategies" / "di_pcpu_lazy.py")

DI = '''\
from emu.kernel.kthread import Cycles, KCtx, KPath, Lock, Rmw, Unlock
{top}

def configure(kc):
    {configure}

def pmap_delayed_invl_started(k):
    {started}

def pmap_delayed_invl_finished(k):
    yield Rmw(None)

class Model:
    spin = True
    def enter(self, cpu): pass
    def exit(self, cpu): return False
    def page(self, cpu, m): pass
    def wait_for(self, m): return None
    def done(self, token): return True

def invl_model():
    return Model()
'''


def di_file(tmp_path: Path, top: str = "", configure: str = "pass",
            started: str = "yield Cycles(k.cost.l1_hit)", name: str = "my_di.py") -> str:
    path = tmp_path / name
    path.write_text(DI.format(top=top, configure=configure,
                              started=textwrap.indent(started, "    ").lstrip()))
    return str(path)


# ------------------------------------------------------------------ a good file


def test_a_good_file_is_chosen_by_its_path_and_loaded_once():
    assert choose(di=GOOD)["di"] == GOOD
    assert strategy("di", GOOD) is strategy("di", GOOD)
    assert kind_of_file(GOOD) == "di"
    assert strategy_file.is_path(GOOD) and not strategy_file.is_path("mutex")


def test_its_hooks_run_as_kernel_paths_on_a_cpu():
    kc = build_kernel("processes", [0], {"di": GOOD})
    log = []

    class Td:
        cpu = task = 0
        kernel = kc
        cost = types.SimpleNamespace(atomic_local=7, l1_hit=1)
        pcpu = types.SimpleNamespace()
        vm = rng = None

        def cycles(self, n):
            log.append(("cycles", n))

    td = Td()
    k = KCtx(td.cost, td.cpu, None, td=td)
    run_local(td, kc.di.pmap_delayed_invl_started(k))
    run_local(td, kc.di.pmap_delayed_invl_finished(k))
    assert log == [("cycles", 7), ("cycles", 1), ("cycles", 7)]   # Rmw(None): a local atomic
    model = kc.di.invl_model()
    model.enter(3)
    token = model.wait_for(None)
    assert not model.done(token)
    model.exit(3)
    assert model.done(token)


def test_a_swap_file_may_delegate_to_the_ucred_strategy(tmp_path):
    path = tmp_path / "my_swap.py"
    path.write_text(textwrap.dedent('''\
        from emu.kernel.kthread import Rmw

        def configure(kc):
            kc.ids.my_reserved = kc.lines.add("my swap_reserved")

        def swap_reserve_by_cred(k, incr):
            yield from k.td.kernel.ucred.cred_read(k)
            yield Rmw(k.td.kernel.ids.my_reserved)

        def swap_release_by_cred(k, decr):
            yield Rmw(k.td.kernel.ids.my_reserved)
        '''))
    assert kind_of_file(str(path)) == "swap"
    kc = build_kernel("processes", [0, 1], {"swap": str(path)})
    assert "my swap_reserved" in kc.lines.names


# ------------------------------------------------------------------ bad files

BAD = {
    "missing hook": (dict(), "does not define pmap_delayed_invl_finished"),
    "raises loading": (dict(top="X = 1 // 0"), "raised ZeroDivisionError"),
    "global": (dict(top="N = 0", started="global N\nN += 1\nyield Cycles(1)"), "`global N`"),
    "module list": (dict(top="SEEN = []"), "one copy per CPU"),
    "import os": (dict(top="import os"), "imports os"),
    "import state": (dict(top="from emu.kernel.state import KernelState"),
                     "imports emu.kernel.state"),
    "open()": (dict(started="open('/etc/hostname')\nyield Cycles(1)"), "calls open()"),
    "hook raises": (dict(started="yield Cycles(1 // (k.cpu - k.cpu))"),
                    "pmap_delayed_invl_started raised ZeroDivisionError"),
    "touches td.vm": (dict(started="yield Cycles(len(k.td.vm.entries))"), "touches k.td.vm"),
    "touches k.ks": (dict(started="yield Cycles(k.ks.events)"), "touches k.ks"),
    "sets an id": (dict(started="k.td.kernel.ids.mine = 1\nyield Cycles(1)"),
                   "a hook sets kc.ids.mine"),
    "never returns": (dict(started="while True:\n    yield Cycles(1)"),
                      "did not return within 10000 requests"),
    "not a request": (dict(started="yield 5"), "yields 5, not a CPU's request"),
    "undeclared lock": (dict(started="yield Lock(999)\nyield Unlock(999)"),
                        "Lock(999) names no lock"),
    "undeclared line": (dict(started="yield Rmw(123456)"), "Rmw(123456) names no line"),
    "not a generator": (dict(started="return None"), "must be a generator function"),
    "clobbers an id": (dict(configure="kc.ids.ucred = 0"), "which another part of the kernel"),
    "syntax": (dict(top="def broken(:"), "my_di.py:2:"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_file_is_refused_in_one_line(tmp_path, case):
    fields, expected = BAD[case]
    path = di_file(tmp_path, **fields)
    if case == "missing hook":
        path_obj = Path(path)
        path_obj.write_text(path_obj.read_text().replace("def pmap_delayed_invl_finished",
                                                         "def unrelated"))
    with pytest.raises(StrategyError) as err:
        choose(di=path)
    msg = str(err.value)
    assert "\n" not in msg and path in msg and expected in msg, msg


def test_a_loop_that_never_yields_is_cut_off(tmp_path, monkeypatch):
    monkeypatch.setattr(strategy_file, "DRY_RUN_S", 0.2)
    path = di_file(tmp_path, started="while True:\n    pass\nyield Cycles(1)")
    with pytest.raises(StrategyError, match="did not return within 0.2 s"):
        choose(di=path)


def test_a_missing_file_and_a_file_of_no_kind(tmp_path):
    with pytest.raises(StrategyError, match="cannot read"):
        choose(di=str(tmp_path / "nowhere.py"))
    other = tmp_path / "nothing.py"
    other.write_text("def helper():\n    pass\n")
    with pytest.raises(StrategyError, match="defines no strategy's hooks"):
        kind_of_file(str(other))


def test_the_unsafe_example_loads_too():
    """Its fault is in what it promises, which only `emu check` can find."""
    assert choose(di=LAZY)["di"] == LAZY
