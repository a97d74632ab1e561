"""Announced AKS retirements that touch policy engines, as data with their sources.

Before its date a retirement is a warning; from that date on, creating or switching to the
retired setup is refused (AKS no longer supports it), except kubenet, which the tool never
creates and only warns about on clusters that already use it.

Each retirement takes effect ON its date: the azure-aks-docs includes say "Starting on
**September 30, 2026**, Azure Kubernetes Service (AKS) no longer supports ..."
(MicrosoftDocs/azure-aks-docs ``articles/aks/includes/azure-network-policy-manager-windows-
retirement.md``, ``...-linux-retirement.md`` and ``kubenet-retirement.md``, read at commit
fb060abe6a8f).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioning.providers.aks.observed import ObservedCluster

USE_NETWORK_POLICIES = "https://learn.microsoft.com/azure/aks/use-network-policies"
# ``upgrade-aks-ipam-and-dataplane`` redirects to ``upgrade-azure-cni``, which redirects here
# (azure-aks-docs ``articles/aks/.openpublishing.redirection.aks.json``).
UPDATE_AZURE_CNI = "https://learn.microsoft.com/azure/aks/update-azure-cni"
# The overlay migration's prerequisites, azure-aks-docs ``articles/aks/update-azure-cni.md``,
# "Update the IPAM mode to Azure CNI Overlay": "Is on Kubernetes version 1.27 or later";
# "Doesn't have network policies enabled"; and, kubenet tab: "To remove the route table, you
# need a **user-assigned managed identity** on the cluster. System-assigned managed identities
# aren't supported."
OVERLAY_PREREQUISITES = (
    "the migration needs Kubernetes 1.27 or later, no network policy engine (networkPolicy "
    "none) and, from kubenet, a user-assigned control-plane managed identity"
)


@dataclass(frozen=True)
class Retirement:
    subject: str
    ends: date
    path: str  # what the user should move to
    source: str
    refuse_after: bool  # past the date: refuse (True) or keep warning (False)

    def passed(self, today: date) -> bool:
        # "Starting on <date>, AKS no longer supports ...": the date itself is already past it.
        return today >= self.ends

    def message(self, today: date) -> str:
        if self.passed(today):
            return (
                f"{self.subject} reached end of support on {self.ends}; {self.path} ({self.source})"
            )
        days = (self.ends - today).days
        left = f"{days} day{'' if days == 1 else 's'} left"
        return f"{self.subject} ends support on {self.ends} ({left}); {self.path} ({self.source})"


NPM_WINDOWS = Retirement(
    "Azure Network Policy Manager on Windows nodes",
    date(2026, 9, 30),
    # The include suggests "Network Security Groups (NSGs) on the node level or open-source tools
    # like Project Calico"; use-network-policies.md documents Calico with Windows nodes only "on
    # new clusters", so an existing cluster is not switched in place (see transitions.py).
    "recreate the lab with --engine calico (AKS documents Calico with Windows nodes only for new "
    "clusters: invoke down, then up) or use node-level network security groups",
    USE_NETWORK_POLICIES,
    refuse_after=True,
)
NPM_LINUX = Retirement(
    "Azure Network Policy Manager on Linux nodes",
    date(2028, 9, 30),
    "move to Cilium (--engine cilium)",
    "https://learn.microsoft.com/azure/aks/migrate-from-npm-to-cilium-network-policy",
    refuse_after=True,
)
KUBENET = Retirement(
    "kubenet networking",
    date(2028, 3, 31),
    "migrate to Azure CNI overlay (az aks update --network-plugin azure "
    f"--network-plugin-mode overlay; {OVERLAY_PREREQUISITES})",
    UPDATE_AZURE_CNI,
    refuse_after=False,
)


def applicable(engine: str, observed: ObservedCluster | None) -> list[Retirement]:
    """The retirements that concern running ``engine`` on ``observed`` (None: a new cluster)."""
    found: list[Retirement] = []
    if engine == "azure":
        # Every AKS cluster has a Linux system pool, so NPM on Linux always applies.
        found.append(NPM_LINUX)
        if observed is not None and observed.windows_pools:
            found.append(NPM_WINDOWS)
    if observed is not None and observed.network_plugin == "kubenet":
        found.append(KUBENET)
    return found


def retirement_warnings(
    engine: str, observed: ObservedCluster | None, *, today: date | None = None
) -> list[str]:
    """Warnings for retirements that are announced (or passed but only warned about)."""
    today = today or date.today()
    return [
        r.message(today)
        for r in applicable(engine, observed)
        if not (r.refuse_after and r.passed(today))
    ]


def retirement_refusals(
    engine: str, observed: ObservedCluster | None, *, today: date | None = None
) -> list[str]:
    """Reasons to refuse: retirements whose date has passed and that forbid the setup."""
    today = today or date.today()
    return [
        r.message(today) for r in applicable(engine, observed) if r.refuse_after and r.passed(today)
    ]
