"""The cluster a stack deploys to: named in its stack file, checked before anything exists.

Each stack file names its cluster with the Kubernetes provider's own config keys:

    kubernetes:kubeconfig: .state/kubeconfig   # a path (relative to the project), `~` allowed
    kubernetes:context: kind-platform          # required: the only context the stack acts on
    kubernetes:deleteUnreachable: "true"       # only where the cluster is disposable

`stack_provider` reads that kubeconfig, stops with a `ConfigError` when it is
missing or lacks the named context (so `preview` and `up` never fall back to
whatever cluster is current), and returns one explicit provider for the whole
program. Its `clusterIdentifier` is derived from the context's API server and CA:
a new cluster behind the same stack (`make cluster-down` then `make cluster`) is a
new provider, so `preview` shows every object to create again and `up` converges,
instead of trusting state written against a cluster that no longer exists.

The provider uses client-side apply (`enableServerSideApply: false`): a create
is then a create, and an object that already exists under the same name, made by
someone else, fails the preview instead of being adopted by a server-side apply
upsert (and later deleted by `pulumi destroy`). Only the objects the stack keeps on
`destroy` (`retainOnDelete`) go through a second, server-side apply provider, so a
later `up` takes its own data back (see StackProviders).
"""

from __future__ import annotations

import base64
import hashlib
import os
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
            f"(context {settings.context}: `make cluster` for the local stack) or point the key at its kubeconfig"
        )
    text = path.read_text()
    document = yaml.safe_load(text) or {}
    contexts = {item["name"]: item.get("context") or {} for item in document.get("contexts") or []}
    if settings.context not in contexts:
        found = ", ".join(sorted(contexts)) or "none"
        raise ConfigError(
            f"kubernetes:context: the stack names context '{settings.context}', but {path} has "
            f"{found}; nothing was changed. Point kubernetes:kubeconfig at the kubeconfig of the "
            f"cluster this stack belongs to (for the local stack: `make cluster` writes .state/kubeconfig "
            f"with context {settings.context}), or, if this stack really belongs to another cluster, "
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
class StackProviders:
    """The stack's two providers for its one cluster.

    `main` creates with client-side apply: an object that already exists fails the
    preview instead of being adopted. `retained` (server-side apply, which upserts)
    takes only the objects the stack keeps on `destroy` (`retainOnDelete`: the data
    namespace and volume claims), so that `up` after `destroy` binds them again.
    """

    main: k8s.Provider
    retained: k8s.Provider

    def resource_options(self) -> pulumi.ResourceOptions:
        """Options for the top component: its children inherit `main`; retained
        objects are moved to `retained` (a transformation, so components stay as they are)."""

        def retained_objects(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
            if args.type_.startswith("kubernetes:") and args.opts.retain_on_delete:
                return pulumi.ResourceTransformationResult(
                    args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(provider=self.retained))
                )
            return None

        return pulumi.ResourceOptions(providers=[self.main], transformations=[retained_objects])


def stack_provider(name: str = PROVIDER_NAME, project_dir: Path | None = None) -> StackProviders:
    """The Kubernetes providers of this stack, for the cluster its stack file names."""
    settings = read_config()
    # strictMode is read by the provider from the stack config (kubernetes:strictMode):
    # it refuses a default provider and an explicit one without kubeconfig and context.
    if settings.render_directory:
        # Render mode writes manifests and never contacts a cluster.
        common: dict[str, Any] = {
            "render_yaml_to_directory": settings.render_directory,
            "context": settings.context or "render",
            "kubeconfig": "{}",
            "cluster_identifier": "render",
        }
    else:
        cluster = resolve(settings, project_dir or Path.cwd())
        common = {
            "kubeconfig": pulumi.Output.secret(cluster.kubeconfig),
            "context": cluster.context,
            "cluster_identifier": cluster.identity,
            "delete_unreachable": settings.delete_unreachable,
        }
    return StackProviders(
        main=k8s.Provider(name, enable_server_side_apply=False, **common),
        retained=k8s.Provider(f"{name}-retained", enable_server_side_apply=True, **common),
    )
