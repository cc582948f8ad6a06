# Entry points. `make up` deploys the local stack; `make test` runs every check.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STACK ?= local
# KUBE=<kubeconfig> deploys to an existing cluster (minikube, a cloud) instead of
# starting the local one; it is never taken from the environment's KUBECONFIG.
KUBE ?=
PYTHON ?= python3
# Every target that runs the CLI or talks to the cluster sources the tool paths first.
TOOLS_ENV := . tools/env.sh &&
STACK_CMD := $(TOOLS_ENV) $(if $(KUBE),KUBECONFIG=$(KUBE),env -u KUBECONFIG) $(BIN)/python scripts/stack.py

.PHONY: help venv tools cluster cluster-down up preview destroy down refresh outputs render scan secret \
	validate docs snapshots lint test test-unit test-policy test-real test-e2e bench

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@echo "[venv] installing pinned requirements into $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed ## create .venv with the pinned requirements

tools: ## build (or reuse) the pinned Pulumi CLI, plugins and control plane binaries
	@tools/bootstrap.sh

cluster: tools ## start the local cluster: kind if Docker and kind work, else the local control plane
	@cluster/up.sh

cluster-down: ## remove the local cluster
	@cluster/down.sh

up: venv tools $(if $(KUBE),,cluster) ## deploy STACK (local) to the local cluster, or to KUBE=<kubeconfig>; print the outputs
	@$(STACK_CMD) up --stack $(STACK)

policy/venv/.installed: policy/requirements.txt
	@echo "[policy] installing the policy pack's requirements into policy/venv"
	@$(PYTHON) -m venv policy/venv
	@policy/venv/bin/pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	@touch $@

preview: venv tools policy/venv/.installed ## pulumi preview of STACK with the policy pack
	@$(STACK_CMD) preview --stack $(STACK) --policy-pack policy

destroy: venv tools ## pulumi destroy of STACK
	@$(STACK_CMD) destroy --stack $(STACK)

refresh: venv tools ## pulumi refresh of STACK
	@$(STACK_CMD) refresh --stack $(STACK)

outputs: venv tools ## the outputs of STACK
	@$(STACK_CMD) outputs --stack $(STACK)

secret: venv tools ## set a secret config value of STACK, prompted for: make secret STACK=minikube KEY=openaiApiKey
	@test -n "$(KEY)" || { echo "usage: make secret STACK=<stack> KEY=<key under platform:>"; exit 2; }
	@$(STACK_CMD) config --stack $(STACK) -- set --secret platform:$(KEY)

down: ## destroy the local stack, then remove the cluster
	@if [ -f .state/kubeconfig ]; then $(MAKE) --no-print-directory destroy STACK=$(STACK); fi
	@cluster/down.sh

RENDER_STACKS := local minikube staging
render: venv tools ## write every stack's manifests to build/render/<stack> (Secrets in plaintext: never commit)
	@for stack in $(RENDER_STACKS); do \
		extra=""; [ "$$stack" != minikube ] || extra="--secret platform:openaiApiKey=placeholder-for-render"; \
		$(STACK_CMD) up --stack $$stack --render build/render/$$stack $$extra; \
	done

.venv-scan/.installed: requirements-scan.txt
	@echo "[scan] installing the pinned scanner into .venv-scan"
	@$(PYTHON) -m venv .venv-scan
	@.venv-scan/bin/pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	@touch $@

scan: render .venv-scan/.installed ## checkov on the rendered manifests: 0 failed checks, skips annotated
	@$(BIN)/python scripts/scan.py $(RENDER_STACKS)

.venv-bench/.installed: requirements-bench.txt
	@echo "[bench] installing the pinned chart library into .venv-bench"
	@$(PYTHON) -m venv .venv-bench
	@.venv-bench/bin/pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	@touch $@

BENCH_REPS ?= 5
bench: venv tools .venv-bench/.installed ## benchmarks against kubectl apply + wait on a cluster of its own; writes docs/benchmarks.md (BENCH_REPS=5)
	@$(TOOLS_ENV) $(BIN)/python bench/run.py --reps $(BENCH_REPS)

validate: venv ## check STACK's config file without a cluster (STACK=local)
	@$(BIN)/python scripts/validate.py $(STACK)

docs: venv ## regenerate the architecture diagrams from the program
	$(BIN)/python docs/diagram.py

lint: venv ## ruff (lint and format), mypy, and actionlint on the workflows
	@tools/bootstrap.sh actionlint >/dev/null
	$(TOOLS_ENV) actionlint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy __main__.py components tests docs scripts policy bench

# The e2e suite runs on a control plane of its own, so it never touches `make up`'s,
# named for this checkout, so suites of two checkouts on one machine never meet.
CHECKOUT_ID := $(shell printf '%s' '$(CURDIR)' | cksum | cut -d' ' -f1)
E2E_CLUSTER := PLATFORM_CLUSTER_NAME=platform-e2e-$(CHECKOUT_ID) PLATFORM_CLUSTER_STATE=$(CURDIR)/.state/e2e
test-e2e: venv tools policy/venv/.installed ## the real CLI against a fresh local control plane (started and removed here)
	@$(E2E_CLUSTER) cluster/down.sh >/dev/null
	@$(E2E_CLUSTER) cluster/up.sh
	@$(TOOLS_ENV) KUBECONFIG=$(CURDIR)/.state/e2e/kubeconfig $(BIN)/pytest tests/e2e -p no:cacheprovider; \
		status=$$?; $(E2E_CLUSTER) cluster/down.sh; exit $$status

snapshots: venv ## rewrite the golden render and URN snapshots (tests/unit/snapshots/) after reviewing a change
	$(BIN)/python -m tests.unit.snapshots

test-unit: venv ## unit tests under Pulumi mocks, and the policy rules; no CLI needed
	$(BIN)/pytest tests/unit tests/policy

test-real: venv ## real PostgreSQL (pgvector), Redis and versitygw run the rendered commands, configs, init scripts, probes and the backup drill
	@tools/bootstrap.sh postgres redis versitygw awscli
	$(BIN)/pytest tests/realserver -p no:cacheprovider

test: lint test-unit test-real scan test-e2e ## every check: lint, unit and policy tests, real servers, manifest scan, end-to-end
