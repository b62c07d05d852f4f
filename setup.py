"""Build step for emu's C extensions (everything else lives in pyproject.toml)."""

import importlib.util
import os

from setuptools import Extension, setup

# One small extension per primitive, in the spirit of ConcurrencyKit's one-header-per-primitive.
ext_modules: list[Extension] = [
    # 64-bit SC atomics on any writable buffer (emu/epoch/atomics.py).
    Extension("emu.epoch._atomics", ["emu/epoch/_atomics.c"]),
    # ck_epoch begin/end/scan over a shared block (emu/epoch/ck_epoch.py).
    Extension("emu.epoch._ck_epoch", ["emu/epoch/_ck_epoch.c"]),
]


def _compiled_modules() -> list[str]:
    """emu/compiled.py's list (each model module with a .pxd), read without importing emu."""
    spec = importlib.util.spec_from_file_location("_emu_compiled", "emu/compiled.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.compiled_modules()


try:
    from Cython.Build import cythonize
except ImportError:  # no Cython: the Python source runs (emu/compiled.py)
    cythonize = None

if cythonize is not None and not os.environ.get("EMU_PURE"):
    ext_modules += cythonize(
        [name.replace(".", "/") + ".py" for name in _compiled_modules()],
        language_level=3, quiet=True,
        # The .py's annotations document; the .pxd's declarations type.  Python's integer
        # division semantics, and an error rather than a wrapped value on overflow.
        compiler_directives={"annotation_typing": False, "overflowcheck": True,
                             "cdivision": False})

setup(ext_modules=ext_modules)
