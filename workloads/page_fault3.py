"""will-it-scale tests/page_fault3.c: map 128MB of a file shared, write to each page (one
iteration per page: the file's own page is mapped and dirtied), unmap."""

from emu.cpu.libc import MAP_FAILED, MAP_SHARED, PROT_READ, PROT_WRITE, getpagesize

MEMSIZE = 128 * 1024 * 1024

testcase_description = "Separate file shared mapping page fault"


def testcase(ctx) -> None:
    tmpfile = "/tmp/willitscale.XXXXXX"
    fd = ctx.mkstemp(tmpfile)
    pgsize = getpagesize()

    assert fd >= 0
    assert ctx.ftruncate(fd, MEMSIZE) == 0
    ctx.unlink(tmpfile)

    while True:
        c = ctx.mmap(None, MEMSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        assert c != MAP_FAILED

        for i in range(0, MEMSIZE, pgsize):
            ctx.store(c + i, 0)          # c[i] = 0;
            ctx.iterations += 1

        ctx.munmap(c, MEMSIZE)
