# The two commands of the README's quickstart: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test setup lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-install whenever the package description, a C source or a compiled module changes
# (a module with a .pxd is compiled by Cython: emu/compiled.py).
COMPILED := $(wildcard emu/*.pxd emu/*/*.pxd) $(patsubst %.pxd,%.py,$(wildcard emu/*.pxd emu/*/*.pxd))
$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py emu/epoch/_atomics.c emu/epoch/_ck_epoch.c $(COMPILED)
	$(BIN)/python -m pip install -q -e '.[test,cluster]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/emu run mmap1_processes -t 8 -s 3 --seed 1

test: setup
	$(BIN)/ruff check emu workloads tests bench
	$(BIN)/python -m pytest -q

# Every benchmark under bench/, each printing its table (the sweeps take about two minutes).
bench: setup
	$(BIN)/python bench/bench_runtime.py
	$(BIN)/python bench/bench_engine.py
	$(BIN)/python bench/bench_epoch.py
	$(BIN)/python bench/bench_sweeps.py
	$(BIN)/python bench/bench_scale.py
	$(BIN)/python bench/bench_faults.py

clean:
	rm -rf $(VENV) build *.egg-info
