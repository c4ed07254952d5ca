# Every target works on a fresh clone: the virtual environments are created on first use.
PYTHON ?= python3
export PYTHONPATH := $(CURDIR)/src:$(CURDIR)
VENV := .venv
PY := $(VENV)/bin/python
CKV_VENV := .venv-checkov
OUT := out

.PHONY: templates lint check test test-py test-node bench clean venv

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

$(CKV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CKV_VENV)
	$(CKV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

handlers/users/node_modules/.installed: handlers/users/package.json handlers/users/package-lock.json
	cd handlers/users && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## templates: generate every config in config/ into out/ and lint it
templates: $(VENV)/.installed
	$(PY) generate.py templates --out $(OUT)
	$(PY) generate.py lint $(OUT)

## check: checkov over out/ (zero failed checks), prints the number of skips
check: templates $(CKV_VENV)/.installed
	$(PY) -m infra.checkov_gate --checkov $(CKV_VENV)/bin/checkov $(OUT)

## test: the whole suite (lint, checkov, Python and Node.js tests)
test: check test-py test-node

test-py: $(VENV)/.installed
	$(PY) -m pytest -q

test-node: handlers/users/node_modules/.installed $(VENV)/.installed
	cd handlers/users && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" node --test
	cd handlers/authorizer && node --test

## bench: wall time and peak memory of generating every shipped config, against cdk synth
bench: $(VENV)/.installed
	$(PY) bench/run.py

clean:
	rm -rf $(OUT) .pytest_cache
