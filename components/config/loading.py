"""Loading the stack config: `load_settings` reads the stack's `platform:*` keys
through the Pulumi SDK, `parse_settings` validates them into a `Settings` model,
then checks what needs the whole config (`problems_of`), or raises `ConfigError`,
whose message names each offending key (as the user writes it, e.g.
`platform:postgres.storage`) and how to fix it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pydantic import ValidationError

from components.config.models import Settings
from components.config.types import route_path

CONFIG_NAMESPACE = "platform"
INVALID = "invalid stack configuration, nothing was changed:"

# The stack's name in a hint, until parse_settings is told which stack it reads.
_STACK = "<stack>"


def _set_secret(key: str, stack: str = _STACK) -> str:
    """The commands that set a secret; both prompt for the value, which a command line
    would leave in the shell's history."""
    return (
        f"`make secret STACK={stack} KEY={key}` or `pulumi config set --secret --stack {stack} platform:{key}` "
        "(both prompt for the value)"
    )


class ConfigError(pulumi.RunError):
    """Stack configuration that cannot be deployed; raised before any resource exists."""


def invalid(problems: Sequence[str], stack: str = _STACK) -> ConfigError:
    """The error for `problems`, each a line `<key>: <what is wrong>; <the fix>`,
    whose hints name `stack`."""
    return ConfigError((INVALID + "".join(f"\n  platform:{problem}" for problem in problems)).replace(_STACK, stack))


def problems_of(settings: Settings) -> list[str]:
    """What the whole config gets wrong that no one section can tell: namespaces that
    are not declared, names and paths used twice, references to apps, services and
    secrets that are not there, and the target's minimum replicas. Each a line
    `<key>: <what is wrong>; <the fix>`."""
    problems: list[str] = []
    declared = {ns.name for ns in settings.namespaces}
    if len(declared) != len(settings.namespaces):
        problems.append("namespaces: a namespace is listed twice; list each name once")
    used = [
        ("postgres.namespace", settings.postgres),
        ("redis.namespace", settings.redis),
        ("authentik.namespace", settings.authentik),
        ("gateway.namespace", settings.gateway),
    ]
    for key, section in used:
        if section is not None and section.namespace not in declared:
            problems.append(_undeclared(key, section.namespace))
    names = [app.name for app in settings.apps]
    paths: dict[str, str] = {}
    if settings.authentik is not None:
        paths[route_path(settings.authentik.path)] = "authentik"
    for i, app in enumerate(settings.apps):
        key = f"apps[{i}]"
        if app.namespace not in declared:
            problems.append(_undeclared(f"{key}.namespace", app.namespace))
        if names.count(app.name) > 1:
            problems.append(f"{key}.name: '{app.name}' is used twice; give each app its own name")
        for callee in app.calls:
            if callee not in names:
                problems.append(f"{key}.calls: no app named '{callee}'; use one of {sorted(names)}")
        for dependency in app.uses:
            if getattr(settings, dependency) is None:
                problems.append(
                    f"{key}.uses: '{dependency}' is not configured in this stack; "
                    f"add platform:{dependency} or remove it from uses"
                )
        for env_name, secret_key in app.secret_env.items():
            if secret_key not in settings.secrets:
                problems.append(
                    f"{key}.secretEnv.{env_name}: the secret platform:{secret_key} is not set; "
                    f"set it with {_set_secret(secret_key)}"
                )
        if app.path is not None and app.image is not None:
            route = route_path(app.path)
            if route in paths:
                problems.append(
                    f"{key}.path: '{app.path}' is already routed to {paths[route]}; give each app its own path"
                )
            paths[route] = app.name
        minimum = settings.profile.min_stateless_replicas
        if app.image is not None and app.replicas < minimum:
            problems.append(
                f"{key}.replicas: target {settings.target} runs stateless services with at least "
                f"{minimum} replicas; set replicas to {minimum} or more"
            )
    minimum = settings.profile.min_stateless_replicas
    if settings.gateway.install and settings.gateway.replicas < minimum:
        problems.append(
            f"gateway.replicas: target {settings.target} needs at least {minimum}; "
            f"set platform:gateway.replicas to {minimum}"
        )
    if settings.authentik is not None and settings.authentik.server_replicas < minimum:
        problems.append(
            f"authentik.serverReplicas: target {settings.target} needs at least {minimum}; set it to {minimum}"
        )
    if settings.metrics.monitors and not settings.metrics_enabled:
        problems.append(
            f"metrics.monitors: metrics are off for target {settings.target}, so there is nothing to monitor; "
            "set platform:metrics.enabled: true, or remove metrics.monitors"
        )
    referenced = {key for app in settings.apps for key in app.secret_env.values()}
    store = settings.backup_store
    if store is not None:
        for field, secret_key in (
            ("accessKeyIdSecret", store.access_key_id_secret),
            ("secretAccessKeySecret", store.secret_access_key_secret),
        ):
            referenced.add(secret_key)
            if secret_key not in settings.secrets:
                problems.append(
                    f"backupStore.{field}: the secret platform:{secret_key} is not set; "
                    f"set it with {_set_secret(secret_key)}"
                )
        backed_up = (settings.postgres is not None and settings.postgres.backup is not None) or (
            settings.authentik is not None and settings.authentik.database.backup is not None
        )
        if not backed_up:
            problems.append(
                "backupStore: no database has a backup; set postgres.backup or "
                "authentik.database.backup, or remove backupStore"
            )
    for secret_key in sorted(set(settings.secrets) - referenced):
        problems.append(
            f"{secret_key}: this secret is not used by any app; reference it from an app's "
            f"secretEnv or run `pulumi config rm platform:{secret_key}`"
        )
    return problems


def _undeclared(key: str, namespace: str) -> str:
    return f"{key}: namespace '{namespace}' is not declared; add it to platform:namespaces or pick a declared one"


def _format_location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _format_errors(error: ValidationError, raw: Mapping[str, Any]) -> str:
    lines = []
    for item in error.errors():
        loc = _format_location(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden" and len(item["loc"]) == 1 and _is_credential(str(loc), raw):
            message = (
                "a credential set as plain config would be stored and shown in clear; "
                f"set it as a secret instead: {_set_secret(str(loc))}"
            )
        elif item["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against the README's config table, or remove it"
        elif item["type"] == "missing":
            message = "required key is missing; set it in the stack file (see the README's config table)"
        elif item["type"] in ("string_type", "literal_error") and _is_yaml_scalar(item["input"]):
            message = _wrong_yaml_type(message, item["input"])
        elif item["type"] == "literal_error":
            message = f"{message}; got {item['input']!r}"
        lines.append(f"  platform:{loc}: {message}")
    return INVALID + "\n" + "\n".join(lines)


_CREDENTIAL_WORDS = ("key", "token", "password", "secret", "credential")


def _is_credential(key: str, raw: Mapping[str, Any]) -> bool:
    """Whether an unknown top-level key is a credential: an app's secretEnv names it,
    or its name says so (`openaiApiKey`, `dbPassword`)."""
    apps = _decode(raw.get("apps")) or []
    referenced = {
        value
        for app in (apps if isinstance(apps, list) else [])
        if isinstance(app, dict)
        for value in (app.get("secretEnv") or {}).values()
    }
    return key in referenced or any(word in key.lower() for word in _CREDENTIAL_WORDS)


def _is_yaml_scalar(value: Any) -> bool:
    return isinstance(value, bool | int | float)


def _wrong_yaml_type(message: str, value: bool | int | float) -> str:
    """YAML reads unquoted 8080, 1.5, yes and on as numbers and booleans; say so."""
    if isinstance(value, bool):
        read = f"the boolean {str(value).lower()} (YAML reads unquoted yes, no, on, off, true and false so)"
        write = "quote what you wrote, for example " + ('"yes"' if value else '"no"')
    else:
        read, write = f"the number {value}", f'quote it: "{value}"'
    expected = message.removeprefix("Input should be ")
    if expected.startswith("a valid string"):
        expected = "text"
    return f"expected {expected}, read {read}; {write}"


def parse_settings(
    raw: Mapping[str, Any], secret_keys: set[str] | frozenset[str] = frozenset(), stack: str = _STACK
) -> Settings:
    """Validate raw config (keys without the `platform:` prefix) into `Settings`; the
    errors' hints name `stack`."""
    data: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for key, value in raw.items():
        if key in secret_keys:
            secrets[key] = value
        else:
            data[key] = _decode(value)
    try:
        settings = Settings.model_validate({**data, "secrets": secrets})
    except ValidationError as error:
        raise ConfigError(_format_errors(error, raw).replace(_STACK, stack)) from None
    problems = problems_of(settings)
    if problems:
        raise invalid(problems, stack)
    return settings


def _decode(value: Any) -> Any:
    """Structured config arrives as JSON text; plain values stay strings."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if value in ("true", "false"):
        return value == "true"
    return value


def load_settings() -> Settings:
    """Read the stack's `platform:*` config through the public SDK and validate it.

    Each key of `Settings` is read by name with `pulumi.Config`. Every other key the
    engine handed the program (`pulumi.runtime.get_config_env`) is either a secret
    (set with `--secret`: an app's credential, checked against `secretEnv`) or a
    typo, reported with the others before anything is registered.
    """
    config = pulumi.Config(CONFIG_NAMESPACE)
    prefix = f"{CONFIG_NAMESPACE}:"
    fields = {field.alias or name for name, field in Settings.model_fields.items() if not field.exclude}
    raw: dict[str, Any] = {}
    for key in fields:
        value = config.get(key)
        if value is not None:
            raw[key] = value
    referenced = {
        key
        for app in _decode(raw.get("apps", "[]")) or []
        if isinstance(app, dict)
        for key in (app.get("secretEnv") or {}).values()
        if isinstance(key, str)
    }
    others = {key[len(prefix) :] for key in pulumi.runtime.get_config_env() if key.startswith(prefix)} - fields
    secrets: set[str] = set()
    problems: list[str] = []
    for key in sorted(referenced | others):
        value = config.get(key)
        if value is None:
            continue
        if pulumi.runtime.is_config_secret(prefix + key):
            secrets.add(key)
            raw[key] = value
        elif key in referenced:
            problems.append(
                f"{key}: this credential is stored in plaintext; set it with {_set_secret(key, pulumi.get_stack())}"
            )
        else:
            problems.append(f"{key}: unknown key; check its spelling against the README's config table, or remove it")
    if problems:
        raise invalid(problems)
    return parse_settings(raw, secrets, pulumi.get_stack())
