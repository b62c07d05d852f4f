"""What delayed invalidation guarantees, per strategy, in virtual time (for `emu check`).

The DI strategies (emu/kernel/di/) model what pmap_delayed_invl_started/finished *cost*.
This module models what they *promise*: pmap_delayed_invl_wait(m) returns only when every
pmap_remove that removed a mapping of m before the wait began has finished its TLB
shootdown.  It is switched on by `kc.ids.di_track` (the checker's runs); then pmap_remove
and pmap_advise bracket their work with two zero-cost marker calls, DI_ENTER after the
strategy's started() and DI_EXIT before its finished(), so the actor knows, at exact
virtual times, which sections are open.

Each DI strategy module supplies its own model, `invl_model()` (an InvlModel,
emu/kernel/di/__init__.py); this module drives it.  GenInvl, here, is the one the 2016
tracker list (di/mutex.py) and r347695's queue (di/lockless.py) share: generations.
Starting takes the newest entry's gen (or pmap_invl_gen) + 1; finishing as the oldest
publishes its gen in pmap_invl_gen, else donates it to the next older entry.  pmap_remove
stamps each page it unmaps with the section's gen (pmap_delayed_invl_page); the wait
sleeps until pmap_invl_gen reaches it (mutex: on a turnstile; lockless: lock_delay
spinning first).  epoch(9)'s grace periods are di/epoch.py's EpochInvl; no DI at all,
di/none.py's NoInvl (unsafe: the checker must catch it).
"""

from __future__ import annotations

from collections.abc import Iterator

from emu.kernel.kthread import NOW, SYNC, KCtx, Sleep, gcall, wakeup
from emu.kernel.vm_page import VmPage

CHAN = "pmap_invl_gen"


class GenInvl:
    """The 2016 tracker list and r347695's queue have the same generations (a library
    class: the DI strategies' invl_model() make one)."""

    def __init__(self, spin: bool) -> None:
        self.spin = spin          # lockless waiters spin before they sleep
        self.invl_gen = 1         # pmap_invl_gen: the last completed generation
        self.active: list[list[int]] = []   # [cpu, gen], oldest first
        self.cur: dict[int, list[int]] = {}

    def enter(self, cpu: int) -> None:
        gen = (self.active[-1][1] if self.active else self.invl_gen) + 1
        entry = [cpu, gen]
        self.active.append(entry)
        self.cur[cpu] = entry

    def exit(self, cpu: int) -> bool:
        """Finish cpu's section; True if pmap_invl_gen moved (waiters may go)."""
        entry = self.cur.pop(cpu)
        i = next(j for j, e in enumerate(self.active) if e is entry)
        del self.active[i]
        if i == 0:
            self.invl_gen = entry[1]
            return True
        self.active[i - 1][1] = entry[1]   # donate to the next older entry
        return False

    def page(self, cpu: int, m: VmPage) -> None:
        """pmap_delayed_invl_page: the page waits for this section's generation."""
        entry = self.cur.get(cpu)
        if entry is not None and entry[1] > m.invl_gen:
            m.invl_gen = entry[1]

    def wait_for(self, m: VmPage) -> VmPage:
        return m

    def done(self, m: VmPage) -> bool:
        return m.invl_gen <= self.invl_gen


def invl_of(ks):
    vm = ks.vm
    if vm.invl is None:
        vm.invl = ks.modules["di"].invl_model()   # the DI strategy's own guarantee model
    return vm


# ------------------------------------------------------------------ the markers

def di_enter(k: KCtx) -> Iterator:
    yield SYNC
    vm = invl_of(k.ks)
    vm.invl.enter(k.cpu)
    k.th.held += 1    # like a lock: the end of the run waits until the section is over
    if vm.check is not None:
        vm.check.sections += 1


def di_exit(k: KCtx) -> Iterator:
    t = yield NOW
    ks = k.ks
    vm = invl_of(ks)
    k.th.held -= 1
    # Pages this section unmapped have had their shootdown: no longer in flight.
    for m in vm.unmapped.pop(k.cpu, ()):
        m.unmapped_by.discard(k.cpu)
    if vm.invl.exit(k.cpu):
        wakeup(ks, CHAN, t, ks.cost.turnstile_wakeup if not vm.invl.spin
               else ks.cost.line_same_socket)


DI_ENTER = gcall(di_enter, blocking=False)
DI_EXIT = gcall(di_exit, blocking=False)


def tracking(td) -> bool:
    return bool(getattr(td.kernel.ids, "di_track", False))


def pmap_delayed_invl_page(k: KCtx, m: VmPage) -> None:
    """The unmapping section's generation goes on the page (shared spaces, when tracked)."""
    if k.ks is not None and getattr(k.ks.ids, "di_track", False):
        vm = invl_of(k.ks)
        vm.invl.page(k.cpu, m)
        m.unmapped_by.add(k.cpu)
        vm.unmapped.setdefault(k.cpu, set()).add(m)


def pmap_delayed_invl_wait(k: KCtx, m: VmPage) -> Iterator:
    """Wait until every section that unmapped m before now has finished."""
    if k.ks is None or not getattr(k.ks.ids, "di_track", False):
        return
    vm = invl_of(k.ks)
    invl = vm.invl
    yield SYNC
    if vm.check is not None and m.unmapped_by:
        vm.check.windows += 1    # a shootdown of m is in flight: the race DI exists for
    token = invl.wait_for(m)
    waited = False
    while True:
        yield SYNC
        if invl.done(token):
            if waited and vm.check is not None:
                vm.trace(k, (yield NOW), "di-done", m,
                         "pmap_delayed_invl_wait: every section that unmapped it is over")
            return
        waited = True
        if vm.check is not None:
            vm.check.waits += 1
        yield Sleep(CHAN)
