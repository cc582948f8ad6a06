"""Every hint names the command that fixes the problem for the stack at hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.cluster import ClusterConfig, resolve
from components.config.loading import ConfigError, parse_settings
from tests.unit.fake_api import kubeconfig
from tests.unit.harness import ROOT, stack_config

# For each stack: the command its cluster's context comes from, and one that must not appear.
CONTEXT_SOURCES = {
    "local": ("`make cluster` writes it to .state/kubeconfig", "minikube start"),
    "minikube": ("`minikube start` writes it to ~/.kube/config", "make cluster"),
    "staging": ("get-credentials", "make cluster"),
}


def cluster_of(stack: str) -> ClusterConfig:
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return ClusterConfig(context=config["kubernetes:context"], kubeconfig=config["kubernetes:kubeconfig"])


@pytest.mark.parametrize("stack", sorted(CONTEXT_SOURCES))
def test_a_missing_kubeconfig_names_what_writes_the_stacks_context(stack: str, tmp_path: Path) -> None:
    named = cluster_of(stack)
    source, wrong = CONTEXT_SOURCES[stack]
    with pytest.raises(ConfigError) as raised:
        resolve(ClusterConfig(context=named.context, kubeconfig=str(tmp_path / "absent")), tmp_path)
    message = str(raised.value)
    assert f"context {named.context}: " in message and source in message, message
    assert wrong not in message, message


@pytest.mark.parametrize("stack", sorted(CONTEXT_SOURCES))
def test_a_kubeconfig_without_the_context_names_what_writes_it(stack: str, tmp_path: Path) -> None:
    named = cluster_of(stack)
    source, wrong = CONTEXT_SOURCES[stack]
    path = kubeconfig(tmp_path / "kubeconfig", "somebody-else")
    with pytest.raises(ConfigError) as raised:
        resolve(ClusterConfig(context=named.context, kubeconfig=str(path)), tmp_path)
    message = str(raised.value)
    assert f"context {named.context}: " in message and source in message, message
    assert wrong not in message, message


def test_the_staging_hint_renames_the_cloud_context_to_the_one_the_stack_names(tmp_path: Path) -> None:
    named = cluster_of("staging")
    with pytest.raises(ConfigError) as raised:
        resolve(ClusterConfig(context=named.context, kubeconfig=str(tmp_path / "absent")), tmp_path)
    assert f"kubectl config rename-context <its context> {named.context}" in str(raised.value)


def test_a_missing_secret_names_the_stack_and_prompts_for_the_value() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings(stack_config("minikube"), stack="minikube")
    message = str(raised.value)
    assert "`make secret STACK=minikube KEY=openaiApiKey`" in message
    assert "`pulumi config set --secret --stack minikube platform:openaiApiKey`" in message
    assert "<value>" not in message and "prompt for the value" in message
