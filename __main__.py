"""The staging platform: validate the stack config, build the platform, export outputs."""

import pulumi

from components.platform import Platform
from components.settings import load_settings

settings = load_settings()
platform = Platform(pulumi.get_stack(), settings)
for key, value in platform.outputs().items():
    pulumi.export(key, value)
