"""will-it-scale tests/mmap2.c: map and unmap 128MB of a file, privately, never touching it."""

from emu.cpu.libc import MAP_FAILED, MAP_PRIVATE, PROT_READ, PROT_WRITE

MEMSIZE = 128 * 1024 * 1024

testcase_description = "Separate file mmap/munmap of 128MB"


def testcase(ctx) -> None:
    tmpfile = "/tmp/willitscale.XXXXXX"
    fd = ctx.mkstemp(tmpfile)

    assert ctx.ftruncate(fd, MEMSIZE) == 0
    ctx.unlink(tmpfile)

    while True:
        c = ctx.mmap(None, MEMSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        assert c != MAP_FAILED
        ctx.munmap(c, MEMSIZE)

        ctx.iterations += 1
