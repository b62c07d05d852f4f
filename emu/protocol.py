"""The versioned message protocol between the CPU processes and the kernel-state actor.

Every message is one msgpack array whose first two items are (VERSION, KIND).  CPUs use a
DEALER socket whose identity is their CPU id; the actor is a ROUTER with ROUTER_MANDATORY,
so nothing is ever dropped silently.

Virtual clock (emu/clock/virtual.py):
    CPU -> actor  HELLO  (V, HELLO, cpu, registry)  registry: kcalls.registry_digest(); refused
                                                     with ERROR unless it is the actor's
    CPU -> actor  BATCH  (V, BATCH, seq, lookahead, ops)   ops: flat ints, triples (op, pre, arg)
    actor -> CPU  DONE   (V, DONE, seq, vtime, stopped)     the batch finished at vtime
    actor -> CPU  INTR   (V, INTR, vtime, vector, initiator, addr1, addr2)
                         an interrupt (IPI) at vtime; a TLB shootdown's addresses in addr1/2
    actor -> CPU  RET    (V, RET, value)                    the value of a kernel call the CPU
                                                            waits for (`td.query`), before DONE
    CPU -> actor  ACK    (V, ACK, vtime, handler_cycles)    the interrupt's handler ran
    CPU -> actor  BYE    (V, BYE)
Wall clock (emu/clock/wall.py) sends each shared operation as it happens:
    CPU -> actor  OP     (V, OP, op, arg, args, wait)  one operation of the op table
                         (emu/kernel/ops.py), a kernel call's ARGs in `args`; with `wait`
                         answered by RET once it finished (a lock is ours, the ACKs are in)
Either direction:
    ERROR  (V, ERROR, text)  the peer sent something malformed; the sender carries on.

`lookahead` on a BATCH is the least number of cycles the CPU will run locally after the
batch completes before its next shared operation (conservative sequencing, docs/design.md "Time").
"""

from __future__ import annotations

import msgpack

VERSION = 4  # 3: the wall clock's operations are OP messages; 4: HELLO's registry digest

HELLO, BATCH, DONE, INTR, ACK, BYE, OP, ERROR, RET = range(9)
KIND_NAMES = ["HELLO", "BATCH", "DONE", "INTR", "ACK", "BYE", "OP", "ERROR", "RET"]

# Operations inside a BATCH are (op, pre, arg) triples: `pre` is the local cycles run
# before the op; what each op is and does is the op table's (emu/kernel/ops.py).
OP_WIDTH = 3

# Number of items each message kind carries after (VERSION, KIND).
_ARITY = {HELLO: 2, BATCH: 3, DONE: 3, INTR: 5, ACK: 2, BYE: 0, OP: 4, ERROR: 1, RET: 1}


class ProtocolError(ValueError):
    """A message of the wrong version or shape."""


_packer = msgpack.Packer(use_bin_type=True, autoreset=True)


def pack(*items: object) -> bytes:
    """Encode (VERSION, *items) with one reused packer."""
    return _packer.pack((VERSION, *items))


def unpack(data: bytes) -> list:
    """Decode and check a message; raises ProtocolError for anything malformed."""
    try:
        msg = msgpack.unpackb(data, use_list=True, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise ProtocolError(f"undecodable message ({exc.__class__.__name__})") from None
    if not isinstance(msg, list) or len(msg) < 2:
        raise ProtocolError("message is not an array (version, kind, ...)")
    if msg[0] != VERSION:
        raise ProtocolError(f"protocol version {msg[0]!r}, expected {VERSION}")
    kind = msg[1]
    arity = _ARITY.get(kind) if isinstance(kind, int) else None
    if arity is None:
        raise ProtocolError(f"unknown message kind {kind!r}")
    if len(msg) != 2 + arity:
        raise ProtocolError(f"{KIND_NAMES[kind]} carries {len(msg) - 2} items, expected {arity}")
    if kind == BATCH:
        ops = msg[4]
        if not isinstance(ops, list) or len(ops) % OP_WIDTH or not ops:
            raise ProtocolError("BATCH ops must be a non-empty flat list of (op, pre, arg) triples")
    return msg
