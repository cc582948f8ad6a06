"""Shell blocks of the README and the docs, read from the docs themselves, so a test
runs what a reader would copy. A block's fence says how it runs (README, "Further
reading"): `bash runnable`, `bash fresh-clone`, `bash after-make-up`."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AFTER_MAKE_UP = "```bash after-make-up\n"


def marked_blocks(fence: str) -> list[tuple[str, str]]:
    """Every block of the README and the docs opened by `fence`, as (where, script):
    where is `<doc>#<n>`, the n-th such block of that doc."""
    blocks = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for number, chunk in enumerate(path.read_text().split(fence)[1:], start=1):
            blocks.append((f"{path.relative_to(ROOT)}#{number}", chunk.split("\n```", 1)[0]))
    return blocks


# docs/operations.md, "`pulumi up` times out waiting": wait for every rollout.
(ROLLOUT_WAIT,) = [
    script
    for where, script in marked_blocks(AFTER_MAKE_UP)
    if where.startswith("docs/operations.md#") and "rollout status" in script
]
