# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DATABASE_URL_TEST ?= postgres://postgres@127.0.0.1:5432/gih
REDIS_URL_TEST ?= redis://127.0.0.1:6379/0

.PHONY: install install-dev demo test lint bench messages

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

demo: install
	$(PY) scripts/demo.py

test: install-dev
	scripts/test-services.sh
	DATABASE_URL=$(DATABASE_URL_TEST) REDIS_URL=$(REDIS_URL_TEST) $(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .

bench: install-dev
	scripts/test-services.sh
	$(PY) bench/run.py $(BENCH_ARGS)

# Update locale/*/django.po from the templates and code (needs GNU gettext), then compile the .mo files.
# Fill every new empty msgstr before committing: a test fails on untranslated or fuzzy entries.
messages: install-dev
	$(PY) scripts/messages.py
