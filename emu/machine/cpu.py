"""The body of one emulated CPU's process: connect to the actor, run the task's testcase."""

from __future__ import annotations

import os
import signal

import zmq

from emu.clock import clock_module
from emu.counters import CounterBoard
from emu.cpu.libc import Ctx
from emu.cpu.td import RunEnded
from emu.machine.children import Stopped, become_child, report_failure, save_on_sigterm
from emu.protocol import HELLO, pack


def cpu_main(spec, task: int, board: CounterBoard, supervisor_pid: int,
             digest: str) -> None:
    """`digest`: the kernel-call registry's (kcalls.registry_digest), which HELLO carries,
    computed by the supervisor before the fork: this process is its image, and computing it
    here would read every kernel call's names, copying ~0.2 MiB of shared pages."""
    become_child(supervisor_pid)
    cpu = spec.cpus[task]
    name = f"cpu{cpu}"
    zmq_context = zmq.Context(io_threads=1)
    sock = zmq_context.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, str(cpu).encode())
    sock.setsockopt(zmq.LINGER, 0)
    code = 0
    td = None
    if spec.profile:
        save_on_sigterm()
    try:
        sock.connect(spec.endpoint)
        td = clock_module(spec.clock, spec.profile).make_td(spec, task, sock, board)
        sock.send(pack(HELLO, cpu, digest))
        try:
            spec.testcase.module.testcase(Ctx(td, spec.kernel.procs[task], task, spec.cpus))
        except RunEnded:
            pass
        td.finish()
    except Stopped:  # the run was interrupted: keep what was measured
        pass
    except AssertionError as exc:
        report_failure(spec.rundir, name, f"CPU {cpu}: testcase assertion failed {exc}".strip())
        code = 1
    except Exception as exc:  # one line for the supervisor, never a traceback
        report_failure(spec.rundir, name, f"CPU {cpu}: {exc.__class__.__name__}: {exc}")
        code = 1
    finally:
        if spec.profile and td is not None:
            # The supervisor's SIGTERM comes as soon as the actor has left, and must not cut
            # the file short: held back from here to the exit (nothing more to keep).  One
            # that came just before is spent here (its handler blocked the next), inside the
            # try that catches it.
            try:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            except Stopped:
                pass
            try:
                td.save_profile(spec.rundir, spec.testcase.name)
            except OSError:
                pass
        sock.close(0)
        zmq_context.term()
    os._exit(code)
