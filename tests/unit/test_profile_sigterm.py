"""--profile under the supervisor's SIGTERM: the CPU's share of a batch the actor ran to the
end is never half kept, wherever the signal lands (emu/clock/profile.py `_batch_done`)."""

from __future__ import annotations

import os
import signal

import pytest

from emu.clock.profile import ProfilingTd
from emu.machine.children import Stopped, save_on_sigterm


class SigtermMidway(dict):
    """A batch's op counts that deliver SIGTERM to this process while being read, as the
    supervisor's can arrive at any moment of the merge."""

    def items(self):
        for i, kv in enumerate(super().items()):
            if i == 1:
                os.kill(os.getpid(), signal.SIGTERM)
            yield kv


@pytest.fixture
def stopped_on_sigterm():
    old = signal.getsignal(signal.SIGTERM)
    save_on_sigterm()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def test_a_sigterm_during_the_merge_waits_until_the_batch_is_all_kept(stopped_on_sigterm):
    td = ProfilingTd.__new__(ProfilingTd)   # its bookkeeping only: no actor, no socket
    ops = SigtermMidway({(1, 10, "f", None): 2, (1, 11, "g", None): 3, (2, 12, "h", None): 4})
    td.pending = {7: ({("f", None): 100}, ops)}
    td.done_local, td.done_ops = {}, {}
    with pytest.raises(Stopped):
        td._batch_done(7, False)
    assert td.done_ops == dict(ops)
    assert td.done_local == {("f", None): 100}
    assert td.pending == {}


def test_stopped_comes_once(stopped_on_sigterm):
    with pytest.raises(Stopped):
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pthread_sigmask(signal.SIG_BLOCK, set())   # a call: where a handler runs
    os.kill(os.getpid(), signal.SIGTERM)                  # held now: what follows is saved
    assert signal.SIGTERM in signal.sigpending()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)         # drop it before the fixture unblocks
