# Every target works on a fresh clone: the virtual environments are created on first use.
PYTHON ?= python3
export PYTHONPATH := $(CURDIR)/src:$(CURDIR)
VENV := .venv
PY := $(VENV)/bin/python
CKV_VENV := .venv-checkov
OUT := out

.PHONY: templates lint check scale test test-py test-node check-code bench clean venv diagrams schema serve tools watch

venv: $(VENV)/.installed

# The .pth file puts src/ and the repository on the venv's path, so that its tools find the
# project when run by hand too (`.venv/bin/lint-imports`, `.venv/bin/python -m pytest`), not only
# through this Makefile's PYTHONPATH.
# The venv holds pip and the lock, nothing else: Python 3.11's venv also installs setuptools, whose
# .pth file imports a module at every interpreter start (0.6 ms of every command) and nothing here uses.
$(VENV)/.installed: requirements.lock requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip uninstall --quiet --yes setuptools
	$(PY) -c 'import sys, sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()["purelib"], "serverless-infra.pth").write_text("\n".join(sys.argv[1:]) + "\n")' "$(CURDIR)/src" "$(CURDIR)"
	touch $@

$(CKV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CKV_VENV)
	$(CKV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# Each Node.js handler's node_modules, installed from its lockfile; the stamp is redone when
# package.json or package-lock.json changes, so no test relies on another having run npm ci.
NODE_HANDLERS := users authorizer
NODE_MODULES := $(NODE_HANDLERS:%=handlers/%/node_modules/.installed)
handlers/%/node_modules/.installed: handlers/%/package.json handlers/%/package-lock.json
	cd handlers/$* && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## tools: install the pinned bundler (esbuild, from src/infra/bundle/esbuild/package-lock.json) into
## .cache/tools/; builds do this themselves on first use
tools: $(VENV)/.installed
	$(PY) -c "from infra.bundle.tools import esbuild_binary, esbuild_version; esbuild_binary(); print('esbuild', esbuild_version())"

## templates: generate every config in config/ into out/ and lint it; `make templates LOCKED=1` (CI)
## also fails when a config's placement lock is missing or would change
templates: $(VENV)/.installed
	$(PY) generate.py templates --out $(OUT)$(if $(LOCKED), --locked)
	$(PY) generate.py lint $(OUT)

## diagrams: refresh the README's diagram of each shipped config (from out/<config>/diagram.md)
diagrams: templates
	$(PY) -c "from pathlib import Path; from infra.diagram import update_readme; print('updated:', update_readme(Path('README.md'), Path('$(OUT)')) or 'nothing')"

## check: checkov over out/ (zero failed checks), prints the number of skips
check: templates $(CKV_VENV)/.installed
	$(PY) -m infra.checkov_gate --checkov $(CKV_VENV)/bin/checkov $(OUT)

## scale: the large benchmark config (201 functions, 400 routes): generated with its committed lock,
## cfn-lint (informational rules included) and checkov, zero findings
scale: $(VENV)/.installed $(CKV_VENV)/.installed
	$(PY) generate.py templates --config bench/large-api.toml --out out-bench --locked
	$(PY) generate.py lint out-bench
	$(PY) -m infra.checkov_gate --checkov $(CKV_VENV)/bin/checkov out-bench

## test: the whole suite (code checks, lint, checkov, Python and Node.js tests)
test: check-code check scale test-py test-node

## check-code: ruff, mypy and the import layers (import-linter), as configured in pyproject.toml
check-code: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Some loop tests run the users handler from its folder with its node_modules (they install it
# themselves when missing, tests/loop/conftest.py); installing it here first does it once, up front.
test-py: $(VENV)/.installed handlers/users/node_modules/.installed
	$(PY) -m pytest -q

test-node: $(NODE_MODULES) $(VENV)/.installed
	cd handlers/users && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" node --test
	cd handlers/authorizer && node --test

## schema: regenerate schema/stage-config.json (the stage config's JSON Schema, for editors)
schema: $(VENV)/.installed
	$(PY) generate.py schema

## serve: the API of CONFIG on 127.0.0.1:PORT, backed by a local emulator (Ctrl-C stops both)
CONFIG ?= config/catalog-api.toml
PORT ?= 3000
serve: $(VENV)/.installed handlers/users/node_modules/.installed
	$(PY) generate.py serve --config $(CONFIG) --port $(PORT) --emulator

## watch: regenerate and re-lint every config in config/ on each save of a config or handler file
## (Ctrl-C stops); SYNC=1 also syncs each save to the development stages (watch --sync)
watch: $(VENV)/.installed
	$(PY) generate.py watch $(if $(SYNC),--sync)

## bench: wall time and peak memory of generating every shipped config, against cdk synth; the fast
## loop (sync and watch --sync save-to-synced on the emulator, watch re-lint), bench/sync_bench.py
bench: $(VENV)/.installed
	$(PY) bench/run.py

## clean: remove what generation, tests and the benchmark write (out/, out-bench/, the build, lint and
## sync caches in .cache/, test caches); the virtual environments, the handlers' node_modules and the
## bundler installed in .cache/tools stay (rebuilding the build cache needs the package indexes)
clean:
	rm -rf $(OUT) out-bench .cache/build .cache/lint .cache/sync .pytest_cache .hypothesis
