"""will-it-scale's runtest.py CSV, as `emu sweep` prints it.

runtest.py prints

    print 'tasks,processes,processes_idle,threads,threads_idle,linear'
    print '0,0,100,0,100,0'
    print '%d,%d,%0.2f,%d,%0.2f,%d' % (i, processes_avg, processes_idle,
                                       threads_avg, threads_idle, linear * i)

where an average is -1 when the run printed no `average:` line (it failed), the idle
columns are the machine's idle % during that run, and linear = max(processes, threads) at
1 task.  emu prints the same bytes; what its idle % means is in emu/sweep.py.
"""

# The row format is runtest.py's own %-format, kept verbatim.
# ruff: noqa: UP031

from __future__ import annotations

from dataclasses import asdict, dataclass

HEADER = "tasks,processes,processes_idle,threads,threads_idle,linear"
FIRST_ROW = "0,0,100,0,100,0"
FAILED = -1  # runtest.py's processes_avg / threads_avg when no `average:` line came


@dataclass(frozen=True)
class Row:
    tasks: int
    processes: int
    processes_idle: float
    threads: int
    threads_idle: float
    linear: int

    def csv(self) -> str:
        return "%d,%d,%0.2f,%d,%0.2f,%d" % (self.tasks, self.processes, self.processes_idle,
                                            self.threads, self.threads_idle, self.linear)

    def as_dict(self) -> dict:
        return asdict(self)
