"""Causal profiling of the emulated kernel: `emu whatif` (what a target's virtual speed-up
buys, Coz-style) and `emu chain` (the write-up's walk from bottleneck to fix, automated).

    speedup.py   a target (a lock, a lock's caller, a cache line, a kernel function) and its
                 virtual speed-up, applied inside the model where the cost arises
    targets.py   the targets a baseline run observed, and which strategy kind owns each
    pool.py      runs side by side on the host's cores, each in a worker process
    whatif.py    `emu whatif`: the baseline, each target's speed-ups, the ranking
    chain.py     `emu chain`: rank, swap the bounding structure's strategy, repeat
"""
