"""Every pinned version and image in one place. Nothing the lab installs floats on ``latest``.

Bump these together and re-run the e2e workflow: the kind node image must be one published in
the release notes of the kind version below (the digest is what kind itself defaults to).
"""

from __future__ import annotations

# kind v0.32.0 (2026-06-02); its default node image, pinned by digest as the kind release notes ask.
KIND_VERSION = "v0.32.0"
KIND_MIN_VERSION = (0, 20, 0)  # node `labels` in the v1alpha4 config need kind >= 0.20
KIND_NODE_IMAGE = (
    "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5"
)
KIND_POD_SUBNET = "10.244.0.0/16"
KIND_SERVICE_SUBNET = "10.96.0.0/16"

# Calico, installed through the Tigera operator (manifests published per release).
CALICO_VERSION = "v3.31.3"
CALICO_MANIFEST_BASE = (
    f"https://raw.githubusercontent.com/projectcalico/calico/{CALICO_VERSION}/manifests"
)
CALICO_OPERATOR_CRDS_URL = f"{CALICO_MANIFEST_BASE}/operator-crds.yaml"
CALICO_OPERATOR_URL = f"{CALICO_MANIFEST_BASE}/tigera-operator.yaml"

# Cilium, installed with Helm (chart) or the cilium CLI (same chart version).
CILIUM_VERSION = "1.18.5"
CILIUM_HELM_REPO = "https://helm.cilium.io/"

# The demo workload: agnhost from the community registry (k8s.gcr.io is frozen).
AGNHOST_IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.56"
