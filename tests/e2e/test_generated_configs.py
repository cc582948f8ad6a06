"""Generated stack configs that validate render objects the API server accepts.

The server half of tests/unit/test_generated_configs.py: each config is drawn
from the same schema-driven generator (tests/unit/generated_configs.py), kept
only if the settings model accepts it, rendered under mocks
(tests/unit/harness.py), and every rendered object goes through
`kubectl apply --dry-run=server` on the e2e control plane. Its namespaces are
created for real first (a dry-run cannot create a namespace for the objects in
it) and deleted at the end. Generated cases per run: 12. Then every key that names
objects at the longest value validation lets through (tests/unit/test_object_names.py
refuses one more).
"""

from __future__ import annotations

import copy
import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings

from components.config.loading import ConfigError, parse_settings
from components.object_names import check_names
from tests.e2e.conftest import KUBECONFIG, Deployer, kubectl
from tests.unit.generated_configs import EVERY_OBJECT, Case, name_limits, set_key, stack_configs
from tests.unit.harness import Run, run_program


def _plain(node: Any) -> Any:
    """JSON as the API server reads it: protobuf sends every number as a double."""
    if isinstance(node, dict):
        return {key: _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, float) and node.is_integer():
        return int(node)
    return node


def _apply(manifests: list[dict[str, Any]], *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"apiVersion": "v1", "kind": "List", "items": manifests}, handle)
    try:
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(KUBECONFIG), "apply", *extra, "-f", handle.name],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        Path(handle.name).unlink()


@pytest.fixture(scope="module")
def made_namespaces(deployer: Deployer) -> Iterator[set[str]]:
    """Namespaces the test created, deleted when the module ends."""
    made: set[str] = set()
    yield made
    if made:
        kubectl("delete", "namespace", "--wait=false", *sorted(made), check=False)


@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
@given(case=stack_configs())
def test_generated_config_that_validates_is_accepted_by_the_api_server(case: Case, made_namespaces: set[str]) -> None:
    try:
        check_names(parse_settings(case.config | case.secrets, secret_keys=set(case.secrets)))
    except ConfigError:
        assume(False)
    _accepted(run_program(case.config, secrets=case.secrets), made_namespaces, json.dumps(case.config))


@pytest.mark.parametrize(("key", "limit"), sorted(name_limits().items()))
def test_a_name_at_its_limit_is_accepted_by_the_api_server(key: str, limit: int, made_namespaces: set[str]) -> None:
    # No PodMonitors: the suite's cluster has not the operator's CRDs (they carry the workloads' names).
    config = _in_namespaces_of_its_own(copy.deepcopy(EVERY_OBJECT) | {"metrics": {"monitors": False}})
    set_key(config, key, "n" * limit)
    _accepted(run_program(config, stack="staging"), made_namespaces, f"{key} of {limit} characters")


def _in_namespaces_of_its_own(config: dict[str, Any]) -> dict[str, Any]:
    """`config` in namespaces named `limits-<name>`: the platform's own are left to the
    suites that deploy it, and these are deleted without waiting."""
    renamed = {namespace["name"]: f"limits-{namespace['name']}" for namespace in config["namespaces"]}
    config["namespaces"] = [namespace | {"name": renamed[namespace["name"]]} for namespace in config["namespaces"]]
    for section in ("postgres", "redis", "authentik", "gateway"):
        config[section] = config[section] | {"namespace": renamed[config[section]["namespace"]]}
    config["apps"] = [app | {"namespace": renamed[app["namespace"]]} for app in config["apps"]]
    return config


def _accepted(run: Run, made_namespaces: set[str], what: str) -> None:
    """Every object of `run` passes the API server's validation (its namespaces made first)."""
    manifests = [_plain(r.inputs) for r in run.registrations if r.type.startswith("kubernetes:")]
    namespaces = [m for m in manifests if m["kind"] == "Namespace"]
    created = _apply(namespaces)
    assert created.returncode == 0, created.stderr
    made_namespaces.update(m["metadata"]["name"] for m in namespaces)
    others = [m for m in manifests if m["kind"] != "Namespace"]
    dry_run = _apply(others, "--dry-run=server")
    assert dry_run.returncode == 0, f"{dry_run.stderr}\n{what}"
    assert dry_run.stdout.count("(server dry run)") == len(others), dry_run.stdout
