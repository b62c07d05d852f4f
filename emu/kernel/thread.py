"""A thread as the kernel model sees it: what a mutex, a kernel path or a sequencer may read
or change of it (FreeBSD's struct thread, the parts the model keeps)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Thread(Protocol):
    """What the kernel model needs of a thread: the engine's Thread, a kernel thread in the
    actor (task None), the reference's and the wall clock's stand-ins (ModelThread)."""

    cpu: int
    task: int | None
    held: int               # LOCK ops without their UNLOCK (a CPU stops only at zero)
    holding: list           # the mutexes it owns (TD_IS_RUNNING matters to their waiters)
    offcpu: bool
    args: list[int]         # ARG operands of its next kernel call
    on_resume: Callable[[int], None] | None  # a blocked kernel path's continuation
    awaiting_acks: int      # IPIs it sent whose ACK has not come
    drain: int              # when its buffered stores are done (Coherence.store)


class ModelThread:
    """The Thread every sequencer uses: the base of the engine's Thread, the actor's kernel
    threads and the other sequencers' stand-ins."""

    __slots__ = ("cpu", "task", "held", "offcpu", "holding", "args", "on_resume",
                 "awaiting_acks", "drain")

    def __init__(self, cpu: int, task: int | None) -> None:
        self.cpu = cpu
        self.task = task              # None: a kernel thread with no CPU process
        self.held = 0                 # LOCK ops without their UNLOCK
        self.offcpu = False
        self.holding: list = []       # the mutexes it owns
        self.args: list[int] = []     # ARG operations before a kernel call
        self.on_resume = None
        self.awaiting_acks = 0
        self.drain = 0                # when its buffered stores are done (Coherence.store)
