"""The cluster a stack deploys to: named in its stack file, checked before anything exists.

Each stack file names its cluster with the Kubernetes provider's own config keys:

    kubernetes:kubeconfig: .state/kubeconfig   # a path (relative to the project, `~` allowed) or the document
    kubernetes:context: kind-platform          # required: the only context the stack acts on
    kubernetes:deleteUnreachable: "true"       # only where the cluster is disposable

`stack_provider` reads that kubeconfig (components/kubeconfig.py, the one reader),
stops with a `ConfigError` when it is missing or lacks the named context (so
`preview` and `up` never fall back to whatever cluster is current), and returns the
program's explicit provider for that cluster (StackProvider). Its
`clusterIdentifier` is derived from the context's API server and CA: a new cluster
behind the same stack (`make cluster-down` then `make cluster`) is a new provider,
so `preview` shows every object to create again and `up` converges, instead of
trusting state written against a cluster that no longer exists.

Before registering, each object is looked up in the cluster with the credentials
the provider uses (exec credential plugins included): one that exists without a
Pulumi field manager was made by someone else, and the program stops with its kind,
name and the `pulumi import` line, so server-side apply never takes it over. Objects
this stack made keep Pulumi's field manager, so after an interrupted `up` (a killed
CLI leaves objects created but not recorded) the next `up` takes them back instead
of failing on "already exists". The objects the stack keeps on `destroy`
(`retainOnDelete`) are not looked up, so a later `up` takes its own data back.

With the same credentials, before anything is registered, the live StatefulSets and
claims whose size the stack file sets are read (components/storage_changes.py), so a
size the cluster cannot take stops the program with the key and the way out.

A cluster that cannot be read (the login command is missing or fails, the server
does not answer or refuses the credentials) stops `preview` and `up` alike, with
the cause: a preview that cannot see the cluster cannot say whether `up` would take
an object over. `platform:ownershipCheck: false` turns the lookups off, visibly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config.loading import ConfigError
from components.kubeconfig import ApiClient, Context, Kubeconfig, KubeconfigError
from components.storage_changes import Commands, SizedVolume, check_storage_changes

NAMESPACE = "kubernetes"
PROVIDER_NAME = "cluster"
OWNERSHIP_KEY = "platform:ownershipCheck"


@dataclass(frozen=True)
class ClusterConfig:
    """What a stack file says about its cluster (the `kubernetes:*` keys)."""

    context: str | None
    kubeconfig: str | None = None
    delete_unreachable: bool = False
    render_directory: str | None = None


@dataclass(frozen=True)
class Cluster:
    """A checked cluster: the kubeconfig for the provider, the named context and its identity."""

    context: str
    kubeconfig: str
    identity: str
    server: str
    endpoint: Context
    # The kubectl command line for this cluster, as the steps in an error give it.
    kubectl: str


def read_config(config: pulumi.Config | None = None) -> ClusterConfig:
    config = config or pulumi.Config(NAMESPACE)
    return ClusterConfig(
        context=config.get("context"),
        kubeconfig=config.get("kubeconfig"),
        delete_unreachable=config.get_bool("deleteUnreachable") or False,
        render_directory=config.get("renderYamlToDirectory"),
    )


def _fix(context: str | None) -> str:
    return (
        "name the stack's cluster in its stack file: `pulumi config set kubernetes:kubeconfig <path>` and "
        f"`pulumi config set kubernetes:context {context or '<context>'}`"
    )


# What writes each context the committed stack files name into its kubeconfig.
_CONTEXT_SOURCES = {
    "kind-platform": "`make cluster` writes it to .state/kubeconfig (kind, the real node or the emulated plane)",
    "minikube": "`minikube start` writes it to ~/.kube/config",
}


def _context_source(context: str) -> str:
    return _CONTEXT_SOURCES.get(
        context,
        "your cloud's get-credentials command writes the kubeconfig, and "
        f"`kubectl config rename-context <its context> {context}` gives the context this name (docs/cloud.md)",
    )


def resolve(settings: ClusterConfig, project_dir: Path) -> Cluster:
    """Check that the kubeconfig exists and holds the named context; raise ConfigError otherwise."""
    if not settings.context:
        raise ConfigError(
            f"kubernetes:context is not set: this stack would deploy to any current context; {_fix(None)}"
        )
    if not settings.kubeconfig:
        raise ConfigError(f"kubernetes:kubeconfig is not set; {_fix(settings.context)}")
    try:
        kubeconfig = Kubeconfig.load(settings.kubeconfig, project_dir)
    except FileNotFoundError as error:
        raise ConfigError(
            f"{error}; start the cluster this stack names (context {settings.context}: "
            f"{_context_source(settings.context)}) or point the key at its kubeconfig"
        ) from error
    except KubeconfigError as error:
        raise ConfigError(f"{error}; nothing was changed") from error
    path = kubeconfig.path or "the kubeconfig in kubernetes:kubeconfig"
    try:
        if settings.context not in kubeconfig.contexts():
            found = ", ".join(kubeconfig.contexts()) or "none"
            raise ConfigError(
                f"kubernetes:context: the stack names context '{settings.context}', but {path} has "
                f"{found}; nothing was changed. Point kubernetes:kubeconfig at the kubeconfig of the "
                f"cluster this stack belongs to (context {settings.context}: {_context_source(settings.context)}), "
                f"or, if this stack really belongs to another cluster, "
                f"`pulumi config set kubernetes:context <context>`"
            )
        endpoint = kubeconfig.context(settings.context)
        authority = endpoint.certificate_authority()
    except KubeconfigError as error:
        raise ConfigError(f"{error}; nothing was changed") from error
    # Kubernetes has no cluster ID in its API; the API server's address together with
    # its CA certificate is new for every cluster kind or kwokctl creates.
    digest = hashlib.sha256(endpoint.server.encode() + b"\n" + authority)
    return Cluster(
        context=settings.context,
        kubeconfig=kubeconfig.provider_text(),
        identity=f"{settings.context}@{digest.hexdigest()[:16]}",
        server=endpoint.server,
        endpoint=endpoint,
        kubectl=f"kubectl --kubeconfig {settings.kubeconfig if kubeconfig.path else '<kubernetes:kubeconfig>'} "
        f"--context {settings.context}",
    )


def unreadable(cluster: Cluster, cause: Exception, stopped: str = "Nothing was changed") -> ConfigError:
    """The refusal when the cluster cannot be read: the cause, the keys, the ways out."""
    head = (
        str(cause)
        if isinstance(cause, KubeconfigError)
        else f"kubernetes:kubeconfig: the cluster of context '{cluster.context}' ({cluster.server}) cannot be read: "
        f"{cause}"
    )
    return ConfigError(
        f"{head.rstrip('.')}. {stopped}: before it registers an object the program looks it up with "
        "the credentials the provider uses, so that it never takes over one this stack did not create, and it "
        "does not go on without that check. Make those credentials work here (log in, install the command "
        "the kubeconfig runs, reach the server: `kubectl --kubeconfig <kubernetes:kubeconfig> --context "
        f"{cluster.context} get namespaces` shows the same problem), or, once you have checked yourself that "
        f"none of the stack's objects exists, turn the check off: `pulumi config set {OWNERSHIP_KEY} false "
        f'--stack {pulumi.get_stack()}` (docs/operations.md, "Objects the stack did not create")'
    )


@dataclass(frozen=True)
class StackProvider:
    """The stack's provider for its one cluster, and the lookups that guard it.

    It applies server-side, so `up` takes back what an interrupted `up` created and,
    after `destroy`, the objects the stack keeps (`retainOnDelete`: the data namespace
    and volume claims) with their data. The lookup before each other registration
    keeps it from taking over what someone else made.
    """

    provider: k8s.Provider
    # The cluster's API as the provider reaches it; None when rendering manifests.
    api: ApiClient | None = None
    cluster: Cluster | None = None
    check_ownership: bool = True

    def resource_options(self) -> pulumi.ResourceOptions:
        """Options for the top component: its children inherit the provider, and every
        object but the retained ones is checked against the cluster first (a
        transformation, so components stay as they are)."""
        api, cluster = self.api, self.cluster

        def each_object(args: pulumi.ResourceTransformationArgs) -> None:
            if api is None or cluster is None or not self.check_ownership:
                return
            if not args.type_.startswith("kubernetes:") or args.opts.retain_on_delete:
                return
            try:
                problem = not_ours(args.type_, args.name, args.props, api)
            except (KubeconfigError, OSError) as error:
                stopped = f"The program stopped before registering {args.name}"
                raise unreadable(cluster, error, stopped) from error
            if problem:
                raise ConfigError(problem)

        return pulumi.ResourceOptions(providers=[self.provider], transformations=[each_object])

    def check_storage(self, volumes: Sequence[SizedVolume]) -> None:
        """Stop where a configured volume size cannot reach the cluster as it is
        (components/storage_changes.py). It reads the cluster, so only with the lookups on."""
        if self.api is None or self.cluster is None or not self.check_ownership:
            return
        try:
            check_storage_changes(volumes, self.api, Commands(self.cluster.kubectl, pulumi.get_stack()))
        except (KubeconfigError, OSError) as error:
            raise unreadable(self.cluster, error) from error


def stack_provider(
    name: str = PROVIDER_NAME, project_dir: Path | None = None, check_ownership: bool = True
) -> StackProvider:
    """The Kubernetes provider of this stack, for the cluster its stack file names.
    With `check_ownership` (platform:ownershipCheck), the cluster must answer first."""
    settings = read_config()
    # strictMode is read by the provider from the stack config (kubernetes:strictMode):
    # it refuses a default provider and an explicit one without kubeconfig and context.
    if settings.render_directory:
        # Render mode writes manifests and never contacts a cluster; the provider
        # refuses kubeconfig and context with it (so a render stack has no strictMode).
        render = {"render_yaml_to_directory": settings.render_directory, "cluster_identifier": "render"}
        return StackProvider(k8s.Provider(name, enable_server_side_apply=True, **render))
    cluster = resolve(settings, project_dir or Path.cwd())
    api = ApiClient(cluster.endpoint)
    if check_ownership:
        try:
            # The API's root is served to authenticated users only, so a login or a
            # server that fails stops the program here, before anything is registered.
            api.get("/api")
        except (KubeconfigError, OSError) as error:
            raise unreadable(cluster, error) from error
    else:
        pulumi.log.warn(
            f"{OWNERSHIP_KEY} is false: objects are not looked up before they are registered, so one of the "
            "same name that this stack did not create would be taken over on `up` and deleted on `destroy`"
        )
    provider = k8s.Provider(
        name,
        enable_server_side_apply=True,
        kubeconfig=pulumi.Output.secret(cluster.kubeconfig),
        context=cluster.context,
        cluster_identifier=cluster.identity,
        delete_unreachable=settings.delete_unreachable,
    )
    return StackProvider(provider, api, cluster, check_ownership)


# --- objects that exist already ---------------------------------------------------

_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "IngressClass", "StorageClass", "PriorityClass"}
# The provider's field managers (pulumi-kubernetes 4.x: `pulumi-kubernetes`, or with a
# suffix under server-side apply): an object that carries one was made by a Pulumi stack.
PULUMI_MANAGER = "pulumi-kubernetes"
# The object's metadata without its contents (the API server's PartialObjectMetadata,
# as `kubectl get -o name` asks): no Secret data reaches the program.
LOOKUP_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json"


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    if lower.endswith("s"):
        return lower + "es"
    return lower + "s"


def api_path(type_token: str, namespace: str | None, name: str) -> str:
    """The API path of an object from its Pulumi type, e.g. kubernetes:apps/v1:Deployment."""
    _, group_version, kind = type_token.split(":")
    group, _, version = group_version.rpartition("/")
    prefix = f"/api/{version}" if group == "core" else f"/apis/{group}/{version}"
    if kind in _CLUSTER_SCOPED or not namespace:
        return f"{prefix}/{_plural(kind)}/{name}"
    return f"{prefix}/namespaces/{namespace}/{_plural(kind)}/{name}"


def not_ours(type_token: str, logical_name: str, props: Mapping[str, Any], api: ApiClient) -> str | None:
    """Why registering this object would take over one the stack did not create, or None."""
    metadata = props.get("metadata")
    if metadata is None:
        return None
    # Components pass ObjectMetaArgs; a plain mapping is accepted as well.
    if isinstance(metadata, Mapping):
        name, namespace = metadata.get("name"), metadata.get("namespace")
    else:
        name, namespace = getattr(metadata, "name", None), getattr(metadata, "namespace", None)
    if not isinstance(name, str) or not (namespace is None or isinstance(namespace, str)):
        return None
    live = api.get(api_path(type_token, namespace, name), accept=LOOKUP_ACCEPT)
    if live is None:
        return None
    managers = {entry.get("manager", "") for entry in live.get("metadata", {}).get("managedFields") or []}
    # Client-side apply writes `pulumi-kubernetes`; server-side apply (this stack
    # before, and its retained objects) `pulumi-kubernetes-<suffix>`.
    if any(manager.startswith(PULUMI_MANAGER) for manager in managers):
        return None
    kind = type_token.split(":")[-1]
    where = f"{namespace}/{name}" if namespace and kind not in _CLUSTER_SCOPED else name
    return (
        f"{kind} {where} already exists in the cluster and was not created by this stack; nothing was "
        f"changed. Rename ours in the stack file, remove yours, or, if it should belong to this stack, "
        f"take it over: `pulumi import {type_token} {logical_name} {where}` with `--parent` and "
        f'`--provider` (docs/operations.md, "Objects the stack did not create")'
    )
