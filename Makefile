# Two commands a new user needs: `make demo` and `make test`. Both build .venv from nothing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench docs clean

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

test: $(STAMP)
	$(BIN)/python -m pytest -q -x -m "not slow" tests

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py

docs: $(STAMP)
	$(BIN)/python -m bytegraph docs

clean:
	rm -rf $(VENV) build src/*.egg-info
