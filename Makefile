# Two commands a new user needs: `make demo` and `make test`. Both build their venv from nothing.
#
# The test matrix: PY (a Python 3.11-3.13 interpreter; `python3.12` also resolves through pyenv) and
# TORCH (2.13.0, 2.14.1, 2.15.0). Each pair has its own venv and its own lock file,
# constraints/py<X.Y>-torch<T>.txt, the exact version of every package installed (issue 13): a fresh
# machine installs what CI ran. `make lock` writes a missing lock from the newest releases; bumping a
# pin is a deliberate commit with the tests green (`make test-latest` shows the newest releases first).
PY ?= python3
TORCH ?= 2.13.0
# `python3.12` under pyenv is a shim that refuses unless that version is selected: take pyenv's own.
PYTHON := $(shell $(PY) -c 'import sys; print(sys.executable)' 2>/dev/null || \
            ls -d $$(pyenv root 2>/dev/null)/versions/$(patsubst python%,%,$(notdir $(PY))).*/bin/python3 2>/dev/null | tail -1)
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifeq ($(PYVER)-$(TORCH),3.11-2.13.0)
VENV ?= .venv
else
VENV ?= .venv-$(PYVER)-torch$(TORCH)
endif
LOCK ?= constraints/py$(PYVER)-torch$(TORCH).txt
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/pip install -q -c $(LOCK)

.PHONY: demo test test-slow test-latest lock lint bench docs clean clean-venv chromium fuzz

$(BIN)/python:
	@test -n "$(PYVER)" || { echo "no Python found for PY=$(PY)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: on these machines pip finds the CPU wheel of 2.13.0 on disk; a bare range would
# fetch a CUDA build. Build tools come from the lock too: setuptools is installed into the venv and the
# package built without isolation, so a new machine does not fetch the newest setuptools for the build.
$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	$(PIP) --upgrade pip setuptools
	$(PIP) "torch==$(TORCH)"
	$(PIP) --no-build-isolation -e ".[test]" "torch==$(TORCH)"
	touch $(STAMP)

$(LOCK):
	@echo "no lock file $(LOCK) for Python $(PYVER) and torch $(TORCH): \`make lock PY=$(PY) TORCH=$(TORCH)\` writes one"; exit 1

# A lock for a new (PY, TORCH) pair, from the newest releases that install beside that torch.
lock: | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip setuptools
	$(BIN)/pip install -q "torch==$(TORCH)"
	$(BIN)/pip install -q --no-build-isolation -e ".[test]" ruff "torch==$(TORCH)"
	{ echo "# The exact versions \`make test PY=$(PY) TORCH=$(TORCH)\` installs (written by \`make lock\`; edit on purpose)."; \
	  $(BIN)/pip freeze --all | grep -v -i -E '^(-e |bytegraph)'; } > $(LOCK)
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

# The canary: the newest releases of transformers and everything it pulls in (no lock), in a venv of
# their own, against tests/models. Run it before bumping a pin; it prints the versions it ran. It also
# installs diffusers (not a test dependency of `make test`), so tests/models/test_diffusers_models.py runs.
LATEST := .venv-latest-$(PYVER)-torch$(TORCH)
test-latest:
	rm -rf $(LATEST) && $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/pip install -q --upgrade pip setuptools
	$(LATEST)/bin/pip install -q "torch==$(TORCH)"
	$(LATEST)/bin/pip install -q --upgrade --upgrade-strategy eager --no-build-isolation -e ".[test]" diffusers "torch==$(TORCH)"
	@$(LATEST)/bin/python -c 'import sys, torch, transformers, importlib.metadata as m; \
	  print("test-latest: Python %s, torch %s, transformers %s, diffusers %s, huggingface_hub %s, kernels %s" % (sys.version.split()[0], \
	  torch.__version__, transformers.__version__, m.version("diffusers"), m.version("huggingface_hub"), \
	  m.version("kernels") if any(d.metadata["Name"] == "kernels" for d in m.distributions()) else "-"))'
	$(LATEST)/bin/python -m pytest -q -m "not slow" tests/models

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

# ruff, configured in pyproject.toml, pinned in the lock like every other tool.
lint: $(STAMP)
	$(PIP) ruff
	$(BIN)/ruff check src tests benchmarks

docs: $(STAMP)
	$(BIN)/python -m bytegraph docs

clean:
	rm -rf .venv .venv-* build src/*.egg-info

# One leg's venv (PY, TORCH select it, as for `make test`): .ci/run removes each after its leg.
clean-venv:
	rm -rf $(VENV)
