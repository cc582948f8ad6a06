"""The Python language host stops when the CLI asks, whatever signal disposition it
inherited.

The CLI stops a plugin with SIGINT and kills it 5 s later. Started by a parent that
ignores SIGINT (a job run with `&` or `nohup` from a script, many CI runners), a host
that only inherits the disposition ignores the request and costs every command those
5 s; so would the Python program it runs, on Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e

# How long the CLI waits for a plugin to exit after SIGINT before it kills it
# (sdk/go/common/resource/plugin/plugin.go, `kill`).
CLI_KILL_AFTER = 5.0
SIGINT_IGNORED = ["bash", "-c", 'trap "" INT; exec "$@"', "bash"]


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def language_host() -> Path:
    """The Python language host beside the `pulumi` on PATH, as the CLI finds it."""
    cli = shutil.which("pulumi")
    assert cli is not None, "pulumi is not on PATH: run the suite with make"
    host = Path(cli).resolve().parent / "pulumi-language-python"
    assert host.exists(), f"no language host beside {cli}"
    return host


def test_the_host_exits_on_sigint_even_when_its_parent_ignores_it() -> None:
    host = subprocess.Popen(
        [str(language_host()), "127.0.0.1:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigint,
    )
    try:
        assert host.stdout is not None
        port = host.stdout.readline().strip()
        assert port.isdigit(), f"the host did not print its port: {port!r}"
        host.send_signal(signal.SIGINT)
        try:
            code = host.wait(timeout=CLI_KILL_AFTER)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the host still serves {CLI_KILL_AFTER}s after SIGINT: the CLI would have to kill it")
        # 0: it stopped serving and exited by itself (not killed by the signal, -2).
        assert code == 0, host.stderr.read() if host.stderr else code
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()


def test_the_program_gets_sigint_back_when_its_parent_ignores_it(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        "name: sigint\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: venv\n"
    )
    (project / "venv").symlink_to(ROOT / ".venv")
    (project / "__main__.py").write_text(
        "import signal\n\nimport pulumi\n\n"
        'pulumi.export("sigintIgnored", signal.getsignal(signal.SIGINT) == signal.SIG_IGN)\n'
    )
    backend = tmp_path / "backend"
    backend.mkdir()
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
    }

    def pulumi(*args: str) -> str:
        done = subprocess.run(
            [*SIGINT_IGNORED, "pulumi", *args, "--non-interactive"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    pulumi("stack", "init", "test")
    pulumi("up", "--stack", "test", "--yes", "--skip-preview")
    assert pulumi("stack", "output", "sigintIgnored", "--stack", "test").strip() == "false"
