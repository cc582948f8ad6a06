"""Commands the docs give, read from the docs themselves, so a test runs what a
reader would copy."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def block_after(doc: str, after: str) -> str:
    """The first fenced code block of `doc` (a path under the repository) after the text
    `after`, without its fence lines."""
    text = (ROOT / doc).read_text()
    block = text[text.index(after) :].split("```", 2)[1]
    return block.split("\n", 1)[1]


ROLLOUT_WAIT = block_after("docs/operations.md", "wait for the rollouts themselves:")
