"""Build step for emu's C extensions (everything else lives in pyproject.toml)."""

from setuptools import Extension, setup

# One small extension per primitive, in the spirit of ConcurrencyKit's one-header-per-primitive.
ext_modules: list[Extension] = []

setup(ext_modules=ext_modules)
