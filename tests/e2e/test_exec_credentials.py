"""The ownership guard with a kubeconfig whose user logs in through a command, as the
clouds' `get-credentials` write them, against the suite's real API server.

The login command is a script beside the kubeconfig (named by a relative path, which
client-go reads relative to the kubeconfig's directory) that prints the cluster's
own client certificate and key (or token) as an ExecCredential. With it:

- a preview of the local stack runs, the provider and the guard both logging in
  through the script;
- a namespace `staging-web` made by hand stops `pulumi preview` and `pulumi up`
  with the same message as the plain kubeconfig, and stays as it was;
- a login command that fails stops `pulumi preview` with the command, what it
  printed and the way out, and nothing is created.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import LOCAL_CONTEXT, kubectl
from tests.e2e.resilience_helpers import existing_namespaces
from tests.e2e.test_user_path import Clone, clean_cluster, plain_env, plain_stack, resources_in_state
from tests.unit.kubeconfigs import V1, exec_plugin, runs

pytestmark = pytest.mark.e2e
__all__ = ["clean_cluster", "plain_env"]  # fixtures, used by name

NAMESPACE_REFUSED = re.compile(r"error: (Namespace staging-web already exists in the cluster[^\n]*)")


def login_kubeconfig(clone: Clone, exit_code: int = 0, stderr: str = "") -> Path:
    """Turn the clone's .state/kubeconfig into one whose user runs `./bin/login`,
    which answers with the credentials the plain kubeconfig held (or exits with
    `exit_code`, printing `stderr`). The plugin's path, relative to the kubeconfig."""
    document = yaml.safe_load(clone.kubeconfig.read_text())
    context = next(c["context"] for c in document["contexts"] if c["name"] == LOCAL_CONTEXT)
    user = next(u for u in document["users"] if u["name"] == context["user"])
    held = user["user"]
    if held.get("token"):
        status = {"token": held["token"]}
    else:
        status = {
            "clientCertificateData": base64.b64decode(held["client-certificate-data"]).decode(),
            "clientKeyData": base64.b64decode(held["client-key-data"]).decode(),
        }
    status["expirationTimestamp"] = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    plugin = exec_plugin(clone.kubeconfig.parent / "bin" / "login", status, exit_code=exit_code, stderr=stderr)
    user["user"] = {"exec": {"apiVersion": V1, "command": "./bin/login", "interactiveMode": "Never"}}
    clone.kubeconfig.write_text(yaml.safe_dump(document))
    return plugin


def refusal(done: subprocess.CompletedProcess[str]) -> str:
    """The namespace refusal of a failed command, else the assertion with its output."""
    output = done.stdout + done.stderr
    found = NAMESPACE_REFUSED.search(output)
    assert done.returncode != 0 and found, output[-4000:]
    return found[1]


def test_a_login_command_kubeconfig_guards_as_the_plain_one_does(
    tmp_path: Path, plain_env: dict[str, str], clean_cluster: None
) -> None:
    clone = plain_stack(tmp_path, plain_env)
    plain = clone.kubeconfig.read_text()
    plugin = login_kubeconfig(clone)

    preview = clone.pulumi("preview", "--stack", "local", "--json")
    steps = json.loads(preview.stdout)["steps"]
    assert {s["op"] for s in steps} == {"create"}, preview.stdout[-2000:]
    assert runs(plugin) >= 1, "the program never ran the login command"

    kubectl("create", "namespace", "staging-web")
    kubectl("label", "namespace", "staging-web", "owner=someone-else")
    before = json.loads(kubectl("get", "namespace", "staging-web", "-o", "json").stdout)["metadata"]

    with_login = [
        refusal(clone.pulumi(*command, "--stack", "local", check=False)) for command in (["preview"], ["up", "--yes"])
    ]
    clone.kubeconfig.write_text(plain)
    with_plain = refusal(clone.pulumi("preview", "--stack", "local", check=False))
    assert with_login == [with_plain, with_plain]
    assert "pulumi import kubernetes:core/v1:Namespace namespaces-staging-web staging-web" in with_plain
    clone.pulumi("destroy", "--stack", "local", "--yes")

    after = json.loads(kubectl("get", "namespace", "staging-web", "-o", "json").stdout)["metadata"]
    assert after["uid"] == before["uid"] and after["labels"].get("owner") == "someone-else"
    managers = {entry["manager"] for entry in after.get("managedFields") or []}
    assert not any(manager.startswith("pulumi") for manager in managers), managers


def test_a_login_command_that_fails_stops_preview_with_the_command_and_the_way_out(
    tmp_path: Path, plain_env: dict[str, str], clean_cluster: None
) -> None:
    clone = plain_stack(tmp_path, plain_env)
    plugin = login_kubeconfig(clone, exit_code=1, stderr="ERROR: Reauthentication required.")

    for command in (["preview"], ["up", "--yes"]):
        done = clone.pulumi(*command, "--stack", "local", check=False)
        output = done.stdout + done.stderr
        assert done.returncode != 0, output[-4000:]
        assert f"runs `{plugin}` for its credentials, which exited 1: ERROR: Reauthentication required." in output
        assert "kubernetes:kubeconfig: " in output and "Nothing was changed" in output, output[-4000:]
        assert "`pulumi config set platform:ownershipCheck false --stack local`" in output, output[-4000:]
    assert resources_in_state(clone) == []
    assert existing_namespaces() == {}


def test_up_preview_and_destroy_run_through_the_login_command(
    tmp_path: Path, plain_env: dict[str, str], clean_cluster: None
) -> None:
    clone = plain_stack(tmp_path, plain_env)
    plugin = login_kubeconfig(clone)

    clone.pulumi("up", "--stack", "local", "--yes")
    assert set(existing_namespaces()) == {
        "staging-infra",
        "staging-core",
        "staging-ai",
        "staging-web",
        "staging-gateway",
    }
    preview = clone.pulumi("preview", "--stack", "local", "--expect-no-changes", "--json")
    assert [s for s in json.loads(preview.stdout)["steps"] if s["op"] != "same"] == []
    clone.pulumi("destroy", "--stack", "local", "--yes")
    assert resources_in_state(clone) == []
    # A login per process (each program run, each provider), not one per object
    # looked up (92 in each of up's two program runs and the preview's).
    assert 0 < runs(plugin) < 20, runs(plugin)
