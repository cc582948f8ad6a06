"""Args made from a settings section: shared fields carried over by name, the rest
given explicitly."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pulumi_kubernetes.core.v1 import ResourceRequirementsArgs

from components.config.models import AppSettings, Autoscaling, Model, Resources, resources
from components.from_settings import EPHEMERAL_LIMIT, args_from


@dataclass(frozen=True)
class Sized:
    name: str
    resources: ResourceRequirementsArgs
    replicas: int = 1


def test_fields_the_section_shares_are_carried_over_by_name() -> None:
    app = AppSettings(name="api", namespace="web", replicas=3)
    made = args_from(Sized, app)
    assert (made.name, made.replicas) == ("api", 3)


def test_resources_become_the_containers_requirements() -> None:
    made = args_from(Sized, AppSettings(name="api", namespace="web"))
    assert made.resources.limits == {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": EPHEMERAL_LIMIT}


def test_an_override_wins_over_the_sections_field() -> None:
    assert args_from(Sized, AppSettings(name="api", namespace="web", replicas=3), replicas=5).replicas == 5


@dataclass(frozen=True)
class Scaled:
    autoscaling: Autoscaling | None


def test_a_nested_section_must_be_given_as_an_override() -> None:
    app = AppSettings(name="api", namespace="web", autoscaling=Autoscaling())
    with pytest.raises(TypeError, match=r"Scaled\.autoscaling: the section holds a model \(Autoscaling\)"):
        args_from(Scaled, app)


class Section(Model):
    resources: Resources = resources("1", "1Gi", "2", "2Gi")


def test_a_field_the_section_lacks_keeps_the_args_default() -> None:
    assert args_from(Sized, Section(), name="x").replicas == 1
