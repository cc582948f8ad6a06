"""The platform-security policy pack, run by `pulumi preview --policy-pack policy`.

The CLI runs this directory with the pack's own virtualenv (see PulumiPolicy.yaml);
constructing the PolicyPack serves the rules until the CLI stops it.
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(name="platform-security", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
