"""Every Kubernetes object name the program would create, learned from the program.

`check_names(settings)` builds the Platform from the settings under Pulumi's mocks,
in a thread of its own (Pulumi keeps its runtime settings per context, so the mock
run never reaches a real deployment's engine), and checks what it would register:
each name against Kubernetes' rules for its kind, each label value against the
label rules, and kind + namespace + name against every other object. A problem
names the config key the name came from (`from_settings.name_sources`) and how much
shorter it must be. It needs no cluster and no CLI, so `make validate` and the
program itself (before anything is registered) run the same check.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi._utils import ContextProperty
from pulumi.runtime import mocks, rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.proto import resource_pb2

from components.config.loading import invalid
from components.config.models import Settings
from components.from_settings import NameSource, name_sources
from components.platform import Platform

COMPONENT_TYPE = "platform:index:"
PLATFORM = f"{COMPONENT_TYPE}Platform"
# Where pulumi._utils.ContextProperty keeps the default it shares between contexts.
DEFAULT_ATTRIBUTE = "_ContextProperty__default"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_VALUE_LIMIT = 63


@dataclass(frozen=True)
class NameRule:
    """What Kubernetes accepts as the name of one kind of object, and why."""

    pattern: re.Pattern[str]
    limit: int
    reason: str
    grammar: str


SUBDOMAIN = NameRule(
    DNS_SUBDOMAIN,
    253,
    "names are DNS subdomains",
    "lower-case letters, digits, '-' and '.', a letter or digit at the ends",
)
# Where Kubernetes takes less than a DNS subdomain.
NAME_RULES: dict[str, NameRule] = {
    "Namespace": NameRule(DNS_LABEL, 63, "namespace names are DNS labels", "lower-case letters, digits and '-'"),
    "Service": NameRule(
        DNS_1035, 63, "Service names are DNS labels", "lower-case letters, digits and '-', starting with a letter"
    ),
    "StatefulSet": NameRule(
        DNS_SUBDOMAIN,
        52,
        "its pods carry the label controller-revision-hash, the name plus 11 characters",
        SUBDOMAIN.grammar,
    ),
    "CronJob": NameRule(
        DNS_SUBDOMAIN, 52, "the CronJob controller appends 11 characters to name its Jobs", SUBDOMAIN.grammar
    ),
}


@dataclass(frozen=True)
class KubeObject:
    """One object the program would register: its kind, namespace (None: cluster
    scoped), name, every label value it carries (on itself, its pods, its selectors),
    the component of the Platform that makes it (its type token), and its inputs."""

    kind: str
    namespace: str | None
    name: str
    labels: tuple[tuple[str, str], ...]
    component: str
    inputs: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class _Recorder(mocks.MockMonitor):
    """A mock engine that keeps each Kubernetes object's type, parent and inputs, and
    answers with the inputs as the state (nothing is created)."""

    def __init__(self) -> None:
        super().__init__(_NoProvider())
        self.objects: list[tuple[str, str, Mapping[str, Any]]] = []
        self.components: dict[str, tuple[str, str]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the engine's RPC name
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type.startswith("kubernetes:"):
            self.objects.append((request.type, request.parent, rpc.deserialize_properties(request.object)))
        else:
            self.components[urn] = (request.type, request.parent)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=f"{request.name}-id", object=request.object)

    def component(self, parent: str) -> str:
        """The type of the Platform's child that `parent` is, or is inside of."""
        while parent in self.components:
            type_token, grandparent = self.components[parent]
            if self.components.get(grandparent, ("", ""))[0] == PLATFORM:
                return type_token
            parent = grandparent
        return ""


class _NoProvider(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def rendered_objects(settings: Settings) -> list[KubeObject]:
    """The Kubernetes objects the Platform would register for `settings`, in order.

    PodMonitors count wherever `platform:metrics.monitors` leaves them to the
    cluster: every name the program can render is checked, without asking a cluster.
    """
    recorder = _Recorder()
    monitors = settings.metrics.monitors is not False

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        Platform("names", settings, pod_monitors_available=monitors)

    def build() -> None:
        # The copied context holds the caller's root resource, of the caller's engine.
        runtime_settings.ROOT.set(None)
        pulumi.runtime.set_mocks(recorder.mocks, project="platform", stack="names", preview=True, monitor=recorder)
        program()

    _isolated(build)
    return [_object(kind, recorder.component(parent), inputs) for kind, parent, inputs in recorder.objects]


def _isolated(run: Callable[[], None]) -> None:
    """Run `run` in a thread with an event loop of its own, in a copy of the caller's
    context, so the mock runtime's settings (Pulumi keeps them in context variables)
    never reach the caller's engine. A setting set where it was None also becomes the
    default of every context (pulumi._utils.ContextProperty), so the defaults are put
    back afterwards."""
    properties = [value for value in vars(runtime_settings.Settings).values() if isinstance(value, ContextProperty)]
    defaults = [getattr(prop, DEFAULT_ATTRIBUTE) for prop in properties]
    failure: list[BaseException] = []

    def in_thread() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            run()
        except BaseException as error:
            # Raised again in the caller's thread, where it stops the program.
            failure.append(error)
        finally:
            loop.close()

    thread = threading.Thread(target=contextvars.copy_context().run, args=(in_thread,), name="object-names")
    try:
        thread.start()
        thread.join()
    finally:
        for prop, default in zip(properties, defaults, strict=True):
            setattr(prop, DEFAULT_ATTRIBUTE, default)
    if failure:
        raise failure[0]


def _object(type_token: str, component: str, inputs: Mapping[str, Any]) -> KubeObject:
    metadata = inputs.get("metadata") or {}
    return KubeObject(
        kind=type_token.rsplit(":", 1)[-1],
        namespace=metadata.get("namespace"),
        name=metadata.get("name") or "",
        labels=tuple(_labels(inputs)),
        component=component,
        inputs=inputs,
    )


def _labels(node: Any) -> Iterator[tuple[str, str]]:
    """Every label and selector value anywhere in an object's inputs."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("labels", "matchLabels") and isinstance(value, Mapping):
                yield from ((str(k), str(v)) for k, v in value.items())
            else:
                yield from _labels(value)
    elif isinstance(node, list):
        for item in node:
            yield from _labels(item)


def _occurs(value: str, text: str) -> bool:
    """Whether `value` is one or more of the dash-separated parts `text` is made of."""
    return f"-{value}-" in f"-{text}-"


def attribute(obj: KubeObject, sources: Sequence[NameSource]) -> NameSource:
    """The config value `obj` was named after: among those given to its component
    (for its namespace), the longest its name contains; else, for a name of the
    component's own (`default-deny`), the one it was given for that namespace."""
    given = [
        source
        for source in sources
        if f"{COMPONENT_TYPE}{source.component.__name__}" == obj.component
        and (source.namespace is None or obj.namespace is None or source.namespace == obj.namespace)
    ]
    named = [source for source in given if _occurs(source.value, obj.name)]
    if named:
        return max(named, key=lambda source: len(source.value))
    here = [source for source in given if source.namespace == obj.namespace]
    if not (here or given):
        raise LookupError(f"no config value names the {obj.kind} '{obj.name}' of {obj.component}")
    return (here or given)[0]


@dataclass(frozen=True)
class Fit:
    """A rendered name or label value, the config value it was made from, and the
    longest Kubernetes takes there."""

    source: NameSource
    what: str
    text: str
    limit: int
    reason: str

    @property
    def room(self) -> int:
        """The longest the config value may be for `text` to fit; 0 when `text`
        does not contain it (a name of the component's own)."""
        if not _occurs(self.source.value, self.text):
            return 0
        return self.limit - (len(self.text) - len(self.source.value))

    def problem(self) -> str:
        key = self.source.key
        if self.room < 1:
            return f"{key}: {self.what} is longer than the {self.limit} Kubernetes allows ({self.reason}); rename it"
        return (
            f"{key}: '{self.source.value}' ({len(self.source.value)} characters) makes {self.what} "
            f"({len(self.text)} characters), longer than the {self.limit} Kubernetes allows ({self.reason}); "
            f"shorten {key} to at most {self.room} characters"
        )


@dataclass(frozen=True)
class Named:
    """A rendered object and the config value it was named after."""

    obj: KubeObject
    source: NameSource

    def fits(self) -> Iterator[Fit]:
        """Its name against the rule of its kind, and every label value it carries."""
        obj = self.obj
        rule = NAME_RULES.get(obj.kind, SUBDOMAIN)
        what = f"the {obj.kind} '{obj.name}'"
        yield Fit(self.source, what, obj.name, rule.limit, rule.reason)
        for label, value in obj.labels:
            where = f"the label {label}='{value}' of {what}"
            yield Fit(self.source, where, value, LABEL_VALUE_LIMIT, "label values are at most 63 characters")

    def grammar_problems(self) -> Iterator[str]:
        obj, key = self.obj, self.source.key
        rule = NAME_RULES.get(obj.kind, SUBDOMAIN)
        if not rule.pattern.fullmatch(obj.name):
            yield f"{key}: the {obj.kind} '{obj.name}' is not a valid {obj.kind} name; use {rule.grammar}"
        for label, value in obj.labels:
            if not LABEL_VALUE.fullmatch(value):
                yield (
                    f"{key}: the label {label}='{value}' of the {obj.kind} '{obj.name}' is not a label value; "
                    "use letters, digits, '-', '_' and '.', a letter or digit at the ends"
                )


def named_objects(settings: Settings) -> list[Named]:
    """Every object the Platform would register, with the config value it is named after."""
    sources = name_sources(settings)
    return [Named(obj, attribute(obj, sources)) for obj in rendered_objects(settings)]


def name_problems(objects: Sequence[Named]) -> list[str]:
    """Every rendered name or label Kubernetes would refuse, and every kind +
    namespace + name made twice, as `<key>: <problem>; <fix>` lines. A key too long
    for several names gets one line, for the name that needs it shortest."""
    problems: list[str] = []
    tightest: dict[str, Fit] = {}
    for item in objects:
        problems += [found for found in item.grammar_problems() if found not in problems]
        for fit in item.fits():
            known = tightest.get(fit.source.key)
            if len(fit.text) > fit.limit and (known is None or fit.room < known.room):
                tightest[fit.source.key] = fit
    return problems + [fit.problem() for fit in tightest.values()] + _duplicates(objects)


def check_names(settings: Settings) -> list[KubeObject]:
    """Raise the config error that lists the name problems, if there are any; else
    the objects checked, every one the Platform would register."""
    objects = named_objects(settings)
    problems = name_problems(objects)
    if problems:
        raise invalid(problems)
    return [item.obj for item in objects]


def _duplicates(objects: Sequence[Named]) -> list[str]:
    problems: list[str] = []
    first: dict[tuple[str, str | None, str], Named] = {}
    reported: set[tuple[str, str]] = set()
    for item in objects:
        obj = item.obj
        earlier = first.setdefault((obj.kind, obj.namespace, obj.name), item)
        if earlier is item or (item.source.key, earlier.source.key) in reported:
            continue
        reported.add((item.source.key, earlier.source.key))
        where = f"in namespace {obj.namespace}" if obj.namespace else "in the cluster"
        problems.append(
            f"{item.source.key}: the {obj.kind} '{obj.name}' {where} is also made by platform:{earlier.source.key}; "
            "give one of them another name"
        )
    return problems
