# The same commands for a newcomer, CI and a maintainer.
#   make run    set up from nothing, then run the main job
#   make test   set up what tests need, then ruff, mypy --strict and the pytest suite's fast tier
#               (every test not marked `long`, on four xdist workers; target: 5 minutes on 2 idle cores)
#   make test-long  the tests that take minutes on purpose (marked `long`: the 60 s broker outage,
#               the MQTT soaks, the 20-bed ward screens, the family weeks at home, the long API fuzz,
#               the signal core's properties at 2000 examples, the stalled-clients latency),
#               one at a time; CI (.ci/run) runs both
#   make bench  the benchmarks (figures recorded in docs/benchmarks.md)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# What the install depends on: the project's metadata and the C extension it compiles.
BUILD_INPUTS := pyproject.toml setup.py kmc_monitor/devices/trace/_plain.c
HASH   := $(shell cat $(BUILD_INPUTS) | cksum | cut -d' ' -f1)
STAMP_RUN  := $(VENV)/.run-$(HASH)
STAMP_TEST := $(VENV)/.test-$(HASH)

.PHONY: run test test-long lint typecheck pytest bench examples system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Uninstalling an editable install of the old build (hatchling) leaves an empty site-packages/
# kmc_monitor, which Python would import as an empty namespace package: removed when found.
CLEAN_LEFTOVER := rmdir $(VENV)/lib/python*/site-packages/kmc_monitor 2>/dev/null || true

$(STAMP_RUN): $(BIN)/python $(BUILD_INPUTS)
	$(BIN)/python -m pip install --quiet -e .
	$(CLEAN_LEFTOVER)
	rm -f $(VENV)/.run-*
	touch $@

# The test extra builds dbus-python, which needs system-deps' libraries first.
$(STAMP_TEST): $(STAMP_RUN) | system-deps
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(CLEAN_LEFTOVER)
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
	$(BIN)/ruff format --check .

typecheck: $(STAMP_TEST)
	$(BIN)/mypy --strict kmc_monitor

# Test files go to TEST_WORKERS processes whole (--dist loadfile): a module's shared broker, ward
# or browser stays on one worker, and tests that run in file order keep it. Every test makes its own
# ports (the kernel's free ones) and directories (pytest's tmp_path), so two workers never meet.
# Four workers on two cores: half the suite waits (on servers, brokers, browsers, replayed time),
# and two workers left the cores a third idle (6 min 40 s; four: under 5 min). Files holding a test
# marked `slow` are handed out first, heaviest first (tests/conftest.py; --no-loadscope-reorder keeps
# that order instead of xdist's, which starts the files with the most tests), so no long file starts last.
# KMC_TEST_TIMEOUT_FACTOR scales every wall-clock limit in the suite (tests/timing.py): 3 here by
# default, because four workers on two cores give each test about a third to a half of the machine
# a serial run would (a latency limit of 100 ms becomes 300 ms: still far from the seconds a real
# stall costs; the latency figures themselves are measured by `make bench`). Raise it on a slower
# machine. PYTEST_ARGS narrows a run, e.g. make pytest PYTEST_ARGS=tests/mqtt
TEST_WORKERS ?= 4
PYTEST_ARGS  ?=
KMC_TEST_TIMEOUT_FACTOR ?= 3

# Bytecode is written during tests even where PYTHONDONTWRITEBYTECODE is set (it is on this
# machine): without it every xdist worker rewrites and compiles the whole test tree again (6 s of
# CPU each, 9.6 s of collection against 3.3 s) and every service a test starts compiles the package.
TEST_ENV := env -u PYTHONDONTWRITEBYTECODE

pytest: $(STAMP_TEST) system-deps
	$(TEST_ENV) KMC_TEST_TIMEOUT_FACTOR=$(KMC_TEST_TIMEOUT_FACTOR) \
	  $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not long" $(PYTEST_ARGS)

test: lint typecheck pytest

# One at a time: the soak measures the service's memory and must not share the cores with other
# tests. pytest's exit status 5 (no test collected) is a failure here with a sentence saying why: a
# long tier that runs nothing would be a green CI that checked nothing.
test-long: $(STAMP_TEST) system-deps
	@status=0; $(TEST_ENV) $(BIN)/python -m pytest -m long $(PYTEST_ARGS) || status=$$?; \
	if [ $$status = 5 ]; then \
	  echo "make test-long: no test collected; the 60 s broker outage, the MQTT soaks and the 20-bed ward screens are marked long"; \
	fi; exit $$status

bench: $(STAMP_TEST)
	$(BIN)/python benchmarks/run.py

examples: $(STAMP_TEST)
	$(BIN)/python scripts/make_examples.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
