"""Threads of one process read, write, remap (mmap MAP_FIXED over a page: pmap_remove) and
madvise(MADV_DONTNEED) a few shared pages, on several CPUs, now and then leaving their CPU
(a context switch: pm_active), while the page daemon reclaims and launders those pages and
hands them to new owners.

The race delayed invalidation exists for: a thread's pmap_remove frees a page's PV entry and
drops the PV list lock before its TLB shootdown reaches the other CPUs; the page daemon's
pmap_remove_all sees an empty PV list, and without pmap_delayed_invl_wait frees the page
while another CPU still has it in its TLB."""

from emu.cpu.libc import (
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_FAILED,
    MAP_FIXED,
    MAP_PRIVATE,
    PROT_READ,
    PROT_WRITE,
    getpagesize,
)

NPAGES = 3
BASE = 0x0000_0010_0000_0000
SHARED = [(BASE + i * 4096, BASE + (i + 1) * 4096) for i in range(NPAGES)]
TASKS = (2, 3, 4)
PAGEDAEMON = {"interval": (1500, 6000), "launder": 0.3}
LENGTH_S = 0.001

testcase_description = "Threads touch, remap and madvise shared pages; the page daemon takes them"


def testcase(ctx) -> None:
    rng = ctx.td.rng
    pgsize = getpagesize()

    while True:
        c = BASE + rng.randrange(NPAGES) * pgsize
        r = rng.random()
        if r < 0.55:
            ctx.load(c)
        elif r < 0.85:
            ctx.store(c, 1)
        elif r < 0.97:
            c = ctx.mmap(c, pgsize, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
            assert c != MAP_FAILED
        elif r < 0.99:
            ctx.madvise(c, pgsize, MADV_DONTNEED)
        else:
            ctx.sched_yield(rng.randrange(500, 3000))   # off the CPU: pm_active left, rejoined
        ctx.td.cycles(rng.randrange(20, 300))      # the thread's own work

        ctx.iterations += 1
