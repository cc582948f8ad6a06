# Entry points. `make up` deploys the local stack; `make test` runs every check.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STACK ?= local
PYTHON ?= python3
# Every target that runs the CLI or talks to the cluster sources the tool paths first.
TOOLS_ENV := . tools/env.sh &&
# The plain Pulumi commands of the README, with this checkout's file backend and
# passphrase (`pulumi login file://...` as an environment variable, so make never
# changes the user's own login). Which cluster a stack acts on is in its stack file.
STATE := $(CURDIR)/.state
# Resource steps at once. Pulumi's default is 4 per core (8 here on 2 cores), but a
# step mostly waits on the cluster (a rollout, a claim), not on a core: with more
# steps in flight, `up` and `destroy` overlap those waits as `kubectl wait` does
# (docs/benchmarks.md, scaling). Set PULUMI_PARALLEL to change it.
PULUMI_PARALLEL ?= 64
PULUMI := $(TOOLS_ENV) export PULUMI_BACKEND_URL=file://$(STATE)/backend \
	PULUMI_CONFIG_PASSPHRASE_FILE=$(STATE)/passphrase PULUMI_PARALLEL=$(PULUMI_PARALLEL) && mkdir -p $(STATE)/backend && \
	pulumi stack select --create $(STACK) --secrets-provider passphrase &&

.PHONY: help venv tools cluster cluster-down passphrase up preview destroy down refresh outputs render scan secret \
	validate docs snapshots lint test test-unit test-policy test-real test-e2e test-e2e-user-path test-node bench

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

$(STATE)/passphrase:
	@mkdir -p $(STATE) && (umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))' >$@)
	@echo "[make] generated the passphrase of this checkout's stacks in .state/passphrase (keep it: it decrypts the state)"

passphrase: $(STATE)/passphrase ## generate the passphrase of the local file backend's stacks, once

# `make up` approves with --yes, so on the local stack nobody reads the preview that
# `pulumi up` runs first: skipping it saves a whole program run (docs/benchmarks.md).
# `make preview` shows it, with the policy pack; every other stack keeps it.
UP_ARGS = $(if $(filter local,$(STACK)),--skip-preview)
up: venv tools $(if $(filter local,$(STACK)),cluster) passphrase ## pulumi up --stack STACK (local) --yes, then its outputs
	@$(PULUMI) pulumi up --stack $(STACK) --yes $(UP_ARGS) --suppress-outputs && pulumi stack output --stack $(STACK)

policy/venv/.installed: policy/requirements.txt
	@echo "[policy] installing the policy pack's requirements into policy/venv"
	@$(PYTHON) -m venv policy/venv
	@policy/venv/bin/pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	@touch $@

preview: venv tools passphrase policy/venv/.installed ## pulumi preview --stack STACK with the policy pack
	@$(PULUMI) pulumi preview --stack $(STACK) --diff --policy-pack policy

destroy: venv tools passphrase ## pulumi destroy --stack STACK
	@$(PULUMI) pulumi destroy --stack $(STACK) --yes

refresh: venv tools passphrase ## pulumi refresh --stack STACK
	@$(PULUMI) pulumi refresh --stack $(STACK) --yes

outputs: venv tools passphrase ## pulumi stack output --stack STACK
	@$(PULUMI) pulumi stack output --stack $(STACK)

secret: venv tools passphrase ## pulumi config set --secret, prompted for: make secret STACK=minikube KEY=openaiApiKey
	@test -n "$(KEY)" || { echo "usage: make secret STACK=<stack> KEY=<key under platform:>"; exit 2; }
	@$(PULUMI) pulumi config set --secret --stack $(STACK) platform:$(KEY)

down: ## destroy the local stack, then remove the cluster
	@if [ -f .state/kubeconfig ]; then $(MAKE) --no-print-directory destroy STACK=$(STACK); fi
	@cluster/down.sh

# Every stack, or only the one named on the command line: `make render STACK=staging`.
RENDER_STACKS := $(if $(filter command line environment,$(origin STACK)),$(STACK),local minikube staging)
render: venv tools ## write every stack's manifests (or STACK's) to build/render/<stack> (Secrets in plaintext: never commit)
	@for stack in $(RENDER_STACKS); do \
		extra=""; [ "$$stack" != minikube ] || extra="--secret platform:openaiApiKey=placeholder-for-render"; \
		$(TOOLS_ENV) $(BIN)/python scripts/render.py --stack $$stack --out build/render/$$stack $$extra; \
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
# Measured beside the program as shipped: the same code without Pulumi's state
# checkpoint after every step, the floor docs/benchmarks.md explains.
BENCH_ARGS ?= --variant no-checkpoint= --variant-env no-checkpoint=PULUMI_SKIP_CHECKPOINTS=true
bench: venv tools .venv-bench/.installed ## benchmarks against kubectl apply + wait on a cluster of its own; writes docs/benchmarks.md (BENCH_REPS=5, BENCH_ARGS)
	@$(TOOLS_ENV) $(BIN)/python bench/run.py --reps $(BENCH_REPS) $(BENCH_ARGS)

validate: venv ## check STACK's config file without a cluster (STACK=local)
	@$(BIN)/python scripts/validate.py $(STACK)

docs: venv ## regenerate the architecture diagrams from the program
	$(BIN)/python docs/diagram.py

lint: venv ## ruff (lint and format), mypy, and actionlint on the workflows
	@tools/bootstrap.sh actionlint >/dev/null
	$(TOOLS_ENV) actionlint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy __main__.py components tests docs scripts policy bench cluster/images

# The e2e suite runs on a control plane of its own, so it never touches `make up`'s,
# named for this checkout, so suites of two checkouts on one machine never meet.
CHECKOUT_ID := $(shell printf '%s' '$(CURDIR)' | cksum | cut -d' ' -f1)
# The suites about API objects, state and the CLI run on the emulated plane (and so
# does every `make` they run in a clone); the workload suite has a real node.
E2E_CLUSTER := PLATFORM_CLUSTER_RUNTIME=kwok PLATFORM_CLUSTER_NAME=platform-e2e-$(CHECKOUT_ID) PLATFORM_CLUSTER_STATE=$(CURDIR)/.state/e2e
# The cluster goes on every way out: a failed start, a failed suite, Ctrl-C.
E2E_SUITE = trap '$(E2E_CLUSTER) cluster/down.sh >/dev/null' EXIT; \
	$(E2E_CLUSTER) cluster/down.sh >/dev/null; $(E2E_CLUSTER) cluster/up.sh; \
	$(TOOLS_ENV) PLATFORM_CLUSTER_RUNTIME=kwok KUBECONFIG=$(CURDIR)/.state/e2e/kubeconfig \
		$(BIN)/pytest -p no:cacheprovider $(1)

test-e2e: venv tools policy/venv/.installed ## the real CLI against a fresh local control plane (started and removed here)
	@$(call E2E_SUITE,tests/e2e)

test-e2e-user-path: venv tools policy/venv/.installed ## only the user's path: plain pulumi in fresh clones, two clones, a new cluster
	@$(call E2E_SUITE,tests/e2e/test_user_path.py)

# In this order: the workloads are checked before the tests that change the stack,
# and destroy comes last.
NODE_SUITE := $(addprefix tests/node/,test_lifecycle.py test_workloads.py test_isolation.py test_policies.py \
	test_data.py test_rollouts.py test_destroy.py)
test-node: venv tools ## the real-node suite: `make up` in a fresh clone on a real kubelet node, then what its pods do
	@$(TOOLS_ENV) $(BIN)/pytest -p no:cacheprovider $(NODE_SUITE)

snapshots: venv ## rewrite the golden render and URN snapshots (tests/unit/snapshots/) after reviewing a change
	$(BIN)/python -m tests.unit.snapshots

test-unit: venv ## unit tests under Pulumi mocks, and the policy rules; no CLI needed
	$(BIN)/pytest tests/unit tests/policy

test-real: venv ## real PostgreSQL (pgvector), Redis and versitygw run the rendered commands, configs, init scripts, probes and the backup drill
	@tools/bootstrap.sh postgres redis versitygw awscli
	$(BIN)/pytest tests/realserver -p no:cacheprovider

test: lint test-unit test-real scan test-e2e ## every check: lint, unit and policy tests, real servers, manifest scan, end-to-end
