"""Strategies as plug-ins: every module found in a kind's package implements its interface,
each DI strategy carries its own guarantee model, a broken module is refused in one line,
and no strategy is named outside its own module."""

from __future__ import annotations

import ast
import inspect
import sys
import types
from pathlib import Path

import pytest

from emu.epoch import Epoch
from emu.kernel.config import build_kernel
from emu.kernel.di import InvlModel
from emu.kernel.kthread import Call, Cycles, Lock, Read, Rmw, Unlock, Write
from emu.kernel.run_local import run_local
from emu.kernel.strategies import (
    DEFAULTS,
    KINDS,
    MODULES,
    STRATEGIES,
    StrategyError,
    check_interface,
    choose,
    members,
    protocol,
    strategy,
)
from emu.kernel.vm_state import local_ctx

ROOT = Path(__file__).resolve().parents[2]
DISCOVERED = [(kind, name) for kind in KINDS for name in STRATEGIES[kind]]
IDS = [f"{kind}-{name}" for kind, name in DISCOVERED]


def test_discovery_finds_the_packages_modules():
    for kind in KINDS:
        files = sorted(p.stem for p in (ROOT / "emu" / "kernel" / kind).glob("*.py")
                       if not p.stem.startswith("_"))
        assert sorted(STRATEGIES[kind]) == files
        assert set(MODULES[kind]) == set(files)


def test_each_kind_has_one_default_listed_first():
    for kind in KINDS:
        marked = [n for n, m in MODULES[kind].items() if getattr(m, "DEFAULT", False)]
        assert marked == [DEFAULTS[kind]]
        assert STRATEGIES[kind][0] == DEFAULTS[kind]
        assert list(STRATEGIES[kind][1:]) == sorted(STRATEGIES[kind][1:])
    assert choose() == DEFAULTS


@pytest.mark.parametrize(("kind", "name"), DISCOVERED, ids=IDS)
def test_every_discovered_strategy_implements_its_interface(kind, name):
    module = MODULES[kind][name]
    assert check_interface(kind, module) is module
    assert strategy(kind, name) is module
    assert isinstance(module, protocol(kind))       # the Protocol is runtime_checkable
    hooks = sys.modules[f"emu.kernel.{kind}"].HOOKS
    assert set(hooks) <= set(members(kind))
    for hook in hooks:
        assert inspect.isgeneratorfunction(getattr(module, hook)), hook
    assert "configure" in members(kind)


@pytest.mark.parametrize("name", STRATEGIES["di"])
def test_every_di_strategy_has_its_guarantee_model(name):
    module = MODULES["di"][name]
    model = module.invl_model()
    assert isinstance(model, InvlModel)
    assert model is not module.invl_model()       # fresh per run
    page = types.SimpleNamespace(invl_gen=0)
    model.enter(3)
    model.page(3, page)                           # the section unmaps the page
    token = model.wait_for(page)
    model.exit(3)
    assert model.done(token)                      # a wait ends once the section is over
    assert isinstance(model.spin, bool)


def _fake(kind: str, leave_out: str | None = None, **override) -> types.ModuleType:
    fake = types.ModuleType(f"fake_{kind}")

    def gen(*args):
        yield Cycles(1)

    for attr in members(kind):
        setattr(fake, attr, gen if attr in sys.modules[f"emu.kernel.{kind}"].HOOKS
                else (lambda *a: None))
    if leave_out is not None:
        delattr(fake, leave_out)
    for k, v in override.items():
        setattr(fake, k, v)
    return fake


@pytest.mark.parametrize("kind", KINDS)
def test_a_complete_fake_module_passes(kind):
    assert check_interface(kind, _fake(kind)) is not None


@pytest.mark.parametrize(("kind", "attr"),
                         [(k, a) for k in KINDS for a in members(k)],
                         ids=[f"{k}-{a}" for k in KINDS for a in members(k)])
def test_a_module_missing_part_of_its_interface_fails_in_one_line(kind, attr):
    with pytest.raises(StrategyError) as err:
        check_interface(kind, _fake(kind, leave_out=attr))
    msg = str(err.value)
    assert "\n" not in msg and attr in msg and kind in msg


@pytest.mark.parametrize("kind", KINDS)
def test_a_hook_that_is_not_a_generator_fails_in_one_line(kind):
    hook = sys.modules[f"emu.kernel.{kind}"].HOOKS[0]
    with pytest.raises(StrategyError) as err:
        check_interface(kind, _fake(kind, **{hook: lambda *a: None}))
    assert "\n" not in str(err.value) and hook in str(err.value)


def test_di_without_a_guarantee_model_is_an_error_not_no_invalidation():
    with pytest.raises(StrategyError, match="invl_model"):
        check_interface("di", _fake("di", leave_out="invl_model"))


def test_unknown_kind_and_name_are_strategy_errors():
    with pytest.raises(StrategyError):
        check_interface("nope", _fake("di"))
    with pytest.raises(StrategyError):
        strategy("di", "bogus")
    with pytest.raises(StrategyError):
        choose(di="bogus")


def test_needs_epoch_is_declared_by_the_strategy():
    for name in STRATEGIES["di"]:
        kc = build_kernel("processes", [0, 1], {"di": name})
        assert kc.needs_epoch == (getattr(MODULES["di"][name], "NEEDS_EPOCH", False) is True)
        assert not hasattr(kc.ids, "needs_epoch")
    assert any(build_kernel("processes", [0], {"di": n}).needs_epoch for n in STRATEGIES["di"])


# ------------------------------------------------------------------ the hooks as paths

class RecordingTd:
    """What run_local drives a hook's path on: every Td operation, recorded."""

    def __init__(self, kc) -> None:
        self.cpu = 0
        self.task = 0
        self.kernel = kc
        self.vm = None
        self.rng = None
        self.pcpu = types.SimpleNamespace()
        self.cost = types.SimpleNamespace(atomic_local=7, l1_hit=1, di_critical_section=50,
                                          swap_critical_section=60)
        self.log: list[tuple] = []

    def cycles(self, n):
        self.log.append(("cycles", n))

    def mtx_lock(self, lock, caller=0):
        self.log.append(("lock", lock, caller))

    def mtx_unlock(self, lock, caller=0):
        self.log.append(("unlock", lock, caller))

    def read(self, line):
        self.log.append(("read", line))

    def write(self, line):
        self.log.append(("write", line))

    def atomic(self, line):
        self.log.append(("atomic", line))

    def call(self, kid, *args):
        self.log.append(("call", kid, *args))


def _td(selection: dict[str, str]) -> RecordingTd:
    kc = build_kernel("processes", [0], selection)
    if kc.needs_epoch:
        kc.epoch = Epoch.alloc(bytearray(Epoch.size(1)), 1)
    return RecordingTd(kc)


@pytest.mark.parametrize(("kind", "name"), DISCOVERED, ids=IDS)
def test_every_hook_runs_as_a_kernel_path_on_the_cpu(kind, name):
    td = _td({kind: name})
    module = MODULES[kind][name]
    for hook in sys.modules[f"emu.kernel.{kind}"].HOOKS:
        args = (256 << 20,) if kind == "swap" else ()
        assert run_local(td, getattr(module, hook)(local_ctx(td), *args)) is None
    assert all(op[0] in ("cycles", "lock", "unlock", "read", "write", "atomic", "call")
               for op in td.log)


def test_the_2018_hooks_make_the_operations_they_always_made():
    """di=mutex swap=mutex ucred=shared: the stock kernel's sequence, op for op."""
    td = _td({})
    kc = td.kernel
    ids, di = kc.ids, kc.di
    run_local(td, di.pmap_delayed_invl_started(local_ctx(td)))
    assert td.log == [("lock", ids.invl_gen_mtx, di.STARTED), ("call", di.DI_STARTED),
                      ("cycles", 50), ("unlock", ids.invl_gen_mtx, di.STARTED)]
    td.log.clear()
    run_local(td, kc.swap.swap_reserve_by_cred(local_ctx(td), 4096))
    who = kc.swap.RESERVE
    assert td.log == [("read", ids.ucred), ("lock", ids.sw_dev_mtx, who),
                      ("read", ids.swap_reserved), ("write", ids.swap_reserved),
                      ("cycles", 60), ("unlock", ids.sw_dev_mtx, who),
                      ("lock", ids.ui_vmsize_mtx, who), ("cycles", 60),
                      ("unlock", ids.ui_vmsize_mtx, who)]
    td.log.clear()
    run_local(td, kc.ucred.crhold(local_ctx(td)))
    assert td.log == [("atomic", ids.ucred)]


def test_the_global_swap_atomics_are_shared_not_borrowed():
    """pcpu falls through to the same global counters as atomic, from emu.kernel.swap_pager,
    not from another strategy's privates."""
    src = (ROOT / "emu" / "kernel" / "swap" / "pcpu.py").read_text()
    assert "swap.atomic" not in src and "_account" not in src
    a, p = _td({"swap": "atomic"}), _td({"swap": "pcpu"})
    run_local(a, a.kernel.swap.swap_reserve_by_cred(local_ctx(a), 256 << 20))
    run_local(p, p.kernel.swap.swap_reserve_by_cred(local_ctx(p), 256 << 20))
    ids = a.kernel.ids
    assert a.log == [("read", ids.ucred), ("atomic", ids.swap_reserved),
                     ("atomic", ids.ui_vmsize)]
    assert p.log == [("cycles", 1), *a.log]    # the slop's miss, then the same atomics


def test_the_request_vocabulary_the_hooks_use_exists():
    assert (Call(3).kid, Call(3).args) == (3, ()) and Call(3, (1, 2)).args == (1, 2)
    assert Call(3) == Call(3, ()) and Call(3) != Call(4)
    for cls in (Read, Write, Rmw):
        assert cls(None).line is None
    for cls in (Lock, Unlock):
        assert (cls(None).lock, cls(None).caller) == (None, 0)


# ------------------------------------------------------------------ no names elsewhere

# A word that is also a strategy's name, used in another meaning: (file, word) -> why.
ALLOWED = {
    ("emu/cli.py", "epoch"): "the `emu validate epoch` command",
    ("emu/epoch/ck_epoch.py", "epoch"): "ck_epoch's cache-line names",
    ("emu/report/live.py", "epoch"): "the live snapshot's epoch counters",
    ("emu/stats.py", "epoch"): "the live snapshot's epoch counters",
}
OWN = {ROOT / "emu" / "kernel" / kind for kind in KINDS}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def name_literals(names: set[str]) -> list[tuple[str, int, str]]:
    hits = []
    for path in sorted((ROOT / "emu").rglob("*.py")):
        if any(own in path.parents for own in OWN):
            continue
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(), rel)
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value in names and id(node) not in docs
                    and (rel, node.value) not in ALLOWED):
                hits.append((rel, node.lineno, node.value))
    return hits


def test_the_scan_sees_a_name():
    names = {n for kind in KINDS for n in STRATEGIES[kind]}
    tree = ast.parse('"""mutex"""\nx = "mutex"\n')
    consts = [n for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    assert [c.value for c in consts if id(c) not in _docstrings(tree)] == ["mutex"]
    assert "mutex" in names


def test_no_strategy_is_named_outside_its_own_module():
    names = {n for kind in KINDS for n in STRATEGIES[kind]}
    hits = name_literals(names)
    assert not hits, "strategy names outside their modules (use DEFAULTS, STRATEGIES or a " \
        "declaration in the module):\n" + "\n".join(f"{f}:{line}: {v!r}" for f, line, v in hits)


def test_the_allowlist_is_still_needed():
    """Each allowed word is still there: a stale entry would hide a new use."""
    for (rel, word), _why in ALLOWED.items():
        tree = ast.parse((ROOT / rel).read_text())
        docs = _docstrings(tree)
        assert any(isinstance(n, ast.Constant) and n.value == word and id(n) not in docs
                   for n in ast.walk(tree)), (rel, word)

