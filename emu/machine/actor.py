"""The kernel-state actor: the one owner of shared kernel state, behind a ROUTER socket."""

from __future__ import annotations

import os

import zmq

from emu.clock import clock_module
from emu.counters import CounterBoard
from emu.machine.children import Stopped, become_child, report_failure, save_on_sigterm


def actor_main(spec, board: CounterBoard, supervisor_pid: int) -> None:
    become_child(supervisor_pid)
    zmq_context = zmq.Context(io_threads=1)
    router = zmq_context.socket(zmq.ROUTER)
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # an unreachable CPU is an error, not a drop
    router.setsockopt(zmq.LINGER, 0)
    code = 0
    if spec.profile:
        save_on_sigterm()  # an interrupted run still leaves its profile
    try:
        router.bind(spec.endpoint)

        def alive() -> bool:
            return os.getppid() == supervisor_pid

        clock_module(spec.clock, spec.profile).serve(router, spec, board, alive)
    except Stopped:
        pass
    except zmq.ZMQError as exc:
        report_failure(spec.rundir, "actor", f"kernel actor: {exc}")
        code = 1
    except Exception as exc:
        report_failure(spec.rundir, "actor", f"kernel actor: {exc.__class__.__name__}: {exc}")
        code = 1
    finally:
        router.close(0)
        zmq_context.term()
    os._exit(code)
