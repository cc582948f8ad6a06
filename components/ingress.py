"""IngressGateway: the Traefik controller and one Ingress per routed namespace."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kb
from components.app_tier import Route
from components.settings import GatewaySettings
from components.targets import TargetProfile

HTTP_PORT = 8000
HTTPS_PORT = 8443
PING_PORT = 8080
GATEWAY_UID = 65532
API_SERVER_PORTS = (443, 6443)
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def gateway_labels(settings: GatewaySettings) -> dict[str, str]:
    return kb.labels(settings.name, settings.name, "gateway")


def gateway_peer(settings: GatewaySettings) -> kb.Peer:
    """Who the routed services must admit. An existing controller (install: false)
    lives elsewhere, so then any pod in the gateway namespace counts."""
    if not settings.install:
        return kb.Peer(settings.namespace)
    return kb.Peer(settings.namespace, kb.selector(gateway_labels(settings)))


def base_url(settings: GatewaySettings, profile: TargetProfile) -> str:
    scheme = "https" if settings.tls else "http"
    port = profile.published_https_port if settings.tls else profile.published_http_port
    default = 443 if settings.tls else 80
    return f"{scheme}://{settings.host}" + ("" if port == default else f":{port}") + "/"


class IngressGateway(pulumi.ComponentResource):
    """When `install` is set: Traefik v3 on the plain Ingress API (an IngressClass, a
    ServiceAccount with read-only RBAC, a Deployment on unprivileged ports, its
    Service exposed as the target profile says, a PodDisruptionBudget at two or more
    replicas, a NetworkPolicy). Always: one Ingress per namespace with routes, all on
    one host, paths forwarded unchanged.

    Outputs: `url`, `class_name`, `service_name`.
    """

    def __init__(
        self,
        name: str,
        settings: GatewaySettings,
        *,
        profile: TargetProfile,
        routes: Sequence[Route],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:index:IngressGateway", name, None, opts)
        self.url = pulumi.Output.from_input(base_url(settings, profile))
        self.class_name = settings.class_name
        self.service_name = settings.name
        depends: list[pulumi.Resource] = []
        if settings.install:
            depends = self._controller(name, settings, profile, routes)
        tls = self._tls(settings)
        ordered = sorted(routes, key=lambda route: route.namespace)
        for namespace, group in groupby(ordered, key=lambda route: route.namespace):
            paths = [
                {
                    "path": route.path,
                    "pathType": "Prefix",
                    "backend": {"service": {"name": route.service, "port": {"number": route.port}}},
                }
                for route in sorted(group, key=lambda route: route.path, reverse=True)
            ]
            spec: kb.Manifest = {
                "ingressClassName": settings.class_name,
                "rules": [{"host": settings.host, "http": {"paths": paths}}],
            }
            annotations = {}
            if tls is not None:
                spec["tls"] = [{"hosts": [settings.host], "secretName": tls[0]}]
                annotations = tls[1]
            k8s.networking.v1.Ingress(
                f"{name}-{namespace}",
                metadata=kb.metadata(settings.name, namespace, gateway_labels(settings), annotations=annotations),
                spec=spec,
                opts=kb.child(self, depends_on=depends),
            )
        self.register_outputs({"url": self.url, "class_name": self.class_name})

    @staticmethod
    def _tls(settings: GatewaySettings) -> tuple[str, dict[str, str]] | None:
        if settings.tls is None:
            return None
        if settings.tls.cluster_issuer is not None:
            return f"{settings.name}-tls", {"cert-manager.io/cluster-issuer": settings.tls.cluster_issuer}
        return settings.tls.secret_name or "", {}

    def _controller(
        self, name: str, settings: GatewaySettings, profile: TargetProfile, routes: Sequence[Route]
    ) -> list[pulumi.Resource]:
        ns = settings.namespace
        own = gateway_labels(settings)
        opts = kb.child(self)
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata=kb.metadata(settings.name, ns, own),
            automount_service_account_token=False,
            opts=opts,
        )
        read = ["get", "list", "watch"]
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-role",
            metadata={"name": f"{ns}-{settings.name}", "labels": own},
            rules=[
                {"apiGroups": [""], "resources": ["services", "endpoints", "secrets", "nodes"], "verbs": read},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
                {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "ingressclasses"], "verbs": read},
                {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update"]},
            ],
            opts=opts,
        )
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-binding",
            metadata={"name": f"{ns}-{settings.name}", "labels": own},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{ns}-{settings.name}"},
            subjects=[{"kind": "ServiceAccount", "name": settings.name, "namespace": ns}],
            opts=kb.child(self, depends_on=[role, account]),
        )
        ingress_class = k8s.networking.v1.IngressClass(
            f"{name}-class",
            metadata={"name": settings.class_name, "labels": own},
            spec={"controller": "traefik.io/ingress-controller"},
            opts=opts,
        )
        args = [
            f"--entryPoints.web.address=:{HTTP_PORT}",
            f"--entryPoints.websecure.address=:{HTTPS_PORT}",
            f"--entryPoints.traefik.address=:{PING_PORT}",
            "--ping=true",
            "--providers.kubernetesingress=true",
            f"--providers.kubernetesingress.ingressclass={settings.class_name}",
            f"--providers.kubernetesingress.ingressendpoint.publishedservice={ns}/{settings.name}",
            "--log.level=INFO",
            "--accesslog=true",
            "--global.checknewversion=false",
            "--global.sendanonymoususage=false",
        ]
        if settings.tls is not None:
            args.append("--entryPoints.websecure.http.tls=true")
        container = kb.Container(
            name="traefik",
            image=settings.image,
            resources=settings.resources,
            args=args,
            ports={"web": HTTP_PORT, "websecure": HTTPS_PORT, "ping": PING_PORT},
            liveness=kb.http_probe("/ping", "ping", initial_delay=2, period=10, timeout=2, failures=3),
            readiness=kb.http_probe("/ping", "ping", initial_delay=2, period=5, timeout=2, failures=1),
            mounts=[{"name": "api-token", "mountPath": TOKEN_DIR, "readOnly": True}],
        )
        # The token is projected explicitly: only this pod talks to the API server.
        token_volume = {
            "name": "api-token",
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {
                        "downwardAPI": {
                            "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
                        }
                    },
                ]
            },
        }
        template = kb.pod_template(
            own,
            [container],
            run_as_user=GATEWAY_UID,
            volumes=[token_volume],
            affinity=kb.spread(own),
            service_account=settings.name,
        )
        deployment = kb.deployment(
            f"{name}-deployment",
            settings.name,
            ns,
            own,
            template,
            replicas=settings.replicas,
            opts=kb.child(self, depends_on=[binding, ingress_class]),
        )
        service_ports = [
            {"name": "web", "port": 80, "targetPort": "web", "protocol": "TCP"},
            {"name": "websecure", "port": 443, "targetPort": "websecure", "protocol": "TCP"},
        ]
        if profile.gateway_node_ports is not None:
            for port, node_port in zip(service_ports, profile.gateway_node_ports, strict=True):
                port["nodePort"] = node_port
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=kb.service_metadata(settings.name, ns, own, profile.gateway_service_type),
            spec={
                "type": profile.gateway_service_type,
                "externalTrafficPolicy": "Local",
                "selector": kb.selector(own),
                "ports": service_ports,
            },
            opts=opts,
        )
        if settings.replicas >= 2:
            kb.disruption_budget(f"{name}-pdb", ns, settings.name, own, opts)
        upstreams = [([route.peer.rule()], [route.port]) for route in routes]
        kb.network_policy(
            f"{name}-netpol",
            ns,
            settings.name,
            own,
            pods=kb.selector(own),
            ingress=[([], [HTTP_PORT, HTTPS_PORT])],
            # The controller watches Ingresses and Services through the API server.
            egress=[*upstreams, ([], list(API_SERVER_PORTS))],
            opts=opts,
        )
        return [deployment, service]
