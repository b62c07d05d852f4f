"""The kernel-call registry's digest: the same in every process that imported the same
code, sent in HELLO, and a CPU with another registry is refused by the actor."""

from __future__ import annotations

import pytest

from emu.kernel import kcalls
from emu.kernel.kcalls import check_registry, registry_digest
from emu.protocol import HELLO, ProtocolError, pack, unpack


def test_digest_is_stable_and_covers_handlers_and_callers(monkeypatch):
    d = registry_digest()
    assert d == registry_digest() and len(d) == 40
    monkeypatch.setattr(kcalls, "CALLERS", [*kcalls.CALLERS, "some_new_caller"])
    assert registry_digest() != d
    monkeypatch.undo()
    handlers = list(kcalls.HANDLERS)
    monkeypatch.setattr(kcalls, "HANDLERS", handlers[::-1])
    assert registry_digest() != d            # the same calls, other ids
    monkeypatch.undo()
    assert registry_digest() == d


def test_gcall_handlers_are_named_after_their_paths():
    names = [f"{h.__module__}.{h.__qualname__}" for h in kcalls.HANDLERS]
    assert not [n for n in names if "<locals>" in n]
    assert "emu.kernel.di.mutex.di_started_locked" in names


def test_hello_carries_the_digest():
    msg = unpack(pack(HELLO, 3, registry_digest()))
    assert msg[2:] == [3, registry_digest()]
    check_registry(msg[3])
    with pytest.raises(ProtocolError):
        unpack(pack(HELLO, 3))               # the old HELLO, without one


def test_a_mismatch_is_one_clear_line():
    with pytest.raises(ProtocolError) as err:
        check_registry("0" * 40)
    msg = str(err.value)
    assert "registry mismatch" in msg and "\n" not in msg


def test_the_actor_refuses_a_cpu_with_another_registry(monkeypatch):
    """In-process run (the virtual clock's actor): a CPU whose HELLO has another digest
    gets ERROR, and the run fails naming the mismatch."""
    from emu import check
    from emu.clock import inproc
    from emu.scenarios import DEFAULT, scenario

    monkeypatch.setattr(inproc, "registry_digest", lambda: "f" * 40)
    with pytest.raises(inproc.InprocFailed, match="registry mismatch"):
        check.run_trial(scenario(DEFAULT), DEFAULT, "mutex", 1)
