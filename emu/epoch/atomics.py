"""Sequentially consistent 64-bit atomics on shared memory (ck_pr for emu).

Each operation takes any writable buffer — a ``SharedMemory.buf``, an ``mmap.mmap``,
a ``bytearray`` — and a byte offset that must be 8-byte aligned and in range
(``ValueError`` otherwise). Every access is ``__ATOMIC_SEQ_CST``, so these are safe
between processes that map the same memory, not only between threads.

Two forms, the same semantics:

* module functions ``load(buf, off)``, ``store(buf, off, v)``, ``xchg``,
  ``fetch_add``, ``cas``, ``cas_value`` acquire the buffer on each call;
* ``Words(buf)`` binds the buffer once and exposes the same operations as methods
  without the ``buf`` argument — the hot-path form. While a ``Words`` is alive (and not
  ``release()``-d) the buffer is exported, so ``mmap.close()`` or
  ``SharedMemory.close()`` raise ``BufferError``: release it first, or use ``with``.

Values are Python ints in ``[-2**63, 2**64)`` stored as their 64-bit two's-complement
bits; loads and the results of RMWs come back signed. ``fetch_add`` wraps.
``cas`` returns whether it swapped; ``cas_value`` returns the value it saw (it swapped
iff that equals ``expected``), like ``ck_pr_cas_64_value``. ``fence()`` is a full fence,
for ordering plain buffer writes (``struct.pack_into``, slicing) before later loads.

Why a C extension: measured on the project host, the PyPI ``atomics`` package costs
~8 us per ``fetch_add``, ctypes into libatomic ~0.4 us, cffi API mode ~0.11 us; this
extension ~25-40 ns (see ``bench/bench_epoch.py``).
"""

from __future__ import annotations

from emu.epoch._atomics import Words, cas, cas_value, fence, fetch_add, load, store, xchg

WORD = 8
"""Bytes per atomic word."""

__all__ = ["WORD", "Words", "cas", "cas_value", "fence", "fetch_add", "load", "store", "xchg"]
