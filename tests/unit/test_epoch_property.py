"""The grace-period rule, checked by hypothesis on a sequential model.

The real ``CkEpoch`` runs in one process; hypothesis picks the interleaving. Readers take
references to the published object only inside a section; writers unlink it and free
it through ``call`` + ``poll`` or ``synchronize`` + ``reclaim``. Interleavings reach
inside the algorithms: a reader's outermost begin can be split into its three atomic
steps (XCHG active, load the global, store the record's epoch), and every time
``synchronize`` blocks, its callback runs the next actions — other readers, the other
writer's ``poll``, ``call`` or even its whole ``synchronize`` — before it rescans.

Properties:
- safety: no object is freed while a section that took a reference to it is open;
- ``synchronize`` returns only after every section open when it started has ended;
- liveness: once readers are idle, ``barrier`` frees everything retired.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from emu.epoch import ck_epoch
from emu.epoch.ck_epoch import CkEpoch, Section

PLAIN = (0, 1)  # readers with one thread each: nested plain sections
SHARED = 2  # one record shared by two threads of control, sections only
WRITERS = (3, 4)
THREADS = [(0, 0), (1, 0), (2, 0), (2, 1)]  # (record, thread)
_R_ACTIVE, _R_EPOCH = 8, 16  # record word offsets (ck_epoch.py layout)


class Violation(AssertionError):
    pass


class Frame:
    __slots__ = ("id", "section", "refs")

    def __init__(self, fid: int, section: Section | None) -> None:
        self.id, self.section, self.refs = fid, section, set()


class Model:
    def __init__(self, actions: list[tuple[str, int]], cls: type[CkEpoch] = CkEpoch) -> None:
        self.ck = cls.create(bytearray(CkEpoch.size(5)), 5)
        for i in range(5):
            self.ck.register(i)
        self.actions = iter(actions)
        self.published = 0
        self.next_obj = 1
        self.retired: set[int] = set()
        self.freed: set[int] = set()
        self.stacks: dict[tuple[int, int], list[Frame]] = {k: [] for k in THREADS}
        self.half: dict[int, tuple] = {}  # plain reader -> begin in progress
        self.ids = itertools.count()
        self.in_sync: set[int] = set()
        self.blocks = 0

    # -- readers ---------------------------------------------------------------------

    def open_frames(self) -> list[Frame]:
        return [f for stack in self.stacks.values() for f in stack]

    def begin_plain(self, r: int, stepwise: bool) -> None:
        if r in self.half:
            return self.step(r)
        if stepwise and not self.stacks[(r, 0)]:
            # Step 1 of ck_epoch_begin: XCHG active = 1 (the epoch word is still stale).
            self.ck.words.xchg(self.ck._rec(r) + _R_ACTIVE, 1)
            self.half[r] = ("xchg",)
            return None
        self.ck.begin(r)
        self.open((r, 0), None)
        return None

    def step(self, r: int) -> None:
        state = self.half.get(r)
        if state is None:
            return
        if state[0] == "xchg":  # step 2: load the global epoch
            self.half[r] = ("loaded", self.ck.epoch)
        else:  # step 3: store it in the record; the section is now open
            self.ck.words.store(self.ck._rec(r) + _R_EPOCH, state[1])
            del self.half[r]
            self.open((r, 0), None)

    def begin_shared(self, t: int) -> None:
        s = Section()
        self.ck.begin(SHARED, s)
        self.open((SHARED, t), s)

    def open(self, key: tuple[int, int], section: Section | None) -> None:
        """A section is open: it reads the published object at once."""
        f = Frame(next(self.ids), section)
        f.refs.add(self.published)
        self.stacks[key].append(f)

    def take_ref(self, key: tuple[int, int]) -> None:
        if self.stacks[key]:
            self.stacks[key][-1].refs.add(self.published)

    def end(self, key: tuple[int, int]) -> None:
        if self.stacks[key]:
            f = self.stacks[key].pop()
            self.ck.end(key[0], f.section)

    def finish_record(self, r: int) -> None:
        """Force progress: complete a begin in flight, then close every section."""
        while r in self.half:
            self.step(r)
        for key in THREADS:
            if key[0] == r:
                while self.stacks[key]:
                    self.end(key)

    # -- writers ---------------------------------------------------------------------

    def free(self, obj: int) -> None:
        for f in self.open_frames():
            if obj in f.refs:
                raise Violation(f"object {obj} freed while section {f.id} holds it")
        assert obj not in self.freed
        self.freed.add(obj)

    def replace(self, w: int) -> None:
        old, self.published = self.published, self.next_obj
        self.next_obj += 1
        self.retired.add(old)
        self.ck.call(w, self.free, old)

    def synchronize(self, w: int) -> None:
        before = {f.id for f in self.open_frames()}
        self.in_sync.add(w)
        try:
            self.ck.synchronize_wait(self.block)
        finally:
            self.in_sync.discard(w)
        still = before & {f.id for f in self.open_frames()}
        if still:
            raise Violation(f"synchronize returned while sections {sorted(still)} are open")
        self.ck.reclaim(w)

    def block(self, ck: CkEpoch, blocker: int) -> None:
        self.blocks += 1
        if self.blocks > 10_000:
            raise AssertionError("synchronize does not make progress")
        assert blocker not in WRITERS and ck.record(blocker).active > 0
        for action in self.actions:
            if self.run(action):
                return
        self.finish_record(blocker)

    # -- the interpreter -------------------------------------------------------------

    def run(self, action: tuple[str, int]) -> bool:
        """Do one action; False when its agent cannot act now: a writer blocked in its
        own synchronize (the callback interleaves only the other agents)."""
        op, x = action
        if x in self.in_sync and op in ("replace", "poll", "sync"):
            return False  # that writer is busy in its own synchronize
        if op == "begin":
            self.begin_plain(x, False)
        elif op == "begin-stepwise":
            self.begin_plain(x, True)
        elif op == "step":
            self.step(x)
        elif op == "end":
            self.end((x, 0))
        elif op == "sbegin":
            self.begin_shared(x)
        elif op == "send":
            self.end((SHARED, x))
        elif op == "ref":
            self.take_ref(THREADS[x])
        elif op == "replace":
            self.replace(x)
        elif op == "poll":
            self.ck.poll(x)
        elif op == "sync":
            self.synchronize(x)
        return True

    def check(self) -> None:
        for action in self.actions:
            self.run(action)
        for r in (*PLAIN, SHARED):
            self.finish_record(r)
        for w in WRITERS:
            self.synchronize(w)
        assert self.freed == self.retired  # liveness
        assert sum(self.ck.stats(w).n_dispatch for w in WRITERS) == len(self.freed)
        assert all(self.ck.stats(w).n_pending == 0 for w in WRITERS)


ALPHABET = (
    [(op, r) for op in ("begin", "begin-stepwise", "step", "end") for r in PLAIN]
    + [(op, t) for op in ("sbegin", "send") for t in (0, 1)]
    + [("ref", i) for i in range(len(THREADS))]
    + [(op, w) for op in ("replace", "poll", "sync") for w in WRITERS]
)
actions = st.lists(st.sampled_from(ALPHABET), min_size=20, max_size=80)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(actions)
def test_grace_period_rule(acts: list[tuple[str, int]]) -> None:
    Model(acts).check()


def test_one_tick_is_not_a_grace_period(monkeypatch: pytest.MonkeyPatch) -> None:
    """The property has teeth: with a single pass (GRACE = 2), a reader seen at the
    current epoch may hold what the writer just unlinked, and synchronize returns early."""
    monkeypatch.setattr(ck_epoch, "GRACE", 2)
    acts = [("begin", 0), ("replace", 3), ("sync", 3)]
    with pytest.raises(Violation):
        Model(acts).check()
    monkeypatch.undo()
    Model(acts).check()


class EagerPoll(CkEpoch):
    """A poll that, after ticking E -> E+1, dispatches bucket E instead of E-1."""

    def poll(self, idx: int, deferred: list | None = None, vtime: int | None = None) -> bool:
        e = self.epoch
        ticked = super().poll(idx, deferred, vtime) and self.epoch == e + 1
        if ticked:
            self._dispatch(idx, e, deferred)
        return ticked


def test_dispatching_the_current_bucket_is_caught() -> None:
    acts = [("begin", 0), ("replace", 3), ("poll", 3)]
    with pytest.raises(Violation, match="freed while"):
        Model(acts, EagerPoll).check()
    Model(acts).check()


def test_hypothesis_finds_the_one_tick_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ck_epoch, "GRACE", 2)

    def breaks(acts: list[tuple[str, int]]) -> bool:
        try:
            Model(acts).check()
        except Violation:
            return True
        return False

    found = find(
        actions,
        breaks,
        settings=settings(
            max_examples=2000,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )
    assert breaks(found)
