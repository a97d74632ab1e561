"""The engine-change table: which paths exist, which are refused and why, and the warnings."""

from __future__ import annotations

import copy
from datetime import date

import pytest

from provisioning.providers.aks.observed import ObservedCluster
from provisioning.providers.aks.retirements import retirement_refusals, retirement_warnings
from provisioning.providers.aks.transitions import (
    CREATE,
    NOOP,
    REFUSED,
    REPAIR,
    UPDATE,
    plan_transition,
)
from tests.aks.conftest import load

TODAY = date(2026, 11, 22)


def cluster(
    engine: str, *, windows: bool = False, plugin: str = "azure", **props: object
) -> ObservedCluster:
    """An observed cluster built from the GET fixture, with the engine's network profile."""
    raw = copy.deepcopy(load("cluster_get_azure.json"))
    net = raw["properties"]["networkProfile"]
    net.update({"networkPlugin": plugin, "networkPolicy": engine, "networkDataplane": "azure"})
    if engine in ("cilium", "none"):
        net["networkPluginMode"] = "overlay"
    if engine == "cilium":
        net["networkDataplane"] = "cilium"
    if windows:
        raw["properties"]["agentPoolProfiles"].append(
            {
                "name": "win",
                "count": 1,
                "vmSize": "Standard_D4s_v5",
                "mode": "User",
                "osType": "Windows",
            }
        )
    raw["properties"].update(props)
    return ObservedCluster.from_rest("lab-rg", raw)


def steps(transition) -> list[tuple[str, dict]]:
    return [(s.kind, dict(s.network_changes)) for s in transition.steps]


def test_no_cluster_means_create() -> None:
    t = plan_transition(None, "cilium", today=TODAY)
    assert (t.action, t.steps, t.needs_confirmation) == (CREATE, (), False)


@pytest.mark.parametrize("engine", ["azure", "calico", "cilium", "none"])
def test_same_engine_is_a_no_op(engine: str) -> None:
    t = plan_transition(cluster(engine), engine, lab="lab", today=TODAY)
    assert t.action == NOOP and not t.reimages_node_pools


@pytest.mark.parametrize("engine", ["azure", "calico", "cilium", "none"])
def test_a_failed_cluster_with_the_engine_is_repaired_not_left_alone(engine: str) -> None:
    t = plan_transition(cluster(engine, provisioningState="Failed"), engine, lab="lab", today=TODAY)
    assert t.action == REPAIR
    (step,) = t.steps
    assert step.summary == "cluster is in state Failed: re-send its configuration to repair it"
    assert dict(step.network_changes) == {}  # the same configuration, sent again
    assert not t.needs_confirmation and not t.reimages_node_pools


def test_a_failed_cluster_that_is_not_ours_is_refused() -> None:
    failed = cluster("azure", provisioningState="Failed")
    t = plan_transition(failed, "azure", lab="another-lab", today=TODAY)
    assert t.action == REFUSED and "not tagged managed-by=netpol-lab" in t.reason


def test_a_failed_cluster_changing_engine_is_updated() -> None:
    t = plan_transition(cluster("none", provisioningState="Failed"), "calico", lab="lab")
    assert t.action == UPDATE and steps(t) == [("install-policy", {"networkPolicy": "calico"})]


@pytest.mark.parametrize("target", ["azure", "calico"])
def test_none_to_an_engine_is_one_direct_update(target: str) -> None:
    t = plan_transition(cluster("none"), target, lab="lab", today=TODAY)
    assert t.action == UPDATE
    assert steps(t) == [("install-policy", {"networkPolicy": target})]
    assert t.needs_confirmation


@pytest.mark.parametrize(("source", "target"), [("azure", "calico"), ("calico", "azure")])
def test_azure_and_calico_switch_only_through_none(source: str, target: str) -> None:
    t = plan_transition(cluster(source), target, lab="lab", today=TODAY)
    assert steps(t) == [
        ("uninstall-policy", {"networkPolicy": "none"}),
        ("install-policy", {"networkPolicy": target}),
    ]
    # use-network-policies.md states the reimage for the install, not for the uninstall.
    assert [s.reimages_all_pools for s in t.steps] == [False, True]
    assert any("does not document whether removing" in n for n in t.steps[0].notes)
    assert any("reimaged at once" in w for w in t.warnings)
    assert t.needs_confirmation


def test_removing_calico_warns_about_leftover_crds() -> None:
    t = plan_transition(cluster("calico"), "none", lab="lab", today=TODAY)
    assert steps(t) == [("uninstall-policy", {"networkPolicy": "none"})]
    notes = " ".join(t.steps[0].notes)
    assert "projectcalico.org" in notes and "tigera.io" in notes
    assert "not enforced" in notes


@pytest.mark.parametrize("source", ["azure", "calico", "none"])
def test_to_cilium_is_one_dataplane_upgrade(source: str) -> None:
    t = plan_transition(cluster(source), "cilium", lab="lab", today=TODAY)
    # Only the dataplane, as `az aks update --network-dataplane cilium` (update-azure-cni.md).
    assert steps(t) == [("dataplane-upgrade", {"networkDataplane": "cilium"})]
    assert t.needs_confirmation
    notes = " ".join(t.steps[0].notes)
    assert "AKS documents no migration path off the Cilium data plane" in notes


@pytest.mark.parametrize("target", ["azure", "calico", "none"])
def test_away_from_cilium_is_refused_with_the_reason(target: str) -> None:
    t = plan_transition(cluster("cilium"), target, lab="lab", today=TODAY)
    assert t.action == REFUSED and t.steps == ()
    assert "AKS documents no migration path off the Cilium data plane" in t.reason
    assert "invoke down" in t.reason and "update-azure-cni" in t.reason


def test_cilium_with_a_windows_pool_is_refused() -> None:
    t = plan_transition(cluster("calico", windows=True), "cilium", lab="lab", today=TODAY)
    assert t.action == REFUSED
    assert "Windows node pools (win)" in t.reason and "Linux only" in t.reason


def test_cilium_on_kubenet_is_refused_with_the_migration_command() -> None:
    t = plan_transition(cluster("calico", plugin="kubenet"), "cilium", lab="lab", today=TODAY)
    assert t.action == REFUSED
    assert "kubenet" in t.reason and "--network-plugin-mode overlay" in t.reason


def test_azure_npm_with_windows_pools_is_refused_past_its_retirement() -> None:
    t = plan_transition(cluster("none", windows=True), "azure", lab="lab", today=TODAY)
    assert t.action == REFUSED
    assert "Windows nodes reached end of support on 2026-09-30" in t.reason
    # Before the date it was only a warning.
    before = plan_transition(
        cluster("none", windows=True), "azure", lab="lab", today=date(2026, 9, 1)
    )
    assert before.action == UPDATE
    assert any(
        "Windows nodes ends support on 2026-09-30 (29 days left)" in w for w in before.warnings
    )


def test_azure_npm_on_linux_warns_about_2028_and_points_to_cilium() -> None:
    t = plan_transition(None, "azure", today=TODAY)
    assert t.action == CREATE
    assert any("2028-09-30" in w and "--engine cilium" in w for w in t.warnings)
    assert plan_transition(None, "azure", today=date(2028, 10, 1)).action == REFUSED


def test_kubenet_cluster_is_warned_about_but_not_refused() -> None:
    t = plan_transition(cluster("calico", plugin="kubenet"), "calico", lab="lab", today=TODAY)
    assert t.action == NOOP
    assert any("kubenet networking ends support on 2028-03-31" in w for w in t.warnings)
    late = retirement_warnings(
        "calico", cluster("calico", plugin="kubenet"), today=date(2028, 4, 1)
    )
    assert any("reached end of support on 2028-03-31" in w for w in late)
    assert (
        retirement_refusals("calico", cluster("calico", plugin="kubenet"), today=date(2028, 4, 1))
        == []
    )


def test_a_cluster_the_tool_did_not_create_is_not_changed() -> None:
    foreign = cluster("none")
    foreign = ObservedCluster.from_rest("lab-rg", {**foreign.raw, "tags": {"owner": "ops"}})
    t = plan_transition(foreign, "calico", lab="lab", today=TODAY)
    assert t.action == REFUSED and "not tagged managed-by=netpol-lab" in t.reason
    other_lab = plan_transition(cluster("none"), "calico", lab="another", today=TODAY)
    assert other_lab.action == REFUSED and "for lab 'another'" in other_lab.reason


def test_a_busy_cluster_is_not_changed() -> None:
    t = plan_transition(
        cluster("none", provisioningState="Updating"), "calico", lab="lab", today=TODAY
    )
    assert t.action == REFUSED and "is Updating" in t.reason


def test_transition_as_dict_is_json_ready() -> None:
    import json

    t = plan_transition(cluster("azure"), "calico", lab="lab", today=TODAY)
    data = json.loads(json.dumps(t.as_dict()))
    assert data["action"] == "update" and data["reimagesAllNodePools"] is True
    assert [s["kind"] for s in data["steps"]] == ["uninstall-policy", "install-policy"]
