# The same commands for a newcomer, CI and a maintainer.
#   make run    set up from nothing, then run the main job
#   make test   set up what tests need, then ruff, mypy --strict and the whole pytest suite
#   make bench  the benchmarks (figures recorded in docs/benchmarks.md)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HASH   := $(shell cksum < pyproject.toml | cut -d' ' -f1)
STAMP_RUN  := $(VENV)/.run-$(HASH)
STAMP_TEST := $(VENV)/.test-$(HASH)

.PHONY: run test lint typecheck pytest bench examples system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	rm -f $(VENV)/.run-*
	touch $@

$(STAMP_TEST): $(STAMP_RUN)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.test-*
	touch $@

# System packages the tests need, installed with apt-get when running as root and missing.
SYSTEM_PACKAGES := gcc make libmbedtls-dev
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing system packages:$$missing (install them, or run make test as root)"; exit 1; fi; \
	fi

run: $(STAMP_RUN)
	@echo "kmc-monitor: analysing the bundled example ward shift (examples/ward_shift.csv)"
	$(BIN)/kmc-monitor analyze examples/ward_shift.csv

lint: $(STAMP_TEST)
	$(BIN)/ruff check .

typecheck: $(STAMP_TEST)
	$(BIN)/mypy --strict kmc_monitor

pytest: $(STAMP_TEST) system-deps
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(STAMP_TEST)
	$(BIN)/python benchmarks/run.py

examples: $(STAMP_TEST)
	$(BIN)/python scripts/make_examples.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
