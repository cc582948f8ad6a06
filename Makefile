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
# An exported PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE is used as it
# is, so make and plain `pulumi` in one shell use one passphrase (the README exports
# the file make generates).
STATE := $(CURDIR)/.state
# Resource steps at once. Pulumi's default is 4 per core (8 here on 2 cores), but a
# step mostly waits on the cluster (a rollout, a claim), not on a core: with more
# steps in flight, `up` and `destroy` overlap those waits as `kubectl wait` does
# (docs/benchmarks.md, scaling). Set PULUMI_PARALLEL to change it.
PULUMI_PARALLEL ?= 64
# A stack's passphrase salt belongs to the backend it lives in, not to the committed
# stack file: `pulumi stack init` records it in the new stack's state, and Pulumi
# reads it from there when the stack file has none (PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER).
# So make creates a stack from CONFIG_DIR, which holds only Pulumi.yaml (init writes
# the salt into the stack file beside it), and runs each command on a fresh copy of
# the stack file there (--config-file), into which Pulumi writes the salt again: the
# committed files stay as they are, and a scratch copy of the project is free of this
# checkout's salt.
CONFIG_DIR := $(STATE)/config
CONFIG_FILE := $(CONFIG_DIR)/Pulumi.$(STACK).yaml
PULUMI := $(TOOLS_ENV) export PULUMI_BACKEND_URL=file://$(STATE)/backend \
	PULUMI_CONFIG_PASSPHRASE_FILE=$${PULUMI_CONFIG_PASSPHRASE_FILE:-$(STATE)/passphrase} \
	PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER=true PULUMI_PARALLEL=$(PULUMI_PARALLEL) && \
	mkdir -p $(STATE)/backend $(CONFIG_DIR) &&
HAS_STACK = pulumi stack --stack $(STACK) --show-name >/dev/null 2>&1
# Commands that may create the stack (up, preview, secret): one created here is
# removed again when the command fails, so a preview that cannot run (no cluster)
# leaves no stack behind. Nothing selects it: every command names it.
NEW_STACK = created= && { $(HAS_STACK) || { rm -f $(CONFIG_FILE) && cp Pulumi.yaml $(CONFIG_DIR)/ && \
	(cd $(CONFIG_DIR) && pulumi stack init $(STACK) --secrets-provider passphrase --no-select) && created=1; }; } &&
UNLESS_DONE_DROP_NEW_STACK = || { status=$$?; [ -z "$$created" ] || pulumi stack rm $(STACK) --yes --preserve-config \
	>/dev/null; exit $$status; }
# Commands on a stack that must exist (destroy, refresh, outputs).
OLD_STACK = { $(HAS_STACK) || { echo "[make] no stack $(STACK) in .state/backend: nothing to do"; exit 0; }; } &&
CONFIG = cp Pulumi.$(STACK).yaml $(CONFIG_FILE) &&

.PHONY: help venv tools cluster cluster-down passphrase up preview destroy stack-rm down refresh outputs render scan secret \
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
# The emulated control plane runs no container, so nothing answers on the stack's url.
EMULATED_NOTE = if [ "$(STACK)" = local ] && [ "$$(cat $(STATE)/runtime 2>/dev/null)" = kwok ]; then \
	echo "[make] note: the local cluster is the emulated control plane (kwok), which runs no container:" \
	"the objects exist, but the url does not serve. With Docker and kind, make cluster-down && make up" \
	"gives a cluster that does."; fi
up: venv tools $(if $(filter local,$(STACK)),cluster) passphrase ## pulumi up --stack STACK (local) --yes, then its outputs
	@$(PULUMI) $(NEW_STACK) $(CONFIG) pulumi up --stack $(STACK) --config-file $(CONFIG_FILE) --yes $(UP_ARGS) \
		--suppress-outputs $(UNLESS_DONE_DROP_NEW_STACK) && pulumi stack output --stack $(STACK) && $(EMULATED_NOTE)

policy/venv/.installed: policy/requirements.txt
	@echo "[policy] installing the policy pack's requirements into policy/venv"
	@$(PYTHON) -m venv policy/venv
	@policy/venv/bin/pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	@touch $@

preview: venv tools passphrase policy/venv/.installed ## pulumi preview --stack STACK with the policy pack
	@$(PULUMI) $(NEW_STACK) $(CONFIG) pulumi preview --stack $(STACK) --config-file $(CONFIG_FILE) --diff \
		--policy-pack policy $(UNLESS_DONE_DROP_NEW_STACK)

# Pulumi's own tip after destroy, `pulumi stack rm`, would also delete the committed
# stack file, and needs make's backend and passphrase: `make stack-rm` is the one that works.
destroy: venv tools passphrase ## pulumi destroy --stack STACK
	@$(PULUMI) $(OLD_STACK) $(CONFIG) pulumi destroy --stack $(STACK) --config-file $(CONFIG_FILE) --yes && \
		echo "[make] with make, remove the stack itself (its history in .state/backend) with" \
		"make stack-rm STACK=$(STACK); it keeps Pulumi.$(STACK).yaml"

stack-rm: venv tools passphrase ## pulumi stack rm --preserve-config STACK: the stack and its history, not its stack file
	@$(PULUMI) $(OLD_STACK) pulumi stack rm $(STACK) --yes --preserve-config

refresh: venv tools passphrase ## pulumi refresh --stack STACK
	@$(PULUMI) $(OLD_STACK) $(CONFIG) pulumi refresh --stack $(STACK) --config-file $(CONFIG_FILE) --yes

outputs: venv tools passphrase ## pulumi stack output --stack STACK
	@$(PULUMI) $(OLD_STACK) pulumi stack output --stack $(STACK)

# The one command that writes the committed stack file, as asked: the secret's
# ciphertext, and the salt it was encrypted with (both belong to this backend).
secret: venv tools passphrase ## pulumi config set --secret, prompted for: make secret STACK=minikube KEY=openaiApiKey
	@test -n "$(KEY)" || { echo "usage: make secret STACK=<stack> KEY=<key under platform:>"; exit 2; }
	@$(PULUMI) $(NEW_STACK) pulumi config set --secret --stack $(STACK) platform:$(KEY) $(UNLESS_DONE_DROP_NEW_STACK)

# The cluster goes even when destroy fails: the local cluster is disposable, and its
# objects then leave the state on the next up or destroy (kubernetes:deleteUnreachable).
down: ## destroy the local stack, then remove the cluster (also when destroy fails)
	@status=0; if [ -f .state/kubeconfig ]; then $(MAKE) --no-print-directory destroy STACK=$(STACK) || status=$$?; fi; \
	cluster/down.sh; if [ $$status != 0 ]; then echo "[make] destroy failed (above); the cluster is removed" \
		"anyway, and its objects leave the state on the next make up or make destroy"; fi; exit $$status

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
		$(BIN)/pytest -p no:cacheprovider --durations=15 $(1)

test-e2e: venv tools policy/venv/.installed ## the real CLI against a fresh local control plane (started and removed here)
	@$(call E2E_SUITE,tests/e2e)

test-e2e-user-path: venv tools policy/venv/.installed ## only the user's path: the README's blocks and plain pulumi in fresh clones, two clones, a new cluster
	@$(call E2E_SUITE,tests/e2e/test_readme.py tests/e2e/test_user_path.py)

# In this order: the workloads are checked before the tests that change the stack,
# and destroy comes last.
NODE_SUITE := $(addprefix tests/node/,test_lifecycle.py test_workloads.py test_isolation.py test_policies.py \
	test_data.py test_rollouts.py test_backups.py test_readiness.py test_tls.py test_metrics.py test_destroy.py)
test-node: venv tools ## the real-node suite: `make up` in a fresh clone on a real kubelet node, then what its pods do
	@$(TOOLS_ENV) $(BIN)/pytest -p no:cacheprovider --durations=15 $(NODE_SUITE)

snapshots: venv ## rewrite the golden render and URN snapshots (tests/unit/snapshots/) after reviewing a change
	$(BIN)/python -m tests.unit.snapshots

test-unit: venv ## unit tests under Pulumi mocks, and the policy rules; no CLI needed
	$(BIN)/pytest tests/unit tests/policy

test-real: venv ## real PostgreSQL (pgvector), Redis and versitygw run the rendered commands, configs, init scripts, probes and the backup drill
	@tools/bootstrap.sh postgres redis versitygw awscli
	$(BIN)/pytest tests/realserver -p no:cacheprovider

test: lint test-unit test-node test-real scan test-e2e ## every check: lint, unit and policy tests, the real node, real servers, manifest scan, end-to-end
