"""will-it-scale tests/mmap1.c: map and unmap 128MB of anonymous memory, never touching it."""

from emu.cpu.libc import MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE, PROT_READ, PROT_WRITE

MEMSIZE = 128 * 1024 * 1024

testcase_description = "Anonymous memory mmap/munmap of 128MB"


def testcase(ctx) -> None:
    while True:
        c = ctx.mmap(None, MEMSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        assert c != MAP_FAILED
        ctx.munmap(c, MEMSIZE)

        ctx.iterations += 1
