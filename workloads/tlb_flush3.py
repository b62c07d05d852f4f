"""will-it-scale tests/tlb_flush3.c: in a shared mapping of a 128MB file, write a page,
madvise(MADV_DONTNEED) it, read it back (one iteration per page).

The file's page survives MADV_DONTNEED (its data is the file's), as the C's assert says;
pmap_advise clears the accessed and modified bits and invalidates, under delayed
invalidation, and the page goes to the inactive queue."""

from emu.cpu.libc import MADV_DONTNEED, MAP_SHARED, PROT_READ, PROT_WRITE, getpagesize

FILESIZE = 128 * 1024 * 1024

testcase_description = "TLB flush of separated file shared mapping"


def testcase(ctx) -> None:
    tmpfile = "/tmp/willitscale.XXXXXX"
    fd = ctx.mkstemp(tmpfile)
    offset = 0
    pgsize = getpagesize()
    assert fd >= 0
    assert ctx.ftruncate(fd, FILESIZE) == 0
    ctx.unlink(tmpfile)

    while True:
        addr = ctx.mmap(None, FILESIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset)
        for i in range(0, FILESIZE, pgsize):
            ctx.store(addr + i, 1)                       # *(addr + i) = 1;
            ctx.madvise(addr + i, pgsize, MADV_DONTNEED)
            ctx.load(addr + i)                           # assert(*(addr + i) == 1);
            ctx.iterations += 1
        ctx.munmap(addr, FILESIZE)
