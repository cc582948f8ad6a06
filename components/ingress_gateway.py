"""IngressGateway: the Traefik controller and one Ingress per routed namespace."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

import pulumi
from pulumi_kubernetes.core.v1 import ConfigMap, ResourceRequirementsArgs, ServiceAccount
from pulumi_kubernetes.networking.v1 import (
    HTTPIngressPathArgs,
    HTTPIngressRuleValueArgs,
    Ingress,
    IngressBackendArgs,
    IngressClass,
    IngressClassSpecArgs,
    IngressRuleArgs,
    IngressServiceBackendArgs,
    IngressSpecArgs,
    IngressTLSArgs,
    ServiceBackendPortArgs,
)
from pulumi_kubernetes.rbac.v1 import (
    ClusterRole,
    ClusterRoleBinding,
    PolicyRuleArgs,
    Role,
    RoleBinding,
    RoleRefArgs,
    SubjectArgs,
)

from components import kube
from components import metrics as m
from components.contracts import Route, Scraping
from components.kube import Peer

HTTP_PORT = 8000
HTTPS_PORT = 8443
PING_PORT = 8080
# Prometheus metrics on an entryPoint of their own, so the scraper reaches neither
# the routes nor the ping endpoint.
METRICS = m.Endpoint(9100)
GATEWAY_UID = 65532
API_SERVER_PORTS = (443, 6443)
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DYNAMIC_DIR = "/etc/traefik/dynamic"
HSTS_MIDDLEWARE = "hsts"
HSTS_SECONDS = 31536000
READ = ["get", "list", "watch"]
# Traefik's kubernetes ingress provider lists and watches these in every namespace
# it is given (Secrets for the TLS certificates that Ingresses name), and writes
# the Ingress status there.
NAMESPACED_RULES = [
    PolicyRuleArgs(api_groups=[""], resources=["services", "secrets"], verbs=READ),
    PolicyRuleArgs(api_groups=["discovery.k8s.io"], resources=["endpointslices"], verbs=READ),
    PolicyRuleArgs(api_groups=["networking.k8s.io"], resources=["ingresses"], verbs=READ),
    PolicyRuleArgs(api_groups=["networking.k8s.io"], resources=["ingresses/status"], verbs=["update"]),
]
# What it watches cluster-wide: IngressClasses (to pick its own), and Nodes, which
# its cluster-scope informer always watches while IngressClass lookup is on (and
# which give a NodePort gateway's Ingress status).
CLUSTER_RULES = [
    PolicyRuleArgs(api_groups=["networking.k8s.io"], resources=["ingressclasses"], verbs=READ),
    PolicyRuleArgs(api_groups=[""], resources=["nodes"], verbs=READ),
]


@dataclass(frozen=True)
class Tls:
    """The Secret that holds the host's certificate, and the Ingress annotations
    that ask for it (cert-manager's issuer), if any."""

    secret_name: str
    """The TLS Secret of the host's certificate, made by cert-manager or the user."""
    annotations: Mapping[str, str]
    """Annotations of every Ingress that ask for the certificate; empty for a Secret
    that exists already."""
    https_port: int = 443
    """Where users reach HTTPS: plain HTTP redirects there. Default 443."""


@dataclass(frozen=True)
class GatewayArgs:
    """The gateway: the Traefik controller it installs, and the host it routes."""

    name: str
    """The controller's name: its Deployment, Service, ServiceAccount and RBAC."""
    namespace: str
    """Where the controller runs."""
    install: bool
    """Install Traefik; false routes through a controller the cluster already runs
    under `class_name`."""
    class_name: str
    """The IngressClass every Ingress names, and the controller watches."""
    image: str
    """Traefik's image, pinned."""
    replicas: int
    """Controller replicas (a PodDisruptionBudget from two)."""
    host: str
    """The host every route is served on."""
    url: str
    """Where users reach the gateway (its `url` output)."""
    resources: ResourceRequirementsArgs
    """The controller container's requests and limits."""
    service_type: str
    """`NodePort` or `LoadBalancer`, as the target publishes it."""
    node_ports: Mapping[str, int] | None = None
    """Fixed NodePorts by port name (`web`, `websecure`); default None (any)."""
    tls: Tls | None = None
    """HTTPS for the host; default None (plain HTTP)."""
    metrics: Scraping | None = None
    """Who scrapes Traefik's metrics; default None (metrics off)."""

    @property
    def labels(self) -> dict[str, str]:
        return kube.labels(self.name, self.name, "gateway")

    @property
    def existing_controller(self) -> Peer:
        """The pods of a controller this stack does not install: any pod of the
        gateway namespace, as the program cannot know their labels."""
        return Peer(self.namespace)


def watched_namespaces(args: GatewayArgs, routes: Sequence[Route]) -> list[str]:
    """The namespaces the controller reads: every routed one, and its own (where the
    Service it publishes in the Ingress status lives)."""
    return sorted({args.namespace, *(route.namespace for route in routes)})


def hsts_config() -> str:
    """Traefik's dynamic configuration (file provider) for the HSTS middleware that
    every route on the HTTPS entry point passes through."""
    headers = {"stsSeconds": HSTS_SECONDS, "stsIncludeSubdomains": True}
    # JSON is YAML, which the file provider reads.
    return json.dumps({"http": {"middlewares": {HSTS_MIDDLEWARE: {"headers": headers}}}}, indent=2)


def tls_flags(tls: Tls) -> list[str]:
    """HTTPS only: plain HTTP is redirected to the HTTPS port users reach (so the
    Location never names the container port), and HSTS is on for every route."""
    return [
        "--entryPoints.websecure.http.tls=true",
        f"--entryPoints.web.http.redirections.entryPoint.to=:{tls.https_port}",
        "--entryPoints.web.http.redirections.entryPoint.scheme=https",
        "--entryPoints.web.http.redirections.entryPoint.permanent=true",
        f"--entryPoints.websecure.http.middlewares={HSTS_MIDDLEWARE}@file",
        f"--providers.file.directory={DYNAMIC_DIR}",
    ]


def ingress_endpoint(args: GatewayArgs) -> str:
    """What Traefik writes into each Ingress' status, which `pulumi up` waits for. A
    LoadBalancer Service's own address; a NodePort Service has none (Traefik would
    write an empty list and the await would time out), so the host the cluster
    publishes the NodePorts for stands in its place, as kind's users reach it."""
    if args.service_type == "LoadBalancer":
        return f"--providers.kubernetesingress.ingressendpoint.publishedservice={args.namespace}/{args.name}"
    return f"--providers.kubernetesingress.ingressendpoint.hostname={args.host}"


class IngressGateway(pulumi.ComponentResource):
    """When `install` is set: Traefik v3 on the plain Ingress API (an IngressClass, a
    ServiceAccount that reads only the namespaces it routes: a Role and RoleBinding
    in each, and a ClusterRole for IngressClasses and Nodes; a Deployment on
    unprivileged ports, its Service exposed as the target profile says, a
    PodDisruptionBudget at two or more replicas, a NetworkPolicy in `network`; with
    TLS, a ConfigMap with the HSTS middleware, and plain HTTP redirected to HTTPS;
    with `metrics`, Prometheus metrics on port 9100 admitted to the scraper only).
    Always: one Ingress per namespace with routes, all on one host, paths forwarded
    unchanged, and a connection from the controller's pods (an existing one's: any
    pod of the gateway namespace) to each route's.

    Outputs: `url`, `class_name`, `service_name`.
    """

    def __init__(
        self,
        name: str,
        args: GatewayArgs,
        routes: Sequence[Route],
        network: kube.Network,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:index:IngressGateway", name, None, opts)
        self.url = pulumi.Output.from_input(args.url)
        self.class_name = args.class_name
        self.service_name = args.name
        depends = self._controller(name, args, routes, network) if args.install else []
        if not args.install:
            for route in routes:
                kube.connect(args.existing_controller, route.server, route.port)
        ingresses(self, name, args, routes, depends)
        self.register_outputs({"url": self.url, "class_name": self.class_name})

    def _controller(
        self, name: str, args: GatewayArgs, routes: Sequence[Route], network: kube.Network
    ) -> list[pulumi.Resource]:
        opts = kube.child(self)
        namespaces = watched_namespaces(args, routes)
        access = controller_access(self, name, args, namespaces)
        if args.tls is not None:
            access.append(
                ConfigMap(
                    f"{name}-dynamic",
                    metadata=kube.metadata(f"{args.name}-dynamic", args.namespace, args.labels),
                    data={"hsts.yaml": hsts_config()},
                    opts=opts,
                )
            )
        pod = kube.Pod(
            args.name,
            args.namespace,
            args.labels,
            [traefik_container(args, namespaces)],
            GATEWAY_UID,
            affinity=kube.spread(args.labels),
            service_account=args.name,
            annotations=m.pod_annotations(METRICS, args.metrics),
        )
        deployment = pod.deployment(
            f"{name}-deployment", replicas=args.replicas, opts=kube.child(self, depends_on=access)
        )
        service = pod.service(
            f"{name}-service",
            opts,
            listen={"web": 80, "websecure": 443},
            node_ports=args.node_ports,
            service_type=args.service_type,
            external_traffic_policy="Local",
        )
        pod.disruption_budget(f"{name}-pdb", replicas=args.replicas, opts=opts)
        traffic = pod.traffic(network, f"{name}-netpol", opts).allow_from_anywhere(HTTP_PORT, HTTPS_PORT)
        for route in routes:
            kube.connect(traffic, route.server, route.port)
        # The controller watches Ingresses and Services through the API server.
        traffic.allow_to_anywhere(*API_SERVER_PORTS)
        if args.metrics is not None:
            m.expose(self, name, pod, METRICS, args.metrics, network)
        return [deployment, service]


def controller_access(
    owner: pulumi.Resource, name: str, args: GatewayArgs, namespaces: Sequence[str]
) -> list[pulumi.Resource]:
    """The controller's identity: a ServiceAccount that may read what routing
    needs in `namespaces` and write Ingress status there, and the IngressClass
    it serves."""
    opts = kube.child(owner)
    cluster_name = f"{args.namespace}-{args.name}"
    account = ServiceAccount(
        f"{name}-account",
        metadata=kube.metadata(args.name, args.namespace, args.labels),
        automount_service_account_token=False,
        opts=opts,
    )
    subjects = [SubjectArgs(kind="ServiceAccount", name=args.name, namespace=args.namespace)]
    role = ClusterRole(
        f"{name}-role", metadata=kube.metadata(cluster_name, None, args.labels), rules=CLUSTER_RULES, opts=opts
    )
    access: list[pulumi.Resource] = [
        ClusterRoleBinding(
            f"{name}-binding",
            metadata=kube.metadata(cluster_name, None, args.labels),
            role_ref=RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=cluster_name),
            subjects=subjects,
            opts=kube.child(owner, depends_on=[role, account]),
        )
    ]
    for watched in namespaces:
        namespaced = Role(
            f"{name}-role-{watched}",
            metadata=kube.metadata(cluster_name, watched, args.labels),
            rules=NAMESPACED_RULES,
            opts=opts,
        )
        access.append(
            RoleBinding(
                f"{name}-binding-{watched}",
                metadata=kube.metadata(cluster_name, watched, args.labels),
                role_ref=RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=cluster_name),
                subjects=subjects,
                opts=kube.child(owner, depends_on=[namespaced, account]),
            )
        )
    ingress_class = IngressClass(
        f"{name}-class",
        metadata=kube.metadata(args.class_name, None, args.labels),
        spec=IngressClassSpecArgs(controller="traefik.io/ingress-controller"),
        opts=opts,
    )
    return [*access, ingress_class]


def traefik_container(args: GatewayArgs, namespaces: Sequence[str]) -> kube.Container:
    flags = [
        f"--entryPoints.web.address=:{HTTP_PORT}",
        f"--entryPoints.websecure.address=:{HTTPS_PORT}",
        f"--entryPoints.traefik.address=:{PING_PORT}",
        "--ping=true",
        "--providers.kubernetesingress=true",
        f"--providers.kubernetesingress.ingressclass={args.class_name}",
        f"--providers.kubernetesingress.namespaces={','.join(namespaces)}",
        ingress_endpoint(args),
        # A `Prefix` path matches by path element, as the Ingress spec says: without
        # this Traefik matches plain string prefixes, and `/api` would take `/apidocs`.
        "--providers.kubernetesingress.strictPrefixMatching=true",
        "--log.level=INFO",
        "--accesslog=true",
        "--global.checknewversion=false",
        "--global.sendanonymoususage=false",
    ]
    volumes = [kube.Volume.api_token("api-token", TOKEN_DIR)]
    if args.tls is not None:
        flags.extend(tls_flags(args.tls))
        volumes.append(kube.Volume.config_map("dynamic", DYNAMIC_DIR, f"{args.name}-dynamic"))
    ports = {"web": HTTP_PORT, "websecure": HTTPS_PORT, "ping": PING_PORT}
    if args.metrics is not None:
        flags += [
            f"--entryPoints.{METRICS.name}.address=:{METRICS.port}",
            "--metrics.prometheus=true",
            f"--metrics.prometheus.entryPoint={METRICS.name}",
        ]
        ports[METRICS.name] = METRICS.port
    return kube.Container(
        name="traefik",
        image=args.image,
        resources=args.resources,
        args=flags,
        ports=ports,
        # /ping answers 503 while Traefik shuts down gracefully: not ready, but
        # alive, so liveness only asks whether the port is open.
        liveness=kube.tcp_probe("ping", kube.Timing(initial_delay=2, period=10, timeout=2, failures=3)),
        readiness=kube.http_probe("/ping", kube.Timing(initial_delay=2, period=5, timeout=2, failures=1), "ping"),
        volumes=volumes,
    )


def ingresses(
    owner: pulumi.Resource, name: str, args: GatewayArgs, routes: Sequence[Route], depends: Sequence[pulumi.Resource]
) -> None:
    """One Ingress per namespace with routes, all on `args.host`, its paths in reverse
    order: `/api/v2` before `/api`, the path it starts with."""
    tls = [IngressTLSArgs(hosts=[args.host], secret_name=args.tls.secret_name)] if args.tls else None
    ordered = sorted(routes, key=lambda route: route.namespace)
    for namespace, group in groupby(ordered, key=lambda route: route.namespace):
        paths = [
            HTTPIngressPathArgs(
                path=route.path,
                path_type="Prefix",
                backend=IngressBackendArgs(
                    service=IngressServiceBackendArgs(
                        name=route.service, port=ServiceBackendPortArgs(number=route.port)
                    )
                ),
            )
            for route in sorted(group, key=lambda route: route.path, reverse=True)
        ]
        Ingress(
            f"{name}-{namespace}",
            metadata=kube.metadata(args.name, namespace, args.labels, args.tls.annotations if args.tls else {}),
            spec=IngressSpecArgs(
                ingress_class_name=args.class_name,
                rules=[IngressRuleArgs(host=args.host, http=HTTPIngressRuleValueArgs(paths=paths))],
                tls=tls,
            ),
            opts=kube.child(owner, depends_on=depends),
        )
