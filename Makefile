# Scribe — the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: install install-test run run-native test test-fast bench demo lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

install: $(VENV)/.installed

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install-test: $(VENV)/.installed-test

run: install
	$(PY) app.py $(ARGS)

run-native: install
	$(PY) -m pip install -q -e '.[native]' 'pywebview[qt]'
	$(PY) app.py --native $(ARGS)

test: install-test
	bash scripts/install_browser.sh
	source scripts/services.sh && bash scripts/test.sh $(ARGS)

test-fast: install-test
	$(PY) -m pytest -q -m 'not e2e' $(ARGS)

bench: install-test
	bash scripts/install_browser.sh
	$(PY) -m bench $(or $(ARGS),--suite all)

demo: install-test
	bash scripts/install_browser.sh
	bash scripts/install_ffmpeg.sh
	$(PY) scripts/demo_tour.py $(ARGS)

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
