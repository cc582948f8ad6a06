"""Platform: composes every component from the validated settings."""

from __future__ import annotations

import pulumi

from components import k8s as kb
from components.app_tier import AppTier, Backing, Route, app_peer
from components.authentik import AuthentikStack
from components.ingress import IngressGateway, base_url, gateway_peer
from components.namespaces import NamespaceLayout
from components.postgres import PostgresStatefulSet
from components.redis import RedisCache
from components.settings import Settings


class Platform(pulumi.ComponentResource):
    """The whole staging platform for one stack: namespaces, then PostgreSQL, Redis and
    Authentik where configured, the application tier, and the gateway in front.

    Outputs (see `outputs()`): URLs, connection hosts, generated credentials as
    secrets, and the apps that were not deployed.
    """

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Platform", name, None, opts)
        profile = settings.profile
        protect = settings.data_protected
        data_namespaces = {
            section.namespace for section in (settings.postgres, settings.redis, settings.authentik) if section
        }
        self.namespaces = NamespaceLayout(
            "namespaces",
            settings.namespaces,
            environment=settings.environment,
            keep=frozenset(data_namespaces),
            opts=pulumi.ResourceOptions(parent=self),
        )
        after_namespaces = pulumi.ResourceOptions(parent=self, depends_on=[self.namespaces])
        deployed_apps = [app for app in settings.apps if app.image is not None]

        def clients_of(dependency: str) -> list[kb.Peer]:
            return [app_peer(app) for app in deployed_apps if dependency in app.uses]

        backings: dict[str, Backing] = {}
        self.postgres: PostgresStatefulSet | None = None
        if settings.postgres is not None:
            self.postgres = PostgresStatefulSet(
                "postgres",
                settings.postgres,
                storage_class=profile.storage_class,
                clients=clients_of("postgres"),
                protect=protect,
                opts=after_namespaces,
            )
            backings["postgres"] = Backing("DATABASE_URL", self.postgres.uri, self.postgres.peer, 5432)
        self.redis: RedisCache | None = None
        if settings.redis is not None:
            self.redis = RedisCache(
                "redis",
                settings.redis,
                storage_class=profile.storage_class,
                clients=clients_of("redis"),
                protect=protect,
                opts=after_namespaces,
            )
            backings["redis"] = Backing("REDIS_URL", self.redis.url, self.redis.peer, 6379)

        gateway = gateway_peer(settings.gateway)
        self.url = base_url(settings.gateway, profile)
        routes: list[Route] = []
        self.authentik: AuthentikStack | None = None
        if settings.authentik is not None:
            auth = settings.authentik
            self.authentik = AuthentikStack(
                "authentik",
                auth,
                storage_class=profile.storage_class,
                shared_storage_class=profile.shared_storage_class,
                base_url=self.url,
                gateway=gateway,
                trusted_proxies=auth.trusted_proxies or profile.pod_cidr,
                protect=protect,
                opts=after_namespaces,
            )
            routes.append(
                Route(
                    auth.path.rstrip("/"),
                    auth.namespace,
                    self.authentik.service_name,
                    self.authentik.port,
                    self.authentik.peer,
                )
            )
        self.apps = AppTier(
            "apps",
            settings.apps,
            secrets=settings.secrets,
            backings=backings,
            gateway=gateway,
            opts=after_namespaces,
        )
        routes += self.apps.routes
        self.gateway = IngressGateway(
            "gateway",
            settings.gateway,
            profile=profile,
            routes=routes,
            opts=after_namespaces,
        )
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
                "authentikAdminUser": "akadmin",
                "authentikAdminPassword": self.authentik.admin_password,
            }
        return out
