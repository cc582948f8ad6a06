"""The staging platform: validate the stack config, check its cluster, build the platform, export outputs."""

import sys

import pulumi

from components.cluster import stack_provider
from components.config.loading import ConfigError, load_settings
from components.discovery import pod_monitors_available
from components.from_settings import storage_sources
from components.object_names import check_names
from components.platform import Platform, with_rollout_timeout
from components.storage_changes import sized_volumes

# The exit code by which a Python program tells the language host that it has shown
# its error itself (the SDK's pulumi-language-python-exec uses it the same way):
# the engine then adds no "an unhandled error occurred" line of its own.
SHOWN_TO_USER = 32


def main() -> None:
    settings = load_settings()
    # The names of every object the platform would create, learned by building it under
    # mocks, so a name Kubernetes would refuse stops the program before anything exists.
    objects = check_names(settings)
    # Every Kubernetes object goes to the cluster the stack file names, through the
    # stack's provider; the stack config turns the default provider off (strictMode).
    cluster = stack_provider(check_ownership=settings.ownership_check)
    # A volume size the live objects cannot take stops here, with the steps, instead
    # of at the API server halfway through.
    cluster.check_storage(sized_volumes(objects, storage_sources(settings)))
    # Only asked when the answer matters: metrics on and platform:metrics.monitors unset.
    detect = settings.metrics_enabled and settings.metrics.monitors is None
    platform = Platform(
        pulumi.get_stack(),
        settings,
        pod_monitors_available=detect and pod_monitors_available(cluster.api),
        opts=with_rollout_timeout(cluster.resource_options(), settings.rollout_timeout),
    )
    for key, value in platform.outputs().items():
        pulumi.export(key, value)


try:
    main()
except ConfigError as error:
    pulumi.log.error(str(error))
    sys.exit(SHOWN_TO_USER)
