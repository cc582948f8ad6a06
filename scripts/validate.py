"""Validate stack files without a cluster or the Pulumi CLI.

    python scripts/validate.py local staging

Reads `Pulumi.<stack>.yaml` as Pulumi would (secure values count as set secrets)
and prints what the stack deploys, or the configuration errors with their fixes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.settings import CONFIG_NAMESPACE, ConfigError, parse_settings  # noqa: E402


def validate(stack: str) -> bool:
    path = ROOT / f"Pulumi.{stack}.yaml"
    if not path.exists():
        print(f"{path.name}: no such stack file")
        return False
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    prefix = f"{CONFIG_NAMESPACE}:"
    raw = {key[len(prefix) :]: value for key, value in config.items() if key.startswith(prefix)}
    secret_keys = {key for key, value in raw.items() if isinstance(value, dict) and "secure" in value}
    try:
        settings = parse_settings(raw, secret_keys)
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
    )
    return True


def main() -> None:
    stacks = sys.argv[1:] or ["local"]
    results = [validate(stack) for stack in stacks]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
