"""The staging platform: validate the stack config, build the platform, export outputs."""

import pulumi

from components.cluster import pod_monitors_available
from components.platform import Platform
from components.settings import load_settings

settings = load_settings()
# Only asked when the answer matters: metrics on and platform:metrics.monitors unset.
detect = settings.metrics_enabled and settings.metrics.monitors is None
platform = Platform(pulumi.get_stack(), settings, pod_monitors_available=detect and pod_monitors_available())
for key, value in platform.outputs().items():
    pulumi.export(key, value)
