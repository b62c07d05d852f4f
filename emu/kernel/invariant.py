"""The invariant `emu check` searches for violations of, and the trace that shows one.

    No CPU reads or writes a physical page through a TLB entry after that page was freed
    or given to another owner (a TLB entry filled before the page's last vm_page_free),
    nor writes it through an entry filled before pmap_remove_write cleaned it.

Every TLB hit of a CPU in a checked run sends CHECK_ACCESS with what its entry says (the
page, its generations when filled); the actor compares with the page's generations at that
exact virtual time.  Kernel paths log what they do to pages (alloc, map, fill, unmap, free,
shootdowns); a violation keeps the page's events in virtual-time order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from emu.kernel.kthread import NOW, KCtx, gcall
from emu.kernel.vm_page import VmPage

PAGE_LOG = 48       # events kept per page
SHOOT_LOG = 256     # shootdown events kept


class Checker:
    def __init__(self) -> None:
        self.violations: list[dict] = []
        self.pages: dict[int, deque] = {}
        self.shootdowns: deque = deque(maxlen=SHOOT_LOG)
        self.accesses = 0     # TLB hits checked
        self.windows = 0      # waits that began while a shootdown of the page was in flight
        self.waits = 0        # times pmap_delayed_invl_wait actually waited
        self.sections = 0     # DI sections opened
        self.reclaims = 0     # pages the page daemon freed
        self.cleaned = 0      # pages it laundered (pmap_remove_write)

    def event(self, k: KCtx, t: int, kind: str, m: VmPage | None, text: str, va: int) -> None:
        ev = (t, k.cpu, kind, m.pa if m is not None else -1, va, text)
        if m is None:
            self.shootdowns.append(ev)
            return
        log = self.pages.get(m.pa)
        if log is None:
            log = self.pages[m.pa] = deque(maxlen=PAGE_LOG)
        log.append(ev)

    def access(self, t: int, cpu: int, m: VmPage, va: int, gen: int, wgen: int, write: int,
               filled: int) -> None:
        self.accesses += 1
        what = None
        if m.gen != gen:
            what = "use after free"
        elif write and m.wgen != wgen:
            what = "write after clean"
        if what is None or len(self.violations) >= 1:
            return
        verb = "writes" if write else "reads"
        ev = (t, cpu, "ACCESS", m.pa, va,
              f"CPU {cpu} {verb} through a TLB entry filled at {filled} ({what})")
        events = list(self.pages.get(m.pa, ()))
        events += [s for s in self.shootdowns if s[0] >= filled]
        events.append(ev)
        events.sort(key=lambda e: (e[0], e[1]))
        self.violations.append({"kind": what, "t": t, "cpu": cpu, "pa": m.pa, "va": va,
                                "filled": filled, "write": bool(write),
                                "cpus": sorted({e[1] for e in events}),
                                "events": [list(e) for e in events]})


def check_access(k, va: int, pa: int, gen: int, wgen: int, write: int, filled: int
                 ) -> Iterator:
    """CHECK_ACCESS(va, pa, gen, wgen, write, filled_at): a TLB hit, as the CPU saw it."""
    t = yield NOW
    vm = k.vm
    if vm.check is not None:
        vm.check.access(t, k.cpu, vm.pages[pa], va, gen, wgen, write, filled)


CHECK_ACCESS = gcall(check_access, blocking=False)
