# Entry points (see README.md):
#   make demo  - install what running needs, start Neo4j, migrate, load demo data, train, serve
#   make stop  - stop the API and the Neo4j that `make demo` started
#   make test  - install the dev tools too, lint, type-check, run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# One stamp per install: `make demo` never pulls the test tools, `make test` adds them.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev demo stop test lint typecheck pytest

$(VENV)/bin/python:
	@bash .ci/ensure-toolchain
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# pip's own output stays on: the model side (torch) is a large download, shown as it goes.
$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "installing the service and its model side (torch, PyG; a few minutes the first time) ..."
	$(BIN)/python -m pip install --progress-bar on -e '.[train]'
	@touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "installing the service, its model side and the test tools ..."
	$(BIN)/python -m pip install --progress-bar on -e '.[train,dev]'
	@touch $(RUN_STAMP) $(DEV_STAMP)

install: $(RUN_STAMP)

install-dev: $(DEV_STAMP)

demo: install
	$(BIN)/interest-graph demo

stop:
	@test -x $(BIN)/interest-graph || { echo "nothing installed, nothing to stop"; exit 0; }; \
	  $(BIN)/interest-graph stop

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app graphdb ml tests bench

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/python -m pytest

test: lint typecheck pytest
