"""The pins: each is inside what the engines test, says where it was read, and names real images."""

from __future__ import annotations

import re

import pytest

from provisioning import versions

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def test_the_node_image_is_inside_every_engine_tested_range() -> None:
    assert versions.pins_outside_tested_range() == []
    minor = versions.node_minor()
    for key in versions.ENGINE_PINS:
        assert versions.PINS[key].covers(minor), key


def test_a_node_image_outside_a_range_is_caught() -> None:
    outside = versions.pins_outside_tested_range("kindest/node:v1.37.0@sha256:" + "a" * 64)
    assert {p.name for p in outside} >= {"Calico", "Cilium"}
    # Calico v3.32 starts at 1.34, Cilium 1.20 at 1.33.
    assert [p.name for p in versions.pins_outside_tested_range("kindest/node:v1.33.1")] == [
        "Calico",
        "Tigera operator",
    ]
    assert [p.name for p in versions.pins_outside_tested_range("kindest/node:v1.32.0")] == [
        "Calico",
        "Tigera operator",
        "Cilium",
    ]


@pytest.mark.parametrize(
    ("tested", "minor", "inside"),
    [
        (("1.34", "1.36"), "1.34", True),
        (("1.34", "1.36"), "1.36", True),
        (("1.34", "1.36"), "1.33", False),
        (("1.32", "1.35"), "1.36", False),
        (("1.9", "1.10"), "1.10", True),
    ],
)
def test_pin_ranges_compare_minors_as_numbers(
    tested: tuple[str, str], minor: str, inside: bool
) -> None:
    assert versions.Pin("x", "1", "src", tested=tested).covers(minor) is inside


def test_every_pin_says_where_it_was_read() -> None:
    for key, pin in versions.PINS.items():
        assert pin.version and pin.source, key
        assert "FACTS" not in pin.source and "shared" not in pin.source, key
        assert re.search(r"@ v?\d|PR #\d+|\.tgz", pin.source), (key, pin.source)
    for key in versions.ENGINE_PINS:
        pin = versions.PINS[key]
        assert pin.tested is not None and pin.tested_source, key


def test_pins_agree_with_the_constants() -> None:
    assert versions.PINS["kind"].version == versions.KIND_VERSION
    assert versions.PINS["kind-node-image"].version == versions.KIND_NODE_IMAGE
    assert versions.PINS["calico"].version == versions.CALICO_VERSION
    assert versions.PINS["cilium"].version == versions.CILIUM_VERSION
    assert f"cilium-{versions.CILIUM_VERSION}.tgz" in versions.PINS["cilium"].source
    assert versions.PINS["network-policy-api"].version == versions.NETWORK_POLICY_API_VERSION
    assert versions.AGNHOST_IMAGE.endswith(":" + versions.PINS["agnhost"].version)
    assert f"@ {versions.KIND_VERSION}" in versions.PINS["kind-node-image"].source
    assert f"@ {versions.CALICO_VERSION}" in versions.PINS["calico"].source
    assert versions.CALICO_VERSION in versions.CALICO_OPERATOR_URL
    assert DIGEST.search(versions.KIND_NODE_IMAGE)
    assert versions.node_kubernetes_version() == (1, 35, 0)


def test_calico_images_match_the_pinned_release() -> None:
    images = versions.engine_images("calico")
    assert images[0] == f"quay.io/tigera/operator:{versions.TIGERA_OPERATOR_VERSION}"
    assert all(i.endswith(":" + versions.CALICO_VERSION) for i in images[1:])
    names = {i.split("/")[-1].split(":")[0] for i in images}
    assert {"node", "cni", "typha", "kube-controllers", "apiserver", "csi"} <= names
    assert len(set(images)) == len(images)


def test_cilium_images_are_pinned_by_digest_like_the_chart() -> None:
    images = versions.engine_images("cilium")
    assert all(DIGEST.search(i) for i in images)
    tagged = [i for i in images if "cilium-envoy" not in i]
    assert all(f":v{versions.CILIUM_VERSION}@" in i for i in tagged)
    assert any(i.startswith("quay.io/cilium/operator-generic:") for i in images)
    assert any(i.startswith("quay.io/cilium/cilium-envoy:") for i in images)


def test_engine_none_uses_the_cilium_images() -> None:
    assert versions.engine_images("none") == versions.engine_images("cilium")
    assert set(versions.ENGINE_IMAGES_SOURCE) == set(versions.ENGINE_IMAGES)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="calico, cilium, none"):
        versions.engine_images("azure")


def test_cilium_is_a_release_that_enforces_cluster_network_policy() -> None:
    """ClusterNetworkPolicy arrived in Cilium 1.20.0 (cilium/charts cilium-1.20.0.tgz
    values.yaml ``k8sClusterNetworkPolicy``; 1.19.x has no such value)."""
    major, minor, *_ = (int(part) for part in versions.CILIUM_VERSION.split("."))
    assert (major, minor) >= (1, 20)


def test_the_cluster_network_policy_crd_is_the_pinned_standard_channel_file() -> None:
    """network-policy-api @ v0.2.0 config/crd/standard/, the URL Cilium's docs give
    (cilium/cilium PR #47227), pinned by tag, never a branch."""
    url = versions.CLUSTER_NETWORK_POLICY_CRD_URL
    assert url == (
        "https://raw.githubusercontent.com/kubernetes-sigs/network-policy-api/v0.2.0/"
        "config/crd/standard/policy.networking.k8s.io_clusternetworkpolicies.yaml"
    )
    assert versions.CLUSTER_NETWORK_POLICY_CRD == "clusternetworkpolicies.policy.networking.k8s.io"
    assert "main" not in url.split("/") and "experimental" not in url
