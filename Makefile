# Two commands a new user needs: `make demo` and `make test`. Both build .venv from nothing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench docs clean chromium

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch==2.13.0 first: on these machines pip finds the CPU wheel on disk; a bare range would fetch a CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[test]"
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

docs: $(STAMP)
	$(BIN)/python -m bytegraph docs

clean:
	rm -rf $(VENV) build src/*.egg-info
