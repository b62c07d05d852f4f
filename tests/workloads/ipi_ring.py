"""Each task interrupts the next task's CPU once per iteration and waits for the ACK."""

testcase_description = "IPI ring: interrupt the next CPU, wait for its acknowledgement"


def testcase(ctx) -> None:
    target = ctx.cpus[(ctx.nr + 1) % len(ctx.cpus)]
    while True:
        ctx.td.cycles(500)
        ctx.td.ipi(target)
        ctx.iterations += 1
