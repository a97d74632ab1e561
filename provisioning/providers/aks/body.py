"""The exact ARM request bodies netpol-lab sends for a managed cluster.

``cluster_body`` is what ``up`` PUTs to create a cluster and what ``plan --json`` prints; it
needs no credentials. ``update_body`` is one step of an engine change: the cluster as it was
read (a full PUT, as ARM requires) with only the network profile fields of that step changed.

Shapes follow the azure-rest-api-specs examples ``ManagedClustersCreate_*.json`` (api-version of
azure-mgmt-containerservice 41.x) and ``ContainerServiceNetworkProfile``. Name rules:
https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
(Microsoft.ContainerService/managedClusters: 1-63, alphanumerics, underscores, hyphens, start and
end alphanumeric; resource groups: 1-90, alphanumerics, ``_-.()``, not ending in a period) and
the AKS DNS prefix rule (1-54, alphanumerics and hyphens, start and end alphanumeric).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from provisioning.errors import UsageError
from provisioning.providers.aks.profiles import network_profile
from provisioning.providers.aks.tags import merged_tags

if TYPE_CHECKING:
    from provisioning.providers.aks.observed import ObservedCluster
    from provisioning.providers.aks.transitions import Step
    from provisioning.spec import LabSpec

SYSTEM_POOL = "system"
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$")
_GROUP_NAME = re.compile(r"^[\w().-]{0,89}[\w()-]$")
# Azure VM size names: family, vCPUs, optional "-<constrained vCPUs>", additive features, then
# "_"-separated accelerator and version (https://learn.microsoft.com/azure/virtual-machines/
# vm-naming-conventions): Standard_D2s_v5, Standard_E4-2s_v5 (2 active vCPUs),
# Standard_NC24ads_A100_v4, Standard_D2_v2_Promo.
_VM_SIZE = re.compile(
    r"^(?i:Standard)_(?P<family>[A-Za-z]+)(?P<vcpus>\d+)(?:-(?P<active>\d+))?[a-z]*(?:_[A-Za-z0-9]+)*$"
)
# System node pool minimum. azure-aks-docs ``articles/aks/quotas-skus-regions.md``: "For system
# node pools, you might not be able to use VM versions with fewer than two vCPUs and 4 GB of
# memory. ... AKS doesn't support [B series VMs] for system node pools"; ``use-system-pools.md``:
# "B series VMs aren't supported for system node pools" (it also says "at least 4 vCPUs and
# 4 GB", which the quotas page and ``aks-virtual-machine-sizes.md`` put at two vCPUs).
# The name carries the vCPUs, not the memory: the sizes with 2+ vCPUs and under 4 GB are
# B-series and the retired Av1 sizes (Standard_A2: 3.5 GB), both refused here.
SYSTEM_MIN_VCPUS = 2
_AV1 = re.compile(r"^Standard_A\d+$", re.IGNORECASE)


def cluster_body(spec: LabSpec, kubernetes_version: str | None) -> dict[str, Any]:
    """The PUT body that creates ``spec``'s cluster with its engine's network profile.

    ``kubernetes_version`` comes from ``AksGateway.default_kubernetes_version`` (or the profile).
    When it is None (``plan`` without credentials) the key is left out, and AKS then uses the
    region's default version, which is the same choice the gateway would have made.
    """
    validate(spec)
    aks = spec.aks
    properties: dict[str, Any] = {}
    if kubernetes_version:
        properties["kubernetesVersion"] = kubernetes_version
    properties.update(
        {
            "dnsPrefix": dns_prefix(spec.name),
            "agentPoolProfiles": [
                {
                    "name": SYSTEM_POOL,
                    "mode": "System",
                    "osType": "Linux",
                    "type": "VirtualMachineScaleSets",
                    "count": aks.node_count,
                    "vmSize": aks.vm_size,
                }
            ],
            "networkProfile": network_profile(spec.engine),
        }
    )
    return {
        "location": aks.location,
        "tags": merged_tags(aks.tags, spec.name),
        # The Free control-plane tier keeps a workshop cluster cheap; nodes are still billed.
        "sku": {"name": "Base", "tier": "Free"},
        "identity": {"type": "SystemAssigned"},
        "properties": properties,
    }


def update_body(current: ObservedCluster, step: Step) -> dict[str, Any]:
    """The full PUT body for one transition step: the cluster as read, network fields changed.

    Read-only fields (provisioningState, fqdn, eTag, identity principal, ...) are dropped using
    the SDK's own model metadata, so nothing the service computes is sent back.
    """
    from azure.mgmt.containerservice.models import ManagedCluster

    body = ManagedCluster(dict(current.raw)).as_dict(exclude_readonly=True)
    props = body.setdefault("properties", {})
    net = dict(props.get("networkProfile") or {})
    net.update(step.network_changes)
    props["networkProfile"] = net
    return body


def dns_prefix(name: str) -> str:
    """A valid AKS DNS prefix derived from the lab name."""
    prefix = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:54].strip("-")
    if not prefix or not prefix[0].isalnum():
        prefix = f"lab-{prefix}".strip("-")[:54]
    return prefix


def validate(spec: LabSpec) -> None:
    """Reject names and sizes ARM would reject, before anything is sent."""
    aks = spec.aks
    where = f" in profile {spec.profile}" if spec.profile else ""
    if not _CLUSTER_NAME.match(spec.name):
        raise UsageError(
            f"cluster name {spec.name!r}{where} is not valid on AKS; use 1-63 letters, digits, "
            "'-' or '_', starting and ending with a letter or digit"
        )
    group = aks.group_for(spec.name)
    if not _GROUP_NAME.match(group):
        raise UsageError(
            f"resource group {group!r}{where} (aks.resource_group) is not valid; use 1-90 "
            "letters, digits, '_', '-', '.', '(' or ')', not ending with '.'"
        )
    if not 1 <= aks.node_count <= 100:
        raise UsageError(
            f"aks.node_count {aks.node_count}{where} is out of range; use 1-100 for a lab"
        )
    _validate_vm_size(aks.vm_size, where)
    _validate_tags(aks.tags, where)


def _validate_vm_size(size: str, where: str) -> None:
    """The system pool's size: a well-formed name with at least 2 vCPUs, not B-series or Av1."""
    m = _VM_SIZE.match(size)
    if not m:
        raise UsageError(
            f"aks.vm_size {size!r}{where} is not an Azure VM size; use one like "
            "'Standard_D2s_v5' (az vm list-sizes --location <region>)"
        )
    vcpus = int(m["active"] or m["vcpus"])
    need = (
        f"AKS system node pools need at least {SYSTEM_MIN_VCPUS} vCPUs and 4 GB of memory and no "
        "B-series; use one like 'Standard_D2s_v5'"
    )
    if m["family"].upper() == "B":
        raise UsageError(f"aks.vm_size {size!r}{where} is a B-series size; {need}")
    if _AV1.match(size):
        raise UsageError(f"aks.vm_size {size!r}{where} is a retired Av1 size; {need}")
    if vcpus < SYSTEM_MIN_VCPUS:
        raise UsageError(f"aks.vm_size {size!r}{where} has {vcpus} vCPU; {need}")


def _validate_tags(tags: Mapping[str, str], where: str) -> None:
    # Azure limits: 50 tags, names <= 512 chars without <>%&\?/, values <= 256 chars.
    if len(tags) > 48:  # two slots are the tool's own
        raise UsageError(
            f"aks.tags{where} has {len(tags)} tags; Azure allows 48 besides the tool's two"
        )
    for key, value in tags.items():
        if not key or len(key) > 512 or set(key) & set("<>%&\\?/"):
            raise UsageError(
                f"tag name {key!r} in aks.tags{where} is not valid on Azure; "
                "use up to 512 characters without < > % & \\ ? /"
            )
        if len(str(value)) > 256:
            raise UsageError(f"tag {key!r} in aks.tags{where} is longer than 256 characters")
