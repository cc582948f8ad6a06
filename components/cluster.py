"""The cluster a stack deploys to: named in its stack file, checked before anything exists.

Each stack file names its cluster with the Kubernetes provider's own config keys:

    kubernetes:kubeconfig: .state/kubeconfig   # a path (relative to the project), `~` allowed
    kubernetes:context: kind-platform          # required: the only context the stack acts on
    kubernetes:deleteUnreachable: "true"       # only where the cluster is disposable

`stack_provider` reads that kubeconfig, stops with a `ConfigError` when it is
missing or lacks the named context (so `preview` and `up` never fall back to
whatever cluster is current), and returns the program's explicit provider for
that cluster (StackProvider). Its `clusterIdentifier` is derived from the
context's API server and CA:
a new cluster behind the same stack (`make cluster-down` then `make cluster`) is a
new provider, so `preview` shows every object to create again and `up` converges,
instead of trusting state written against a cluster that no longer exists.

Before registering, each object is looked up in the cluster (ClusterReader): one
that exists without a Pulumi field manager was made by someone else, and the program
stops with its kind, name and the `pulumi import` line, so server-side apply never
takes it over. Objects this stack made keep Pulumi's field manager, so after an
interrupted `up` (a killed CLI leaves objects created but not recorded) the next
`up` takes them back instead of failing on "already exists". The objects the stack
keeps on `destroy` (`retainOnDelete`) are not looked up, so a later `up` takes its
own data back.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.settings import ConfigError

NAMESPACE = "kubernetes"
PROVIDER_NAME = "cluster"


@dataclass(frozen=True)
class ClusterConfig:
    """What a stack file says about its cluster (the `kubernetes:*` keys)."""

    context: str | None
    kubeconfig: str | None = None
    delete_unreachable: bool = False
    render_directory: str | None = None


@dataclass(frozen=True)
class Cluster:
    """A checked cluster: the kubeconfig text and the identity of the named context."""

    context: str
    kubeconfig: str
    identity: str
    server: str


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
    "kind-platform": "`make cluster` writes it to .state/kubeconfig, for kind and the emulated control plane alike",
    "minikube": "`minikube start` writes it to ~/.kube/config",
}


def _context_source(context: str) -> str:
    return _CONTEXT_SOURCES.get(
        context,
        "your cloud's get-credentials command writes the kubeconfig, and "
        f"`kubectl config rename-context <its context> {context}` gives the context this name (docs/cloud.md)",
    )


def _data(section: dict[str, Any], key: str, base: Path) -> bytes:
    """`<key>-data` (base64) or the file `<key>` of a kubeconfig section, else b''."""
    if section.get(f"{key}-data"):
        return base64.b64decode(section[f"{key}-data"])
    if section.get(key):
        path = Path(os.path.expanduser(section[key]))
        path = path if path.is_absolute() else base / path
        return path.read_bytes() if path.exists() else b""
    return b""


def resolve(settings: ClusterConfig, project_dir: Path) -> Cluster:
    """Check that the kubeconfig exists and holds the named context; raise ConfigError otherwise."""
    if not settings.context:
        raise ConfigError(
            f"kubernetes:context is not set: this stack would deploy to any current context; {_fix(None)}"
        )
    if not settings.kubeconfig:
        raise ConfigError(f"kubernetes:kubeconfig is not set; {_fix(settings.context)}")
    path = Path(os.path.expanduser(settings.kubeconfig))
    path = path if path.is_absolute() else project_dir / path
    if not path.is_file():
        raise ConfigError(
            f"kubernetes:kubeconfig: {path} does not exist; start the cluster this stack names "
            f"(context {settings.context}: {_context_source(settings.context)}) or point the key at its kubeconfig"
        )
    text = path.read_text()
    document = yaml.safe_load(text) or {}
    contexts = {item["name"]: item.get("context") or {} for item in document.get("contexts") or []}
    if settings.context not in contexts:
        found = ", ".join(sorted(contexts)) or "none"
        raise ConfigError(
            f"kubernetes:context: the stack names context '{settings.context}', but {path} has "
            f"{found}; nothing was changed. Point kubernetes:kubeconfig at the kubeconfig of the "
            f"cluster this stack belongs to (context {settings.context}: {_context_source(settings.context)}), "
            f"or, if this stack really belongs to another cluster, "
            f"`pulumi config set kubernetes:context <context>`"
        )
    clusters = {item["name"]: item.get("cluster") or {} for item in document.get("clusters") or []}
    cluster = clusters.get(contexts[settings.context].get("cluster", ""))
    if cluster is None or not cluster.get("server"):
        raise ConfigError(f"kubernetes:context: context '{settings.context}' in {path} names no cluster with a server")
    # Kubernetes has no cluster ID in its API; the API server's address together with
    # its CA certificate is new for every cluster kind or kwokctl creates.
    digest = hashlib.sha256(cluster["server"].encode() + b"\n" + _data(cluster, "certificate-authority", path.parent))
    return Cluster(
        context=settings.context,
        kubeconfig=text,
        identity=f"{settings.context}@{digest.hexdigest()[:16]}",
        server=cluster["server"],
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
    reader: ClusterReader | None = None

    def resource_options(self) -> pulumi.ResourceOptions:
        """Options for the top component: its children inherit the provider, and every
        object but the retained ones is checked against the cluster first (a
        transformation, so components stay as they are)."""
        reader = [self.reader] if self.reader is not None and self.reader.usable else []

        def each_object(args: pulumi.ResourceTransformationArgs) -> None:
            if not reader or not args.type_.startswith("kubernetes:") or args.opts.retain_on_delete:
                return
            try:
                problem = not_ours(args.type_, args.name, args.props, reader[0])
            except OSError as error:
                # Unreachable now: the provider reports that itself.
                pulumi.log.warn(
                    f"could not check for existing objects ({error}); check with `kubectl get` "
                    "that none of this stack's objects exists before the first up"
                )
                reader.clear()
                return
            if problem:
                raise ConfigError(problem)

        return pulumi.ResourceOptions(providers=[self.provider], transformations=[each_object])


def stack_provider(name: str = PROVIDER_NAME, project_dir: Path | None = None) -> StackProvider:
    """The Kubernetes provider of this stack, for the cluster its stack file names."""
    settings = read_config()
    # strictMode is read by the provider from the stack config (kubernetes:strictMode):
    # it refuses a default provider and an explicit one without kubeconfig and context.
    reader: ClusterReader | None = None
    if settings.render_directory:
        # Render mode writes manifests and never contacts a cluster; the provider
        # refuses kubeconfig and context with it (so a render stack has no strictMode).
        common: dict[str, Any] = {"render_yaml_to_directory": settings.render_directory, "cluster_identifier": "render"}
    else:
        cluster = resolve(settings, project_dir or Path.cwd())
        reader = ClusterReader(cluster)
        common = {
            "kubeconfig": pulumi.Output.secret(cluster.kubeconfig),
            "context": cluster.context,
            "cluster_identifier": cluster.identity,
            "delete_unreachable": settings.delete_unreachable,
        }
    return StackProvider(k8s.Provider(name, enable_server_side_apply=True, **common), reader)


# --- objects that exist already ---------------------------------------------------

_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "IngressClass", "StorageClass", "PriorityClass"}
# The provider's field managers (pulumi-kubernetes 4.x: `pulumi-kubernetes`, or with a
# suffix under server-side apply): an object that carries one was made by a Pulumi stack.
PULUMI_MANAGER = "pulumi-kubernetes"
# The object's metadata without its contents (the API server's PartialObjectMetadata).
PARTIAL_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
TIMEOUT_SECONDS = 10


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


class ClusterReader:
    """GETs against the named context's API server with the kubeconfig's own
    credentials (certificates or a token). Kubeconfigs that run a command for their
    credentials (cloud logins) are not read here; the provider's plain creates still
    refuse existing objects there, with its own message."""

    def __init__(self, cluster: Cluster) -> None:
        import ssl
        import tempfile

        document = yaml.safe_load(cluster.kubeconfig) or {}
        contexts = {item["name"]: item.get("context") or {} for item in document.get("contexts") or []}
        context = contexts[cluster.context]
        clusters = {item["name"]: item.get("cluster") or {} for item in document.get("clusters") or []}
        users = {item["name"]: item.get("user") or {} for item in document.get("users") or []}
        server = clusters.get(context.get("cluster", ""), {})
        user = users.get(context.get("user", ""), {})
        self.server = cluster.server.rstrip("/")
        # Metadata only (as `kubectl get -o name` asks): no Secret data reaches the program.
        self.headers = {"Accept": f"{PARTIAL_METADATA}, application/json"}
        self.usable = not ({"exec", "auth-provider"} & set(user))
        self.context: ssl.SSLContext | None = None
        self._connection: http.client.HTTPConnection | None = None
        self._prefix = urllib.parse.urlsplit(self.server).path
        if not self.usable or not self.server.startswith("https://"):
            return
        self.context = ssl.create_default_context()
        ca = _data(server, "certificate-authority", Path.cwd())
        if server.get("insecure-skip-tls-verify"):
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        elif ca:
            self.context.load_verify_locations(cadata=ca.decode())
        if user.get("token"):
            self.headers["Authorization"] = f"Bearer {user['token']}"
        cert, key = _data(user, "client-certificate", Path.cwd()), _data(user, "client-key", Path.cwd())
        if cert and key:
            with tempfile.TemporaryDirectory() as directory:
                certfile, keyfile = Path(directory) / "cert", Path(directory) / "key"
                certfile.touch(mode=0o600)
                keyfile.touch(mode=0o600)
                certfile.write_bytes(cert)
                keyfile.write_bytes(key)
                self.context.load_cert_chain(str(certfile), str(keyfile))

    def get(self, path: str) -> dict[str, Any] | None:
        """The object's metadata at `path`, or None when it does not exist. One
        connection serves every lookup of a program run (a stack has hundreds)."""
        for attempt in (1, 2):
            connection = self._connection or self._connect()
            try:
                connection.request("GET", self._prefix + path, headers=self.headers)
                response = connection.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle kept-alive connection: once more on a new one.
                connection.close()
                self._connection = None
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self._connection = None
            if response.status == 404:
                return None
            if response.status != 200:
                raise OSError(f"GET {path}: HTTP {response.status} {response.reason}")
            return dict(json.loads(body))
        return None

    def _connect(self) -> http.client.HTTPConnection:
        url = urllib.parse.urlsplit(self.server)
        connection: http.client.HTTPConnection
        if url.scheme == "https":
            connection = http.client.HTTPSConnection(url.netloc, timeout=TIMEOUT_SECONDS, context=self.context)
        else:
            connection = http.client.HTTPConnection(url.netloc, timeout=TIMEOUT_SECONDS)
        self._connection = connection
        return connection


def not_ours(type_token: str, logical_name: str, props: Mapping[str, Any], reader: ClusterReader) -> str | None:
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
    live = reader.get(api_path(type_token, namespace, name))
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
