"""``down`` on AKS: cluster first, the group only when the tool owns it, idempotent, confirmed."""

from __future__ import annotations

import copy

import pytest

from provisioning.errors import OperationError, UsageError
from provisioning.providers.aks.body import cluster_body
from provisioning.providers.aks.gateway import AksGateway
from provisioning.providers.aks.tags import tool_tags
from provisioning.providers.aks.teardown import teardown
from provisioning.spec import AksSettings, LabSpec
from tests.aks.conftest import load
from tests.aks.fake_arm import FakeArm

GROUP, NAME = "lab-rg", "lab"
NODE_GROUP = f"MC_{GROUP}_{NAME}_westeurope"


def up(fake: FakeArm, gateway: AksGateway, *, tool_group: bool = True) -> None:
    """Create the lab like ``up``: the group (tagged only if the tool makes it), the cluster."""
    if tool_group:
        assert gateway.ensure_group(GROUP, "westeurope", tool_tags(NAME))
    else:
        fake.seed_group(GROUP, tags={"owner": "platform-team"})
    spec = LabSpec(name=NAME, provider="aks", engine="none", aks=AksSettings(resource_group=GROUP))
    gateway.create_cluster(GROUP, NAME, cluster_body(spec, "1.33"))
    assert gateway.group_exists(NODE_GROUP)
    fake.requests.clear()


def test_deletes_cluster_then_owned_group_and_confirms_node_group_gone(
    fake: FakeArm, gateway: AksGateway
) -> None:
    up(fake, gateway)
    states: list[str] = []
    report = teardown(gateway, GROUP, NAME, lab=NAME, progress=lambda _, s: states.append(s))

    assert (report.cluster, report.group, report.node_group) == ("deleted", "deleted", "gone")
    assert report.complete
    assert states == ["Deleting", "Deleting", "Succeeded"]
    deletes = [r.path for r in fake.calls("DELETE")]
    assert deletes[0].endswith(f"/managedClusters/{NAME}")
    assert deletes[1].lower().endswith(f"/resourcegroups/{GROUP}")
    assert fake.calls("HEAD", NODE_GROUP)  # the node group was checked, not assumed
    assert fake.clusters == {} and fake.groups == {}


def test_second_run_is_a_harmless_no_op(fake: FakeArm, gateway: AksGateway) -> None:
    up(fake, gateway)
    teardown(gateway, GROUP, NAME, lab=NAME)
    fake.requests.clear()
    again = teardown(gateway, GROUP, NAME, lab=NAME)
    assert (again.cluster, again.group, again.node_group) == ("absent", "absent", "not checked")
    assert fake.calls("DELETE") == []


def test_a_group_the_tool_did_not_create_is_kept(fake: FakeArm, gateway: AksGateway) -> None:
    up(fake, gateway, tool_group=False)
    report = teardown(gateway, GROUP, NAME, lab=NAME)
    assert (report.cluster, report.group, report.node_group) == ("deleted", "kept", "gone")
    assert "netpol-lab did not create it" in report.detail
    assert GROUP.lower() in fake.groups
    assert len(fake.calls("DELETE")) == 1  # only the cluster


def test_a_tool_group_holding_someone_elses_resource_is_kept(
    fake: FakeArm, gateway: AksGateway
) -> None:
    up(fake, gateway)
    fake.add_foreign_resource(GROUP, "teamstorage", {"owner": "ops"})
    report = teardown(gateway, GROUP, NAME, lab=NAME)
    assert report.group == "kept" and "teamstorage" in report.detail
    assert GROUP.lower() in fake.groups


def test_a_group_created_for_another_lab_is_kept(fake: FakeArm, gateway: AksGateway) -> None:
    gateway.ensure_group(GROUP, "westeurope", tool_tags("other-lab"))
    spec = LabSpec(name=NAME, provider="aks", engine="none", aks=AksSettings(resource_group=GROUP))
    gateway.create_cluster(GROUP, NAME, cluster_body(spec, "1.33"))
    report = teardown(gateway, GROUP, NAME, lab=NAME)
    assert (report.cluster, report.group) == ("deleted", "kept")


def test_a_cluster_without_the_tools_tags_is_never_deleted(
    fake: FakeArm, gateway: AksGateway
) -> None:
    raw = copy.deepcopy(load("cluster_get_azure.json"))
    raw["tags"] = {"owner": "platform-team"}
    fake.seed_cluster(GROUP, raw)
    with pytest.raises(UsageError, match=r"not tagged managed-by=netpol-lab.*az aks delete"):
        teardown(gateway, GROUP, NAME, lab=NAME)
    assert fake.calls("DELETE") == []
    assert (GROUP, NAME) in fake.clusters


def test_no_wait_starts_only_the_cluster_deletion_and_the_next_run_removes_the_group(
    fake: FakeArm, gateway: AksGateway
) -> None:
    up(fake, gateway)
    report = teardown(gateway, GROUP, NAME, lab=NAME, wait=False)
    assert (report.cluster, report.group, report.node_group) == (
        "deleting",
        "left for the next down",
        "not checked",
    )
    assert not report.complete and "deleted by the next `invoke down" in report.detail
    # Only the cluster: a group delete while the cluster delete runs is undocumented.
    (delete,) = fake.calls("DELETE")
    assert delete.path.endswith(f"/managedClusters/{NAME}")
    assert fake.calls("GET", "/operations") == [] and fake.calls("GET", "/operationresults") == []
    assert GROUP.lower() in fake.groups

    # Still deleting: no second DELETE (ARM would answer 409), a message when waiting.
    assert teardown(gateway, GROUP, NAME, lab=NAME, wait=False).group == "left for the next down"
    with pytest.raises(OperationError, match=r"still being deleted .* once `az aks show"):
        teardown(gateway, GROUP, NAME, lab=NAME)
    assert len(fake.calls("DELETE")) == 1

    fake.finish_operations()  # the cluster deletion ends while nobody polls
    later = teardown(gateway, GROUP, NAME, lab=NAME)
    assert (later.cluster, later.group) == ("absent", "deleted")
    assert fake.calls("DELETE")[-1].path.lower().endswith(f"/resourcegroups/{GROUP}")
    assert fake.groups == {}


def test_node_group_left_behind_is_reported(fake: FakeArm, gateway: AksGateway) -> None:
    up(fake, gateway)
    original = fake._remove_cluster

    def leave_node_group(gkey: str, nkey: str) -> None:
        fake.clusters.pop((gkey, nkey))  # AKS failing to clean up its MC_ group

    fake._remove_cluster = leave_node_group  # type: ignore[method-assign]
    report = teardown(gateway, GROUP, NAME, lab=NAME)
    fake._remove_cluster = original  # type: ignore[method-assign]
    assert report.node_group == "still present" and not report.complete
    assert f"az group show -n {NODE_GROUP}" in report.detail


def test_delete_of_a_missing_group_is_quiet(gateway: AksGateway) -> None:
    gateway.delete_cluster("no-such-rg", NAME)
    assert gateway.delete_group_if_owned("no-such-rg") is False


def test_a_deletion_past_the_timeout_says_to_run_down_again(
    fake: FakeArm, gateway: AksGateway
) -> None:
    from provisioning.errors import OperationError

    up(fake, gateway)
    fake.hold = True
    try:
        with pytest.raises(OperationError) as err:
            teardown(gateway, GROUP, NAME, lab=NAME, timeout=0.05)
    finally:
        fake.release()
    assert str(err.value) == (
        f"the deletion of cluster {NAME!r} in resource group {GROUP!r} still running after "
        "0.05s; run `invoke down --provider aks` again to finish, or `invoke status --provider aks`"
    )
