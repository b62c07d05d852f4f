"""The page daemon (sys/vm/vm_pageout.c: vm_pageout_scan), as a kernel thread in the actor.

Under memory pressure it takes pages off the inactive queue (or, if it is empty, any
resident page of a shared address space's objects), holds each busy while it works, and:
a dirty page is laundered first (pmap_remove_write, then the pager writes it and it is
clean), then every mapping goes (pmap_remove_all) and it is freed, to be reused at once by
whoever allocates next.  Both pmap calls end with pmap_delayed_invl_wait(m).

It runs only when a run asks for it (`kc.ids.pagedaemon`: the checker's runs), on a CPU of
its own whose pmap is the kernel's, so no user shootdown ever targets it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from types import SimpleNamespace

from emu.kernel.kthread import NOW, SYNC, Cycles, Delay, KCtx, KThread, spawn, wakeup
from emu.kernel.pmap import pmap_remove_all, pmap_remove_write
from emu.kernel.vm_page import VmPage, vm_page_free
from emu.kernel.vm_state import shared_vm


def start_pagedaemon(ks, spec) -> None:
    cfg: SimpleNamespace | None = getattr(spec.kernel.ids, "pagedaemon", None)
    if not cfg:
        return
    th = KThread(cfg.cpu, "pagedaemon")
    k = KCtx(ks.cost, th.cpu, shared_vm(ks), ks=ks, th=th, rng=random.Random(cfg.seed))
    spawn(ks, th, lambda k: vm_pageout(k, cfg), k)


def _pick(vm, rng: random.Random) -> VmPage | None:
    resident = [m for m in vm.pages.values() if m.object is not None and m.busy is None]
    inactive = [m for m in resident if m.inactive]
    pool = inactive or resident
    return rng.choice(pool) if pool else None


def vm_pageout(k: KCtx, cfg: SimpleNamespace) -> Iterator:
    vm, rng = k.vm, k.rng
    while True:
        t = yield NOW
        if t > cfg.until:
            return
        yield Delay(rng.randint(*cfg.interval))
        m = _pick(vm, rng)
        if m is None:
            continue
        m.busy = k.cpu                               # vm_page_tryxbusy
        if vm.check is not None:
            vm.trace(k, (yield NOW), "pagedaemon", m,
                     f"page daemon reclaims it{' (dirty)' if m.dirty else ''}")
        if m.dirty and rng.random() < cfg.launder:
            yield from pmap_remove_write(k, m)
            yield Cycles(k.cost.pmap_copy_page)      # the pager writes it out
            yield SYNC
            m.dirty = False
            m.wgen += 1
            if vm.check is not None:
                vm.check.cleaned += 1
                vm.trace(k, (yield NOW), "laundered", m, "written back: clean")
        yield from pmap_remove_all(k, m)
        yield from vm_page_free(k, m)
        yield SYNC
        if vm.check is not None:
            vm.check.reclaims += 1
        m.busy = None
        wakeup(k.ks, m, (yield NOW))
