"""will-it-scale tests/tlb_flush2.c: in 1MB of anonymous memory, write a page,
madvise(MADV_DONTNEED) it, read it back (one iteration per page).  With threads, every
madvise shoots down the TLBs of every other CPU running the process.

On FreeBSD MADV_DONTNEED keeps the mapping (see tlb_flush1), so the C's assert on the value
read back is Linux's semantics: here the read is an access."""

from emu.cpu.libc import (
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PROT_READ,
    PROT_WRITE,
    getpagesize,
)

MEMORYSIZE = 1 * 1024 * 1024

testcase_description = "TLB flush of anonymous memory private mapping"


def testcase(ctx) -> None:
    pgsize = getpagesize()

    while True:
        addr = ctx.mmap(None, MEMORYSIZE, PROT_READ | PROT_WRITE,
                        MAP_ANONYMOUS | MAP_PRIVATE, -1, 0)
        for i in range(0, MEMORYSIZE, pgsize):
            ctx.store(addr + i, 1)                       # *(addr + i) = 1;
            ctx.madvise(addr + i, pgsize, MADV_DONTNEED)
            ctx.load(addr + i)                           # assert(*(addr + i) == 0);
            ctx.iterations += 1
        ctx.munmap(addr, MEMORYSIZE)
