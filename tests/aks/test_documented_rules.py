"""The AKS rules Microsoft documents, each checked through the real SDK against the fake ARM.

Each test names the document line it follows (MicrosoftDocs/azure-aks-docs, ``articles/aks``).
A refused plan must send nothing: ``fake.requests`` is cleared after observing and checked after.
"""

from __future__ import annotations

import copy
from datetime import date

import pytest

from provisioning.errors import UsageError
from provisioning.providers.aks.apply import apply_plan
from provisioning.providers.aks.body import cluster_body, update_body
from provisioning.providers.aks.gateway import AksGateway
from provisioning.providers.aks.plan import plan_cluster
from provisioning.providers.aks.retirements import NPM_WINDOWS
from provisioning.providers.aks.transitions import Step
from provisioning.spec import AksSettings, LabSpec
from tests.aks.conftest import load
from tests.aks.fake_arm import FakeArm

GROUP, NAME = "lab-rg", "lab"
WINDOWS_POOL = {
    "name": "win",
    "count": 1,
    "vmSize": "Standard_D4s_v5",
    "mode": "User",
    "osType": "Windows",
    "type": "VirtualMachineScaleSets",
}


def spec(engine: str, **aks: object) -> LabSpec:
    return LabSpec(
        name=NAME,
        provider="aks",
        engine=engine,
        aks=AksSettings(resource_group=GROUP, **aks),  # type: ignore[arg-type]
    )


def seed(fake: FakeArm, engine: str, *, pools: list | None = None, **props: object) -> None:
    raw = copy.deepcopy(load("cluster_get_azure.json"))
    raw["properties"]["networkProfile"]["networkPolicy"] = engine
    raw["properties"]["agentPoolProfiles"] += pools or []
    fake.seed_cluster(GROUP, raw, **props)


def refused_without_a_call(gateway: AksGateway, fake: FakeArm, engine: str, **kw) -> str:
    """Plan ``engine`` for the seeded cluster; it must be refused, and ``up`` must send nothing."""
    plan = plan_cluster(spec(engine), gateway.observe(GROUP, NAME), **kw)
    assert plan.transition.refused and plan.requests == ()
    fake.requests.clear()
    with pytest.raises(UsageError) as err:
        apply_plan(gateway, spec(engine), plan)
    assert fake.requests == []
    assert str(err.value) == plan.transition.reason
    return plan.transition.reason


# -- retirements take effect ON their date -----------------------------------------------------


def test_a_retirement_applies_from_its_date_not_the_day_after(
    fake: FakeArm, gateway: AksGateway
) -> None:
    # includes/azure-network-policy-manager-windows-retirement.md: "Starting on **September 30,
    # 2026**, Azure Kubernetes Service (AKS) no longer supports Azure Network Policy Manager
    # (NPM) on **Windows** nodes."
    assert NPM_WINDOWS.passed(date(2026, 9, 30)) and not NPM_WINDOWS.passed(date(2026, 9, 29))
    seed(fake, "none", pools=[WINDOWS_POOL])
    reason = refused_without_a_call(gateway, fake, "azure", today=date(2026, 9, 30))
    assert "Windows nodes reached end of support on 2026-09-30" in reason
    eve = plan_cluster(spec("azure"), gateway.observe(GROUP, NAME), today=date(2026, 9, 29))
    assert eve.transition.action == "update"
    assert any("ends support on 2026-09-30 (1 day left)" in w for w in eve.transition.warnings)


def test_the_npm_on_windows_message_suggests_a_new_lab_not_an_in_place_calico(
    fake: FakeArm, gateway: AksGateway
) -> None:
    seed(fake, "none", pools=[WINDOWS_POOL])
    reason = refused_without_a_call(gateway, fake, "azure", today=date(2026, 11, 22))
    assert "recreate the lab with --engine calico" in reason
    assert "documents Calico with Windows nodes only for new clusters" in reason
    assert "node-level network security groups" in reason


@pytest.mark.parametrize("source", ["azure", "none"])
def test_calico_is_not_installed_in_place_on_a_cluster_with_windows_pools(
    fake: FakeArm, gateway: AksGateway, source: str
) -> None:
    # use-network-policies.md: "using Calico network policies with Windows nodes is available
    # on new clusters"; the azure -> none -> calico path would install it in place.
    seed(fake, source, pools=[WINDOWS_POOL])
    reason = refused_without_a_call(gateway, fake, "calico", today=date(2026, 9, 1))
    assert reason == (
        f"cluster {NAME!r} in resource group {GROUP!r} has Windows node pools (win) and AKS "
        "documents Calico with Windows nodes only for new clusters; recreate the lab (invoke "
        "down, then invoke up --engine calico) or use node-level network security groups"
    )


def test_removing_an_engine_from_a_cluster_with_windows_pools_is_still_allowed(
    fake: FakeArm, gateway: AksGateway
) -> None:
    seed(fake, "azure", pools=[WINDOWS_POOL])
    plan = plan_cluster(spec("none"), gateway.observe(GROUP, NAME), today=date(2026, 11, 22))
    assert plan.transition.action == "update"
    apply_plan(gateway, spec("none"), plan)
    assert gateway.observe(GROUP, NAME).engine == "none"


# -- Cilium: only the dataplane, and not with node auto-provisioning ---------------------------


@pytest.mark.parametrize("source", ["azure", "calico", "none"])
def test_the_cilium_upgrade_sends_only_the_dataplane_and_aks_replaces_the_engine(
    fake: FakeArm, gateway: AksGateway, source: str
) -> None:
    # update-azure-cni.md: `az aks update ... --network-dataplane cilium`; "the existing engine
    # is uninstalled and replaced by Cilium".
    seed(fake, source)
    current = gateway.observe(GROUP, NAME)
    plan = plan_cluster(spec("cilium"), current)
    fake.requests.clear()
    after = apply_plan(gateway, spec("cilium"), plan)

    (put,) = fake.calls("PUT")
    sent = put.body["properties"]["networkProfile"]
    as_read = update_body(current, Step("same", "", {}))["properties"]["networkProfile"]
    # The writable network profile as read, with only the dataplane changed.
    assert sent == {**as_read, "networkDataplane": "cilium"}
    assert sent["networkPolicy"] == source
    assert after.engine == "cilium"
    assert after.raw["properties"]["networkProfile"]["networkPolicy"] == "cilium"


def test_cilium_with_node_auto_provisioning_is_refused_with_the_workaround(
    fake: FakeArm, gateway: AksGateway
) -> None:
    # update-azure-cni.md: "Clusters with node auto-provisioning (NAP) enabled can't be updated
    # to Azure CNI Powered by Cilium. As a workaround, disable NAP before the update, then
    # re-enable it after the update completes."
    seed(fake, "calico", nodeProvisioningProfile={"mode": "Auto"})
    reason = refused_without_a_call(gateway, fake, "cilium")
    assert "node auto-provisioning (nodeProvisioningProfile.mode Auto)" in reason
    assert "disable it first" in reason and "enable it again once the update is done" in reason
    assert "use-node-auto-provisioning" in reason


def test_a_manual_node_provisioning_mode_does_not_block_cilium(
    fake: FakeArm, gateway: AksGateway
) -> None:
    seed(fake, "calico", nodeProvisioningProfile={"mode": "Manual"})
    plan = plan_cluster(spec("cilium"), gateway.observe(GROUP, NAME))
    assert apply_plan(gateway, spec("cilium"), plan).engine == "cilium"


# -- kubenet: the overlay migration's prerequisites ---------------------------------------------


@pytest.mark.parametrize("target", ["cilium", "azure"])
def test_kubenet_refusal_lists_the_overlay_migration_prerequisites(
    fake: FakeArm, gateway: AksGateway, target: str
) -> None:
    # update-azure-cni.md, "Update the IPAM mode to Azure CNI Overlay": "Is on Kubernetes version
    # 1.27 or later", "Doesn't have network policies enabled", and for kubenet "you need a
    # **user-assigned managed identity** on the cluster".
    raw = copy.deepcopy(load("cluster_get_azure.json"))
    raw["properties"]["networkProfile"].update(
        {"networkPlugin": "kubenet", "networkPolicy": "calico"}
    )
    raw["properties"]["currentKubernetesVersion"] = "1.26.10"
    fake.seed_cluster(GROUP, raw)
    reason = refused_without_a_call(gateway, fake, target)
    assert f"`az aks update -g {GROUP} -n {NAME} --network-plugin azure" in reason
    assert "Kubernetes 1.27 or later" in reason
    assert "no network policy engine (networkPolicy none)" in reason
    assert "a user-assigned control-plane managed identity" in reason
    assert "this cluster: Kubernetes 1.26.10, networkPolicy calico, identity SystemAssigned" in (
        reason
    )
    assert "https://learn.microsoft.com/azure/aks/update-azure-cni" in reason


def test_the_kubenet_retirement_warning_names_the_prerequisites_too(
    fake: FakeArm, gateway: AksGateway
) -> None:
    raw = copy.deepcopy(load("cluster_get_azure.json"))
    raw["properties"]["networkProfile"].update(
        {"networkPlugin": "kubenet", "networkPolicy": "calico"}
    )
    fake.seed_cluster(GROUP, raw)
    plan = plan_cluster(spec("calico"), gateway.observe(GROUP, NAME), today=date(2026, 11, 22))
    (warning,) = [w for w in plan.transition.warnings if "kubenet" in w]
    assert "Kubernetes 1.27 or later" in warning and "user-assigned" in warning
    assert "update-azure-cni" in warning and "upgrade-aks-ipam-and-dataplane" not in warning


# -- Azure NPM's documented scale -------------------------------------------------------------


def test_installing_azure_npm_on_more_than_250_nodes_is_warned_about(
    fake: FakeArm, gateway: AksGateway
) -> None:
    # use-network-policies.md, "Azure Network Policy Manager limitations (Linux)": "Scaling
    # beyond _250 nodes_ and _20,000 pods_ isn't supported."
    big = {
        "name": "big",
        "count": 200,
        "vmSize": "Standard_D4s_v5",
        "mode": "User",
        "osType": "Linux",
        "enableAutoScaling": True,
        "minCount": 10,
        "maxCount": 260,
    }
    seed(fake, "none", pools=[big])
    plan = plan_cluster(spec("azure"), gateway.observe(GROUP, NAME), today=date(2026, 11, 22))
    (warning,) = [w for w in plan.transition.warnings if "250 nodes" in w]
    assert warning == (
        f"cluster {NAME!r} has 262 nodes; AKS does not support Azure Network Policy Manager "
        "beyond 250 nodes and 20,000 pods (it may run out of memory); use --engine cilium for a "
        "cluster this size"
    )
    small = plan_cluster(spec("calico"), gateway.observe(GROUP, NAME))
    assert not any("250 nodes" in w for w in small.transition.warnings)


def test_a_small_cluster_gets_no_npm_scale_warning(fake: FakeArm, gateway: AksGateway) -> None:
    seed(fake, "none")
    plan = plan_cluster(spec("azure"), gateway.observe(GROUP, NAME), pods=20_000)
    assert not any("250 nodes" in w for w in plan.transition.warnings)
    over = plan_cluster(spec("azure"), gateway.observe(GROUP, NAME), pods=20_001)
    assert any("has 20001 pods" in w for w in over.transition.warnings)


# -- system pool VM size ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", ["Standard_E4-2s_v5", "Standard_D2s_v5", "Standard_NC24ads_A100_v4"]
)
def test_valid_vm_sizes_with_dashes_and_accelerators_are_created(
    fake: FakeArm, gateway: AksGateway, size: str
) -> None:
    lab = spec("none", vm_size=size)
    plan = plan_cluster(lab, None, kubernetes_version="1.33", group_exists=False)
    apply_plan(gateway, lab, plan)
    (put,) = fake.calls("PUT", "/managedClusters/")
    assert put.body["properties"]["agentPoolProfiles"][0]["vmSize"] == size


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("Standard_D1_v2", "has 1 vCPU; AKS system node pools need at least 2 vCPUs and 4 GB"),
        ("Standard_E4-1s_v5", "has 1 vCPU"),  # the constrained count is what runs
        ("Standard_B2s", "is a B-series size"),
        ("Standard_A2", "is a retired Av1 size"),
        ("Standard D2s", "is not an Azure VM size"),
    ],
)
def test_system_pool_sizes_below_the_documented_minimum_are_refused(
    fake: FakeArm, size: str, message: str
) -> None:
    # quotas-skus-regions.md: "For system node pools, you might not be able to use VM versions
    # with fewer than two vCPUs and 4 GB of memory. ... AKS doesn't support B series VMs for
    # system node pools."
    with pytest.raises(UsageError, match=message):
        cluster_body(spec("none", vm_size=size), "1.33")
    assert fake.requests == []
