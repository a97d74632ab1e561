"""AKS labs, observed and planned: the provider the shared pipeline sees, and ``plan``.

Azure specifics (bodies, transitions, the ARM gateway, teardown) live beside it in
``provisioning.providers.aks``; this module turns them into the lab's plan: the cluster step with
its exact ARM requests, then the same workload and policy steps as on kind.
``provisioning.providers.aks.lab`` runs ``up``, ``status`` and ``down`` from it.

Seams: ``gateway_factory(subscription) -> AksGateway`` (tests: the fake ARM transport) and
``kube_factory(kubeconfig path) -> KubeApi`` (tests: ``FakeKube``). Nothing here imports the Azure
SDK or the kubernetes client at module level.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioning.errors import LabError, OperationError, UsageError
from provisioning.lab.observe import ObservedLab, safe_observe_objects
from provisioning.lab.plan import (
    CHANGE,
    REMOVE,
    SAME,
    VALIDATE_STEP,
    PlanStep,
    changes_of,
    object_steps,
    step_lines,
    summary_line,
)
from provisioning.lab.plan import CREATE as PLUS
from provisioning.providers.aks.gateway import SUBSCRIPTION_ENV, SUBSCRIPTION_KEY
from provisioning.providers.aks.plan import AksPlan, plan_cluster
from provisioning.providers.aks.tags import TAG_MANAGED_BY
from provisioning.providers.aks.transitions import CREATE, NOOP, REIMAGE_WARNING, REPAIR, UPDATE
from provisioning.providers.kind.engines import EngineSettings
from provisioning.spec import TOOL, LabSpec

if TYPE_CHECKING:
    from provisioning.providers.aks.gateway import AksGateway
    from provisioning.providers.aks.observed import ObservedCluster
    from provisioning.runner import Result

GatewayFactory = Callable[[str], "AksGateway"]
KubeFactory = Callable[[Path], Any]

_STEP_MARKERS = {"install-policy": PLUS, "uninstall-policy": REMOVE, "dataplane-upgrade": CHANGE}
NONE_WARNING = (
    "engine none: NetworkPolicy objects are accepted by the API server but NOT enforced; "
    "validation shows every connection as allowed"
)
ENGINE_SUMMARIES = {
    "azure": "Azure Network Policy Manager on Azure CNI, managed by AKS",
    "calico": "Calico on Azure CNI, managed by AKS",
    "cilium": "Azure CNI powered by Cilium (overlay), managed by AKS",
    "none": "Azure CNI overlay without a policy engine",
}


def default_gateway_factory(subscription: str) -> AksGateway:
    from provisioning.providers.aks.gateway import AksGateway

    return AksGateway(subscription)


def default_kube_factory(kubeconfig: Path) -> Any:
    from provisioning.kube import ClientKube

    return ClientKube(kubeconfig)


def configured_subscription(spec: LabSpec) -> str | None:
    """The subscription from the profile or ``AZURE_SUBSCRIPTION_ID``; None when neither is set.

    Looking only at configuration (never at credentials) keeps ``plan`` instant offline.
    """
    return (spec.aks.subscription_id or os.environ.get(SUBSCRIPTION_ENV) or "").strip() or None


def aks_engine(spec: LabSpec) -> EngineSettings:
    """The engine as the shared pipeline sees it: AKS installs it, so there is nothing to run."""
    warnings = () if spec.engine != "none" else (NONE_WARNING,)
    return EngineSettings(
        engine=spec.engine,
        summary=ENGINE_SUMMARIES[spec.engine],
        enforces=spec.engine != "none",
        kind_networking={},
        actions=(),
        readiness=("every node Ready",),
        warnings=warnings,
    )


class NoCommands:
    """The ``Runner`` for an AKS context: the lab runs no local programs, so any use is a bug."""

    def run(self, argv: Sequence[str], **_: Any) -> Result:
        raise OperationError(f"the AKS lab runs no local commands (asked for {list(argv)})")

    def which(self, program: str) -> str | None:
        return None


# --- the provider ----------------------------------------------------------------------------


@dataclass
class AksProvider:
    """``LabProvider`` for AKS: the cluster through the gateway, the lab's objects through kube."""

    gateway: AksGateway | None  # None: no subscription configured, nothing can be observed
    kube_factory: KubeFactory = default_kube_factory
    name: str = "aks"

    def cluster(self, spec: LabSpec) -> ObservedCluster | None:
        if self.gateway is None:
            raise no_subscription_error()
        return self.gateway.observe(spec.aks.group_for(spec.name), spec.name)

    def observe(self, spec: LabSpec) -> ObservedLab:
        try:
            cluster = self.cluster(spec)
        except LabError as exc:
            return ObservedLab.unobserved(f"could not observe: {exc}")
        return self.lab_state(spec, cluster)

    def lab_state(self, spec: LabSpec, cluster: ObservedCluster | None) -> ObservedLab:
        """The shared ``ObservedLab`` for an observed cluster (None: it does not exist)."""
        if cluster is None:
            return ObservedLab(observed=True, cluster_exists=False)
        owned = cluster.owned_by(spec.name)
        base: dict[str, Any] = {
            "observed": True,
            "cluster_exists": True,
            "owned": owned,
            "engine": cluster.engine,
            # AKS installs and runs the engine itself; its health is the cluster's.
            "engine_installed": True,
            "engine_ready": cluster.provisioning_state.lower() == "succeeded",
            "engine_detail": f"managed by AKS, provisioningState {cluster.provisioning_state}",
        }
        if not owned:
            return ObservedLab(**base)
        if not spec.kubeconfig.exists():
            return ObservedLab(
                **base,
                reason=f"no lab kubeconfig at {spec.kubeconfig}; `invoke up --provider aks` "
                "writes it",
            )
        state, problem = safe_observe_objects(self.kube_factory(spec.kubeconfig), spec)
        return ObservedLab(
            **base,
            reason=problem,
            api_reachable=state is not None,
            objects=state.objects if state else {},
            pods_ready=state.pods_ready if state else {},
            scenario=state.scenario if state else None,
        )


def no_subscription_error() -> UsageError:
    from provisioning.providers.aks.gateway import missing_subscription

    return missing_subscription()


# --- plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AksLabPlan:
    """The whole AKS lab plan: the cluster (exact ARM requests) plus workload and policy steps."""

    spec: LabSpec
    cluster: AksPlan
    steps: tuple[PlanStep, ...]
    subscription: str | None
    observed: ObservedLab
    workload: tuple[dict[str, Any], ...] = field(repr=False, default=())
    policies: tuple[dict[str, Any], ...] = field(repr=False, default=())
    notes: tuple[str, ...] = ()
    blocked: str | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        extra = aks_engine(self.spec).warnings
        return (*self.cluster.transition.warnings, *extra)

    @property
    def needs_confirmation(self) -> bool:
        return self.blocked is None and self.cluster.transition.needs_confirmation

    @property
    def changes(self) -> tuple[PlanStep, ...]:
        return changes_of(self.steps)

    def confirmation_question(self) -> str:
        t = self.cluster.transition
        notes = [n for s in t.steps for n in s.notes if "reimage" in n]
        effect = (
            REIMAGE_WARNING
            if t.reimages_node_pools
            else (notes[0] if notes else "the running cluster changes")
        )
        return (
            f"change AKS cluster {self.spec.name!r} from engine {t.current_engine} to "
            f"{t.target_engine} in {len(t.steps)} update(s); {effect}"
        )

    def as_dict(self) -> dict[str, Any]:
        import yaml

        spec = self.spec
        return {
            "lab": spec.name,
            "provider": "aks",
            "engine": spec.engine,
            "scenario": spec.scenario,
            "profile": spec.profile,
            "kubeconfig": str(spec.kubeconfig),
            "subscription": self.subscription,
            "observed": self.observed.as_dict(),
            "blocked": self.blocked,
            "needs_confirmation": self.needs_confirmation,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "cluster": self.cluster.as_dict(),
            "steps": [s.as_dict() for s in self.steps],
            "artifacts": {
                "demo manifests": yaml.safe_dump_all(self.workload, sort_keys=False),
                f"policies (scenario {spec.scenario})": (
                    yaml.safe_dump_all(self.policies, sort_keys=False)
                    if self.policies
                    else "(none)"
                ),
            },
        }

    def render_text(self, *, artifacts: bool = True) -> str:
        spec = self.spec
        lines = [
            f"Plan for lab {spec.name} (aks, engine {spec.engine}, scenario {spec.scenario})"
            + (f" from profile {spec.profile}" if spec.profile else ""),
        ]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  ! warning: {w}" for w in self.warnings]
        lines.append("")
        # Four spaces: the cluster's "+" lines up with the right-aligned markers below.
        lines += [f"    {line}" for line in self.cluster.lines() if not line.startswith("! ")]
        if self.blocked:
            lines.append(f"  ✗ cannot proceed: {self.blocked}")
            return "\n".join(lines) + "\n"
        # The cluster step is shown by the AKS plan's own lines above (with each update's notes).
        lines += step_lines(self.steps[1:])
        if self.needs_confirmation:
            what = (
                "reimages every node pool"
                if self.cluster.transition.reimages_node_pools
                else "changes the running cluster"
            )
            lines += ["", f"  This plan {what}; `up` asks for confirmation (or pass --yes)."]
        lines += ["", summary_line(self.steps)]
        if artifacts:
            for request in self.cluster.requests:
                lines += ["", f"--- {request.method} {request.path}"]
                lines += [f"{k}: {v}" for k, v in request.headers.items()]
                if request.note:
                    lines.append(f"# {request.note}")
                lines.append(json.dumps(request.body, indent=2))
            for name, content in self.as_dict()["artifacts"].items():
                lines += ["", f"--- {name}", content.rstrip()]
        return "\n".join(lines) + "\n"


def lab_plan(
    spec: LabSpec,
    *,
    gateway_factory: GatewayFactory | None = None,
    kube_factory: KubeFactory | None = None,
    validate: bool = True,
) -> AksLabPlan:
    """What ``up`` would do. Works without credentials (then the cluster is assumed absent).

    ``validate``: ``up`` ends by probing the lab, so the plan ends with that step.
    """
    workload, policies = lab_objects(spec)
    subscription = configured_subscription(spec)
    if subscription is None:
        # No subscription: say so at once rather than let DefaultAzureCredential probe for one.
        note = (
            f"Azure not consulted: no subscription set ({SUBSCRIPTION_ENV} or "
            f"{SUBSCRIPTION_KEY}); planning from nothing"
        )
        return _offline_plan(spec, None, note, workload, policies, validate=validate)
    provider = AksProvider(
        (gateway_factory or default_gateway_factory)(subscription),
        kube_factory or default_kube_factory,
    )
    try:
        return observed_plan(spec, provider, subscription, workload, policies, validate=validate)
    except LabError as exc:
        # Bad credentials or no network: still show the requests, marked as not observed.
        note = f"Azure not consulted ({exc}); planning from nothing"
        return _offline_plan(spec, subscription, note, workload, policies, validate=validate)


def lab_objects(spec: LabSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from provisioning.lab.pipeline import desired_objects

    if spec.provider != "aks":
        raise UsageError(f"lab {spec.name!r} is a {spec.provider} lab; use --provider aks")
    return desired_objects(spec)  # a broken template fails here, before any Azure call


def _offline_plan(
    spec: LabSpec,
    subscription: str | None,
    note: str,
    workload: list[dict[str, Any]],
    policies: list[dict[str, Any]],
    *,
    validate: bool,
) -> AksLabPlan:
    cluster = plan_cluster(
        spec,
        None,
        kubernetes_version=spec.aks.kubernetes_version,
        subscription=subscription,
        observed=False,
    )
    observed = ObservedLab.unobserved(note)
    return _assemble(
        spec, cluster, observed, subscription, workload, policies, {}, (note,), validate=validate
    )


def observed_plan(
    spec: LabSpec,
    provider: AksProvider,
    subscription: str,
    workload: list[dict[str, Any]],
    policies: list[dict[str, Any]],
    *,
    validate: bool = True,
) -> AksLabPlan:
    gateway = provider.gateway
    assert gateway is not None
    group = spec.aks.group_for(spec.name)
    current = provider.cluster(spec)
    version = spec.aks.kubernetes_version
    group_exists: bool | None = None
    if current is None:
        group_exists = gateway.group_exists(group)
        version = version or gateway.default_kubernetes_version(spec.aks.location)
    cluster = plan_cluster(
        spec,
        current,
        kubernetes_version=version,
        group_exists=group_exists,
        subscription=subscription,
        pods=_pods_for_npm(spec, provider, current),
    )
    observed = provider.lab_state(spec, current)
    notes = (observed.reason,) if observed.reason else ()
    return _assemble(
        spec,
        cluster,
        observed,
        subscription,
        workload,
        policies,
        observed.objects,
        notes,
        validate=validate,
    )


def _pods_for_npm(
    spec: LabSpec, provider: AksProvider, current: ObservedCluster | None
) -> int | None:
    """The cluster's pod count when ``up`` would install Azure NPM on it; None when unknown.

    Azure NPM is not supported past 20,000 pods (use-network-policies.md), so the count is read
    only for that change, and only through the lab's kubeconfig (a stopped or unreachable
    cluster gives None: the node count still decides).
    """
    if current is None or spec.engine != "azure" or current.engine == "azure":
        return None
    if current.stopped or not spec.kubeconfig.exists():
        return None
    try:
        return len(provider.kube_factory(spec.kubeconfig).list("v1", "Pod"))
    except LabError:
        return None


def _assemble(
    spec: LabSpec,
    cluster: AksPlan,
    observed: ObservedLab,
    subscription: str | None,
    workload: list[dict[str, Any]],
    policies: list[dict[str, Any]],
    current_objects: Mapping[str, str],
    notes: tuple[str, ...],
    *,
    validate: bool,
) -> AksLabPlan:
    t = cluster.transition
    blocked: str | None = None
    if t.refused:
        blocked = t.reason
    elif cluster.current is not None and not cluster.current.owned_by(spec.name):
        # Same engine means no transition refusal, yet the lab must not move into it either.
        blocked = (
            f"cluster {spec.name!r} in resource group {cluster.group!r} is not tagged "
            f"{TAG_MANAGED_BY}={TOOL} for lab {spec.name!r}; netpol-lab deploys only into "
            "clusters it created; choose another --name or aks.resource_group"
        )
    elif cluster.current is not None and cluster.current.busy:
        # E.g. an interrupted up left the create running: its kubeconfig and nodes are not ready.
        blocked = (
            f"cluster {spec.name!r} in resource group {cluster.group!r} is "
            f"{cluster.current.provisioning_state}; wait until that operation finishes "
            f"(az aks show -g {cluster.group} -n {spec.name}), then re-run"
        )
    steps: tuple[PlanStep, ...] = ()
    if blocked is None:
        steps = (
            _cluster_step(spec, cluster),
            *object_steps(spec, workload, policies, current_objects, observed.pods_ready),
            *((VALIDATE_STEP,) if validate else ()),
        )
    return AksLabPlan(
        spec,
        cluster,
        steps,
        subscription,
        observed,
        tuple(workload),
        tuple(policies),
        notes,
        blocked,
    )


def _cluster_step(spec: LabSpec, cluster: AksPlan) -> PlanStep:
    t = cluster.transition
    aks = spec.aks
    where = f"{cluster.group} ({cluster.location})"
    if t.action == CREATE:
        return PlanStep(
            PLUS,
            "create-cluster",
            f"create AKS cluster {spec.name} in {where}",
            f"{aks.node_count} x {aks.vm_size}, {ENGINE_SUMMARIES[spec.engine]}",
        )
    if t.action == UPDATE:
        return PlanStep(
            CHANGE,
            "update-cluster",
            f"update AKS cluster {spec.name} in {where}",
            f"engine {t.current_engine} -> {t.target_engine} in {len(t.steps)} update(s)"
            + ("; every node pool is reimaged" if t.reimages_node_pools else ""),
            items=tuple(
                (_STEP_MARKERS.get(s.kind, CHANGE), s.summary.lstrip("+~- ")) for s in t.steps
            ),
            destructive=t.needs_confirmation,
        )
    if t.action == REPAIR:
        return PlanStep(
            CHANGE,
            "repair-cluster",
            f"repair AKS cluster {spec.name} in {where}",
            t.steps[0].summary,
        )
    assert t.action == NOOP
    return PlanStep(
        SAME, "keep-cluster", f"AKS cluster {spec.name} in {where}", f"engine {spec.engine}"
    )
