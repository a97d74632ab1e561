"""Everything Azure-specific behind one small API: bodies, engine transitions, the ARM gateway.

Pure parts (no Azure SDK import, no credentials): ``profiles``, ``body``, ``transitions``,
``retirements``, ``observed``, ``tags``. The SDK lives behind ``gateway.AksGateway`` and is
imported only when a gateway talks to Azure, so ``invoke --list`` stays fast.
"""

from __future__ import annotations

from provisioning.providers.aks.apply import apply_plan
from provisioning.providers.aks.body import cluster_body, update_body
from provisioning.providers.aks.gateway import AksGateway, GroupStatus, resolve_subscription
from provisioning.providers.aks.observed import NodePool, ObservedCluster
from provisioning.providers.aks.plan import AksPlan, PlannedRequest, plan_cluster
from provisioning.providers.aks.profiles import AKS_ENGINES, engine_of, network_profile
from provisioning.providers.aks.retirements import retirement_refusals, retirement_warnings
from provisioning.providers.aks.tags import is_tool_owned, tool_tags
from provisioning.providers.aks.teardown import TeardownReport, teardown
from provisioning.providers.aks.transitions import Step, Transition, plan_transition

__all__ = [
    "AKS_ENGINES",
    "AksGateway",
    "AksPlan",
    "GroupStatus",
    "NodePool",
    "ObservedCluster",
    "PlannedRequest",
    "Step",
    "TeardownReport",
    "Transition",
    "apply_plan",
    "cluster_body",
    "engine_of",
    "is_tool_owned",
    "network_profile",
    "plan_cluster",
    "plan_transition",
    "resolve_subscription",
    "retirement_refusals",
    "retirement_warnings",
    "teardown",
    "tool_tags",
    "update_body",
]
