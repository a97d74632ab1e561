"""Every pinned version and image in one place. Nothing the lab installs floats on ``latest``.

How the pins are chosen (issue 9, section 2): the kind release, its node image's Kubernetes minor,
Calico and Cilium are picked together, so that the node image's minor lies inside the Kubernetes
range EVERY engine is tested on. Each pin records where it was read (repository, path, tag) and,
for the engines, the tested range and where that was read, as data (``PINS``) that ``doctor``
reports and the tests check (``pins_outside_tested_range()`` must be empty).

Chosen: Calico v3.32 is tested on 1.34-1.36, Cilium 1.20 on 1.33-1.36 (that range could not be
read at the v1.20.0 tag, see its pin), so the node image is Kubernetes 1.35. Cilium 1.20 is the
first release that enforces ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2,
docs/cluster-policy-engines.md); 1.19.x has no support at all. Newer kind releases exist
(v0.32.0/v0.33.0 with 1.36/1.37 images), but the only 1.35 node image whose digest could be read
from kind's own source is kind v0.31.0's default.

Bump these together and re-run the e2e workflow: the kind node image must be the one published
for the kind version below (kind only supports node images with the release they were built for).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Pin:
    """One pinned release: where its version was read, and the Kubernetes minors it is tested on."""

    name: str
    version: str
    source: str  # repository, path and tag the version (and digest) were read from
    tested: tuple[str, str] | None = None  # first and last Kubernetes minor tested, e.g. 1.34-1.36
    tested_source: str = ""  # repository, path and tag the tested range was read from
    note: str = ""

    @property
    def tested_text(self) -> str:
        return f"{self.tested[0]}-{self.tested[1]}" if self.tested else ""

    def covers(self, minor: str) -> bool:
        """Whether Kubernetes ``minor`` ("1.35") is inside the tested range (True when none)."""
        if self.tested is None:
            return True
        low, high = (_minor_tuple(m) for m in self.tested)
        return low <= _minor_tuple(minor) <= high

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "tested_kubernetes": self.tested_text or None,
            "tested_source": self.tested_source or None,
            "note": self.note or None,
        }


def _minor_tuple(minor: str) -> tuple[int, int]:
    major, _, rest = minor.partition(".")
    return int(major), int(rest.split(".")[0])


# kind v0.31.0; its default node image, pinned by digest as the kind release notes ask.
KIND_VERSION = "v0.31.0"
# Node `labels` in the v1alpha4 config (kubernetes-sigs/kind pkg/apis/config/v1alpha4/types.go,
# field `Labels map[string]string`, first in tag v0.11.0, commit 54fa55bc "Added: support for
# adding labels from the config itself"). Nothing else the lab uses needs a newer kind: config
# `networking.disableDefaultCNI`/`podSubnet`/`serviceSubnet`, `kind get kubeconfig` and
# `kind load` are all older. Older kinds than KIND_VERSION may not boot the pinned node image;
# doctor warns about that separately.
KIND_MIN_VERSION = (0, 11, 0)
KIND_NODE_IMAGE = (
    "kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f"
)
KIND_POD_SUBNET = "10.244.0.0/16"
KIND_SERVICE_SUBNET = "10.96.0.0/16"

# Calico, installed through the Tigera operator (manifests published per release).
CALICO_VERSION = "v3.32.1"
CALICO_MANIFEST_BASE = (
    f"https://raw.githubusercontent.com/projectcalico/calico/{CALICO_VERSION}/manifests"
)
CALICO_OPERATOR_CRDS_URL = f"{CALICO_MANIFEST_BASE}/operator-crds.yaml"
CALICO_OPERATOR_URL = f"{CALICO_MANIFEST_BASE}/tigera-operator.yaml"
# The operator image projectcalico/calico manifests/tigera-operator.yaml names at v3.32.1.
TIGERA_OPERATOR_VERSION = "v1.42.3"

# Cilium, installed with Helm (chart) or the cilium CLI (same chart version).
CILIUM_VERSION = "1.20.0"
CILIUM_HELM_REPO = "https://helm.cilium.io/"

# The ClusterNetworkPolicy CRD (policy.networking.k8s.io/v1alpha2, standard channel) of
# kubernetes-sigs/network-policy-api v0.2.0 (tag commit a17adec), file
# config/crd/standard/policy.networking.k8s.io_clusternetworkpolicies.yaml (annotations
# bundle-version v0.2.0, channel standard). Cilium 1.20 does not install it: its docs say "You
# also must install the Custom Resource Definition (CRD) from sigs.k8s.io/network-policy-api" with
# exactly this URL (cilium/cilium PR #47227, Documentation/network/kubernetes/policy.rst), and the
# 1.20.0 chart has no value that installs it. Calico v3.32 ships the same CRD in operator-crds.yaml.
NETWORK_POLICY_API_VERSION = "v0.2.0"
CLUSTER_NETWORK_POLICY_CRD = "clusternetworkpolicies.policy.networking.k8s.io"
CLUSTER_NETWORK_POLICY_CRD_URL = (
    "https://raw.githubusercontent.com/kubernetes-sigs/network-policy-api/"
    f"{NETWORK_POLICY_API_VERSION}/config/crd/standard/"
    "policy.networking.k8s.io_clusternetworkpolicies.yaml"
)

# The demo workload: agnhost from the community registry (k8s.gcr.io is frozen).
AGNHOST_VERSION = "2.65.0"
AGNHOST_IMAGE = f"registry.k8s.io/e2e-test-images/agnhost:{AGNHOST_VERSION}"

# kubectl is supported within one minor version (older or newer) of kube-apiserver:
# kubernetes.io/docs/setup/release/version-skew-policy/#kubectl
KUBECTL_SKEW_MINORS = 1

PINS: dict[str, Pin] = {
    "kind": Pin(
        "kind",
        KIND_VERSION,
        "kubernetes-sigs/kind pkg/cmd/kind/version/version.go @ v0.31.0",
        note="newest kind whose own source names a Kubernetes 1.35 node image by digest",
    ),
    "kind-node-image": Pin(
        "kind node image",
        KIND_NODE_IMAGE,
        "kubernetes-sigs/kind pkg/apis/config/defaults/image.go @ v0.31.0 (const Image)",
        note="Kubernetes 1.35 lies inside every engine's tested range below",
    ),
    "calico": Pin(
        "Calico",
        CALICO_VERSION,
        "projectcalico/calico manifests/tigera-operator.yaml, operator-crds.yaml @ v3.32.1",
        tested=("1.34", "1.36"),
        tested_source=(
            "tigera/docs calico_versioned_docs/version-3.32/_includes/partials/"
            "_system-requirements.mdx @ f2a27624 (main, 2026-08-21), 'Supported versions'"
        ),
    ),
    "tigera-operator": Pin(
        "Tigera operator",
        TIGERA_OPERATOR_VERSION,
        "projectcalico/calico manifests/tigera-operator.yaml @ v3.32.1 "
        "(image quay.io/tigera/operator:v1.42.3); tigera/operator config/calico_versions.yml "
        "@ v1.42.3 (title v3.32.1)",
        tested=("1.34", "1.36"),
        tested_source="same as Calico v3.32 (the operator ships with that release)",
    ),
    "cilium": Pin(
        "Cilium",
        CILIUM_VERSION,
        "cilium/charts cilium-1.20.0.tgz (Chart.yaml version and appVersion 1.20.0, "
        "kubeVersion '>= 1.21.0-0') @ d5f3d1c, the chart repository behind helm.cilium.io",
        tested=("1.33", "1.36"),
        tested_source=(
            "UNVERIFIED at the tag: cilium/cilium Documentation/network/kubernetes/"
            "compatibility.rst @ v1.20.0 could not be read (repository too large to fetch, no "
            "stored copy at the tag). 1.33-1.36 is what two third parties report for 1.20 "
            "(thaum-xyz/ankhmorpork PR #1056; a flowsdn design spec citing v1.20.1); the same "
            "file @ v1.19.3 lists 1.32-1.35, one minor lower, so 1.35 is inside either way"
        ),
        note="first release enforcing ClusterNetworkPolicy (Helm value "
        "k8sClusterNetworkPolicy.enabled, cilium/values.yaml:1294-1296 in the 1.20.0 chart)",
    ),
    "network-policy-api": Pin(
        "ClusterNetworkPolicy CRD",
        NETWORK_POLICY_API_VERSION,
        "kubernetes-sigs/network-policy-api config/crd/standard/"
        "policy.networking.k8s.io_clusternetworkpolicies.yaml @ v0.2.0 (a17adec)",
        note="applied before Cilium on engine cilium; Calico v3.32 ships it itself",
    ),
    "agnhost": Pin(
        "agnhost",
        AGNHOST_VERSION,
        "kubernetes/kubernetes test/utils/image/manifest.go, bumped to 2.65.0 by PR #139756 "
        "(merged 2026-06-16); image promoted by kubernetes/k8s.io PR #9608",
        note="flags used (connect --timeout --protocol; serve-hostname --tcp --http --port; "
        "pause) are in test/images/agnhost/connect/connect.go and "
        "serve-hostname/serve_hostname.go",
    ),
}

ENGINE_PINS = ("calico", "tigera-operator", "cilium")


def node_kubernetes_version(image: str = KIND_NODE_IMAGE) -> tuple[int, int, int]:
    """The Kubernetes version of a kind node image reference (``kindest/node:v1.35.0@...``)."""
    m = re.search(r":v(\d+)\.(\d+)\.(\d+)", image)
    if not m:
        raise ValueError(f"no Kubernetes version in node image {image!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def node_minor(image: str = KIND_NODE_IMAGE) -> str:
    major, minor, _ = node_kubernetes_version(image)
    return f"{major}.{minor}"


def pins_outside_tested_range(image: str = KIND_NODE_IMAGE) -> list[Pin]:
    """The pins whose tested Kubernetes range leaves out the node image's minor (should be none)."""
    minor = node_minor(image)
    return [pin for pin in PINS.values() if not pin.covers(minor)]


# Images each engine installs at the pinned versions, for `invoke preload` (no registry after it).
#
# Calico: the operator image is the one projectcalico/calico manifests/tigera-operator.yaml names
# at v3.32.1. The images the operator deploys come from tigera/operator pkg/components/calico.go
# at v1.42.3 (all Version "v3.32.1", calico variant) with the default registry and path of
# pkg/components/images.go (CalicoRegistry "quay.io/", CalicoImagePath "calico/"). For this lab's
# Installation (Linux, no FIPS, defaults) plus APIServer: calico-node (node, init containers cni
# and pod2daemon-flexvol: FlexVolumePath defaults to a path, pkg/controller/installation/
# core_controller.go), typha, kube-controllers, apiserver, and the CSI driver (csi,
# node-driver-registrar: KubeletVolumePluginPath defaults to /var/lib/kubelet). Not deployed here:
# goldmane/whisker (only with their resources), webhooks (only with projectcalico.org/v3 CRDs;
# manifests/operator-crds.yaml at v3.32.1 installs crd.projectcalico.org), key-cert-provisioner
# (only with certificate management), Windows and FIPS variants. Upstream pins these by tag.
CALICO_IMAGES_SOURCE = (
    "projectcalico/calico manifests/tigera-operator.yaml @ v3.32.1; tigera/operator "
    "pkg/components/calico.go, config/calico_versions.yml, pkg/components/images.go @ v1.42.3"
)
CALICO_IMAGES: tuple[str, ...] = (
    f"quay.io/tigera/operator:{TIGERA_OPERATOR_VERSION}",
    *(
        f"quay.io/calico/{name}:{CALICO_VERSION}"
        for name in (
            "node",
            "cni",
            "pod2daemon-flexvol",
            "typha",
            "kube-controllers",
            "apiserver",
            "csi",
            "node-driver-registrar",
        )
    ),
)

# Cilium: install/kubernetes/cilium/values.yaml inside cilium/charts cilium-1.20.0.tgz (chart
# commit d5f3d1c "Add cilium v1.20.0@450c531..."), file cilium/values.yaml. The chart pins all three
# by digest (useDigest: true): image (agent, also every init container; values.yaml:244-254),
# operator.image (the "generic" variant: templates/cilium-operator/_helpers.tpl builds
# <repository>-generic:<tag>@<genericDigest>; values.yaml:3234-3249) and envoy.image (the
# cilium-envoy DaemonSet the chart deploys by default since 1.16, templates/_helpers.tpl
# envoyDaemonSetEnabled; values.yaml:2827-2836). Hubble relay/UI, certgen (hubble.tls.auto.method
# is "helm"), nodeinit, preflight, clustermesh and ztunnel (encryption.type ztunnel) are off by
# default. Engine "none" installs the same chart with policyEnforcementMode=never.
CILIUM_IMAGES_SOURCE = "cilium/charts cilium-1.20.0.tgz cilium/values.yaml (chart 1.20.0)"
CILIUM_IMAGES: tuple[str, ...] = (
    "quay.io/cilium/cilium:v1.20.0"
    "@sha256:383968cd5e8873f7976fa76aa6196045643558f4cc9518a207b9335cb24a0e93",
    "quay.io/cilium/operator-generic:v1.20.0"
    "@sha256:80744a8cc7c91c2f9e6347629406844eb35d79b30a732c6d41c15b17232a74f3",
    "quay.io/cilium/cilium-envoy:v1.37.5-1782911245-7cffc778c923f68a77954a53b1a98d6b5353f004"
    "@sha256:583057dd4f7d54cd41efff3c413aa0b148ac201f522e2c3336851fa89c78b039",
)

ENGINE_IMAGES: dict[str, tuple[str, ...]] = {
    "calico": CALICO_IMAGES,
    "cilium": CILIUM_IMAGES,
    # engine none is Cilium with enforcement off (provisioning/providers/kind/engines.py)
    "none": CILIUM_IMAGES,
}
ENGINE_IMAGES_SOURCE = {
    "calico": CALICO_IMAGES_SOURCE,
    "cilium": CILIUM_IMAGES_SOURCE,
    "none": CILIUM_IMAGES_SOURCE,
}


def engine_images(engine: str) -> tuple[str, ...]:
    """The container images ``engine`` (calico, cilium or none) installs at the pinned versions."""
    try:
        return ENGINE_IMAGES[engine]
    except KeyError:
        known = ", ".join(ENGINE_IMAGES)
        raise ValueError(f"unknown engine {engine!r}: expected one of {known}") from None
