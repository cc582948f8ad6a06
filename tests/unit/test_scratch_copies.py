"""The bench's scratch copy of the stack file carries no checkout's salt: a stack
file's `encryptionsalt` belongs to that checkout's backend and passphrase, and a
copy with a passphrase of its own would stop at "incorrect passphrase" (render and
the e2e suite write only the config into theirs)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.harness import ROOT

SALT = "v1:c2FsdA==:v1:bm9uY2U=:Y2lwaGVy"


def test_the_bench_copy_of_a_stack_file_has_no_salt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = importlib.import_module("bench.run")
    source = tmp_path / "checkout"
    source.mkdir()
    config: dict[str, Any] = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text())
    (source / "Pulumi.local.yaml").write_text(yaml.safe_dump({**config, "encryptionsalt": SALT}))
    commands: list[list[str]] = []
    monkeypatch.setattr(bench, "run", lambda args, **_: commands.append(list(args)))

    project = bench.Project(source, tmp_path / "scratch", {}, tmp_path / "kubeconfig", "", files=[])

    copied = yaml.safe_load(project.config_file.read_text())
    assert "encryptionsalt" not in copied
    assert copied["config"]["platform:target"] == config["config"]["platform:target"]
    assert commands == [["pulumi", "stack", "init", "local", "--secrets-provider", "passphrase"]]
