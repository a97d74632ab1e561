"""How to get an AKS cluster from its current policy engine to the target one, or why not.

``plan_transition`` is pure: it takes what the gateway observed (or None) and the target engine
and returns a ``Transition``: create, no-op, update (one or more steps, each one full PUT), repair
(one full PUT of the cluster's own configuration), or refused with the reason. Everything is
refused *before* any call that changes anything.

The rules (confirmed against the sources below):
- none -> azure | calico: one update setting ``networkPolicy``.
- azure <-> calico: no direct switch; uninstall to ``none`` first, then install the other.
- azure | calico | none -> cilium: a dataplane upgrade (``networkDataplane: cilium``); AKS
  uninstalls the previous engine and Cilium enforces once every node is reimaged. Supported on
  every Azure CNI IPAM mode; refused with Windows node pools or kubenet.
- cilium -> anything: refused; there is no way back off the Cilium dataplane (nor off overlay).
- Every policy or dataplane change reimages ALL node pools at once (no per-pool rollout).
- The IPAM mode (``networkPluginMode``) is never changed by the tool, so IPAM and dataplane are
  never changed in one operation.
- A cluster in provisioningState Failed (an interrupted or failed create or update) already with
  the target engine is repaired by a PUT of its own configuration (with If-Match), which makes
  AKS reconcile it; an engine change from Failed repairs it on the way.

Sources:
- https://learn.microsoft.com/azure/aks/use-network-policies ("Install ... on an existing
  cluster", "Uninstall Azure Network Policy Manager or Calico": CRDs ``*.projectcalico.org`` and
  ``*.tigera.io`` stay; NetworkPolicy objects stay but are no longer enforced; all node pools are
  reimaged simultaneously).
- https://learn.microsoft.com/azure/aks/upgrade-aks-ipam-and-dataplane (dataplane update to
  Cilium: no Windows node pools, previous engine replaced, simultaneous reimage, one-way).
- https://learn.microsoft.com/azure/aks/azure-cni-powered-by-cilium (Linux only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from provisioning.aks.observed import ObservedCluster
from provisioning.aks.profiles import AKS_ENGINES
from provisioning.aks.retirements import retirement_refusals, retirement_warnings
from provisioning.aks.tags import TAG_MANAGED_BY
from provisioning.errors import choice_error
from provisioning.spec import TOOL

CREATE, NOOP, UPDATE, REPAIR, REFUSED = "create", "no-op", "update", "repair", "refused"
FAILED = "failed"  # provisioningState, lower-cased

REIMAGE_WARNING = (
    "every node pool is reimaged at once: all pods restart on fresh nodes and policy "
    "enforcement is inconsistent until the last node is back"
)
CALICO_LEFTOVERS = (
    "removing Calico leaves its CRDs and custom resources (*.projectcalico.org, *.tigera.io) "
    "in the cluster; delete them by hand once the update has finished"
)
UNENFORCED = "existing NetworkPolicy objects stay but are not enforced while no engine is installed"
REPAIR_STEP = "cluster is in state Failed: re-send its configuration to repair it"


@dataclass(frozen=True)
class Step:
    """One cluster update (one full PUT with If-Match) and what it does to the network profile."""

    kind: str  # "install-policy" | "uninstall-policy" | "dataplane-upgrade" | "repair"
    summary: str
    network_changes: Mapping[str, str]
    reimages_all_pools: bool = True
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "summary": self.summary,
            "networkProfile": dict(self.network_changes),
            "reimagesAllNodePools": self.reimages_all_pools,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Transition:
    action: str  # CREATE | NOOP | UPDATE | REPAIR | REFUSED
    target_engine: str
    current_engine: str | None = None
    steps: tuple[Step, ...] = ()
    reason: str = ""  # why it is refused
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def refused(self) -> bool:
        return self.action == REFUSED

    @property
    def reimages_node_pools(self) -> bool:
        return any(s.reimages_all_pools for s in self.steps)

    @property
    def needs_confirmation(self) -> bool:
        """``up`` asks before running it (unless ``--yes``): it reimages every node pool."""
        return self.action == UPDATE and self.reimages_node_pools

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "currentEngine": self.current_engine,
            "targetEngine": self.target_engine,
            "steps": [s.as_dict() for s in self.steps],
            "reimagesAllNodePools": self.reimages_node_pools,
            "reason": self.reason,
            "warnings": list(self.warnings),
        }


def plan_transition(
    current: ObservedCluster | None,
    target_engine: str,
    *,
    lab: str | None = None,
    today: date | None = None,
) -> Transition:
    """The legal path from ``current`` (None: no cluster yet) to ``target_engine``.

    ``lab``, when given, must match the cluster's lab tag before the tool changes the cluster.
    """
    if target_engine not in AKS_ENGINES:
        raise choice_error("AKS policy engine", target_engine, AKS_ENGINES, where="--engine")
    warnings = tuple(retirement_warnings(target_engine, current, today=today))

    if current is None:
        if reasons := retirement_refusals(target_engine, None, today=today):
            return Transition(REFUSED, target_engine, reason=reasons[0], warnings=warnings)
        return Transition(CREATE, target_engine, warnings=warnings)

    refused = _refusal(current, target_engine, lab=lab, today=today)
    if refused:
        return Transition(REFUSED, target_engine, current.engine, reason=refused, warnings=warnings)
    if current.engine == target_engine:
        if current.provisioning_state.lower() != FAILED:
            return Transition(NOOP, target_engine, current.engine, warnings=warnings)
        if not current.owned_by(lab):
            reason = _not_ours(current, lab)
            return Transition(REFUSED, target_engine, current.engine, reason=reason)
        # Not a no-op: a failed create or update is resumed by re-sending the configuration.
        repair = Step("repair", REPAIR_STEP, {}, reimages_all_pools=False)
        return Transition(REPAIR, target_engine, current.engine, (repair,), warnings=warnings)
    return Transition(
        UPDATE,
        target_engine,
        current.engine,
        steps=_steps(current.engine, target_engine, current),
        warnings=(*warnings, REIMAGE_WARNING),
    )


def _refusal(current: ObservedCluster, target: str, *, lab: str | None, today: date | None) -> str:
    """Why the tool will not take ``current`` to ``target``; empty when it will."""
    where = f"cluster {current.name!r} in resource group {current.group!r}"
    if reasons := retirement_refusals(target, current, today=today):
        return reasons[0]
    if current.engine == target:
        return ""
    if current.engine == "cilium":
        return (
            f"{where} runs the Cilium dataplane and AKS has no way back off Cilium; "
            f"to use {target!r}, delete the lab (invoke down) and create it again"
        )
    if current.network_plugin == "none":
        return (
            f"{where} brings its own CNI (networkPlugin none); AKS cannot install a policy "
            "engine on it, so install one yourself or recreate the lab"
        )
    if target == "cilium" and current.windows_pools:
        return (
            f"{where} has Windows node pools ({', '.join(current.windows_pools)}) and Cilium "
            "runs on Linux only; remove those pools or choose --engine calico"
        )
    if target in ("cilium", "azure") and current.network_plugin == "kubenet":
        return (
            f"{where} uses kubenet and {target!r} needs Azure CNI; first migrate it with "
            "`az aks update --network-plugin azure --network-plugin-mode overlay`, then re-run"
        )
    if target == "calico" and current.network_plugin == "kubenet" and current.windows_pools:
        return f"{where} uses kubenet with Windows node pools; Calico on kubenet is Linux only"
    if current.busy:
        return (
            f"{where} is {current.provisioning_state}; wait until its running operation "
            "finishes (az aks show), then re-run plan"
        )
    if not current.owned_by(lab):
        return _not_ours(current, lab)
    return ""


def _not_ours(current: ObservedCluster, lab: str | None) -> str:
    return (
        f"cluster {current.name!r} in resource group {current.group!r} is not tagged "
        f"{TAG_MANAGED_BY}={TOOL}"
        + (f" for lab {lab!r}" if lab else "")
        + "; netpol-lab changes only clusters it created; pick another name or group"
    )


def _steps(source: str, target: str, current: ObservedCluster) -> tuple[Step, ...]:
    if target == "cilium":
        notes = [
            f"AKS uninstalls {source!r} and Cilium enforces policy only after every node is "
            "reimaged",
            "one-way: a cluster cannot leave the Cilium dataplane",
            f"the IPAM mode stays {current.network_plugin_mode or 'node subnet'}",
        ]
        if source == "calico":
            notes.append(CALICO_LEFTOVERS)
        return (
            Step(
                "dataplane-upgrade",
                f"~ networkDataplane: {current.network_dataplane} -> cilium, "
                f"networkPolicy: {source} -> cilium",
                {"networkDataplane": "cilium", "networkPolicy": "cilium"},
                notes=tuple(notes),
            ),
        )
    steps: list[Step] = []
    if source != "none":
        # azure <-> calico (or -> none): AKS only installs an engine on a cluster without one.
        notes = [UNENFORCED] + ([CALICO_LEFTOVERS] if source == "calico" else [])
        steps.append(
            Step(
                "uninstall-policy",
                f"- networkPolicy: {source} -> none",
                {"networkPolicy": "none"},
                notes=tuple(notes),
            )
        )
    if target != "none":
        steps.append(
            Step("install-policy", f"+ networkPolicy: none -> {target}", {"networkPolicy": target})
        )
    return tuple(steps)
