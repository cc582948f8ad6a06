"""The value types of the stack config: each a `str` (or `dict`, `int`) held to the
grammar Kubernetes, PostgreSQL or cron gives it, with an error that says how to
write it. The models (`components.config.models`) declare their fields with these.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from components.config.quantity import amount, is_quantity

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_EXTENSION = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The distribution reference grammar: lower-case path components, an optional
# registry host (a first component with a '.' or a port, or localhost), a tag of
# word characters, or a digest.
_IMAGE = re.compile(
    r"^(?:(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)(?::[0-9]+)?/|[a-zA-Z0-9-]+:[0-9]+/)?"
    r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
# Ingress paths of type Prefix: absolute, URL path characters, none of the
# sequences the API server refuses ('//', '/./', '/../', '%2f').
_URL_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
_REFUSED_PATH_PARTS = ("//", "/./", "/../", "%2f", "%2F")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day of week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
INT32_MAX = 2**31 - 1


def _number_as_text(value: Any) -> Any:
    # Kubernetes reads `cpu: 1` and `cpu: 0.5` as quantities, so the stack file may too.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format(Decimal(str(value)), "f")
    return value


def _quantity(value: str) -> str:
    if not is_quantity(value):
        raise ValueError(
            f"'{value}' is not a Kubernetes quantity; use a number with a suffix such as "
            "10Gi or 512Mi for sizes (binary suffixes Ki, Mi, Gi, Ti) and 250m or 1 for CPU"
        )
    return value


# The smallest volume size taken as meant: a size without a unit counts bytes, so
# `storage: 10` would ask for a 10-byte volume.
_MIN_STORAGE = "1Mi"


def _storage_size(value: str) -> str:
    if amount(value) < amount(_MIN_STORAGE):
        raise ValueError(
            f"'{value}' is {format(amount(value).normalize(), 'f')} bytes, below {_MIN_STORAGE} "
            "(a size without a unit counts bytes); write the size with a unit, such as 10Gi or 512Mi"
        )
    return value


def _pinned_image(value: str) -> str:
    if not _IMAGE.fullmatch(value):
        raise ValueError(
            f"'{value}' is not an image reference; write it as [registry/]repository:tag with a lower-case "
            "repository and no spaces, for example 'ghcr.io/example/app:1.2.3'"
        )
    if "@sha256:" in value:
        return value
    name, _, tag = value.rpartition(":")
    if not name or "/" in tag:
        raise ValueError(f"image '{value}' has no tag; pin a version such as '{value}:1.2.3' (or a digest @sha256:...)")
    if tag == "latest":
        raise ValueError(
            f"image '{value}' uses the floating tag 'latest'; pin a released version such as '{name}:1.2.3'"
        )
    return value


def held_to(grammar: str | re.Pattern[str], value: str, problem: str) -> str:
    """`value` if the whole of it matches `grammar`; else the error `problem`, which
    says what is wrong and how to write it."""
    if not re.fullmatch(grammar, value):
        raise ValueError(problem)
    return value


def _dns_label(value: str) -> str:
    return held_to(
        _DNS_LABEL,
        value,
        f"'{value}' is not a valid Kubernetes name; use lower-case letters, digits and '-', "
        "starting and ending with a letter or digit, at most 63 characters",
    )


def _extension(value: str) -> str:
    # Written into `CREATE EXTENSION IF NOT EXISTS "<name>"` (the init script).
    return held_to(
        _EXTENSION,
        value,
        f"{value!r} is not an extension name; use lower-case letters, digits, '_' and '-', starting with a "
        "letter, as PostgreSQL names them: vector, pg_trgm, uuid-ossp",
    )


def _service_name(value: str) -> str:
    return held_to(
        _DNS_1035,
        _dns_label(value),
        f"'{value}' also names a Service, and Service names must start with a letter; "
        f"rename it, for example 'app-{value}'",
    )


def _leading_slash(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"'{value}' must start with '/', for example '/{value}'")
    return value


def _route_path(value: str) -> str:
    _leading_slash(value)
    refused = [part for part in _REFUSED_PATH_PARTS if part in value]
    if refused or value.endswith(("/.", "/..")) or not _URL_PATH.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a path an Ingress accepts; use letters, digits and '-', '.', '_', '~' "
            "between single slashes, for example '/api'"
        )
    return value


def _web_path(value: str) -> str:
    if not (value.startswith("/") and value.endswith("/")):
        raise ValueError(
            f"'{value}' must start and end with '/', for example '/auth/': "
            "Authentik serves under AUTHENTIK_WEB__PATH exactly"
        )
    return _route_path(value)


def route_path(path: str) -> str:
    """A gateway route's path: no trailing slash, except the root itself."""
    return path.rstrip("/") or "/"


def _identifier(value: str) -> str:
    return held_to(
        r"^[a-z_][a-z0-9_]{0,62}$",
        value,
        f"'{value}' is not a plain PostgreSQL identifier; use lower-case letters, "
        "digits and '_', starting with a letter",
    )


def _env_names(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not _ENV_NAME.fullmatch(key):
            raise ValueError(
                f"'{key}' is not a valid environment variable name; use letters, digits "
                "and '_', not starting with a digit"
            )
    return value


def _host(value: str) -> str:
    bare = value.removeprefix("http://").removeprefix("https://").split("/")[0].split(":")[0].lower()
    if bare != value:
        raise ValueError(f"'{value}' is not a host name; write the host alone, without scheme, port or path: '{bare}'")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        raise ValueError(
            f"'{value}' is an IP address, and an Ingress routes host names only; "
            f"use a name that resolves to it, for example '{value}.nip.io'"
        )
    if len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value) or any(len(part) > 63 for part in value.split(".")):
        raise ValueError(
            f"'{value}' is not a host name; use lower-case letters, digits, '-' and '.', "
            "for example 'staging.example.com'"
        )
    return value


def _duration(value: str) -> str:
    return held_to(
        r"^[1-9][0-9]*(s|m|h)$",
        value,
        f"'{value}' is not a duration; use a whole number of s, m or h, such as 90s or 10m",
    )


def _schedule(value: str) -> str:
    problem = _cron_problem(value)
    if problem:
        raise ValueError(
            f"'{value}' is not a cron schedule ({problem}); use five fields, minute hour day-of-month month "
            "day-of-week, for example '0 3 * * *' (03:00 every day), or @daily"
        )
    return value


def _cron_problem(value: str) -> str | None:
    if value in _CRON_MACROS:
        return None
    fields = value.split()
    if len(fields) != 5 or value != " ".join(fields):
        return f"{len(fields)} fields separated by single spaces"
    for text, (what, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            span, _, step = item.partition("/")
            if step and not (step.isdigit() and int(step) > 0):
                return f"step '{step}' of the {what}"
            if span == "*" or (span == "?" and what.startswith("day")):
                continue
            ends = span.split("-")
            if len(ends) > 2:
                return f"'{span}' in the {what}"
            for end in ends:
                number = names.index(end.upper()) + low if end.upper() in names else None
                if number is None and end.isdigit():
                    number = int(end)
                if number is None or not low <= number <= high:
                    return f"'{end}' in the {what}, which runs from {low} to {high}"
    return None


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix))) or not (
            len(name) <= 63 and _LABEL_NAME.fullmatch(name)
        ):
            raise ValueError(
                f"'{key}' is not a label key; use letters, digits, '-', '_' and '.' (at most 63), "
                "optionally after a DNS prefix and '/', for example 'example.com/team'"
            )
        if len(text) > 63 or not _LABEL_VALUE.fullmatch(text):
            raise ValueError(
                f"'{text}' (label {key}) is not a label value; use at most 63 letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit"
            )
    return value


Quantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_quantity)]
StorageSize = Annotated[Quantity, AfterValidator(_storage_size)]
Image = Annotated[str, AfterValidator(_pinned_image)]
Name = Annotated[str, AfterValidator(_dns_label)]
ServiceName = Annotated[str, AfterValidator(_service_name)]
RoutePath = Annotated[str, AfterValidator(_route_path)]
AbsolutePath = Annotated[str, AfterValidator(_leading_slash)]
WebPath = Annotated[str, AfterValidator(_web_path)]
Host = Annotated[str, AfterValidator(_host)]
Schedule = Annotated[str, AfterValidator(_schedule)]
Duration = Annotated[str, AfterValidator(_duration)]
Extension = Annotated[str, AfterValidator(_extension)]
Identifier = Annotated[str, AfterValidator(_identifier)]
EnvVars = Annotated[dict[str, str], AfterValidator(_env_names)]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]
Replicas = Annotated[int, Field(ge=1, le=100)]
PodSecurityLevel = Literal["restricted", "baseline", "privileged"]
