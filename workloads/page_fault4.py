"""will-it-scale tests/page_fault4.c: map 128MB of a file privately, read each page (one
iteration per page: the file's page is mapped read-only, copy-on-write), unmap."""

from emu.cpu.libc import MAP_FAILED, MAP_PRIVATE, PROT_READ, PROT_WRITE, getpagesize

MEMSIZE = 128 * 1024 * 1024

testcase_description = "Separate file private mapping page read fault"


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
            ctx.load(c + i)              # cc = *(volatile char *)(c + i);
            ctx.iterations += 1

        ctx.munmap(c, MEMSIZE)
