"""will-it-scale tests/page_fault1.c: map 128MB of anonymous memory, write to each page (one
iteration per page: a zero-fill fault), unmap."""

from emu.cpu.libc import MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE, PROT_READ, PROT_WRITE, getpagesize

MEMSIZE = 128 * 1024 * 1024

testcase_description = "Anonymous memory page fault"


def testcase(ctx) -> None:
    pgsize = getpagesize()

    while True:
        c = ctx.mmap(None, MEMSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        assert c != MAP_FAILED

        for i in range(0, MEMSIZE, pgsize):
            ctx.store(c + i, 0)          # c[i] = 0;
            ctx.iterations += 1

        ctx.munmap(c, MEMSIZE)
