"""Generated credentials."""

from __future__ import annotations

import pulumi
import pulumi_random as random


def generated_password(
    resource_name: str, parent: pulumi.Resource, *, rotation: int, length: int = 32
) -> random.RandomPassword:
    """A credential generated once and kept secret in state.

    Letters and digits only, so it can sit in a connection URI unescaped. `rotation`
    is its keeper: raising it in the stack config generates a new value
    (docs/operations.md).
    """
    return random.RandomPassword(
        resource_name,
        length=length,
        special=False,
        keepers={"rotation": str(rotation)},
        opts=pulumi.ResourceOptions(parent=parent),
    )
