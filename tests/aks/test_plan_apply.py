"""``plan`` prints the exact requests offline; ``up`` (apply_plan) sends exactly those."""

from __future__ import annotations

import copy
import json

import pytest

from provisioning.errors import UsageError
from provisioning.providers.aks.apply import apply_plan
from provisioning.providers.aks.body import update_body
from provisioning.providers.aks.gateway import AksGateway
from provisioning.providers.aks.plan import plan_cluster
from provisioning.spec import AksSettings, LabSpec
from tests.aks.conftest import load
from tests.aks.fake_arm import FakeArm

GROUP, NAME = "lab-rg", "lab"


def spec(engine: str) -> LabSpec:
    return LabSpec(name=NAME, provider="aks", engine=engine, aks=AksSettings(resource_group=GROUP))


def test_offline_cilium_plan_shows_the_body_with_overlay_and_cilium_dataplane() -> None:
    plan = plan_cluster(spec("cilium"), None, observed=False)
    data = json.loads(json.dumps(plan.as_dict()))
    assert data["action"] == "create" and data["observed"] is False
    group_put, cluster_put = data["requests"]
    assert group_put["path"] == "/subscriptions/{subscription}/resourcegroups/lab-rg"
    assert "only when the group does not exist" in group_put["note"]
    assert cluster_put["headers"] == {"If-None-Match": "*"}
    net = cluster_put["body"]["properties"]["networkProfile"]
    assert (net["networkPluginMode"], net["networkDataplane"], net["networkPolicy"]) == (
        "overlay",
        "cilium",
        "cilium",
    )
    assert "region's default version" in cluster_put["note"]
    assert any("Azure not consulted" in line for line in plan.lines())


def test_offline_plan_cannot_be_applied(gateway: AksGateway, fake: FakeArm) -> None:
    with pytest.raises(UsageError, match="without looking at Azure"):
        apply_plan(gateway, spec("none"), plan_cluster(spec("none"), None, observed=False))
    assert fake.requests == []


def test_apply_create_sends_exactly_the_planned_bodies(gateway: AksGateway, fake: FakeArm) -> None:
    version = gateway.default_kubernetes_version("westeurope")
    plan = plan_cluster(
        spec("calico"),
        gateway.observe(GROUP, NAME),
        kubernetes_version=version,
        group_exists=gateway.group_exists(GROUP),
        subscription=gateway.subscription_id,
    )
    fake.requests.clear()

    created = apply_plan(gateway, spec("calico"), plan)

    puts = fake.calls("PUT")
    assert [(p.path, p.body) for p in puts] == [(r.path, r.body) for r in plan.requests]
    assert puts[1].body["properties"]["kubernetesVersion"] == "1.33"
    assert created.engine == "calico"
    assert fake.groups[GROUP]["tags"] == {"managed-by": "netpol-lab", "netpol-lab-lab": NAME}


def test_apply_update_follows_the_planned_steps_with_fresh_etags(
    gateway: AksGateway, fake: FakeArm
) -> None:
    raw = copy.deepcopy(load("cluster_get_azure.json"))
    fake.seed_cluster(GROUP, raw)
    plan = plan_cluster(
        spec("calico"), gateway.observe(GROUP, NAME), subscription=fake.subscription
    )
    assert plan.transition.needs_confirmation
    assert [r.headers["If-Match"] for r in plan.requests] == [
        '"etag-seeded"',
        '"<ETag after the previous step>"',
    ]
    fake.requests.clear()

    after = apply_plan(gateway, spec("calico"), plan)

    puts = fake.calls("PUT")
    assert puts[0].body == plan.requests[0].body
    assert puts[0].headers["if-match"] == '"etag-seeded"'
    assert puts[1].headers["if-match"] not in (
        '"etag-seeded"',
        plan.requests[1].headers["If-Match"],
    )
    assert (
        puts[1].body["properties"]["networkProfile"]
        == plan.requests[1].body["properties"]["networkProfile"]
    )
    assert after.engine == "calico"


def test_a_refused_plan_sends_nothing(gateway: AksGateway, fake: FakeArm) -> None:
    raw = copy.deepcopy(load("cluster_get_azure.json"))
    raw["properties"]["networkProfile"].update(
        {"networkPluginMode": "overlay", "networkDataplane": "cilium", "networkPolicy": "cilium"}
    )
    fake.seed_cluster(GROUP, raw)
    plan = plan_cluster(spec("azure"), gateway.observe(GROUP, NAME))
    assert plan.requests == () and plan.lines()[0].startswith("x ")
    fake.requests.clear()
    with pytest.raises(UsageError, match="no migration path off the Cilium data plane"):
        apply_plan(gateway, spec("azure"), plan)
    assert fake.requests == []


def test_no_op_plan_returns_the_cluster_without_calls(gateway: AksGateway, fake: FakeArm) -> None:
    fake.seed_cluster(GROUP, copy.deepcopy(load("cluster_get_azure.json")))
    plan = plan_cluster(spec("azure"), gateway.observe(GROUP, NAME))
    fake.requests.clear()
    assert apply_plan(gateway, spec("azure"), plan).engine == "azure"
    assert fake.requests == []
    assert any("2028-09-30" in line for line in plan.lines())


def test_a_failed_cluster_is_planned_as_a_repair_put_with_if_match(
    gateway: AksGateway, fake: FakeArm
) -> None:
    raw = copy.deepcopy(load("cluster_get_azure.json"))
    fake.seed_cluster(GROUP, raw, provisioningState="Failed")
    current = gateway.observe(GROUP, NAME)
    plan = plan_cluster(spec("azure"), current, subscription=fake.subscription)

    assert plan.transition.action == "repair" and not plan.transition.needs_confirmation
    (request,) = plan.requests
    assert request.method == "PUT" and request.path.endswith(f"/managedClusters/{NAME}")
    assert request.headers == {"If-Match": '"etag-seeded"'}
    (step,) = plan.transition.steps
    assert request.body == update_body(current, step)  # its own configuration, unchanged
    assert plan.lines()[0] == (
        f"~ cluster {NAME} in {GROUP} (westeurope): cluster is in state Failed: re-send its "
        "configuration to repair it (engine azure)"
    )
    fake.requests.clear()

    after = apply_plan(gateway, spec("azure"), plan)

    (put,) = fake.calls("PUT")
    assert put.body == request.body and put.headers["if-match"] == '"etag-seeded"'
    assert after.provisioning_state == "Succeeded" and after.engine == "azure"


def test_apply_waits_at_most_the_cluster_timeout(gateway: AksGateway, fake: FakeArm) -> None:
    import dataclasses

    from provisioning.errors import OperationError
    from provisioning.spec import Timeouts

    impatient = dataclasses.replace(spec("none"), timeouts=Timeouts(cluster=0.05))
    plan = plan_cluster(
        impatient,
        None,
        kubernetes_version="1.33",
        group_exists=False,
        subscription=fake.subscription,
    )
    fake.hold = True
    try:
        with pytest.raises(OperationError, match=r"still running after 0\.05s"):
            apply_plan(gateway, impatient, plan)
    finally:
        fake.release()
