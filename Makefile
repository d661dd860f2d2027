# cedarbox: `make serve` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Wheels the platform installs into builds (the stacks' pinned pip and setuptools); fetched
# once from PyPI here so that builds and tests need no network.
TOOL_WHEELS := .wheels/tools
TOOLS := pip==26.2.1 setuptools==70.3.0 pip==7.0.1 setuptools==16.0

.PHONY: install serve test lint bench clean

install: $(VENV)/.installed $(TOOL_WHEELS)/.fetched

$(VENV)/.installed: setup.cfg pyproject.toml
	@command -v git >/dev/null || (apt-get update && apt-get install -y git)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(TOOL_WHEELS)/.fetched: Makefile
	mkdir -p $(TOOL_WHEELS)
	for spec in $(TOOLS); do \
	  $(BIN)/pip download --quiet --no-deps --only-binary=:all: -d $(TOOL_WHEELS) $$spec || exit 1; \
	done
	touch $@

serve: install
	CEDARBOX_TOOL_WHEELS=$(CURDIR)/$(TOOL_WHEELS) $(BIN)/cedarbox serve

lint: install
	$(BIN)/ruff check .

test: install lint
	CEDARBOX_TOOL_WHEELS=$(CURDIR)/$(TOOL_WHEELS) $(BIN)/pytest -q

bench: install
	CEDARBOX_TOOL_WHEELS=$(CURDIR)/$(TOOL_WHEELS) $(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .wheels .pytest_cache .ruff_cache *.egg-info
