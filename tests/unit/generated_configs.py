"""Stack configs generated from the settings schema, for property-based tests.

`stack_configs()` builds a config section by section. Every leaf value comes from
the field's declaration (components/config/models.py, components/config/types.py): its validator (a name, a
quantity, an image, a path, a host, a schedule, labels), its bounds (`ge`/`le`)
or its literal choices. Values are drawn at and around each limit: names exactly as
long as every name and label the program renders from them leaves room for, and
one longer (`EDGE_LENGTHS`, learned from a render, components/object_names.py),
and names that other objects already use, so rendered names collide.

With `near=True` one mutation follows, drawn from the leaves the config has and
from the cross-field rules: a value just past a limit, the wrong YAML type (a bare
number or boolean where text is expected), an undeclared namespace, a plain
credential. A `Case` records which key the mutation touched, so a test can check
that the rejection names it.
"""

from __future__ import annotations

import functools
import re
import string
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import annotated_types
from hypothesis import strategies as st
from pydantic import AfterValidator, BaseModel

from components.config import models as schema
from components.config.loading import parse_settings
from components.config.types import route_path
from components.object_names import named_objects
from tests.unit.harness import stack_config

Strategy = st.SearchStrategy[Any]
Path = tuple[str | int, ...]

TARGETS = ["kind", "minikube", "gke", "eks", "aks"]
# Everything that names an object of its own: both databases backed up, Authentik
# old enough for its own Redis, every app deployed, metrics with PodMonitors, TLS.
EVERY_OBJECT: dict[str, Any] = stack_config("staging") | {
    "redis": stack_config("staging")["redis"] | {"persistence": "rdb"},
    "authentik": stack_config("staging")["authentik"] | {"image": "ghcr.io/goauthentik/server:2025.8.1"},
    "apps": [app | {"image": "traefik/whoami:v1.11.0"} for app in stack_config("staging")["apps"]],
    "metrics": {"monitors": True},
    "gateway": stack_config("staging")["gateway"] | {"tls": {"clusterIssuer": "letsencrypt"}},
}


def _edge_lengths() -> list[int]:
    """For each name and label the program renders from a config value, the longest
    value that fits and one longer; and the shortest names."""
    rooms = {fit.room for item in named_objects(parse_settings(EVERY_OBJECT)) for fit in item.fits()}
    return sorted({1, 2} | {length for room in rooms if room > 0 for length in (room, room + 1) if length <= 63})


EDGE_LENGTHS = _edge_lengths()


def name_limits() -> dict[str, int]:
    """For each key of EVERY_OBJECT that names objects (but the namespaces, which the
    rest refers to), the longest value every name and label made from it leaves room
    for; a name is at most 63 characters in any case."""
    rooms: dict[str, int] = {}
    for item in named_objects(parse_settings(EVERY_OBJECT)):
        for fit in item.fits():
            if fit.room > 0:
                rooms[fit.source.key] = min(rooms.get(fit.source.key, 63), fit.room)
    return {key: room for key, room in rooms.items() if not key.startswith("namespaces")}


def set_key(config: dict[str, Any], key: str, value: Any) -> None:
    """Set `key` (as an error names it, `apps[1].name`) in `config`."""
    node: Any = config
    *parents, last = re.findall(r"[A-Za-z]+|\d+", key)
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value


# Names the components also give to objects of their own, so generated names collide.
TAKEN_NAMES = ["postgres", "redis", "authentik", "gateway", "default-deny", "allow-dns", "authentik-server"]


@dataclass
class Case:
    """A generated config: `config` is the platform:* keys, `secrets` the secret ones."""

    config: dict[str, Any]
    secrets: dict[str, str] = field(default_factory=dict)
    mutated: str | None = None
    """The key (as an error names it, `apps[0].port`) a near-valid mutation changed."""
    mutation: str | None = None
    names: bool = False
    """The mutation breaks a rendered name, which is checked once the settings are valid."""


def key_of(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# Leaf values -----------------------------------------------------------------


@st.composite
def dns_label(draw: st.DrawFn, *, letter_first: bool = True, lengths: list[int] | None = None) -> str:
    """A valid DNS label: mostly short, else of a length at some limit (EDGE_LENGTHS)."""
    sizes = st.sampled_from(lengths) if lengths else st.one_of(st.integers(1, 12), st.sampled_from(EDGE_LENGTHS))
    length = draw(sizes)
    first_chars = string.ascii_lowercase if letter_first else string.ascii_lowercase + string.digits
    first = draw(st.sampled_from(first_chars))
    if length == 1:
        return first
    middle = draw(st.text(string.ascii_lowercase + string.digits + "-", min_size=length - 2, max_size=length - 2))
    last = draw(st.sampled_from(string.ascii_lowercase + string.digits))
    return first + middle + last


@functools.cache
def names(*, service: bool) -> Strategy:
    return st.one_of(dns_label(letter_first=service), st.sampled_from(TAKEN_NAMES))


@functools.cache
def bad_names(*, service: bool) -> Strategy:
    bad = st.one_of(
        st.sampled_from(["Upper", "under_score", "-lead", "trail-", "a.b", "", "with space"]),
        dns_label(lengths=[64, 70]),
    )
    return st.one_of(bad, st.just("1" + "app")) if service else bad


# Ascending, so requests <= limits is a matter of order; YAML numbers among them.
CPU_SCALE: list[Any] = ["10m", "50m", "100m", "250m", 0.5, "500m", 1, "2"]
MEMORY_SCALE: list[Any] = ["64Mi", "128Mi", "256Mi", "1Gi", "1.5Gi"]
BAD_QUANTITIES = ["10Gb", "250 m", "", "-1", "1,5Gi", "one", "Mi"]

GOOD: dict[str, Strategy] = {
    "_quantity": st.sampled_from(["100m", "1", "2Gi", "512Mi", "10Gi", 1, 0.25]),
    "_storage_size": st.sampled_from(["1Mi", "512Mi", "2Gi", "10Gi", "1.5Ti", "2G"]),
    "_pinned_image": st.sampled_from(
        [
            "redis:7-alpine",
            "pgvector/pgvector:pg16",
            "ghcr.io/example/app:1.2.3",
            "localhost:5000/todo-backend:v1",
            "registry.example.com/a/b_c:v1.0-rc.1",
            "example/app@sha256:" + "a" * 64,
        ]
    ),
    "_route_path": st.sampled_from(["/", "/api", "/api/", "/a-b/c_d", "/v1.0/x~y", "/ai"]),
    "_host": st.one_of(
        st.sampled_from(["localhost", "staging.example.com", "a-b.example", "todo.192-168-49-2.nip.io"]),
        dns_label(lengths=[63]).map(lambda label: f"{label}.example.com"),
    ),
    "_schedule": st.sampled_from(["0 3 * * *", "*/15 * * * *", "@daily", "0 0 1 JAN *", "30 2 * * MON-FRI"]),
    "_labels": st.sampled_from([{}, {"service": "core-backend"}, {"example.com/team": "a", "tier": "x_y.z"}]),
}
BAD: dict[str, Strategy] = {
    "_quantity": st.sampled_from(BAD_QUANTITIES),
    "_storage_size": st.sampled_from([*BAD_QUANTITIES, "10", 10, "1023Ki", "0.5Mi"]),
    "_pinned_image": st.sampled_from(
        ["redis", "redis:latest", "Redis:7", "redis:7 ", " redis:7", "redis:7@sha256:xyz", "redis:7:8"]
    ),
    "_route_path": st.sampled_from(["api", "//", "/a//b", "/a/./b", "/a/../b", "/a%2fb", "/a/.", "/a b", ""]),
    "_host": st.sampled_from(
        ["http://x.example", "x.example:8080", "Example.com", "10.0.0.1", "*.example.com", "", "a_b.example", "-a.b"]
    ),
    "_schedule": st.sampled_from(["nightly", "0 3 * *", "60 * * * *", "0 24 * * *", "* * * * 7", "0  3 * * *"]),
    "_labels": st.sampled_from(
        [
            {"Service Name": "x"},
            {"k": "v" * 64},
            {"k": "-v"},
            {"environment": "dev"},
            {"pod-security.kubernetes.io/enforce": "privileged"},
            {"k": 5},
        ]
    ),
}
# Fields checked by a model's own field validator rather than a type of their own.
GOOD_FIELDS: dict[tuple[str, str], Strategy] = {
    ("AuthentikSettings", "path"): st.sampled_from(["/auth/", "/", "/id/p/", "/auth.v2/"]),
    ("AuthentikSettings", "image"): st.sampled_from(
        ["ghcr.io/goauthentik/server:2026.8.6", "ghcr.io/goauthentik/server:2025.8.1"]
    ),
    ("AuthentikSettings", "trusted_proxies"): st.sampled_from(["10.0.0.0/8", "10.0.0.0/8, 192.168.0.0/16"]),
    ("Probe", "path"): st.sampled_from(["/health", "/", "/-/ready"]),
    ("PostgresSettings", "database"): st.one_of(st.sampled_from(["app", "todo_db", "_x"]), st.just("a" * 63)),
    ("PostgresSettings", "user"): st.sampled_from(["app", "todo"]),
    ("PostgresSettings", "extensions"): st.sampled_from([[], ["vector"], ["vector", "pg_trgm"]]),
    ("AppSettings", "env"): st.sampled_from([{}, {"PORT": "8080"}, {"A_B": "x", "LOG_LEVEL": "debug"}]),
}
BAD_FIELDS: dict[tuple[str, str], Strategy] = {
    ("AuthentikSettings", "path"): st.sampled_from(["/auth", "auth/", "//", "/a b/"]),
    ("AuthentikSettings", "trusted_proxies"): st.sampled_from(["10.0.0.0/33", "everything"]),
    ("Probe", "path"): st.just("health"),
    ("PostgresSettings", "database"): st.sampled_from(["App", "1db", "a-b", "a" * 64]),
    ("PostgresSettings", "user"): st.sampled_from(["App", "1db", "app\n"]),
    ("PostgresSettings", "extensions"): st.sampled_from([['vector"; DROP TABLE app; --'], ["Vector"], ["pg trgm"]]),
    ("AppSettings", "env"): st.sampled_from([{"1BAD": "x"}, {"PORT": 8080}, {"DEBUG": True}, {"A-B": "x"}]),
}
# Keys a section gets from the structure of the whole config, not from the schema.
_SECTION = {"name", "namespace", "image"}
STRUCTURAL: dict[str, set[str]] = {
    "NamespaceSettings": {"name"},
    "PostgresSettings": _SECTION,
    "RedisSettings": _SECTION,
    "AuthentikSettings": _SECTION | {"path"},
    "GatewaySettings": _SECTION | {"host", "tls"},
    "AppSettings": _SECTION | {"path", "replicas", "autoscaling", "uses", "calls", "secret_env"},
}
# Fields of which a config sets at most one (the model refuses both): the generator
# keeps the first it drew.
EXCLUSIVE: dict[str, tuple[str, str]] = {"BackupSettings": ("keepLast", "keepDays")}
YAML_SCALARS = st.sampled_from([8080, 1.5, True, False])


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The annotation without `| None`, and the metadata of an Annotated type."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    if typing.get_origin(annotation) is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        return base, metadata
    return annotation, []


def _validator_name(metadata: list[Any]) -> str | None:
    found = [m.func.__name__ for m in metadata if isinstance(m, AfterValidator)]
    return found[-1] if found else None


def _bounds(metadata: list[Any]) -> tuple[int | None, int | None]:
    low = next((int(str(m.ge)) for m in metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((int(str(m.le)) for m in metadata if isinstance(m, annotated_types.Le)), None)
    return low, high


@functools.cache
def leaf(model: type[BaseModel], name: str, *, bad: bool) -> Strategy | None:
    """Values for one field: valid ones (at its limits too), or ones just past them."""
    info = model.model_fields[name]
    special = (BAD_FIELDS if bad else GOOD_FIELDS).get((model.__name__, name))
    if special is not None:
        return special
    base, metadata = _unwrap(info.annotation)
    metadata = [*metadata, *info.metadata]
    validator = _validator_name(metadata)
    if validator in ("_dns_label", "_service_name"):
        return (bad_names if bad else names)(service=validator == "_service_name")
    if validator is not None and validator in GOOD:
        return (BAD if bad else GOOD)[validator]
    if typing.get_origin(base) is typing.Literal:
        choices = list(typing.get_args(base))
        return st.sampled_from(["other", False]) if bad else st.sampled_from(choices)
    if base is bool:
        return st.just("maybe") if bad else st.booleans()
    if base is int:
        low, high = _bounds(metadata)
        if bad:
            past = [
                value
                for value in (None if low is None else low - 1, None if high is None else high + 1)
                if value is not None
            ]
            return st.sampled_from([*past, "ten"])
        edges = [value for value in (low, high) if value is not None]
        start = low or 0
        return st.one_of(st.integers(start, min(high or start + 100, start + 100)), st.sampled_from(edges or [0]))
    if base is str:
        return YAML_SCALARS if bad else st.text(string.ascii_letters + " -.:/@", max_size=20)
    return None


def _leaf(model: type[BaseModel], name: str) -> Strategy:
    found = leaf(model, name, bad=False)
    assert found is not None, f"{model.__name__}.{name} has no generator"
    return found


@st.composite
def section(draw: st.DrawFn, model: type[BaseModel], path: Path, slots: list[tuple[Path, Strategy]]) -> dict[str, Any]:
    """Some of `model`'s optional fields, with values from the schema; records each
    leaf's path and its near-valid values in `slots`."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in STRUCTURAL.get(model.__name__, set()):
            continue
        key = info.alias or name
        base, _ = _unwrap(info.annotation)
        if isinstance(base, type) and issubclass(base, BaseModel):
            if draw(st.booleans()):
                out[key] = (
                    draw(resources((*path, key), slots))
                    if base is schema.Resources
                    else draw(section(base, (*path, key), slots))
                )
            continue
        good = leaf(model, name, bad=False)
        if good is None or not (info.is_required() or draw(st.booleans())):
            continue
        out[key] = draw(good)
        bad = leaf(model, name, bad=True)
        if bad is not None:
            slots.append(((*path, key), bad))
    exclusive = EXCLUSIVE.get(model.__name__)
    if exclusive is not None and all(key in out for key in exclusive):
        del out[exclusive[1]]
        slots[:] = [slot for slot in slots if slot[0] != (*path, exclusive[1])]
    return out


@st.composite
def resources(draw: st.DrawFn, path: Path, slots: list[tuple[Path, Strategy]]) -> dict[str, Any]:
    """requests <= limits, as Kubernetes requires; a near-valid mutation puts a request
    above its limit, or a limit that is no quantity."""

    def pair(scale: list[Any]) -> tuple[Any, Any]:
        low, high = sorted(draw(st.lists(st.integers(0, len(scale) - 1), min_size=2, max_size=2)))
        return scale[low], scale[high]

    (cpu_request, cpu_limit), (memory_request, memory_limit) = pair(CPU_SCALE), pair(MEMORY_SCALE)
    slots.append(((*path, "requests", "cpu"), st.just("4")))
    slots.append(((*path, "limits", "memory"), st.sampled_from(["1Mi", *BAD_QUANTITIES])))
    return {
        "requests": {"cpu": cpu_request, "memory": memory_request},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


# Whole configs ---------------------------------------------------------------


@st.composite
def stack_configs(draw: st.DrawFn, *, near: bool = False) -> Case:
    slots: list[tuple[Path, Strategy]] = []
    config: dict[str, Any] = {"target": draw(st.sampled_from(TARGETS))}
    slots.append((("target",), st.sampled_from(["k3d", True])))
    if draw(st.booleans()):
        config["environment"] = draw(names(service=False))
        slots.append((("environment",), bad_names(service=False)))

    namespace_names = draw(st.lists(names(service=False), min_size=1, max_size=3, unique=True))
    namespaces = []
    for i, ns_name in enumerate(namespace_names):
        namespaces.append({"name": ns_name, **draw(section(schema.NamespaceSettings, ("namespaces", i), slots))})
        slots.append((("namespaces", i, "name"), bad_names(service=False)))
    config["namespaces"] = namespaces
    pick_namespace = st.sampled_from(namespace_names)

    def named(model: type[BaseModel], key: str) -> dict[str, Any]:
        body = {"namespace": draw(pick_namespace), **draw(section(model, (key,), slots))}
        if draw(st.booleans()):
            body["name"] = draw(names(service=True))
            slots.append(((key, "name"), bad_names(service=True)))
        if "image" in model.model_fields and draw(st.booleans()):
            body["image"] = draw(_leaf(model, "image"))
            slots.append(((key, "image"), BAD["_pinned_image"]))
        return body

    sections: list[tuple[str, type[BaseModel]]] = [
        ("postgres", schema.PostgresSettings),
        ("redis", schema.RedisSettings),
    ]
    for section_key, model in sections:
        if draw(st.booleans()):
            config[section_key] = named(model, section_key)
    if draw(st.booleans()):
        config["authentik"] = named(schema.AuthentikSettings, "authentik")
        if draw(st.booleans()):
            config["authentik"]["path"] = draw(GOOD_FIELDS[("AuthentikSettings", "path")])
            slots.append((("authentik", "path"), BAD_FIELDS[("AuthentikSettings", "path")]))

    secrets: dict[str, str] = {}
    app_names = draw(st.lists(names(service=True), max_size=3, unique=True))
    apps = []
    used_paths: set[str] = set()
    if "authentik" in config:
        used_paths.add(route_path(config["authentik"].get("path", "/auth/")))
    for i, app_name in enumerate(app_names):
        at: Path = ("apps", i)
        app: dict[str, Any] = {"name": app_name, "namespace": draw(pick_namespace)}
        app |= draw(section(schema.AppSettings, at, slots))
        slots.append(((*at, "name"), bad_names(service=True)))
        if draw(st.integers(0, 3)):
            app["image"] = draw(GOOD["_pinned_image"])
            slots.append(((*at, "image"), BAD["_pinned_image"]))
        route = draw(st.none() | GOOD["_route_path"])
        if route is not None and route_path(route) not in used_paths:
            used_paths.add(route_path(route))
            app["path"] = route
            slots.append(((*at, "path"), BAD["_route_path"]))
        if draw(st.booleans()):
            app["replicas"] = draw(_leaf(schema.AppSettings, "replicas"))
            slots.append(((*at, "replicas"), st.sampled_from([0, 101, "two"])))
        if draw(st.booleans()):
            low, high = sorted(draw(st.lists(st.integers(1, 100), min_size=2, max_size=2)))
            app["autoscaling"] = {"minReplicas": low, "maxReplicas": high}
            slots.append(((*at, "autoscaling"), st.just({"minReplicas": 5, "maxReplicas": 3})))
        backings = [s for s in ("postgres", "redis") if s in config]
        app["uses"] = draw(st.lists(st.sampled_from(backings), unique=True)) if backings else []
        app["calls"] = draw(st.lists(st.sampled_from(app_names), unique=True, max_size=2))
        if draw(st.integers(0, 3)) == 0:
            secret_key = draw(st.sampled_from(["openaiApiKey", "groqApiKey"]))
            app["secretEnv"] = {secret_key.removesuffix("ApiKey").upper() + "_API_KEY": secret_key}
            secrets[secret_key] = "sk-generated"
        apps.append(app)
    if apps:
        config["apps"] = apps

    gateway = named(schema.GatewaySettings, "gateway")
    if draw(st.booleans()):
        gateway["host"] = draw(GOOD["_host"])
        slots.append((("gateway", "host"), BAD["_host"]))
    if draw(st.integers(0, 3)) == 0:
        gateway["tls"] = draw(st.sampled_from([{"secretName": "staging-tls"}, {"clusterIssuer": "letsencrypt"}]))
        slots.append((("gateway", "tls"), st.sampled_from([{}, {"secretName": "a", "clusterIssuer": "b"}])))
    config["gateway"] = gateway

    case = Case(config, secrets)
    if near:
        _mutate(draw, case, slots, namespace_names)
    return case


def _set(config: dict[str, Any], path: Path, value: Any) -> None:
    node: Any = config
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _mutate(draw: st.DrawFn, case: Case, slots: list[tuple[Path, Strategy]], namespaces: list[str]) -> None:
    config = case.config
    cross: list[tuple[str, Callable[[], str]]] = []

    def undeclared() -> str:
        section_key = draw(
            st.sampled_from([key for key in ("postgres", "redis", "authentik", "gateway") if key in config])
        )
        config[section_key]["namespace"] = "undeclared-" + namespaces[0][:40]
        return f"{section_key}.namespace"

    cross.append(("undeclared namespace", undeclared))

    def duplicate_namespace() -> str:
        config["namespaces"].append(dict(config["namespaces"][0]))
        return "namespaces"

    cross.append(("namespace listed twice", duplicate_namespace))
    apps = config.get("apps", [])
    if apps:

        def unknown_call() -> str:
            apps[0]["calls"] = ["no-such-app"]
            return "apps[0].calls"

        def missing_dependency() -> str:
            missing = [s for s in ("postgres", "redis") if s not in config]
            if not missing:
                config.pop("redis")
                missing = ["redis"]
                for app in apps:
                    app["uses"] = [u for u in app["uses"] if u != "redis"]
            apps[0]["uses"] = [missing[0]]
            return "apps[0].uses"

        def unset_secret() -> str:
            apps[0]["secretEnv"] = {"TOKEN": "unsetToken"}
            return "apps[0].secretEnv.TOKEN"

        cross += [
            ("call to an unknown app", unknown_call),
            ("uses a service the stack lacks", missing_dependency),
            ("secret not set", unset_secret),
        ]
    if case.secrets:

        def plain_credential() -> str:
            secret_key = sorted(case.secrets)[0]
            config[secret_key] = case.secrets.pop(secret_key)
            return secret_key

        cross.append(("credential as plain config", plain_credential))

    def one_replica_on_a_cloud() -> str:
        config["target"] = "gke"
        config["gateway"]["install"] = True
        config["gateway"]["replicas"] = 1
        return "gateway.replicas"

    def name_taken() -> str:
        config["redis"] = {"namespace": namespaces[0], "name": "allow-dns"}
        return "redis.name"

    def name_too_long() -> str:
        config["authentik"] = {"namespace": namespaces[0], "name": "a" * 46}
        return "authentik.name"

    def name_too_long_for_a_backup() -> str:
        config["authentik"] = {"namespace": namespaces[0], "name": "a" * 37, "database": {"backup": {}}}
        return "authentik.name"

    def app_named_like_a_metrics_policy() -> str:
        config["redis"] = {"namespace": namespaces[0], "name": "redis"}
        config["metrics"] = {"enabled": True}
        apps.append({"name": "redis-metrics", "namespace": namespaces[0], "image": "traefik/whoami:v1.11.0"})
        config["apps"] = apps
        return f"apps[{len(apps) - 1}].name"

    cross += [
        ("one replica on a cloud target", one_replica_on_a_cloud),
        ("name a namespace's policy has", name_taken),
        ("name too long for a rendered StatefulSet", name_too_long),
        ("name too long for a backup CronJob", name_too_long_for_a_backup),
        ("app named like Redis' metrics policy", app_named_like_a_metrics_policy),
    ]
    deployed = [app for app in apps if "image" in app]
    if len(deployed) >= 2:

        def shared_path() -> str:
            deployed[0]["path"] = deployed[1]["path"] = "/shared"
            return f"apps[{max(apps.index(deployed[0]), apps.index(deployed[1]))}].path"

        cross.append(("two apps on one path", shared_path))

    def unused_secret() -> str:
        case.secrets["unusedApiKey"] = "sk-unused"
        return "unusedApiKey"

    cross.append(("secret used by no app", unused_secret))

    if draw(st.integers(0, 2)) == 0:
        label, apply = draw(st.sampled_from(cross))
        case.mutated = apply()
        case.mutation = label
        case.names = apply in (name_taken, name_too_long, name_too_long_for_a_backup, app_named_like_a_metrics_policy)
        return
    path, bad = draw(st.sampled_from(slots))
    value = draw(bad)
    _set(config, path, value)
    case.mutated = key_of(path)
    case.mutation = f"{key_of(path)} = {value!r}"
