"""`make tools` uses the user's own Pulumi CLI when it is new enough and has its
language host beside it; it builds one only otherwise (tools/bootstrap.sh)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.unit.harness import ROOT

SDK_VERSION = "3.259.0"


def fake_cli(directory: Path, version: str, *, language_host: bool = True) -> Path:
    directory.mkdir(parents=True)
    cli = directory / "pulumi"
    cli.write_text(f"#!/bin/sh\necho v{version}\n")
    cli.chmod(0o755)
    if language_host:
        host = directory / "pulumi-language-python"
        host.write_text("#!/bin/sh\n")
        host.chmod(0o755)
    return directory


def bootstrap(tmp_path: Path, cli_dir: Path) -> subprocess.CompletedProcess[str]:
    # No Go on this PATH: where the script would build, it stops at once instead.
    env = {"PATH": f"{cli_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "PLATFORM_TOOLS_CACHE": str(tmp_path / "cache")}
    return subprocess.run(
        [str(ROOT / "tools" / "bootstrap.sh"), "pulumi"], env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("version", [SDK_VERSION, "3.260.0", "4.0.0"])
def test_a_cli_from_the_sdk_version_on_is_used_as_it_is(tmp_path: Path, version: str) -> None:
    cli_dir = fake_cli(tmp_path / "official", version)
    done = bootstrap(tmp_path, cli_dir)
    assert done.returncode == 0, done.stderr
    assert f"using {cli_dir}/pulumi v{version} from PATH" in done.stdout
    assert os.readlink(tmp_path / "cache" / "bin" / f"pulumi-{SDK_VERSION}") == str(cli_dir)


@pytest.mark.parametrize(("version", "language_host"), [("3.258.0", True), ("3.100.0", True), (SDK_VERSION, False)])
def test_an_older_cli_or_one_without_language_host_means_building(
    tmp_path: Path, version: str, language_host: bool
) -> None:
    cli_dir = fake_cli(tmp_path / "old", version, language_host=language_host)
    done = bootstrap(tmp_path, cli_dir)
    assert done.returncode != 0
    assert "Go >= 1.26 is needed to build the toolchain" in done.stderr, done.stderr
    assert not (tmp_path / "cache" / "bin" / f"pulumi-{SDK_VERSION}").is_symlink()


def test_a_tool_that_writes_more_after_its_version_is_still_used(tmp_path: Path) -> None:
    """The version check of a tool on PATH reads its whole output: one that stopped
    at the match would leave the tool writing into a closed pipe, which fails under
    pipefail (as the traefik check did in a cold run)."""
    pins = (ROOT / "tools" / "versions.env").read_text()
    (version,) = re.findall(r"^ACTIONLINT_VERSION=(\S+)$", pins, re.MULTILINE)
    tools = tmp_path / "tools"
    tools.mkdir()
    actionlint = tools / "actionlint"
    actionlint.write_text(f"#!/bin/sh\necho {version}\nsleep 0.5\nseq 100000\n")
    actionlint.chmod(0o755)
    env = {"PATH": f"{tools}:/usr/bin:/bin", "HOME": str(tmp_path), "PLATFORM_TOOLS_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [str(ROOT / "tools" / "bootstrap.sh"), "actionlint"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert f"actionlint {version} ... found on PATH ({actionlint}), linked" in done.stdout
