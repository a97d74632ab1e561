"""What an existing managed cluster looks like, read from its ARM representation.

``ObservedCluster.from_rest`` takes the REST-shaped dict of a ``GET managedClusters/{name}``
(see azure-rest-api-specs ``ManagedClustersGet.json``) so planning stays pure: the gateway reads,
this module interprets, ``transitions`` decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioning.aks.profiles import engine_of
from provisioning.aks.tags import is_tool_owned


@dataclass(frozen=True)
class NodePool:
    name: str
    os_type: str  # "Linux" | "Windows"
    mode: str  # "System" | "User"
    count: int
    vm_size: str

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
    # The full GET body: an update is a full PUT of it with the network profile changed.
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def windows_pools(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.node_pools if p.is_windows)

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
            raw=resource,
        )
