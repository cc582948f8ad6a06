"""The committed architecture diagrams match what the program registers today."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _diagram_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("diagram", ROOT / "docs" / "diagram.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["diagram"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("stack", ["local", "minikube", "staging"])
def test_architecture_diagram_is_current(stack: str) -> None:
    committed = (ROOT / "docs" / f"architecture-{stack}.svg").read_text()
    assert _diagram_module().render(stack) == committed, "run `make docs` and commit the diagrams"
