"""Which reading of NetworkPolicy each policy engine implements, with the source for each.

The API leaves a few things to implementations. Only documented differences are modelled;
everything else follows the API reading that the upstream e2e suite
(kubernetes/kubernetes ``test/e2e/network/netpol/``) expects.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.errors import choice_error


@dataclass(frozen=True)
class EngineProfile:
    name: str
    enforces: bool
    """False: nothing is enforced and every connection is allowed."""
    ipblock_selects_pods: bool
    """Whether an ``ipBlock`` peer matches traffic to or from a pod IP inside the cluster."""
    note: str
    source: str
    cluster_network_policy: bool = True
    """Whether it enforces ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2)."""
    cluster_network_policy_note: str = "the API reading"


ENGINES: dict[str, EngineProfile] = {
    "reference": EngineProfile(
        "reference",
        enforces=True,
        ipblock_selects_pods=True,
        note="the API reading, as the upstream e2e tests expect it",
        source="kubernetes/kubernetes test/e2e/network/netpol/network_policy.go "
        "('should enforce except clause while egress access to server in CIDR block' uses "
        "pod IPs in ipBlock)",
    ),
    "calico": EngineProfile(
        "calico",
        enforces=True,
        ipblock_selects_pods=True,
        note="same as reference: Calico matches ipBlock against pod IPs",
        cluster_network_policy_note="Calico from 3.32",
        source="projectcalico/calico libcalico-go/lib/backend/k8s/conversion/conversion.go @ "
        "v3.32.1 (k8sPeerToCalicoFields: ipBlock cidr/except become rule Nets/NotNets, which "
        "'apply to traffic that originates from (or terminates at) IP addresses in any of the "
        "given subnets', api/pkg/apis/projectcalico/v3/policy_common.go; pod IPs not excluded)",
    ),
    "azure": EngineProfile(
        "azure",
        enforces=True,
        ipblock_selects_pods=True,
        note="same as reference: Azure NPM matches ipBlock against pod IPs",
        cluster_network_policy=False,
        cluster_network_policy_note="Azure NPM implements only networking.k8s.io/v1 NetworkPolicy",
        source="AKS docs, Migrate from NPM to Cilium Network Policy > NetworkPolicy with ipBlock "
        "('Under NPM, this policy would allow egress to all destinations, including Pods and "
        "Nodes'); Azure/azure-container-networking npm/pkg/controlplane/translation/"
        "translatePolicy.go @ v1.8.12 (ipBlockRule: cidr and except-as-nomatch in an ipset)",
    ),
    "cilium": EngineProfile(
        "cilium",
        enforces=True,
        ipblock_selects_pods=False,
        note="ipBlock does not select pod IPs; cluster traffic is matched by selectors only",
        cluster_network_policy_note="Cilium from 1.20 with k8sClusterNetworkPolicy.enabled",
        source="Cilium docs, Network Policy > Layer 3 > CIDR based ('CIDR rules do not apply "
        "to traffic where both sides of the connection are either managed by Cilium or use "
        "an IP belonging to a node in the cluster'); AKS docs, Azure CNI powered by Cilium > "
        "Limitations ('Network policies cannot use ipBlock to allow access to node or pod IPs')",
    ),
    "none": EngineProfile(
        "none",
        enforces=False,
        ipblock_selects_pods=True,
        note="no engine enforces NetworkPolicy: every connection is allowed",
        source="Kubernetes docs, Network Policies > Prerequisites ('Creating a NetworkPolicy "
        "resource without a controller that implements it will have no effect')",
    ),
}


def engine_profile(name: str) -> EngineProfile:
    """The profile called ``name``; ``UsageError`` listing the valid choices otherwise."""
    try:
        return ENGINES[name]
    except KeyError:
        raise choice_error("engine", name, list(ENGINES)) from None
