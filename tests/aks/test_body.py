"""Golden tests for the create body per engine, and the checks done before anything is sent."""

from __future__ import annotations

import pytest

from provisioning.errors import UsageError
from provisioning.providers.aks.body import cluster_body, dns_prefix
from provisioning.providers.aks.profiles import AKS_ENGINES, engine_of, network_profile
from provisioning.spec import AksSettings, LabSpec
from tests.aks.conftest import load


def workshop(engine: str, **aks: object) -> LabSpec:
    settings = {
        "location": "westeurope",
        "node_count": 3,
        "vm_size": "Standard_D4s_v5",
        # A user tag that tries to claim the tool's ownership tag must lose.
        "tags": {"team": "blue", "managed-by": "someone-else"},
        **aks,
    }
    return LabSpec(name="workshop-1", provider="aks", engine=engine, aks=AksSettings(**settings))


@pytest.mark.parametrize("engine", AKS_ENGINES)
def test_create_body_matches_golden_file(engine: str) -> None:
    assert cluster_body(workshop(engine), "1.33") == load(f"body_{engine}.json")


def test_cilium_body_has_overlay_and_cilium_dataplane() -> None:
    net = cluster_body(workshop("cilium"), "1.33")["properties"]["networkProfile"]
    assert net["networkPlugin"] == "azure"
    assert net["networkPluginMode"] == "overlay"
    assert net["networkDataplane"] == "cilium"
    assert net["networkPolicy"] == "cilium"


@pytest.mark.parametrize("engine", AKS_ENGINES)
def test_plugin_is_always_explicit_and_dns_ip_inside_service_cidr(engine: str) -> None:
    import ipaddress

    net = network_profile(engine)
    assert net["networkPlugin"] == "azure"  # older API versions would default to kubenet
    assert ipaddress.ip_address(net["dnsServiceIP"]) in ipaddress.ip_network(net["serviceCidr"])
    if net.get("networkPluginMode") == "overlay":
        pods = ipaddress.ip_network(net["podCidr"])
        assert not pods.overlaps(ipaddress.ip_network(net["serviceCidr"]))
    else:
        assert "podCidr" not in net  # node-subnet pods take VNet IPs; a podCidr would be rejected


def test_tool_tags_win_over_user_tags() -> None:
    tags = cluster_body(workshop("none"), None)["tags"]
    assert tags == {"team": "blue", "managed-by": "netpol-lab", "netpol-lab-lab": "workshop-1"}


def test_without_a_version_the_key_is_left_out_for_the_region_default() -> None:
    props = cluster_body(workshop("calico"), None)["properties"]
    assert "kubernetesVersion" not in props


def test_network_profile_is_a_fresh_copy() -> None:
    network_profile("cilium")["networkPolicy"] = "mutated"
    assert network_profile("cilium")["networkPolicy"] == "cilium"


def test_unknown_engine_is_a_usage_error_listing_the_choices() -> None:
    with pytest.raises(UsageError, match=r"unknown AKS policy engine 'antrea'.*azure, calico"):
        network_profile("antrea")


@pytest.mark.parametrize(
    ("profile", "engine"),
    [
        ({"networkPlugin": "azure", "networkPolicy": "azure"}, "azure"),
        ({"networkPlugin": "kubenet", "networkPolicy": "calico"}, "calico"),
        (
            {"networkPlugin": "azure", "networkDataplane": "cilium", "networkPolicy": "cilium"},
            "cilium",
        ),
        ({"networkPlugin": "azure", "networkPluginMode": "overlay"}, "none"),
        ({"networkPlugin": "azure", "networkPolicy": "none"}, "none"),
        (None, "none"),
    ],
)
def test_engine_is_read_back_from_an_observed_profile(profile: dict | None, engine: str) -> None:
    assert engine_of(profile) == engine


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("workshop-1", "workshop-1"),
        ("Team_A.lab", "team-a-lab"),
        ("-x-", "x"),
        ("a" * 70, "a" * 54),
    ],
)
def test_dns_prefix_follows_aks_rules(name: str, prefix: str) -> None:
    assert dns_prefix(name) == prefix


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (LabSpec(name="bad name!", engine="none"), "cluster name 'bad name!'"),
        (
            LabSpec(name="lab", engine="none", aks=AksSettings(resource_group="rg.")),
            "aks.resource_group",
        ),
        (LabSpec(name="lab", engine="none", aks=AksSettings(node_count=0)), "aks.node_count 0"),
        (LabSpec(name="lab", engine="none", aks=AksSettings(vm_size="big")), "aks.vm_size 'big'"),
        (LabSpec(name="lab", engine="none", aks=AksSettings(tags={"a/b": "x"})), "tag name 'a/b'"),
    ],
)
def test_invalid_settings_are_refused_before_anything_is_sent(spec: LabSpec, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        cluster_body(spec, "1.33")
