"""Validate stack files without a cluster or the Pulumi CLI.

    python scripts/validate.py local staging

Reads `Pulumi.<stack>.yaml` as Pulumi would and prints what the stack deploys, or
the configuration errors with their fixes: the settings, then the name of every
object the program would create (components/object_names.py, the program under
Pulumi's mocks, as `pulumi preview` checks them). A secure value counts as a set secret,
wherever it was set: in the stack file (`pulumi config set --secret`, `make secret`)
or in the copy under `.state/stacks/` that earlier versions of `make secret` kept.
Secure values are never decrypted, so no passphrase is needed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.config.loading import CONFIG_NAMESPACE, ConfigError, parse_settings  # noqa: E402
from components.object_names import check_names  # noqa: E402

# What a secret reads as here: its presence is what validation checks.
SECURE_PLACEHOLDER = "[secure]"


def _config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    document = yaml.safe_load(path.read_text()) or {}
    prefix = f"{CONFIG_NAMESPACE}:"
    config = document.get("config") or {}
    return {key[len(prefix) :]: value for key, value in config.items() if key.startswith(prefix)}


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def stack_config(stack: str, root: Path = ROOT) -> tuple[dict[str, Any], set[str]]:
    """The stack's `platform:*` config and which keys are secrets, secure values
    replaced by a placeholder."""
    raw = _config(root / f"Pulumi.{stack}.yaml")
    for key, value in _config(root / ".state" / "stacks" / f"Pulumi.{stack}.yaml").items():
        if _is_secure(value) and key not in raw:
            raw[key] = value
    secret_keys = {key for key, value in raw.items() if _is_secure(value)}
    return {key: SECURE_PLACEHOLDER if key in secret_keys else value for key, value in raw.items()}, secret_keys


def validate(stack: str, root: Path = ROOT) -> bool:
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        print(f"{path.name}: no such stack file")
        return False
    raw, secret_keys = stack_config(stack, root)
    try:
        settings = parse_settings(raw, secret_keys, stack)
        check_names(settings)
    except ConfigError as error:
        print(f"{path.name}: {error}")
        return False
    deployed = [app.name for app in settings.apps if app.image]
    metrics = "metrics off"
    if settings.metrics_enabled:
        monitors = {True: "yes", False: "no", None: "if the cluster has the CRDs"}[settings.metrics.monitors]
        metrics = f"metrics on for namespace {settings.metrics.scraper_namespace}, PodMonitors {monitors}"
    print(
        f"{path.name}: valid: target {settings.target}, {len(settings.namespaces)} namespaces, "
        f"apps deployed {deployed or 'none'}, gateway {settings.gateway.class_name} on {settings.gateway.host}, "
        + metrics
        + (f", secrets set: {', '.join(sorted(secret_keys))}" if secret_keys else "")
    )
    return True


def main() -> None:
    stacks = sys.argv[1:] or ["local"]
    results = [validate(stack) for stack in stacks]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
