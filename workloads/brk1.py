"""will-it-scale tests/brk1.c: grow the break by a page and shrink it back, never touching
the page (two iterations per loop: each brk counts)."""

from emu.cpu.libc import getpagesize

testcase_description = "brk increase/decrease of one page"


def testcase(ctx) -> None:
    page_size = getpagesize()
    addr = ctx.sbrk(0)

    while True:
        addr += page_size
        ctx.brk(addr)
        addr -= page_size
        ctx.brk(addr)

        ctx.iterations += 2
