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


def project(tmp_path: Path, program: str) -> tuple[Path, dict[str, str]]:
    """A Python project running `program` on the checkout's venv, with a file backend
    of its own; the environment to run the CLI on it."""
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "Pulumi.yaml").write_text(
        "name: host\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: venv\n"
    )
    (directory / "venv").symlink_to(ROOT / ".venv")
    (directory / "__main__.py").write_text(program)
    backend = tmp_path / "backend"
    backend.mkdir()
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
    }
    return directory, env


def test_the_program_gets_sigint_back_when_its_parent_ignores_it(tmp_path: Path) -> None:
    directory, env = project(
        tmp_path,
        "import signal\n\nimport pulumi\n\n"
        'pulumi.export("sigintIgnored", signal.getsignal(signal.SIGINT) == signal.SIG_IGN)\n',
    )

    def pulumi(*args: str) -> str:
        done = subprocess.run(
            [*SIGINT_IGNORED, "pulumi", *args, "--non-interactive"],
            cwd=directory,
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


def test_a_policy_pack_starts_whatever_the_users_python_buffering(tmp_path: Path) -> None:
    # The pack tells the CLI its port on stdout, a pipe: block-buffered unless Python
    # runs unbuffered, and a user's shell does not say so (PYTHONUNBUFFERED unset).
    directory, env = project(tmp_path, "import pulumi\n")
    env.pop("PYTHONUNBUFFERED", None)
    pack = ROOT / "policy"
    assert (pack / "venv").is_dir(), "the policy pack has no venv: run the suite with make (policy/venv/.installed)"
    for args in (["stack", "init", "test"], ["preview", "--stack", "test", "--policy-pack", str(pack)]):
        # A session of its own, so a hung run's plugins go with it.
        cli = subprocess.Popen(
            ["pulumi", *args, "--non-interactive"],
            cwd=directory,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = cli.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.communicate()
            pytest.fail(f"`pulumi {' '.join(args)}` still running after 120 s: the policy pack never said its port")
        assert cli.returncode == 0, output
