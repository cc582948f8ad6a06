"""The program passes its own policy pack: every rule, run over every resource that
each stack file registers under mocks, reports nothing; and a planted violation in
a real stack is caught."""

from __future__ import annotations

import copy
from functools import cache

import pytest
from rules import RESOURCE_RULES, pod_disruption_budgets

from tests.policy.k8s_builders import Args, Reports, StackArgs
from tests.unit.harness import Run, run_program, stack_config

SECRETS = {"minikube": {"openaiApiKey": "sk-test-openai-key"}}
TARGETS = [("local", "kind"), ("minikube", "minikube"), ("staging", "gke"), ("staging", "eks"), ("staging", "aks")]


@cache
def registered(stack: str, target: str) -> Run:
    config = stack_config(stack) | {"target": target}
    return run_program(config, secrets=SECRETS.get(stack), stack=stack)


def as_policy_args(run: Run) -> list[Args]:
    return [Args(r.type, r.inputs, r.name, r.urn) for r in run.registrations if r.type.startswith("kubernetes:")]


def findings(run: Run) -> list[str]:
    reports = Reports()
    resources = as_policy_args(run)
    for _description, validate in RESOURCE_RULES.values():
        for args in resources:
            validate(args, reports)
    pod_disruption_budgets(StackArgs(resources), reports)
    return reports.messages


@pytest.mark.parametrize(("stack", "target"), TARGETS, ids=[f"{s}-{t}" for s, t in TARGETS])
def test_every_stack_passes_every_rule(stack: str, target: str) -> None:
    assert findings(registered(stack, target)) == []


def test_an_unpinned_image_in_a_real_stack_is_caught() -> None:
    config = copy.deepcopy(stack_config("local"))
    config["apps"][0]["image"] = "traefik/whoami:v1.11.0"
    run = run_program(config)
    for registration in run.registrations:
        if registration.kind == "Deployment" and registration.k8s_name == "core":
            registration.inputs["spec"]["template"]["spec"]["containers"][0]["image"] = "traefik/whoami"
    messages = findings(run)
    assert len(messages) == 1 and "Deployment staging-core/core" in messages[0]


def test_metrics_with_pod_monitors_pass_every_rule() -> None:
    config = stack_config("local") | {"metrics": {"enabled": True}}
    run = run_program(config, stack="local", pod_monitors_available=True)
    assert run.of_kind("PodMonitor") and findings(run) == []


def test_staging_with_an_object_store_for_backups_passes_every_rule() -> None:
    config = copy.deepcopy(stack_config("staging"))
    config["backupStore"] = {"endpoint": "https://s3.example.com", "bucket": "platform-backups"}
    credentials = {"backupAccessKeyId": "AKIAEXAMPLE", "backupSecretAccessKey": "example-secret"}
    assert findings(run_program(config, secrets=credentials, stack="staging")) == []
