import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.unit.fake_api import kubeconfig, serve  # noqa: E402


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Path, dict[str, dict[str, Any]]]]:
    """A local fake API server (tests/unit/fake_api.py) and a kubeconfig (context
    kind-platform, token) for it; the objects it knows, by path. Its handler is
    `fake_api.served[-1]`."""
    with serve() as handler:
        yield kubeconfig(tmp_path / "kubeconfig", "kind-platform", server=handler.url), handler.objects
