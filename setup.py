"""Build step for emu's C extensions (everything else lives in pyproject.toml)."""

from setuptools import Extension, setup

# One small extension per primitive, in the spirit of ConcurrencyKit's one-header-per-primitive.
ext_modules: list[Extension] = [
    # 64-bit SC atomics on any writable buffer (emu/epoch/atomics.py).
    Extension("emu.epoch._atomics", ["emu/epoch/_atomics.c"]),
    # ck_epoch begin/end/scan over a shared block (emu/epoch/ck_epoch.py).
    Extension("emu.epoch._ck_epoch", ["emu/epoch/_ck_epoch.c"]),
]

setup(ext_modules=ext_modules)
