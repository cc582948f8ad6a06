"""Generated stack configs: what validates (its settings, then the name of every
object the program would render from them) renders objects Kubernetes accepts; what
does not is rejected before any resource exists, naming the key and a fix.

Generated cases per run: 315. 200 near-valid configs (a config with one mutation
past a limit, of the wrong YAML type, or breaking a cross-field rule) must be
rejected; 100 configs of valid values at their limits must validate or be
rejected well; 15 of those that validate are rendered under mocks and checked
against Kubernetes' rules (tests/unit/kube_rules.py).
The server half, a server-side dry-run of such renders, is
tests/e2e/test_generated_configs.py. Inputs it found are regression cases in
tests/unit/test_settings.py.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, event, given, settings

from components.config.loading import ConfigError, parse_settings
from components.object_names import check_names
from tests.unit import kube_rules
from tests.unit.generated_configs import Case, stack_configs
from tests.unit.harness import last_run, run_program

LINE = re.compile(r"^  platform:(?P<key>[A-Za-z0-9_.\[\]-]+): (?P<message>.+)$")
# Every message says what to do; these are the verbs and phrases it does it with.
FIX = re.compile(
    r"\b(use|set|run|remove|add|rename|shorten|lower|raise|quote|write|give|pin|check|pick|list|should be|"
    r"reference|must)\b"
)
RAW_PYDANTIC = ("Input should be a valid string", "Value error", "validation error")


def _settings_valid(case: Case) -> bool:
    try:
        parse_settings(case.config | case.secrets, secret_keys=set(case.secrets))
    except ConfigError:
        return False
    return True


def _validates(case: Case) -> bool:
    """Whether `case` passes validation: its settings, then the names the program
    would render from them."""
    try:
        check_names(parse_settings(case.config | case.secrets, secret_keys=set(case.secrets)))
    except ConfigError:
        return False
    return True


def assert_rejected_well(case: Case) -> str:
    """`case` fails before any registration, and every line names a key and a fix."""
    with pytest.raises(ConfigError) as raised:
        run_program(case.config, secrets=case.secrets)
    assert last_run().registrations == [], "a resource was registered before validation failed"
    header, *lines = str(raised.value).split("\n")
    assert header == "invalid stack configuration, nothing was changed:"
    assert lines
    for line in lines:
        match = LINE.match(line)
        assert match, f"line does not start with the key: {line!r}"
        assert FIX.search(match["message"]), f"no fix in: {line!r}"
        assert not any(raw in line for raw in RAW_PYDANTIC), line
    return str(raised.value)


def _keys(message: str) -> list[str]:
    return [match["key"] for line in message.split("\n")[1:] if (match := LINE.match(line))]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=stack_configs(near=True))
def test_near_valid_config_is_rejected_naming_the_key_before_anything_is_registered(case: Case) -> None:
    event(f"mutation: {(case.mutation or '').split(' = ')[0].split('[')[0]}")
    message = assert_rejected_well(case)
    assert case.mutated is not None
    if case.names and not _settings_valid(case):
        # Names are rendered from valid settings only: the settings' problems come first.
        event("a name, after the settings' own problems")
        return
    keys = _keys(message)
    assert any(key.startswith(case.mutated) or case.mutated.startswith(key) for key in keys), (
        f"{case.mutation}: the message names {keys}, not {case.mutated}"
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=stack_configs())
def test_generated_config_validates_or_is_rejected_naming_key_and_fix(case: Case) -> None:
    if _validates(case):
        event("valid")
    else:
        event("rejected")
        assert_rejected_well(case)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=stack_configs())
def test_generated_config_that_validates_renders_objects_kubernetes_accepts(case: Case) -> None:
    assume(_validates(case))
    run = run_program(case.config, secrets=case.secrets)
    assert kube_rules.problems(run) == []
