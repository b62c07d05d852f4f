"""What the emulated kernel of one run consists of: its locks and its processes.

The supervisor builds it before forking, so the actor and every CPU process agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from emu.kernel.locks import LockTable
from emu.kernel.proc import Proc, make_procs


@dataclass
class KernelConfig:
    locks: LockTable
    procs: list[Proc]        # the process of each task
    invl_gen_mtx: int        # lock ids the kernel paths name directly


def build_kernel(mode: str, tasks: int) -> KernelConfig:
    locks = LockTable()
    invl_gen_mtx = locks.add("invl_gen_mtx")
    procs = make_procs(mode, tasks, locks)
    return KernelConfig(locks=locks, procs=procs, invl_gen_mtx=invl_gen_mtx)
