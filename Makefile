# Entry points. `make up` deploys the local stack; `make test` runs every check.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STACK ?= local
PYTHON ?= python3

.PHONY: help venv lint test test-unit docs

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@echo "[venv] installing pinned requirements into $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed ## create .venv with the pinned requirements

lint: venv ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy __main__.py components tests/unit docs

test-unit: venv ## unit tests under Pulumi mocks, no CLI needed
	$(BIN)/pytest tests/unit

docs: venv ## regenerate the architecture diagrams from the program
	$(BIN)/python docs/diagram.py

test: lint test-unit ## every check: lint, unit tests
