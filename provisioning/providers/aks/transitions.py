"""How to get an AKS cluster from its current policy engine to the target one, or why not.

``plan_transition`` is pure: it takes what the gateway observed (or None) and the target engine
and returns a ``Transition``: create, no-op, update (one or more steps, each one full PUT), repair
(one full PUT of the cluster's own configuration), or refused with the reason. Everything is
refused *before* any call that changes anything.

The rules, each with the document line it follows (MicrosoftDocs/azure-aks-docs at commit
fb060abe6a8f, ``articles/aks/...``; Azure/azure-cli 2.91.0; Azure/azure-rest-api-specs
``specification/containerservice/resource-manager/Microsoft.ContainerService/aks/stable/
2026-08-01/managedClusters.json``):
- none -> azure | calico: one update setting ``networkPolicy`` (use-network-policies.md,
  "Install Azure Network Policy Manager or Calico on an existing cluster").
- azure <-> calico: no direct switch; uninstall to ``none`` first, then install the other ("The
  procedure requires that the network policy is changed to `none` and then changed to `calico`").
- Calico on a cluster with Windows node pools is never installed in place: "using Calico network
  policies with Windows nodes is available on new clusters" (use-network-policies.md).
- azure | calico | none -> cilium: a dataplane upgrade that sets only ``networkDataplane: cilium``,
  as ``az aks update --network-dataplane cilium`` does (update-azure-cni.md; azure-cli
  ``acs/managed_cluster_decorator.py`` ``update_network_plugin_settings`` changes only the
  dataplane and keeps the read ``networkPolicy``). "When enabling Cilium on a cluster that uses
  another network policy engine ..., the existing engine is uninstalled and replaced by Cilium"
  (update-azure-cni.md). Supported on every Azure CNI IPAM mode; refused with Windows node
  pools ("isn't supported on clusters with Windows node pools"), kubenet ("Kubenet clusters can't
  update the data plane directly to Cilium") and node auto-provisioning ("Clusters with node
  auto-provisioning (NAP) enabled can't be updated to Azure CNI Powered by Cilium").
- cilium -> anything: refused; AKS documents no migration path off the Cilium data plane
  (update-azure-cni.md lists migrations *to* Cilium only; the overlay migration is "a one-way,
  irreversible operation").
- Reimaging is documented for installing an engine ("The upgrade process triggers each node pool
  to be reimaged simultaneously", use-network-policies.md) and for the dataplane update ("The
  update process triggers node pools to be reimaged simultaneously", update-azure-cni.md); the
  uninstall section does not say, so an uninstall is not announced as a reimage, but it still
  asks for confirmation (it changes a running cluster).
- Azure NPM on Linux: "Scaling beyond _250 nodes_ and _20,000 pods_ isn't supported"
  (use-network-policies.md): installing it on a bigger cluster is warned about.
- A stopped cluster: "You can only perform start or delete operations on a stopped AKS cluster"
  (start-stop-cluster.md): every plan but ``down`` is refused, saying how to start it.
- The IPAM mode (``networkPluginMode``) is never changed by the tool, so IPAM and dataplane are
  never changed in one operation ("The IPAM mode and the data plane can't be updated in a single
  operation", update-azure-cni.md).
- A cluster in provisioningState Failed (an interrupted or failed create or update) already with
  the target engine is repaired by a PUT of its own configuration (with If-Match), which makes
  AKS reconcile it; an engine change from Failed repairs it on the way.

Sources (pages): https://learn.microsoft.com/azure/aks/use-network-policies,
https://learn.microsoft.com/azure/aks/update-azure-cni (``upgrade-aks-ipam-and-dataplane``
redirects there), https://learn.microsoft.com/azure/aks/azure-cni-powered-by-cilium ("Available
only for Linux and not for Windows"), https://learn.microsoft.com/azure/aks/start-stop-cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from provisioning.errors import choice_error
from provisioning.providers.aks.observed import ObservedCluster
from provisioning.providers.aks.profiles import AKS_ENGINES
from provisioning.providers.aks.retirements import (
    OVERLAY_PREREQUISITES,
    UPDATE_AZURE_CNI,
    retirement_refusals,
    retirement_warnings,
)
from provisioning.providers.aks.tags import TAG_MANAGED_BY
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
UNINSTALL_REIMAGE = (
    "AKS does not document whether removing an engine reimages the node pools; plan for it"
)
NO_WAY_OFF_CILIUM = "AKS documents no migration path off the Cilium data plane"
# use-network-policies.md, "Azure Network Policy Manager limitations (Linux)".
NPM_MAX_NODES, NPM_MAX_PODS = 250, 20_000
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
        """``up`` asks before running it (unless ``--yes``): an engine change on a running
        cluster, which reimages every node pool when it installs an engine or Cilium."""
        return self.action == UPDATE

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
    pods: int | None = None,
) -> Transition:
    """The legal path from ``current`` (None: no cluster yet) to ``target_engine``.

    ``lab``, when given, must match the cluster's lab tag before the tool changes the cluster.
    ``pods``: how many pods the cluster runs, when known (for the Azure NPM scale warning).
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
    steps = _steps(current.engine, target_engine, current)
    if any(s.reimages_all_pools for s in steps):
        warnings = (*warnings, REIMAGE_WARNING)
    if target_engine == "azure" and (scale := _npm_scale_warning(current, pods)):
        warnings = (*warnings, scale)
    return Transition(UPDATE, target_engine, current.engine, steps=steps, warnings=warnings)


def _refusal(current: ObservedCluster, target: str, *, lab: str | None, today: date | None) -> str:
    """Why the tool will not take ``current`` to ``target``; empty when it will."""
    where = f"cluster {current.name!r} in resource group {current.group!r}"
    if current.stopped and current.owned_by(lab):
        # start-stop-cluster.md: "You can only perform start or delete operations on a stopped
        # AKS cluster." Its nodes are deallocated too, so even a no-op `up` cannot go on.
        return stopped_reason(current)
    if reasons := retirement_refusals(target, current, today=today):
        return reasons[0]
    if current.engine == target:
        return ""
    if current.engine == "cilium":
        return (
            f"{where} runs the Cilium data plane and {NO_WAY_OFF_CILIUM} ({UPDATE_AZURE_CNI}); "
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
            "runs on Linux only; remove those pools or recreate the lab without them"
        )
    if target in ("cilium", "azure") and current.network_plugin == "kubenet":
        return (
            f"{where} uses kubenet and {target!r} needs Azure CNI; first migrate it with "
            f"`az aks update -g {current.group} -n {current.name} --network-plugin azure "
            f"--network-plugin-mode overlay` ({OVERLAY_PREREQUISITES}; this cluster: "
            f"Kubernetes {current.kubernetes_version or '?'}, networkPolicy "
            f"{current.engine}, identity {current.identity_type or '?'}; {UPDATE_AZURE_CNI}), "
            "then re-run"
        )
    if target == "calico" and current.windows_pools:
        # use-network-policies.md: "using Calico network policies with Windows nodes is
        # available on new clusters": an existing cluster with Windows pools is not switched.
        return (
            f"{where} has Windows node pools ({', '.join(current.windows_pools)}) and AKS "
            "documents Calico with Windows nodes only for new clusters; recreate the lab "
            "(invoke down, then invoke up --engine calico) or use node-level network security "
            "groups"
        )
    if target == "cilium" and current.auto_provisioned:
        # update-azure-cni.md: "Clusters with node auto-provisioning (NAP) enabled can't be
        # updated to Azure CNI Powered by Cilium. As a workaround, disable NAP before the
        # update, then re-enable it after the update completes."
        return (
            f"{where} uses node auto-provisioning (nodeProvisioningProfile.mode Auto), which "
            "AKS cannot update to Azure CNI Powered by Cilium; disable it first "
            "(https://learn.microsoft.com/azure/aks/use-node-auto-provisioning), re-run, then "
            "enable it again once the update is done"
        )
    if current.busy:
        return (
            f"{where} is {current.provisioning_state}; wait until its running operation "
            "finishes (az aks show), then re-run plan"
        )
    if not current.owned_by(lab):
        return _not_ours(current, lab)
    return ""


def stopped_reason(current: ObservedCluster) -> str:
    """The one line for a stopped cluster: what is wrong and the command that fixes it."""
    return (
        f"cluster {current.name!r} in resource group {current.group!r} is stopped; start it "
        f"with `az aks start -g {current.group} -n {current.name}` and re-run (a stopped AKS "
        "cluster accepts only start or delete)"
    )


def _npm_scale_warning(current: ObservedCluster, pods: int | None) -> str:
    """A warning when Azure NPM would run past its documented scale; empty otherwise."""
    nodes = current.most_nodes
    over = []
    if nodes > NPM_MAX_NODES:
        over.append(f"{nodes} nodes")
    if pods is not None and pods > NPM_MAX_PODS:
        over.append(f"{pods} pods")
    if not over:
        return ""
    return (
        f"cluster {current.name!r} has {' and '.join(over)}; AKS does not support Azure "
        f"Network Policy Manager beyond {NPM_MAX_NODES} nodes and {NPM_MAX_PODS:,} pods "
        "(it may run out of memory); use --engine cilium for a cluster this size"
    )


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
            f"{NO_WAY_OFF_CILIUM}; to leave it later, recreate the lab",
            f"the IPAM mode stays {current.network_plugin_mode or 'node subnet'}",
        ]
        if source == "calico":
            notes.append(CALICO_LEFTOVERS)
        return (
            Step(
                "dataplane-upgrade",
                f"~ networkDataplane: {current.network_dataplane} -> cilium "
                f"(AKS replaces networkPolicy {source} with cilium)",
                # Only the dataplane, as `az aks update --network-dataplane cilium` sends it.
                {"networkDataplane": "cilium"},
                notes=tuple(notes),
            ),
        )
    steps: list[Step] = []
    if source != "none":
        # azure <-> calico (or -> none): AKS only installs an engine on a cluster without one.
        notes = [UNENFORCED, UNINSTALL_REIMAGE] + ([CALICO_LEFTOVERS] if source == "calico" else [])
        steps.append(
            Step(
                "uninstall-policy",
                f"- networkPolicy: {source} -> none",
                {"networkPolicy": "none"},
                reimages_all_pools=False,  # not stated for uninstall (use-network-policies.md)
                notes=tuple(notes),
            )
        )
    if target != "none":
        steps.append(
            Step("install-policy", f"+ networkPolicy: none -> {target}", {"networkPolicy": target})
        )
    return tuple(steps)
