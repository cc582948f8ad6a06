"""AppTier: the application services (backend and frontend style) from stack config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kb
from components.settings import AppSettings

# HTTPS to addresses outside the private ranges, for apps that call external APIs.
INTERNET = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}}


@dataclass(frozen=True)
class Route:
    """A path on the gateway's host, served by a Service in a namespace."""

    path: str
    namespace: str
    service: str
    port: int
    peer: kb.Peer


@dataclass(frozen=True)
class Backing:
    """A data service an app may use: its env var, where the URL lives, who it is."""

    env_name: str
    secret_url: pulumi.Output[str]
    peer: kb.Peer
    port: int


def app_labels(app: AppSettings) -> dict[str, str]:
    return kb.labels(app.name, app.name, app.component)


def app_peer(app: AppSettings) -> kb.Peer:
    return kb.Peer(app.namespace, kb.selector(app_labels(app)))


class AppTier(pulumi.ComponentResource):
    """For each app with an image: a ConfigMap of its plain settings, a Secret of its
    credentials (external keys from secret stack config, generated database and cache
    URLs), a Deployment (rolling update with maxSurge 1 and maxUnavailable 0, spread
    across nodes, hardened pods, HTTP probes), a Service, an HPA when autoscaling is
    set, a PodDisruptionBudget when two or more replicas run, and a NetworkPolicy that
    admits only the gateway and the apps that call it and lets it reach only what it
    uses. Apps without an image are skipped and listed in `not_deployed`.

    Outputs: `routes` (for the gateway), `deployed`, `not_deployed`.
    """

    def __init__(
        self,
        name: str,
        apps: Sequence[AppSettings],
        *,
        secrets: Mapping[str, str],
        backings: Mapping[str, Backing],
        gateway: kb.Peer,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:index:AppTier", name, None, opts)
        self._name = name
        by_name = {app.name: app for app in apps}
        callers: dict[str, list[kb.Peer]] = {app.name: [] for app in apps}
        for app in apps:
            for callee in app.calls:
                callers[callee].append(app_peer(app))

        self.routes: list[Route] = []
        self.deployed: list[str] = []
        self.not_deployed: dict[str, str] = {}
        for app in apps:
            if app.image is None:
                self.not_deployed[app.name] = f"no image set; set platform:apps[{apps.index(app)}].image to deploy it"
                continue
            self._app(app, secrets, backings, gateway, callers[app.name], [by_name[c] for c in app.calls])
            self.deployed.append(app.name)
        self.register_outputs({"deployed": self.deployed, "not_deployed": self.not_deployed})

    def _app(
        self,
        app: AppSettings,
        secrets: Mapping[str, str],
        backings: Mapping[str, Backing],
        gateway: kb.Peer,
        callers: Sequence[kb.Peer],
        callees: Sequence[AppSettings],
    ) -> None:
        ns = app.namespace
        app_lbls = app_labels(app)
        opts = kb.child(self)
        prefix = f"{self._name}-{app.name}"
        config_name = f"{app.name}-config"
        secret_name = f"{app.name}-secrets"
        env: list[kb.Manifest] = [kb.config_env(key, config_name, key) for key in app.env]
        depends: list[pulumi.Resource] = []
        if app.env:
            depends.append(
                k8s.core.v1.ConfigMap(
                    f"{prefix}-config",
                    metadata=kb.metadata(config_name, ns, app_lbls),
                    data=dict(app.env),
                    opts=opts,
                )
            )
        secret_data: dict[str, pulumi.Input[str]] = {
            env_name: pulumi.Output.secret(secrets[key]) for env_name, key in app.secret_env.items()
        }
        for dependency in app.uses:
            backing = backings[dependency]
            secret_data[backing.env_name] = backing.secret_url
        if secret_data:
            depends.append(
                k8s.core.v1.Secret(
                    f"{prefix}-secrets",
                    metadata=kb.metadata(secret_name, ns, app_lbls),
                    type="Opaque",
                    string_data=secret_data,
                    opts=opts,
                )
            )
            env += [kb.secret_env(key, secret_name, key) for key in secret_data]

        probe = app.probe
        container = kb.Container(
            name=app.name,
            image=app.image or "",
            pull_policy=app.image_pull_policy,
            resources=app.resources,
            ports={"http": app.port},
            env=env,
            liveness=kb.http_probe(
                probe.path, initial_delay=probe.initial_delay_seconds + 20, period=10, timeout=5, failures=3
            ),
            readiness=kb.http_probe(
                probe.path, initial_delay=probe.initial_delay_seconds, period=5, timeout=3, failures=3
            ),
            startup=kb.http_probe(probe.path, period=10, timeout=3, failures=30),
        )
        replicas = app.autoscaling.min_replicas if app.autoscaling else app.replicas
        deployment_opts = kb.child(self, depends_on=depends)
        if app.autoscaling is not None:
            # The HPA owns the replica count once the Deployment exists.
            deployment_opts = pulumi.ResourceOptions.merge(
                deployment_opts, pulumi.ResourceOptions(ignore_changes=["spec.replicas"])
            )
        template = kb.pod_template(app_lbls, [container], run_as_user=app.run_as_user, affinity=kb.spread(app_lbls))
        kb.deployment(f"{prefix}-deployment", app.name, ns, app_lbls, template, replicas=replicas, opts=deployment_opts)
        service_spec: kb.Manifest = {
            "type": "ClusterIP",
            "selector": kb.selector(app_lbls),
            "ports": [{"name": "http", "port": app.port, "targetPort": "http", "protocol": "TCP"}],
        }
        if app.session_affinity:
            service_spec["sessionAffinity"] = "ClientIP"
            service_spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
        k8s.core.v1.Service(
            f"{prefix}-service",
            metadata=kb.service_metadata(app.name, ns, app_lbls),
            spec=service_spec,
            opts=opts,
        )
        if app.autoscaling is not None:
            scaling = app.autoscaling
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{prefix}-hpa",
                metadata=kb.metadata(app.name, ns, app_lbls),
                spec={
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app.name},
                    "minReplicas": scaling.min_replicas,
                    "maxReplicas": scaling.max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": scaling.cpu_utilization},
                            },
                        }
                    ],
                },
                opts=opts,
            )
        if replicas >= 2:
            kb.disruption_budget(f"{prefix}-pdb", ns, app.name, app_lbls, opts)

        sources = list(callers)
        if app.path is not None:
            sources.append(gateway)
            self.routes.append(Route(app.path, ns, app.name, app.port, app_peer(app)))
        egress = [([app_peer(callee).rule()], [callee.port]) for callee in callees]
        egress += [([backings[d].peer.rule()], [backings[d].port]) for d in app.uses]
        if app.allow_internet:
            egress.append(([INTERNET], [443]))
        ingress = [([peer.rule() for peer in sources], [app.port])] if sources else []
        kb.network_policy(
            f"{prefix}-netpol",
            ns,
            app.name,
            app_lbls,
            pods=kb.selector(app_lbls),
            ingress=ingress,
            egress=egress,
            opts=opts,
        )
