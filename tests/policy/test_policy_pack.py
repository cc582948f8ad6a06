"""The pack as the CLI runs it: its manifest, and its analyzer served over gRPC.

Pulumi 3.259 hands a Python policy pack to the python language host's RunPlugin,
which runs `<pack venv>/bin/python <pack dir> <engine address>` from the project
directory. The fixture starts the pack the same way (with this interpreter) and
stops it after the module's tests; the pack serves on a loopback port it prints.
"""

import os
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE
from rules import POLICIES, RESOURCE_RULES

from tests.policy.k8s_builders import Args, container, pod_template, workload

REPO = Path(__file__).resolve().parents[2]
POLICY_DIR = REPO / "policy"


def pins(requirements: Path) -> dict[str, str]:
    pairs = [line.split("==", 1) for line in requirements.read_text().splitlines()]
    return {pair[0].strip(): pair[1].strip() for pair in pairs if len(pair) == 2}


def test_every_policy_is_mandatory_and_named_once() -> None:
    names = [policy.name for policy in POLICIES]

    assert len(set(names)) == len(names) == len(RESOURCE_RULES) + 1
    assert {policy.enforcement_level for policy in POLICIES} == {EnforcementLevel.MANDATORY}


def test_manifest_runs_the_pack_from_its_own_ignored_virtualenv() -> None:
    manifest = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())

    assert manifest["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    assert "venv/" in (POLICY_DIR / ".gitignore").read_text().split()


def test_pack_pins_the_pulumi_sdk_the_program_pins() -> None:
    pack = pins(POLICY_DIR / "requirements.txt")

    assert set(pack) == {"pulumi", "pulumi-policy"}
    assert pack["pulumi"] == pins(REPO / "requirements.txt")["pulumi"]


def read_port(process: subprocess.Popen[str], timeout: float = 60) -> int:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError("the policy pack printed no port")
    line = process.stdout.readline()
    if not line.strip():
        raise RuntimeError(f"the policy pack exited with {process.wait()}")
    return int(line)


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    log = tmp_path_factory.mktemp("pack") / "stderr.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PULUMI_")}
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-u", str(POLICY_DIR), "127.0.0.1:0"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        port = read_port(process)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    except (TimeoutError, RuntimeError) as error:
        raise AssertionError(log.read_text()) from error
    finally:
        process.terminate()
        process.wait(timeout=10)


def analyze(analyzer: Any, args: Args) -> list[Any]:
    properties = struct_pb2.Struct()
    properties.update(args.props)
    request = analyzer_pb2.AnalyzeRequest(type=args.resource_type, properties=properties, urn=args.urn, name=args.name)
    return list(analyzer.Analyze(request).diagnostics)


def test_pack_serves_its_policies_as_mandatory(analyzer: Any) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())

    assert info.name == "platform-security"
    assert {policy.name for policy in info.policies} == {p.name for p in POLICIES}
    assert {policy.enforcementLevel for policy in info.policies} == {analyzer_pb2.MANDATORY}


def test_pack_reports_a_violation_on_the_resource(analyzer: Any) -> None:
    args = workload(template=pod_template([container(image="nginx:latest")]))

    [diagnostic] = analyze(analyzer, args)

    assert diagnostic.policyName == "images-pinned"
    assert diagnostic.urn == args.urn
    assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY
    assert "Deployment staging-core/core: container 'core' image 'nginx:latest'" in (diagnostic.message)


def test_pack_neither_fails_nor_reports_on_preview_unknowns(analyzer: Any) -> None:
    template = pod_template([container(image=UNKNOWN_STRING_VALUE)])
    template["spec"]["securityContext"] = UNKNOWN_STRING_VALUE

    assert analyze(analyzer, workload(template=template)) == []


def test_pack_checks_the_whole_stack_for_disruption_budgets(analyzer: Any) -> None:
    deployment = workload(replicas=2)
    properties = struct_pb2.Struct()
    properties.update(deployment.props)
    request = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=deployment.resource_type,
                properties=properties,
                urn=deployment.urn,
                name=deployment.name,
            )
        ]
    )

    [diagnostic] = analyzer.AnalyzeStack(request).diagnostics

    assert diagnostic.policyName == "pod-disruption-budget"
    assert diagnostic.urn == deployment.urn
