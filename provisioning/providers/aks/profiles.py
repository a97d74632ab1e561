"""The AKS network profile each policy engine needs, and the engine an observed profile implies.

Pure data, REST-shaped (the ``properties.networkProfile`` object of a managed cluster), so the
exact body ``plan --json`` prints is the one ``up`` sends.

| engine  | networkPlugin | networkPluginMode | networkDataplane | networkPolicy |
|---------|---------------|-------------------|------------------|---------------|
| azure   | azure         | (node subnet)     | azure            | azure         |
| calico  | azure         | (node subnet)     | azure            | calico        |
| cilium  | azure         | overlay           | cilium           | cilium        |
| none    | azure         | overlay           | azure            | none          |

Sources:
- https://learn.microsoft.com/azure/aks/use-network-policies (engines, plugin requirements:
  Azure NPM needs Azure CNI; Calico works with Azure CNI and kubenet).
- https://learn.microsoft.com/azure/aks/azure-cni-powered-by-cilium (Cilium: networkPlugin azure,
  networkPluginMode overlay, networkDataplane cilium; it enforces policy itself).
- https://learn.microsoft.com/azure/aks/azure-cni-overlay (overlay pod CIDR, default 10.244.0.0/16).
- ARM ``ContainerServiceNetworkProfile`` (azure-rest-api-specs, ``managedClusters.json``): the
  plugin is set explicitly because older API versions default to kubenet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioning.errors import UsageError, choice_error

AKS_ENGINES = ("azure", "calico", "cilium", "none")

# AKS's own defaults, written out so the body is deterministic and reviewable. The service CIDR
# must not overlap the cluster VNet (AKS creates 10.224.0.0/12 when none is given) nor the pod CIDR;
# the DNS service IP must lie inside the service CIDR.
POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.0.0.0/16"
DNS_SERVICE_IP = "10.0.0.10"

_COMMON: dict[str, str] = {
    "serviceCidr": SERVICE_CIDR,
    "dnsServiceIP": DNS_SERVICE_IP,
    "loadBalancerSku": "standard",
    "outboundType": "loadBalancer",
}

_PROFILES: dict[str, dict[str, str]] = {
    # Azure NPM and managed Calico on classic Azure CNI (pods get VNet IPs from the node subnet).
    "azure": {"networkPlugin": "azure", "networkDataplane": "azure", "networkPolicy": "azure"},
    "calico": {"networkPlugin": "azure", "networkDataplane": "azure", "networkPolicy": "calico"},
    # Cilium enforces policy itself; overlay keeps pod IPs out of the VNet.
    "cilium": {
        "networkPlugin": "azure",
        "networkPluginMode": "overlay",
        "networkDataplane": "cilium",
        "networkPolicy": "cilium",
        "podCidr": POD_CIDR,
    },
    # No policy engine: NetworkPolicy objects are accepted by the API server but not enforced.
    "none": {
        "networkPlugin": "azure",
        "networkPluginMode": "overlay",
        "networkDataplane": "azure",
        "networkPolicy": "none",
        "podCidr": POD_CIDR,
    },
}


def network_profile(engine: str) -> dict[str, Any]:
    """The ``networkProfile`` a new cluster for ``engine`` is created with (a fresh dict)."""
    if engine not in _PROFILES:
        raise choice_error("AKS policy engine", engine, AKS_ENGINES, where="--engine")
    return {**_PROFILES[engine], **_COMMON}


def engine_of(profile: Mapping[str, Any] | None) -> str:
    """The policy engine an observed ``networkProfile`` enforces NetworkPolicy with.

    A Cilium dataplane enforces policy even when ``networkPolicy`` is reported differently, so the
    dataplane wins. An absent ``networkPolicy`` means no engine (ARM omits it then).
    """
    profile = profile or {}
    if _lower(profile.get("networkDataplane")) == "cilium":
        return "cilium"
    policy = _lower(profile.get("networkPolicy")) or "none"
    if policy not in AKS_ENGINES:
        raise UsageError(
            f"the cluster reports networkPolicy {policy!r}, which netpol-lab does not know; "
            "inspect it with `az aks show` and choose the engine yourself"
        )
    return policy


def _lower(value: object) -> str:
    return str(value).lower() if value else ""
