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

# The test extra builds dbus-python, which needs system-deps' libraries first.
$(STAMP_TEST): $(STAMP_RUN) | system-deps
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.test-*
	touch $@

# System packages the tests need, installed with apt-get when running as root and missing.
# dbus-daemon: the private bus of the BlueZ tests; pkg-config, libdbus-1-dev and libglib2.0-dev
# build dbus-python (python-dbusmock's dependency) when pip installs the test extra.
SYSTEM_PACKAGES := gcc make libmbedtls-dev chromium fonts-dejavu-core mosquitto \
	dbus-daemon pkg-config libdbus-1-dev libglib2.0-dev
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing system packages:$$missing (install them, or run make test as root)"; exit 1; fi; \
	fi

# The ward service on its embedded default: 12 simulated wraps, SQLite in .kmc-data/, one process.
# It prints the ward URL (with a staff token) and one bedside link. Ctrl-C stops it; the next run
# continues the same ward from .kmc-data/ (delete it for a fresh one).
run: $(STAMP_RUN)
	$(BIN)/kmc-monitor serve --simulate 12 --data-dir .kmc-data

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
