"""will-it-scale tests/page_fault2.c: map 128MB of a file privately, write to each page (one
iteration per page: a copy-on-write fault from the file's page), unmap."""

from emu.cpu.libc import MAP_FAILED, MAP_PRIVATE, PROT_READ, PROT_WRITE, getpagesize

MEMSIZE = 128 * 1024 * 1024

testcase_description = "Separate file private mapping page fault"


def testcase(ctx) -> None:
    tmpfile = "/tmp/willitscale.XXXXXX"
    fd = ctx.mkstemp(tmpfile)
    pgsize = getpagesize()

    assert fd >= 0
    assert ctx.ftruncate(fd, MEMSIZE) == 0
    ctx.unlink(tmpfile)

    while True:
        c = ctx.mmap(None, MEMSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        assert c != MAP_FAILED

        for i in range(0, MEMSIZE, pgsize):
            ctx.store(c + i, 0)          # c[i] = 0;
            ctx.iterations += 1

        ctx.munmap(c, MEMSIZE)
