"""emu.epoch: SC atomics over shared memory, ck_epoch on top, FreeBSD epoch(9) on that.

- ``emu.epoch.atomics``: ``load/store/xchg/fetch_add/cas/cas_value/fence`` and ``Words``.
- ``emu.epoch.ck_epoch``: ``CkEpoch`` (ck_epoch.c semantics over a shared block).
- ``emu.epoch.epoch9``: ``Epoch`` (``epoch_enter/epoch_exit/epoch_wait`` per CPU).
- ``emu.epoch.validate``: ``run_validate`` behind ``emu validate epoch``.
"""

from emu.epoch.atomics import Words, cas, cas_value, fence, fetch_add, load, store, xchg
from emu.epoch.ck_epoch import GLOBAL_LINE, CkEpoch, Section, record_line
from emu.epoch.epoch9 import Epoch

__all__ = [
    "GLOBAL_LINE",
    "CkEpoch",
    "Epoch",
    "Section",
    "Words",
    "cas",
    "cas_value",
    "fence",
    "fetch_add",
    "load",
    "record_line",
    "store",
    "xchg",
]
