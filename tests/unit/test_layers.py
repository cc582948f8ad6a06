"""The layers of components/: the config and the kube helpers import no module
above them, and reading the config loads no component (nor pulumi_kubernetes)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.harness import ROOT

COMPONENTS = ROOT / "components"


def imported(path: Path) -> set[str]:
    """The `components.*` modules `path` imports, wherever in the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} if node.module != "components" else {f"components.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name for name in names if name.startswith("components.")}


@pytest.mark.parametrize(
    ("package", "allowed"),
    [("config", ("components.config.",)), ("kube", ("components.kube.", "components.config.quantity"))],
)
def test_a_package_imports_nothing_above_it(package: str, allowed: tuple[str, ...]) -> None:
    for path in sorted((COMPONENTS / package).glob("*.py")):
        above = sorted(name for name in imported(path) if not name.startswith(allowed))
        assert not above, f"{path.relative_to(ROOT)} imports {above}"


def test_reading_the_config_loads_no_component() -> None:
    probe = (
        "import sys, components.config.loading; "
        "print(sorted(m for m in sys.modules if m.startswith(('components.', 'pulumi_kubernetes')) "
        "and not m.startswith('components.config')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
