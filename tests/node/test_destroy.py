"""`pulumi destroy`, then `pulumi up` again, on the real node: the retained volume
claims bind again and the data written before is still there. Runs last (the
suite's order in the Makefile): it takes the whole stack down."""

from __future__ import annotations

from tests.node.conftest import Node
from tests.node.test_data import psql_as_core


def test_destroy_then_up_binds_the_kept_claims_with_their_data(node: Node) -> None:
    psql_as_core(node, "create table if not exists survivors (body text); insert into survivors values ('still here')")
    claims = {c["metadata"]["name"]: c["spec"]["volumeName"] for c in node.objects("pvc", "staging-infra")}
    assert "data-postgres-0" in claims, claims
    node.pulumi("destroy", "--yes")
    assert not node.objects("pods", "staging-core")
    kept = {c["metadata"]["name"]: c["spec"]["volumeName"] for c in node.objects("pvc", "staging-infra")}
    assert kept == claims, kept
    node.up()
    assert "still here" in psql_as_core(node, "select body from survivors")
