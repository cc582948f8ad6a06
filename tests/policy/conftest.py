"""Make the policy pack's modules importable the way the CLI imports them.

The CLI runs policy/__main__.py with policy/ first on sys.path, so the pack's
modules are top-level (`import rules`, `import kube`); the tests import them so too.
"""

import sys
from pathlib import Path

POLICY_DIR = str(Path(__file__).resolve().parents[2] / "policy")

if POLICY_DIR not in sys.path:
    sys.path.insert(0, POLICY_DIR)
