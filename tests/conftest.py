"""Shared helpers: run the CLI as a user would, and check a run leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

EMU = [sys.executable, "-m", "emu.cli"]
FAST = ["--period", "2ms", "--warmup", "1"]  # short emulated samples keep tests quick


def emu(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*EMU, *args], capture_output=True, text=True, timeout=timeout,
                          **kwargs)


def shm_entries() -> set[str]:
    try:
        return set(os.listdir("/dev/shm"))
    except FileNotFoundError:
        return set()


def run_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("emu-*")}


def descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture
def no_trace():
    """Fails the test if it leaves processes, /dev/shm entries or run directories."""
    before_shm, before_dirs, before_kids = shm_entries(), run_dirs(), descendants()
    yield
    # (The multiprocessing resource tracker that other tests may start lives on: ignore it.)
    assert not descendants() - before_kids, "child processes survived the run"
    assert shm_entries() - before_shm == set(), "shared memory left in /dev/shm"
    assert run_dirs() - before_dirs == set(), "a private run directory was left behind"
