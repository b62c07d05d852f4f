"""will-it-scale tests/tlb_flush1.c: in a private mapping of a 128MB file, write a page,
madvise(MADV_DONTNEED) it, read it back (one iteration per page).

On FreeBSD MADV_DONTNEED keeps the mapping (pmap_advise clears the accessed and modified
bits and invalidates, under delayed invalidation; the pages go to the inactive queue), so
the C's assert on the value read back is Linux's semantics: here the read is an access."""

from emu.cpu.libc import MADV_DONTNEED, MAP_PRIVATE, PROT_READ, PROT_WRITE, getpagesize

FILESIZE = 128 * 1024 * 1024

testcase_description = "TLB flush of separated file private mapping"


def testcase(ctx) -> None:
    tmpfile = "/tmp/willitscale.XXXXXX"
    fd = ctx.mkstemp(tmpfile)
    offset = 0
    pgsize = getpagesize()
    assert fd >= 0
    assert ctx.ftruncate(fd, FILESIZE) == 0
    ctx.unlink(tmpfile)

    while True:
        addr = ctx.mmap(None, FILESIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, offset)
        for i in range(0, FILESIZE, pgsize):
            ctx.store(addr + i, 1)                       # *(addr + i) = 1;
            ctx.madvise(addr + i, pgsize, MADV_DONTNEED)
            ctx.load(addr + i)                           # assert(*(addr + i) == 0);
            ctx.iterations += 1
        ctx.munmap(addr, FILESIZE)
