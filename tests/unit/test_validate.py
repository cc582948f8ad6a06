"""`make validate` (scripts/validate.py): secure values count as set, wherever the
CLI or `make secret` keeps them, and nothing is decrypted."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.unit.harness import ROOT, stack_config


def _load_validate() -> Callable[[str, Path], bool]:
    spec = importlib.util.spec_from_file_location("validate_script", ROOT / "scripts" / "validate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function: Callable[[str, Path], bool] = module.validate
    return function


validate = _load_validate()

STACKS = sorted(path.name.split(".")[1] for path in ROOT.glob("Pulumi.*.yaml"))
# What `pulumi config set --secret` writes: ciphertext no test can (or needs to) decrypt.
SECURE = {"secure": "v1:c2FsdA==:Y2lwaGVydGV4dA=="}


def _checkout(tmp_path: Path, stack: str) -> Path:
    shutil.copy(ROOT / f"Pulumi.{stack}.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    return tmp_path


def _secret_keys(stack: str) -> set[str]:
    return {key for app in stack_config(stack).get("apps", []) for key in (app.get("secretEnv") or {}).values()}


def _add_secure(path: Path, keys: set[str]) -> None:
    document = yaml.safe_load(path.read_text()) if path.exists() else {}
    document.setdefault("config", {}).update({f"platform:{key}": dict(SECURE) for key in keys})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_minikube_passes_with_the_openai_key_set_by_make_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _checkout(tmp_path, "minikube")
    # scripts/stack.py keeps the machine's secure values in .state/stacks/.
    _add_secure(root / ".state" / "stacks" / "Pulumi.minikube.yaml", {"openaiApiKey"})
    assert validate("minikube", root)
    assert "secrets set: openaiApiKey" in capsys.readouterr().out


def test_minikube_passes_with_the_openai_key_in_the_stack_file(tmp_path: Path) -> None:
    root = _checkout(tmp_path, "minikube")
    _add_secure(root / "Pulumi.minikube.yaml", {"openaiApiKey"})
    assert validate("minikube", root)


def test_minikube_without_the_key_names_it_and_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert not validate("minikube", _checkout(tmp_path, "minikube"))
    out = capsys.readouterr().out
    assert "platform:apps[0].secretEnv.OPENAI_API_KEY" in out
    assert "`make secret STACK=minikube KEY=openaiApiKey`" in out
    assert "`pulumi config set --secret --stack minikube platform:openaiApiKey` (both prompt for the value)" in out


@pytest.mark.parametrize("stack", STACKS)
def test_every_committed_stack_passes_with_its_secrets_set(tmp_path: Path, stack: str) -> None:
    root = _checkout(tmp_path, stack)
    _add_secure(root / ".state" / "stacks" / f"Pulumi.{stack}.yaml", _secret_keys(stack))
    assert validate(stack, root)


def test_a_plain_value_in_the_machine_copy_is_not_a_secret(tmp_path: Path) -> None:
    root = _checkout(tmp_path, "minikube")
    local = root / ".state" / "stacks" / "Pulumi.minikube.yaml"
    local.parent.mkdir(parents=True)
    local.write_text(yaml.safe_dump({"config": {"platform:openaiApiKey": "sk-plain"}}))
    assert not validate("minikube", root)


def _staging_with(tmp_path: Path, change: Callable[[dict[str, object]], None]) -> Path:
    root = _checkout(tmp_path, "staging")
    path = root / "Pulumi.staging.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return root


def test_a_name_too_long_for_an_object_the_program_renders_is_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def long_authentik(config: dict[str, object]) -> None:
        authentik = config["platform:authentik"]
        assert isinstance(authentik, dict)
        authentik["name"] = "a" * 38

    assert not validate("staging", _staging_with(tmp_path, long_authentik))
    out = capsys.readouterr().out
    assert "platform:authentik.name:" in out
    assert f"the CronJob '{'a' * 38}-postgres-backup' (54 characters)" in out
    assert "shorten authentik.name to at most 36 characters" in out


def test_an_app_named_like_an_object_another_component_makes_is_refused_naming_both_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def app_beside_redis(config: dict[str, object]) -> None:
        apps = config["platform:apps"]
        assert isinstance(apps, list)
        apps.append({"name": "redis-metrics", "namespace": "staging-infra", "image": "traefik/whoami:v1.11.0"})

    assert not validate("staging", _staging_with(tmp_path, app_beside_redis))
    out = capsys.readouterr().out
    assert (
        "platform:apps[3].name: the NetworkPolicy 'redis-metrics' in namespace staging-infra is also made by "
        "platform:redis.name"
    ) in out
