"""Strategies from a user's file: `--di ./my_di.py` (and `--swap`, `--ucred`).

A strategy file is a Python module written against its kind's Protocol (the package
docstring of emu/kernel/di, swap or ucred; `emu list --interface KIND`;
docs/strategies-guide.md): the FreeBSD hooks as generator functions, `configure(kc)`, and
for DI `invl_model()`.  It reaches the kernel only through what its hooks yield, the kernel
calls a strategy may make, and nothing else:

    Cycles(n)              local work on this CPU
    Lock(id, caller)       mtx_lock / mtx_unlock of a mutex it declared (kc.add_lock), or
    Unlock(id, caller)     one another part of the kernel declared (its id in kc.ids)
    Read/Write/Rmw(line)   a load, a store, an atomic on a named line (kc.lines.add), or on
                           None: a line only this CPU ever holds
    Call(kid)              a kernel call it registered with gcall(): a path that runs in the
                           kernel actor, on the strategy's shared state (init_state(ks))

Every emulated CPU is its own process, so shared state anywhere else would silently be one
copy per CPU.  So a file is refused, with one line naming the file and the line, if it
imports anything but the strategy vocabulary (ALLOWED), declares `global` or `nonlocal`,
keeps a mutable value at module or class level, or calls a builtin that reaches outside
(open, exec, setattr, ...); and its hooks see a narrow `k` (StrategyCtx): k.cost, k.cpu,
k.td.cpu, k.td.task, k.td.pcpu (this CPU's own data), k.td.kernel.ids (read only) and
k.td.kernel.di/.swap/.ucred (to delegate, as the swap strategies call ucred.cred_read).
Anything else raises StrategyFault.  Before a run, every hook is driven once on a recording
CPU (dry_run): a hook that raises, touches what it may not, yields something that is not a
request or names an undeclared lock or line, or does not return within DRY_RUN_REQUESTS
requests or DRY_RUN_S seconds is refused in one line, before any process is forked.

A file is loaded once per process (by its resolved path), before the supervisor forks, so
the kernel calls it registers have the same ids in the actor and every CPU process.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import signal
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from emu.kernel import kcalls
from emu.kernel.kthread import KCtx
from emu.kernel.locks import LockTable
from emu.kernel.run_local import run_local

# What a strategy file may import: module -> names ("*": any).
ALLOWED: dict[str, tuple[str, ...]] = {
    "__future__": ("*",),
    "typing": ("*",),
    "collections.abc": ("*",),
    "math": ("*",),
    "emu.kernel.kthread": ("Call", "Cycles", "KCtx", "KPath", "Lock", "Read", "Rmw",
                           "Unlock", "Write", "gcall"),
    "emu.kernel.kcalls": ("caller",),
    "emu.kernel.invl": ("GenInvl",),
    "emu.kernel.swap_pager": ("swap_counters_configure", "swap_fetchadd"),
    "emu.kernel.di": ("InvlModel", "DiStrategy"),
    "emu.kernel.swap": ("SwapStrategy",),
    "emu.kernel.ucred": ("UcredStrategy",),
}
# Builtins that reach outside the strategy's interface.
FORBIDDEN_CALLS = ("open", "exec", "eval", "compile", "__import__", "globals", "vars",
                   "setattr", "delattr", "input", "breakpoint", "exit", "quit")
# Calls whose value may be kept at module level: the vocabulary's constructors, immutables.
CONSTANT_CALLS = ("caller", "gcall", "int", "float", "str", "tuple", "frozenset", "bool",
                  "range")
DRY_RUN_REQUESTS = 10_000   # one hook call yielding more than this does not return
DRY_RUN_S = 5.0             # nor one that runs longer (a loop that yields nothing)
DRY_RUN_BYTES = 128 << 20   # a swap hook's size in the dry run: mmap1's mapping
_EMU_DIR = str(Path(__file__).resolve().parent.parent)   # frames of emu itself


class StrategyFault(ValueError):
    """A strategy file that cannot be used: one line, naming the file (exit status 2)."""


def is_path(name: str) -> bool:
    """Whether a strategy name is a file: `./my_di.py`, `dir/x.py`, `/abs/x.py`."""
    return name.endswith(".py") or "/" in name


# ------------------------------------------------------------------ the lint

def _where(path: str, node: ast.AST | None) -> str:
    line = getattr(node, "lineno", None)
    return f"{path}:{line}" if line else path


def _is_constant(node: ast.AST) -> bool:
    """A value a module may keep: literals, tuples and frozensets of them, names (aliases of
    functions and classes), arithmetic, and calls in CONSTANT_CALLS."""
    if isinstance(node, (ast.Constant, ast.Name, ast.Attribute, ast.Lambda)):
        return True
    if isinstance(node, ast.Tuple):
        return all(_is_constant(e) for e in node.elts)
    if isinstance(node, ast.BinOp):
        return _is_constant(node.left) and _is_constant(node.right)
    if isinstance(node, ast.UnaryOp):
        return _is_constant(node.operand)
    if isinstance(node, ast.Call):
        fn = node.func
        name = fn.id if isinstance(fn, ast.Name) else None
        return name in CONSTANT_CALLS and all(_is_constant(a) for a in node.args) and all(
            _is_constant(k.value) for k in node.keywords)
    return False


def _check_state(path: str, body: list[ast.stmt], where: str) -> None:
    """No mutable value kept at module or class level (per CPU process, not shared)."""
    for stmt in body:
        value = None
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            value = stmt.value
        if value is not None and not _is_constant(value):
            raise StrategyFault(
                f"{_where(path, stmt)}: {where} keeps {ast.unparse(value)[:40]!r}, a value "
                "that can change: each CPU is its own process, so it would be one copy per "
                "CPU, not shared (keep shared state in a kernel call's init_state, per-CPU "
                "state in k.td.pcpu)")
        if isinstance(stmt, ast.ClassDef):
            _check_state(path, stmt.body, f"class {stmt.name}")


def _check_import(path: str, node: ast.Import | ast.ImportFrom) -> None:
    allowed = ", ".join(ALLOWED)
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name not in ALLOWED or ALLOWED[alias.name] != ("*",):
                raise StrategyFault(f"{_where(path, node)}: imports {alias.name}: a strategy "
                                    f"may import only from {allowed}")
        return
    if node.level:
        raise StrategyFault(f"{_where(path, node)}: a relative import: a strategy may import "
                            f"only from {allowed}")
    names = ALLOWED.get(node.module or "")
    if names is None:
        raise StrategyFault(f"{_where(path, node)}: imports {node.module}: a strategy may "
                            f"import only from {allowed}")
    for alias in node.names:
        if names != ("*",) and alias.name not in names:
            raise StrategyFault(f"{_where(path, node)}: imports {alias.name} from "
                                f"{node.module}: a strategy may use only "
                                f"{', '.join(names)} from it")


def lint(path: str, source: str) -> ast.Module:
    """The file's syntax tree, or StrategyFault (one line) for what a strategy may not do."""
    try:
        tree = ast.parse(source, path)
    except SyntaxError as exc:
        raise StrategyFault(f"{path}:{exc.lineno}: {exc.msg}") from None
    _check_state(path, tree.body, "the module")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            _check_import(path, node)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            word = "global" if isinstance(node, ast.Global) else "nonlocal"
            raise StrategyFault(
                f"{_where(path, node)}: `{word} {', '.join(node.names)}`: each CPU is its own "
                "process, so a variable a hook changes is one copy per CPU, not shared "
                "(keep shared state in a kernel call's init_state, per-CPU state in "
                "k.td.pcpu)")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in FORBIDDEN_CALLS):
            raise StrategyFault(f"{_where(path, node)}: calls {node.func.id}(): outside the "
                                "strategy interface")
    return tree


def defined_functions(path: str) -> set[str]:
    """The names of the functions a strategy file defines at module level (its hooks among
    them), read without running it; StrategyFault if it cannot be read or parsed."""
    try:
        source = Path(path).expanduser().read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise StrategyFault(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
                            ) from None
    try:
        tree = ast.parse(source, path)
    except SyntaxError as exc:
        raise StrategyFault(f"{path}:{exc.lineno}: {exc.msg}") from None
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


# ------------------------------------------------------------------ what a hook sees

class _ReadOnly:
    """A namespace a hook may read (kc.ids) but not change."""

    __slots__ = ("_ns", "_path")

    def __init__(self, ns: Any, path: str) -> None:
        object.__setattr__(self, "_ns", ns)
        object.__setattr__(self, "_path", path)

    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(self._ns, name)
        except AttributeError:
            raise StrategyFault(f"{self._path}: reads kc.ids.{name}, which nothing "
                                "declared") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise StrategyFault(f"{self._path}: a hook sets kc.ids.{name}: ids are declared in "
                            "configure(kc), before the CPUs start")


def _outside(path: str, what: str) -> StrategyFault:
    return StrategyFault(f"{path}: touches {what}, outside the strategy interface (k.cost, "
                         "k.cpu, k.td.cpu, k.td.task, k.td.pcpu, k.td.kernel.ids, "
                         "k.td.kernel.di/swap/ucred)")


class _KernelView:
    __slots__ = ("_kernel", "_path", "ids")

    def __init__(self, kernel: Any, path: str) -> None:
        self._kernel = kernel
        self._path = path
        self.ids = _ReadOnly(kernel.ids, path)

    def __getattr__(self, name: str) -> Any:
        if name in ("di", "swap", "ucred"):
            return getattr(self._kernel, name)
        raise _outside(self._path, f"k.td.kernel.{name}")


class _TdView:
    __slots__ = ("_td", "_path", "kernel")

    def __init__(self, td: Any, path: str) -> None:
        self._td = td
        self._path = path
        self.kernel = _KernelView(td.kernel, path)

    @property
    def cpu(self) -> int:
        return self._td.cpu

    @property
    def task(self) -> int:
        return self._td.task

    @property
    def pcpu(self) -> SimpleNamespace:
        """This CPU's own data (struct pcpu): a strategy's per-CPU state."""
        return self._td.pcpu

    def __getattr__(self, name: str) -> Any:
        raise _outside(self._path, f"k.td.{name}")


class StrategyCtx:
    """The `k` a user hook gets: the parts of KCtx a strategy may use."""

    __slots__ = ("_k", "_path", "td")

    def __init__(self, k: Any, path: str) -> None:
        self._k = k
        self._path = path
        self.td = _TdView(k.td, path)

    @property
    def cost(self) -> SimpleNamespace:
        return self._k.cost

    @property
    def cpu(self) -> int:
        return self._k.cpu

    def __getattr__(self, name: str) -> Any:
        raise _outside(self._path, f"k.{name}")


class _Declarer:
    """The `kc` a user's configure(kc) gets: declare locks and lines, publish their ids."""

    __slots__ = ("_kc", "_path", "ids", "lines")

    def __init__(self, kc: Any, path: str) -> None:
        self._kc = kc
        self._path = path
        self.ids = _Ids(kc.ids, path)
        self.lines = _Lines(kc.lines)

    def add_lock(self, name: str, spin: bool = False) -> int:
        return self._kc.add_lock(name, spin)

    def lock_line(self, lock: int) -> int:
        return self._kc.lock_line(lock)

    def __getattr__(self, name: str) -> Any:
        raise StrategyFault(f"{self._path}: configure touches kc.{name}: it may only "
                            "kc.add_lock, kc.lines.add, kc.lock_line and set kc.ids")


class _Lines:
    __slots__ = ("_lines",)

    def __init__(self, lines: Any) -> None:
        self._lines = lines

    def add(self, name: str) -> int:
        return self._lines.add(name)


class _Ids:
    """kc.ids for configure: a new name may be set, another part's left alone."""

    __slots__ = ("_ns", "_path", "_mine")

    def __init__(self, ns: Any, path: str) -> None:
        object.__setattr__(self, "_ns", ns)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_mine", set())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ns, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self._ns, name) and name not in self._mine:
            raise StrategyFault(f"{self._path}: configure sets kc.ids.{name}, which another "
                                "part of the kernel declared")
        self._mine.add(name)
        setattr(self._ns, name, value)


# ------------------------------------------------------------------ loading

_LOADED: dict[tuple[str, str], tuple[ModuleType, ModuleType]] = {}  # (kind, path) -> both


def _hook_entry(path: str, hook: Callable) -> Callable:
    """What the kernel calls for a user hook: the user's generator, given a StrategyCtx.
    A plain function returning it, so the generator chain (and a --profile) is as if the
    kernel called the hook itself."""
    def entry(k, *args):
        return hook(StrategyCtx(k, path), *args)

    entry.__name__ = hook.__name__
    entry.__qualname__ = hook.__qualname__
    entry.__doc__ = hook.__doc__
    return entry


def _configure_entry(path: str, configure: Callable) -> Callable:
    def entry(kc) -> None:
        try:
            configure(_Declarer(kc, path))
        except StrategyFault:
            raise
        except Exception as exc:
            raise StrategyFault(f"{path}: configure raised {_why(exc)}") from None

    return entry


def _line_of(exc: BaseException) -> str:
    """`, line 12`: the last line of the user's file in exc's traceback, if any."""
    tb, line = exc.__traceback__, None
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_EMU_DIR):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f", line {line}" if line else ""


def _why(exc: BaseException) -> str:
    """`ZeroDivisionError: division by zero (line 12)`: the line in the user's file."""
    text = f"{exc.__class__.__name__}: {exc}".splitlines()[0]
    line = _line_of(exc)
    return f"{text} ({line[2:]})" if line else text


def _exec(path: str, resolved: Path, kind: str, source: str, tree: ast.Module) -> ModuleType:
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    name = f"emu_strategy_file_{kind}_{resolved.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module     # a registered kernel call names its module
    try:
        with _deadline(DRY_RUN_S, f"{path}: loading it did not finish within "
                                  f"{DRY_RUN_S:g} s"):
            exec(compile(tree, str(resolved), "exec"), module.__dict__)
    except StrategyFault:
        del sys.modules[name]
        raise
    except Exception as exc:
        del sys.modules[name]
        raise StrategyFault(f"{path}: raised {_why(exc)} while loading") from None
    return module


def load(kind: str, path: str, check: Callable[[str, ModuleType], ModuleType],
         hooks: tuple[str, ...], others: dict[str, ModuleType]) -> ModuleType:
    """The strategy of `kind` in file `path`, as the kernel uses it (hooks behind
    StrategyCtx, configure behind the declarer), or StrategyFault in one line.  `check` is
    emu.kernel.strategies.check_interface; `others` the default module of every other kind,
    for the dry run.  Each file is loaded once per process."""
    resolved = Path(path).expanduser().resolve()
    key = (kind, str(resolved))
    if key in _LOADED:
        return _LOADED[key][1]
    if resolved.suffix != ".py":
        raise StrategyFault(f"{path}: a strategy file is a Python file (.py)")
    try:
        source = resolved.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise StrategyFault(f"cannot read {kind} strategy {path}: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None
    tree = lint(path, source)
    module = _exec(path, resolved, kind, source, tree)
    try:
        check(kind, module)
    except ValueError as exc:   # its messages name the module: here the file names it
        raise StrategyFault(f"{path}: {str(exc).replace(' ' + module.__name__, '')}") from None
    used = types.ModuleType(module.__name__, module.__doc__)
    used.__file__ = str(resolved)
    for attr, value in vars(module).items():
        if not attr.startswith("__"):
            setattr(used, attr, value)
    for hook in hooks:
        setattr(used, hook, _hook_entry(path, getattr(module, hook)))
    used.configure = _configure_entry(path, module.configure)
    used.DEFAULT = False
    used.NEEDS_EPOCH = False   # epoch(9) records are not in the strategy interface
    dry_run(kind, path, used, hooks, others)
    _LOADED[key] = (module, used)
    return used


# ------------------------------------------------------------------ the dry run

class _Declarations:
    """A kernel's declarations for the dry run (what KernelConfig offers configure)."""

    def __init__(self) -> None:
        self.locks = LockTable()
        self.lines = SimpleNamespace(names=[], add=self._add_line)
        self.ids = SimpleNamespace()
        self.spin_locks: set[str] = set()

    def _add_line(self, name: str) -> int:
        if name not in self.lines.names:
            self.lines.names.append(name)
        return self.lines.names.index(name)

    def add_lock(self, name: str, spin: bool = False) -> int:
        if spin:
            self.spin_locks.add(name)
        lock = self.locks.add(name)
        self._add_line(f"{name} (lock word)")
        return lock

    def lock_line(self, lock: int) -> int:
        return self._add_line(f"{self.locks.names[lock]} (lock word)")


class _Runaway(Exception):
    pass


class _DryTd:
    """A CPU that records nothing but checks every request against the declarations."""

    def __init__(self, decl: _Declarations, modules: dict[str, ModuleType], cost,
                 path: str) -> None:
        self.cpu = self.task = 0
        self.kernel = SimpleNamespace(ids=decl.ids, **modules)
        self.cost = cost
        self.pcpu = SimpleNamespace()
        self.decl = decl
        self.path = path
        self.requests = 0
        self.held: list[int] = []

    def _count(self) -> None:
        self.requests += 1
        if self.requests > DRY_RUN_REQUESTS:
            raise _Runaway

    def _line(self, line: Any, op: str) -> None:
        self._count()
        if not isinstance(line, int) or not 0 <= line < len(self.decl.lines.names):
            raise StrategyFault(f"{self.path}: {op}({line!r}) names no line declared with "
                                "kc.lines.add (or None, a line only this CPU holds)")

    def _lock(self, lock: Any, op: str) -> None:
        self._count()
        if not isinstance(lock, int) or not 0 <= lock < len(self.decl.locks):
            raise StrategyFault(f"{self.path}: {op}({lock!r}) names no lock declared with "
                                "kc.add_lock")

    def cycles(self, n: Any) -> None:
        self._count()
        if not isinstance(n, (int, float)) or n < 0:
            raise StrategyFault(f"{self.path}: Cycles({n!r}): cycles are a number >= 0")

    def read(self, line: Any) -> None:
        self._line(line, "Read")

    def write(self, line: Any) -> None:
        self._line(line, "Write")

    def atomic(self, line: Any) -> None:
        self._line(line, "Rmw")

    def mtx_lock(self, lock: Any, caller: int = 0) -> None:
        self._lock(lock, "Lock")
        self.held.append(lock)

    def mtx_unlock(self, lock: Any, caller: int = 0) -> None:
        self._lock(lock, "Unlock")
        if lock not in self.held:
            raise StrategyFault(f"{self.path}: Unlock({lock}) of a lock it does not hold")
        self.held.remove(lock)

    def call(self, kid: Any, *args: Any) -> None:
        self._count()
        if not isinstance(kid, int) or not 0 <= kid < len(kcalls.HANDLERS):
            raise StrategyFault(f"{self.path}: Call({kid!r}) names no kernel call "
                                "registered with gcall()")

    def off_cpu(self, cycles: int) -> None:
        self._count()


class _deadline:
    """SIGALRM after `seconds` raises StrategyFault(message): a loop that never yields.
    Only in the main thread (signals are delivered there); elsewhere no bound."""

    def __init__(self, seconds: float, message: str) -> None:
        self.seconds, self.message = seconds, message
        self.armed = threading.current_thread() is threading.main_thread()
        self.old = None

    def _fire(self, signum, frame) -> None:
        raise StrategyFault(self.message)

    def __enter__(self) -> None:
        if self.armed:
            self.old = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)


def dry_run(kind: str, path: str, module: ModuleType, hooks: tuple[str, ...],
            others: dict[str, ModuleType]) -> None:
    """Drive each hook of `module` twice, in order, on a recording CPU; StrategyFault (one
    line) if one raises, touches what it may not, yields something that is not a CPU's
    request, names what nothing declared, unlocks what it does not hold, or does not
    return."""
    from emu.hw.machine import cost_table, load_machine

    decl = _Declarations()
    modules = {k: m for k, m in others.items() if k != kind}
    modules[kind] = module
    for k, m in modules.items():
        if k != kind:
            m.configure(decl)
    module.configure(decl)
    td = _DryTd(decl, modules, cost_table(load_machine()), path)
    k = KCtx(td.cost, td.cpu, None, td=td)
    args = (DRY_RUN_BYTES,) if kind == "swap" else ()
    for _ in range(2):
        for hook in hooks:
            td.requests = 0
            try:
                with _deadline(DRY_RUN_S, f"{path}: {hook} did not return within "
                                          f"{DRY_RUN_S:g} s"):
                    gen = getattr(module, hook)(k, *args)
                    if not isinstance(gen, types.GeneratorType):
                        raise StrategyFault(f"{path}: {hook} must be a generator function")
                    run_local(td, gen)
            except StrategyFault as exc:
                if hook in str(exc):
                    raise
                raise StrategyFault(f"{exc} (in {hook}{_line_of(exc)})") from None
            except _Runaway:
                raise StrategyFault(f"{path}: {hook} did not return within "
                                    f"{DRY_RUN_REQUESTS} requests") from None
            except RuntimeError as exc:
                if "needs the kernel actor" in str(exc):
                    raise StrategyFault(f"{path}: {hook} yields {str(exc).split(' needs')[0]},"
                                        " not a CPU's request (Cycles, Lock, Unlock, Read, "
                                        "Write, Rmw, Call)") from None
                raise StrategyFault(f"{path}: {hook} raised {_why(exc)}") from None
            except Exception as exc:
                raise StrategyFault(f"{path}: {hook} raised {_why(exc)}") from None

