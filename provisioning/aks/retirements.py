"""Announced AKS retirements that touch policy engines, as data with their sources.

Before its date a retirement is a warning; after it, creating or switching to the retired setup
is refused (AKS no longer supports it), except kubenet, which the tool never creates and only
warns about on clusters that already use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioning.aks.observed import ObservedCluster

USE_NETWORK_POLICIES = "https://learn.microsoft.com/azure/aks/use-network-policies"


@dataclass(frozen=True)
class Retirement:
    subject: str
    ends: date
    path: str  # what the user should move to
    source: str
    refuse_after: bool  # past the date: refuse (True) or keep warning (False)

    def passed(self, today: date) -> bool:
        return today > self.ends

    def message(self, today: date) -> str:
        if self.passed(today):
            return (
                f"{self.subject} reached end of support on {self.ends}; {self.path} ({self.source})"
            )
        days = (self.ends - today).days
        return (
            f"{self.subject} ends support on {self.ends} ({days} days left); {self.path} "
            f"({self.source})"
        )


NPM_WINDOWS = Retirement(
    "Azure Network Policy Manager on Windows nodes",
    date(2026, 9, 30),
    "use Calico (--engine calico) or node-level network security groups",
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
    "migrate to Azure CNI overlay "
    "(az aks update --network-plugin azure --network-plugin-mode overlay)",
    "https://learn.microsoft.com/azure/aks/upgrade-aks-ipam-and-dataplane",
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
