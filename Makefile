# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DATABASE_URL_TEST ?= postgres://postgres@127.0.0.1:5432/gih
# Unset: each run claims a Redis database of its own (scripts/test-redis-db.sh), so two runs
# on one machine never share a broker queue.
REDIS_URL_TEST ?=

.PHONY: install install-dev install-node demo test lint bench messages

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

# The official OpenAI Node SDK for generations/tests/test_node_sdk.py, pinned by the committed lock file.
NODE_DIR := testsupport/node
$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "Installing Debian's nodejs and npm..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install-node: $(NODE_DIR)/node_modules/.installed

test: install-dev install-node
	scripts/test-services.sh
	@redis_url="$(REDIS_URL_TEST)"; claimed=""; \
	if [ -z "$$redis_url" ]; then redis_url=$$(scripts/test-redis-db.sh); claimed=1; fi; \
	echo "Test run on $$redis_url"; \
	DATABASE_URL=$(DATABASE_URL_TEST) REDIS_URL=$$redis_url $(VENV)/bin/pytest $(PYTEST_ARGS); status=$$?; \
	if [ -n "$$claimed" ]; then scripts/test-redis-db.sh release "$$redis_url"; fi; \
	exit $$status

lint: install-dev
	$(VENV)/bin/ruff check .

bench: install-dev
	scripts/test-services.sh
	$(PY) bench/run.py $(BENCH_ARGS)

# Update locale/*/django.po from the templates and code (needs GNU gettext), then compile the .mo files.
# Fill every new empty msgstr before committing: a test fails on untranslated or fuzzy entries.
messages: install-dev
	$(PY) scripts/messages.py
