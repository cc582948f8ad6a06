"""Platform: composes every component from the validated settings."""

from __future__ import annotations

import pulumi

from components import from_settings as to
from components import kube
from components.app_tier import AppTier
from components.authentik_stack import AuthentikStack
from components.config.models import Settings
from components.contracts import Backing, Route
from components.ingress_gateway import IngressGateway
from components.namespace_layout import NamespaceLayout
from components.postgres_stateful_set import PostgresStatefulSet
from components.redis_cache import RedisCache

# What the provider waits on until its pods are ready (and reports them when they are not).
ROLLED_OUT = frozenset({"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"})


def with_rollout_timeout(opts: pulumi.ResourceOptions, timeout: str | None) -> pulumi.ResourceOptions:
    """`opts` of the Platform, with `rollout_timeout(timeout)` when one is set.

    Given by the program, not by the Platform itself: a transform is a callback that
    the engine makes, and the name check builds the Platform under mocks, which have
    no engine to call back."""
    if timeout is None:
        return opts
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(transforms=[rollout_timeout(timeout)]))


def rollout_timeout(timeout: str) -> pulumi.ResourceTransform:
    """A transform giving every Deployment and StatefulSet below it `timeout` to roll
    out on create and update (`platform:rolloutTimeout`)."""

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ not in ROLLED_OUT:
            return None
        timeouts = pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout))
        return pulumi.ResourceTransformResult(args.props, pulumi.ResourceOptions.merge(args.opts, timeouts))

    return transform


class Platform(pulumi.ComponentResource):
    """The whole staging platform for one stack: namespaces, then PostgreSQL, Redis and
    Authentik where configured, the application tier, and the gateway in front. Each
    service publishes its own backing and route; the Platform passes them on.

    With metrics on, the gateway, Authentik and every PostgreSQL and Redis serve
    Prometheus metrics; PodMonitors are made when `platform:metrics.monitors` says
    so, or, unset, when `pod_monitors_available` (the cluster has the Prometheus
    Operator's CRDs).

    Outputs (see `outputs()`): URLs, connection hosts, generated credentials as
    secrets, and the apps that were not deployed.
    """

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        pod_monitors_available: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:index:Platform", name, None, opts)
        metrics = to.scraping(settings, pod_monitors_available)
        data_namespaces = {
            section.namespace for section in (settings.postgres, settings.redis, settings.authentik) if section
        }
        self.namespaces = NamespaceLayout(
            "namespaces",
            [to.namespace_args(namespace) for namespace in settings.namespaces],
            environment=settings.environment,
            keep=frozenset(data_namespaces),
            opts=pulumi.ResourceOptions(parent=self),
        )
        after_namespaces = pulumi.ResourceOptions(parent=self, depends_on=[self.namespaces])
        # Every NetworkPolicy is made at the end, once each relation wrote both its ends.
        network = kube.Network()
        backings: dict[str, Backing] = {}
        self.postgres: PostgresStatefulSet | None = None
        if settings.postgres is not None:
            postgres = to.postgres_args(settings.postgres, settings, metrics)
            self.postgres = PostgresStatefulSet("postgres", postgres, network, after_namespaces)
            backings["postgres"] = self.postgres.backing
        self.redis: RedisCache | None = None
        if settings.redis is not None:
            redis = to.redis_args(settings.redis, settings, metrics)
            self.redis = RedisCache("redis", redis, network, after_namespaces)
            backings["redis"] = self.redis.backing
        gateway = to.gateway_args(settings, metrics)
        routes: list[Route] = []
        self.authentik: AuthentikStack | None = None
        if settings.authentik is not None:
            authentik = to.authentik_args(settings.authentik, settings, gateway.url, metrics)
            self.authentik = AuthentikStack("authentik", authentik, network, after_namespaces)
            routes.append(self.authentik.route)
        self.apps = AppTier("apps", to.app_args(settings, backings), network, after_namespaces)
        routes += self.apps.routes
        self.gateway = IngressGateway("gateway", gateway, routes, network, after_namespaces)
        network.close()
        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, pulumi.Input[object]]:
        """What `pulumi stack output` shows: where things are, and secret credentials."""
        out: dict[str, pulumi.Input[object]] = {
            "url": self.gateway.url,
            "namespaces": self.namespaces.names,
            "appsDeployed": self.apps.deployed,
            "appsNotDeployed": self.apps.not_deployed,
        }
        if self.postgres is not None:
            out |= {
                "postgresHost": self.postgres.host,
                "postgresPort": self.postgres.port,
                "postgresDatabase": self.postgres.database,
                "postgresUser": self.postgres.user,
                "postgresPassword": self.postgres.password,
                "postgresUri": self.postgres.uri,
            }
        if self.redis is not None:
            out |= {
                "redisHost": self.redis.host,
                "redisPort": self.redis.port,
                "redisPassword": self.redis.password,
                "redisUrl": self.redis.url,
            }
        if self.authentik is not None:
            out |= {
                "authentikUrl": self.authentik.url,
                "authentikAdminUser": self.authentik.admin_user,
                "authentikAdminPassword": self.authentik.admin_password,
            }
        return out
