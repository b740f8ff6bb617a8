# `make demo` and `make test` each create the environment when it is missing, then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONSTRAINTS ?= constraints-cpu.txt
STAMP := $(VENV)/.installed

.PHONY: env demo test bench clean

env: $(STAMP)

$(STAMP): pyproject.toml setup.py $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned, so that nothing below can pull a CUDA build
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) torch
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev,plots,xtb,gp]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m chemnoether.demo --out out/demo

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[bench]'
	$(PY) benchmarks/featurize.py

clean:
	rm -rf $(VENV) out .pytest_cache
