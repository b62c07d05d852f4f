"""No delayed invalidation at all: unsafe, kept so the checker can show why DI exists."""

from __future__ import annotations

from emu.kernel.kthread import KCtx, KPath


def configure(kc) -> None:
    pass


def pmap_delayed_invl_started(k: KCtx) -> KPath:
    return
    yield


def pmap_delayed_invl_finished(k: KCtx) -> KPath:
    return
    yield


class NoInvl:
    """No section, no wait: pmap_delayed_invl_wait returns at once (the checker must catch
    the stale TLB entry this lets through)."""

    spin = True

    def enter(self, cpu: int) -> None:
        pass

    def exit(self, cpu: int) -> bool:
        return False

    def page(self, cpu: int, m) -> None:
        pass

    def wait_for(self, m) -> None:
        return None

    def done(self, token: None) -> bool:
        return True


def invl_model() -> NoInvl:
    return NoInvl()
