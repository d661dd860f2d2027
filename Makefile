# cedarbox: `make serve` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Wheels the platform installs into builds (the stacks' pinned pip and setuptools); fetched
# once from PyPI here so that builds and tests need no network.
TOOL_WHEELS := .wheels/tools
TOOLS := pip==26.2.1 setuptools==70.3.0 pip==7.0.1 setuptools==16.0 uv==0.12.5
# Real framework wheels for the end-to-end tests' Flask and Django apps (Python 3.12),
# fetched here so the tests themselves never touch the network.
APP_WHEELS := .wheels/apps
APPS := flask==3.1.3 gunicorn==27.0.1 django==6.1.3 psycopg2-binary==2.9.13 \
  asgiref==3.13.0 blinker==1.9.0 click==8.5.1 itsdangerous==2.2.0 jinja2==3.1.6 \
  markupsafe==3.0.4 sqlparse==0.6.1 werkzeug==3.1.9

# The real heroku CLI for the Platform API's contract suite (tests/e2e/test_heroku_cli.py),
# pinned, installed with npm into the checkout's ignored .npm/ (no global install).
HEROKU_CLI := heroku@11.10.0
NPM_DIR := .npm

# pip itself, pinned like everything else (constraints.txt pins every other package).
PIP := pip==23.2.1
TEST_ENV := CEDARBOX_TOOL_WHEELS=$(CURDIR)/$(TOOL_WHEELS) CEDARBOX_TEST_APP_WHEELS=$(CURDIR)/$(APP_WHEELS)

.PHONY: install test-deps serve unit lint test bench clean

install: $(VENV)/.installed $(TOOL_WHEELS)/.fetched $(TOOL_WHEELS)/.fetched-pm

test-deps: install $(APP_WHEELS)/.fetched $(NPM_DIR)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml constraints.txt
	@command -v git >/dev/null || (apt-get update && apt-get install -y git)
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	  || (apt-get update && apt-get install -y postgresql)
	@# App code runs in bubblewrap; iptables keeps apps' dynos apart (gitserver/sandbox.py).
	@command -v bwrap >/dev/null || (apt-get update && apt-get install -y bubblewrap) \
	  || echo "Builds need bubblewrap: sudo apt-get install bubblewrap (or CEDARBOX_SANDBOX=off)"
	@command -v iptables >/dev/null || [ "$$(id -u)" != 0 ] \
	  || (apt-get update && apt-get install -y iptables)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet '$(PIP)'
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

$(TOOL_WHEELS)/.fetched: Makefile $(VENV)/.installed
	mkdir -p $(TOOL_WHEELS)
	for spec in $(TOOLS); do \
	  $(BIN)/pip download --quiet --no-deps --only-binary=:all: -d $(TOOL_WHEELS) $$spec || exit 1; \
	done
	touch $@

# Poetry and Pipenv (heroku-24's pins) with every dependency, for each Python the stack
# supports: builds install them offline into a tool environment of their own. Some
# dependencies are compiled (msgpack, rapidfuzz, cryptography), so each Python gets its own.
PM_TOOLS := poetry==2.4.1 pipenv==2026.7.1
PM_PYTHONS := 3.10 3.11 3.12 3.13 3.14
PM_PLATFORMS := manylinux1_x86_64 manylinux2010_x86_64 manylinux2014_x86_64 \
  manylinux_2_17_x86_64 manylinux_2_27_x86_64 manylinux_2_28_x86_64 manylinux_2_34_x86_64

$(TOOL_WHEELS)/.fetched-pm: Makefile $(VENV)/.installed
	mkdir -p $(TOOL_WHEELS)
	for py in $(PM_PYTHONS); do \
	  $(BIN)/pip download --quiet --only-binary=:all: --python-version $$py --implementation cp \
	    $(addprefix --platform ,$(PM_PLATFORMS)) -d $(TOOL_WHEELS) $(PM_TOOLS) || exit 1; \
	done
	touch $@

$(APP_WHEELS)/.fetched: Makefile $(VENV)/.installed
	mkdir -p $(APP_WHEELS)
	$(BIN)/pip download --quiet --only-binary=:all: --python-version 3.12 \
	  --platform manylinux2014_x86_64 --implementation cp -d $(APP_WHEELS) $(APPS)
	touch $@

$(NPM_DIR)/.installed: Makefile
	@command -v npm >/dev/null || (apt-get update && apt-get install -y nodejs npm)
	mkdir -p $(NPM_DIR)
	npm install --prefix $(NPM_DIR) --no-audit --no-fund --no-save --ignore-scripts '$(HEROKU_CLI)'
	touch $@

serve: install
	CEDARBOX_TOOL_WHEELS=$(CURDIR)/$(TOOL_WHEELS) $(BIN)/cedarbox serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The fast tier (tests/unit, the pipeline's fake-buildpack tests among them): under a minute.
unit: test-deps
	$(TEST_ENV) $(BIN)/pytest -q -n 2 tests/unit

# Everything: one test file per worker at a time, so a module's shared servers stay in one.
test: test-deps lint
	$(TEST_ENV) $(BIN)/pytest -q -n 2 --dist loadfile --durations=15

bench: test-deps
	CEDARBOX_TOOL_WHEELS=$(CURDIR)/$(TOOL_WHEELS) $(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(NPM_DIR) .wheels .pytest_cache .ruff_cache *.egg-info
