# Two entry points (see README.md):
#   make demo  - install, start Neo4j, migrate, load demo data, train, serve
#   make test  - install, lint, type-check, run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint typecheck pytest

$(STAMP): pyproject.toml
	@bash .ci/ensure-toolchain
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/interest-graph demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app graphdb ml tests bench

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest

test: lint typecheck pytest
