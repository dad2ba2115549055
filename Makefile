# Two commands a new user needs: `make demo` and `make test`. Both build .venv from nothing.
PY ?= python3
# The torch release to test against; its pins are constraints/test.txt (all dependencies) for the default.
TORCH ?= 2.13.0
CONSTRAINTS ?= constraints/test.txt
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(TORCH)
PIP := $(BIN)/pip install -q -c $(CONSTRAINTS)

.PHONY: demo test test-slow bench docs clean chromium fuzz

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch==2.13.0 first: on these machines pip finds the CPU wheel on disk; a bare range would fetch a CUDA build.
# Every install is constrained to the pinned versions (constraints/test.txt), build tools included:
# setuptools is installed into the venv and the package built without isolation, so that a new
# machine does not fetch the newest setuptools into a build environment.
$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) --upgrade pip setuptools
	$(PIP) "torch==$(TORCH)"
	$(PIP) --no-build-isolation -e ".[test]"
	rm -f $(VENV)/.installed*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m bytegraph demo

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -x -m "not slow" tests

# tests/golden/test_report_browser.py opens the HTML report in headless Chromium. Installed here
# when missing and possible (root with apt-get); otherwise that test skips and says why. Never fails.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  echo "installing chromium (for the browser test of the HTML report)..." && \
	  apt-get update -qq >/dev/null 2>&1 && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null 2>&1; } || \
	  echo "chromium not installed: the browser test of the HTML report will be skipped"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py

# A differential fuzz campaign (tests/fuzz): N random programs, eager vs compiled, every construct
# flag on (FLAGS=slice for only what passes today). Prints programs run, mismatches, exceptions
# reaching the user, internal and eager fallbacks by reason; add ARGS=--shrink to minimise failures.
N ?= 2000
SEED ?= 0
JOBS ?= 2
BACKEND ?= eager
FLAGS ?= all
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz --n $(N) --seed $(SEED) --jobs $(JOBS) --backend $(BACKEND) --flags $(FLAGS) $(ARGS)

docs: $(STAMP)
	$(BIN)/python -m bytegraph docs

clean:
	rm -rf $(VENV) build src/*.egg-info
