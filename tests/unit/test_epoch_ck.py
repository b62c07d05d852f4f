"""emu.epoch.ck_epoch: ck_epoch semantics, one process (the interleavings are in
test_epoch_property.py, the real concurrency in test_epoch_validate.py)."""

from __future__ import annotations

import mmap

import pytest

from emu.epoch.ck_epoch import (
    FREE,
    GLOBAL_LINE,
    LOAD,
    RMW,
    STORE,
    UNUSED,
    USED,
    CkEpoch,
    EpochStats,
    Section,
    record_line,
)


@pytest.fixture
def ck():
    buf = bytearray(CkEpoch.size(4))
    e = CkEpoch.create(buf, 4)
    yield e
    e.release()


def test_layout_pads_each_record_to_its_own_lines() -> None:
    assert CkEpoch.size(1) == 128 + 128
    assert CkEpoch.size(96) == 128 + 96 * 128
    with pytest.raises(ValueError):
        CkEpoch.size(0)


def test_create_then_attach_from_an_offset_in_an_mmap() -> None:
    m = mmap.mmap(-1, 4096)
    a = CkEpoch.create(m, 8, offset=256)
    b = CkEpoch(m, 256)
    assert b.capacity == 8 and b.epoch == 1
    a.register(3)
    assert b.record(3).state == USED
    with pytest.raises(ValueError, match="header"):
        CkEpoch(m, 0)
    with pytest.raises(ValueError, match="fit"):
        CkEpoch.create(m, 100, offset=0)
    a.release()
    b.release()
    m.close()  # no export left behind


def test_register_unregister_recycle(ck: CkEpoch) -> None:
    assert ck.register() == 0
    assert ck.register(2) == 2
    assert ck.register() == 1
    with pytest.raises(ValueError, match="already"):
        ck.register(2)
    assert ck.recycle() is None
    ck.unregister(1)
    assert ck.record(1).state == FREE and ck.n_free == 1
    with pytest.raises(ValueError, match="already"):
        ck.register(1)  # a FREE slot comes back through recycle, as in ck
    assert ck.recycle() == 1
    assert ck.record(1).state == USED and ck.n_free == 0
    assert ck.register() == 3
    with pytest.raises(RuntimeError, match="taken"):
        ck.register()
    assert ck.record(1).state == USED and UNUSED == 0


def test_begin_end_nesting_and_errors(ck: CkEpoch) -> None:
    r = ck.register()
    with pytest.raises(RuntimeError, match="not registered"):
        ck.begin(1)
    with pytest.raises(RuntimeError, match="without begin"):
        ck.end(r)
    ck.begin(r)
    assert ck.record(r)[1:3] == (1, 1)  # active, epoch observed
    ck.begin(r)
    assert ck.record(r).active == 2
    assert ck.end(r) is False
    assert ck.end(r) is True
    assert ck.record(r).active == 0
    with pytest.raises(IndexError):
        ck.begin(4)
    with pytest.raises(RuntimeError, match="inside a section"):
        ck.begin(r) or ck.unregister(r)
    ck.end(r)


def test_synchronize_with_idle_records_does_not_tick(ck: CkEpoch) -> None:
    for _ in range(4):
        ck.register()
    ck.synchronize(0)
    assert ck.epoch == 1


def test_synchronize_waits_for_a_reader_and_ticks_twice(ck: CkEpoch) -> None:
    w, r = ck.register(), ck.register()
    ck.begin(r)
    blocked: list[int] = []

    def cb(_ck: CkEpoch, blocker: int) -> None:
        blocked.append(blocker)
        if len(blocked) == 3:
            ck.end(r)

    ck.synchronize_wait(cb)
    # Pass 1 at epoch 1 lets r (seen at 1) through and ticks to 2; pass 2 blocks on r
    # until it ends, and (as ck, which counts a resumed pass as active) ticks again.
    assert blocked == [r, r, r]
    assert ck.record(r).active == 0
    assert ck.epoch == 3
    with pytest.raises(RuntimeError, match="inside a section"):
        ck.begin(w) or ck.synchronize(w)
    ck.end(w)


def test_synchronize_ticks_while_a_reader_keeps_up(ck: CkEpoch) -> None:
    _w, r = ck.register(), ck.register()
    ck.begin(r)

    def cb(_ck: CkEpoch, blocker: int) -> None:
        ck.end(r)  # the reader leaves and re-enters at the new epoch
        ck.begin(r)

    ck.synchronize_wait(cb)
    assert ck.epoch == 3  # two ticks, no grace by idleness
    assert ck.record(r).epoch == 2
    ck.end(r)


def test_call_poll_and_barrier(ck: CkEpoch) -> None:
    w, r = ck.register(), ck.register()
    freed: list[str] = []
    ck.begin(r)  # a reader that may hold "a"
    ck.call(w, freed.append, "a")
    assert ck.stats(w) == EpochStats(1, 0, 0)
    ck.poll(w)  # r is at the current epoch: tick, but "a" was filed at the current epoch
    assert freed == []
    ck.poll(w)  # r is now behind: nothing
    assert freed == []
    ck.end(r)
    assert ck.poll(w) is True  # everyone idle: everything goes
    assert freed == ["a"]
    assert ck.stats(w) == EpochStats(0, 1, 1)
    ck.call(w, freed.append, "b")
    ck.call(w, freed.append, "c")
    assert ck.barrier(w) == 2
    assert freed == ["a", "b", "c"]
    assert ck.stats(w) == EpochStats(0, 2, 3)


def test_poll_dispatches_an_old_bucket_while_readers_stay_active(ck: CkEpoch) -> None:
    w, r = ck.register(), ck.register()
    freed: list[int] = []
    ck.begin(r)
    ck.call(w, freed.append, 1)  # filed at epoch 1
    for _ in range(3):
        ck.end(r)
        ck.begin(r)  # the reader moves on to each new epoch
        ck.poll(w)
    assert freed == [1]  # dispatched without the readers ever being all idle
    ck.end(r)


def test_poll_deferred_hands_callbacks_over(ck: CkEpoch) -> None:
    w = ck.register()
    ran: list[int] = []
    ck.call(w, ran.append, 7)
    deferred: list = []
    assert ck.poll(w, deferred) is True
    assert ran == [] and len(deferred) == 1
    fn, args = deferred[0]
    fn(*args)
    assert ran == [7]


def test_a_raising_callback_keeps_the_others(ck: CkEpoch) -> None:
    w = ck.register()
    ran: list[int] = []

    def boom() -> None:
        raise KeyError("boom")

    ck.call(w, ran.append, 1)
    ck.call(w, boom)
    ck.call(w, ran.append, 3)
    with pytest.raises(KeyError):
        ck.barrier(w)
    assert ran == [1]
    assert ck.barrier(w) == 1
    assert ran == [1, 3]


def test_unregister_refuses_pending_callbacks(ck: CkEpoch) -> None:
    w = ck.register()
    ck.call(w, print)
    with pytest.raises(RuntimeError, match="pending"):
        ck.unregister(w)
    ck.reclaim(w)
    ck.unregister(w)


def test_sections_move_a_shared_record_forward(ck: CkEpoch) -> None:
    """Two threads of control share record r (ck sections, FreeBSD's preemptible
    epoch). When the older section drains, the record adopts the newer one's epoch so
    writers are not held back by a section that has ended."""
    w, r = ck.register(), ck.register()
    s1, s2 = Section(), Section()
    ck.begin(r, s1)  # at epoch 1
    ck.poll(w)  # r is at 1 == current: tick to 2
    assert ck.epoch == 2
    ck.begin(r, s2)  # nested, at epoch 2
    assert (s1.bucket, s2.bucket) == (1, 0)
    assert ck.record(r).epoch == 1  # still pinned by s1
    assert ck.end(r, s1) is True  # s1's bucket drained
    assert ck.record(r).epoch == 2 and ck.record(r).active == 1
    assert ck.end(r, s2) is True
    assert ck.record(r).active == 0


def test_touched_lines_for_the_time_model() -> None:
    buf = bytearray(CkEpoch.size(3))
    touched: list = []
    ck = CkEpoch.create(buf, 3, touched=touched)
    w, r = ck.register(), ck.register()
    touched.clear()
    ck.begin(r)
    assert touched == [(record_line(r), RMW), (GLOBAL_LINE, LOAD)]
    touched.clear()
    ck.begin(r)
    ck.end(r)
    ck.end(r)
    assert touched == [(record_line(r), STORE)] * 3
    touched.clear()
    ck.synchronize(w)  # all idle: one load of the global, one scan of every slot
    assert touched == [(GLOBAL_LINE, LOAD)] + [(record_line(i), LOAD) for i in range(3)]
    ck.touched = None
    ck.begin(r)
    assert touched[-1] == (record_line(2), LOAD)  # nothing recorded when not asked
    ck.end(r)
    ck.release()


def test_vtime_is_stamped_and_future_records_block(ck: CkEpoch) -> None:
    _w, r = ck.register(), ck.register()
    ck.begin(r, vtime=100)
    assert ck.record(r).vtime == 100
    ck.end(r, vtime=250)
    assert ck.record(r).vtime == 250
    # The writer acts at virtual time 200: r changed at 250, in its future, so its
    # state at 200 is unknown and it blocks until the callback advances the clock.
    seen: list[tuple[int, int]] = []

    def cb(_ck: CkEpoch, blocker: int) -> int:
        seen.append((blocker, _ck.record(blocker).vtime))
        return 300

    ck.synchronize_wait(cb, vtime=200)
    assert seen == [(r, 250)]
    ck.synchronize_wait(cb, vtime=300)
    assert len(seen) == 1
    with pytest.raises(ValueError, match="callback"):
        ck.synchronize_wait(None, vtime=5)
    ck.fast.begin(r, 400)
    assert ck.record(r).vtime == 400
    assert ck.fast.end(r) is True
    assert ck.record(r).vtime == 400  # no vtime given: left as it was


def test_fast_path_is_the_same_record(ck: CkEpoch) -> None:
    r = ck.register()
    assert ck.fast.begin(r) == 1
    assert ck.fast.begin(r) == 2
    assert ck.record(r).active == 2
    assert ck.fast.end(r) is False
    assert ck.fast.end(r) is True
    assert ck.fast.scan(1, 0, -1) == (-1, False)
