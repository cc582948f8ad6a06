"""Kubernetes quantities (`500m`, `1.5Gi`, `10G`): the grammar the stack config is
held to, and the amount one stands for. The one parser of them in the program."""

from __future__ import annotations

import re
from decimal import Decimal

# Plain decimal numbers with a suffix: what the stack config accepts (Kubernetes also
# takes exponents, which no size here needs).
QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    **{suffix: Decimal(1000) ** (i + 1) for i, suffix in enumerate("kMGTPE")},
    **{suffix + "i": Decimal(1024) ** (i + 1) for i, suffix in enumerate("KMGTPE")},
}
MEBIBYTE = 2**20


def is_quantity(text: str) -> bool:
    return QUANTITY.fullmatch(text) is not None


def amount(quantity: str) -> Decimal:
    """What a quantity stands for: `500m` is 0.5, `1Ki` is 1024."""
    match = QUANTITY.fullmatch(quantity)
    if match is None:
        raise ValueError(f"'{quantity}' is not a Kubernetes quantity")
    return Decimal(match["number"]) * SUFFIXES[match["suffix"] or ""]


def share_of(memory: str, divisor: int) -> str:
    """`memory` divided by `divisor`, in whole MiB (at least 1Mi)."""
    return f"{max(1, int(amount(memory) / divisor // MEBIBYTE))}Mi"
