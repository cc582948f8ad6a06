"""The README's configuration table lists every key of the settings model, each
with its real default, and no key the model lacks."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from components.config.models import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _rows() -> dict[str, str]:
    """`key` -> the rest of its row, from the table under "## Configuration"."""
    section = README.read_text().split("## Configuration", 1)[1]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        match = re.match(r"^\| `(\w+)(\[\])?` \| (.*)\|$", line)
        if match:
            rows[match[1]] = match[3]
    return rows


def _model(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside `annotation` (`X`, `X | None`, `list[X]`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        inner = _model(arg)
        if inner is not None:
            return inner
    return None


def _shown(default: Any) -> str | None:
    """How the README writes a default, or None where it shows none (unset, empty, a model)."""
    if default is PydanticUndefined or default is None or isinstance(default, BaseModel):
        return None
    if isinstance(default, bool):
        return str(default).lower()
    if default in ("", [], {}):
        return None
    return str(default)


def _fields(model: type[BaseModel]) -> list[tuple[str, str | None, type[BaseModel] | None]]:
    out = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        default = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
        out.append((info.alias or name, _shown(default), _model(info.annotation)))
    return out


def _expected(model: type[BaseModel], row: str) -> list[str]:
    """What `row` must say about each field of `model`, at any depth."""
    missing = []
    for key, default, nested in _fields(model):
        mention = f"`{key}` (`{default}`" if default is not None else f"`{key}`"
        if mention not in row:
            missing.append(mention)
        if nested is not None and nested.__name__ != "Resources":
            missing += _expected(nested, row)
    return missing


def test_every_top_level_key_has_a_row_and_every_row_a_key() -> None:
    keys = {key for key, _, _ in _fields(Settings)}
    assert set(_rows()) == keys


@pytest.mark.parametrize("key", [key for key, _, _ in _fields(Settings)])
def test_row_lists_every_nested_key_with_its_default(key: str) -> None:
    row = _rows()[key]
    field = next(f for f in _fields(Settings) if f[0] == key)
    _, default, nested = field
    missing = [f"`{default}`"] if default is not None and f"`{default}`" not in row else []
    if nested is not None:
        missing += _expected(nested, row)
    assert missing == [], f"README row `{key}` lacks {missing}"
