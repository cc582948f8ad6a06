"""images-pinned: every image has a version tag other than latest, or a digest."""

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE
from rules import images_pinned

from tests.policy.k8s_builders import container, findings, pod_template, workload


def with_image(image: object, kind: str = "Deployment", preview: bool = False) -> list[str]:
    template = pod_template(containers=[container(image=image)])
    return findings(images_pinned, workload(kind, template=template, preview=preview))


@pytest.mark.parametrize(
    "image",
    [
        "nginx:1.27.3",
        "ghcr.io/goauthentik/server:2025.10.1",
        "localhost:5000/echo:0.1.0",
        "pgvector/pgvector@sha256:" + "a" * 64,
        "redis:7.4.2@sha256:" + "b" * 64,
    ],
)
def test_pinned_images_pass(image: str) -> None:
    assert with_image(image) == []


def test_latest_tag_is_reported_with_resource_and_fix() -> None:
    assert with_image("nginx:latest") == [
        "Deployment staging-core/core: container 'core' image 'nginx:latest' is not "
        "pinned; set a version tag such as nginx:<version> (or a @sha256 digest) in "
        "the stack config"
    ]


@pytest.mark.parametrize("image", ["nginx", "localhost:5000/echo"])
def test_untagged_image_is_reported(image: str) -> None:
    [message] = with_image(image)
    assert f"image '{image}' is not pinned" in message


@pytest.mark.parametrize("kind", ["StatefulSet", "CronJob", "Job", "Pod"])
def test_every_workload_kind_is_checked(kind: str) -> None:
    assert len(with_image("redis:latest", kind)) == 1


def test_init_container_image_is_checked() -> None:
    template = pod_template(init_containers=[container("migrate", image="alpine")])

    [message] = findings(images_pinned, workload(template=template))

    assert "init container 'migrate' image 'alpine' is not pinned" in message


def test_missing_image_is_reported() -> None:
    assert "has no image" in with_image(None)[0]


def test_image_unknown_during_preview_is_not_reported() -> None:
    assert with_image(UNKNOWN_STRING_VALUE, preview=True) == []
