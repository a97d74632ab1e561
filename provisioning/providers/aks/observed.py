"""What an existing managed cluster looks like, read from its ARM representation.

``ObservedCluster.from_rest`` takes the REST-shaped dict of a ``GET managedClusters/{name}``
(see azure-rest-api-specs ``ManagedClustersGet.json``) so planning stays pure: the gateway reads,
this module interprets, ``transitions`` decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioning.providers.aks.profiles import engine_of
from provisioning.providers.aks.tags import is_tool_owned


@dataclass(frozen=True)
class NodePool:
    name: str
    os_type: str  # "Linux" | "Windows"
    mode: str  # "System" | "User"
    count: int
    vm_size: str
    max_count: int = 0  # the autoscaler's maximum, when ``enableAutoScaling`` is set

    @property
    def most_nodes(self) -> int:
        """The most nodes this pool can have: its autoscaler maximum, else its count."""
        return max(self.count, self.max_count)

    @property
    def is_windows(self) -> bool:
        return self.os_type.lower() == "windows"


@dataclass(frozen=True)
class ObservedCluster:
    """The facts about a cluster that planning and teardown need."""

    group: str
    name: str
    location: str
    engine: str
    network_plugin: str  # "azure" | "kubenet" | "none"
    network_plugin_mode: str  # "overlay" or "" (node subnet)
    network_dataplane: str  # "azure" | "cilium"
    provisioning_state: str
    etag: str | None
    kubernetes_version: str
    node_resource_group: str
    node_pools: tuple[NodePool, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    power_state: str = "Running"  # properties.powerState.code: "Running" | "Stopped"
    node_provisioning_mode: str = "Manual"  # properties.nodeProvisioningProfile.mode
    # Microsoft Entra ID integration (aadProfile) or local accounts disabled: the user
    # kubeconfig then authenticates through kubelogin (an exec plugin).
    entra_id: bool = False
    identity_type: str = ""  # identity.type: "SystemAssigned" | "UserAssigned" | ...
    # The full GET body: an update is a full PUT of it with the network profile changed.
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def windows_pools(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.node_pools if p.is_windows)

    @property
    def stopped(self) -> bool:
        """``az aks stop`` was run: only start and delete are accepted (start-stop-cluster.md)."""
        return self.power_state.lower() == "stopped"

    @property
    def auto_provisioned(self) -> bool:
        """Node auto-provisioning (NAP) is on: ``nodeProvisioningProfile.mode`` is ``Auto``."""
        return self.node_provisioning_mode.lower() == "auto"

    @property
    def most_nodes(self) -> int:
        return sum(p.most_nodes for p in self.node_pools)

    @property
    def busy(self) -> bool:
        """True while another operation runs; ARM answers 409 to a second one."""
        return self.provisioning_state.lower() not in ("succeeded", "failed", "canceled", "")

    def owned_by(self, lab: str | None = None) -> bool:
        return is_tool_owned(self.tags, lab)

    @classmethod
    def from_rest(
        cls, group: str, resource: Mapping[str, Any], etag: str | None = None
    ) -> ObservedCluster:
        props = resource.get("properties") or {}
        net = props.get("networkProfile") or {}
        pools = tuple(
            NodePool(
                name=str(p.get("name", "")),
                os_type=str(p.get("osType") or "Linux"),
                mode=str(p.get("mode") or "User"),
                count=int(p.get("count") or 0),
                vm_size=str(p.get("vmSize") or ""),
                max_count=int(p.get("maxCount") or 0) if p.get("enableAutoScaling") else 0,
            )
            for p in props.get("agentPoolProfiles") or ()
        )
        return cls(
            group=group,
            name=str(resource.get("name", "")),
            location=str(resource.get("location", "")),
            engine=engine_of(net),
            # ARM omits networkPlugin only on very old clusters, which were kubenet.
            network_plugin=str(net.get("networkPlugin") or "kubenet").lower(),
            network_plugin_mode=str(net.get("networkPluginMode") or "").lower(),
            network_dataplane=str(net.get("networkDataplane") or "azure").lower(),
            provisioning_state=str(props.get("provisioningState") or ""),
            etag=resource.get("eTag") or etag,
            kubernetes_version=str(
                props.get("currentKubernetesVersion") or props.get("kubernetesVersion") or ""
            ),
            node_resource_group=str(props.get("nodeResourceGroup") or ""),
            node_pools=pools,
            tags=dict(resource.get("tags") or {}),
            power_state=str((props.get("powerState") or {}).get("code") or "Running"),
            node_provisioning_mode=str(
                (props.get("nodeProvisioningProfile") or {}).get("mode") or "Manual"
            ),
            entra_id=bool(props.get("aadProfile")) or bool(props.get("disableLocalAccounts")),
            identity_type=str((resource.get("identity") or {}).get("type") or ""),
            raw=resource,
        )
