"""The AKS lab end to end: ``plan``, ``up``, ``status`` and ``down`` for ``--provider aks``.

Azure specifics (bodies, transitions, the ARM gateway, teardown) live in ``provisioning.aks``;
this module strings them together with the shared lab steps: the cluster plan and its exact ARM
requests, confirmation before node pools are reimaged, the user kubeconfig in the lab's own file
(0600), the lab record, nodes Ready, then the kind pipeline's own workload and policy actions
through a ``pipeline.Context`` whose provider is ``AksProvider``.

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

from provisioning.aks.gateway import SUBSCRIPTION_ENV, SUBSCRIPTION_KEY, resolve_subscription
from provisioning.aks.plan import AksPlan, plan_cluster
from provisioning.aks.tags import TAG_MANAGED_BY
from provisioning.aks.teardown import ABSENT, DELETED, DELETING, KEPT, PRESENT, teardown
from provisioning.aks.transitions import CREATE, NOOP, REIMAGE_WARNING, UPDATE
from provisioning.engines import EngineSettings
from provisioning.errors import LabError, OperationError, UsageError
from provisioning.observe import ObservedLab, observe_objects, safe_observe_objects
from provisioning.plan import (
    CHANGE,
    REMOVE,
    SAME,
    PlanStep,
    object_steps,
    step_lines,
)
from provisioning.plan import CREATE as PLUS
from provisioning.progress import Progress, StepHandle
from provisioning.readiness import Check, all_ready, node_ready
from provisioning.spec import TOOL, LabSpec
from provisioning.state import LabRecord, forget, load_record, save_record, write_private
from provisioning.status import status_document
from provisioning.teardown import DownResult, delete_lab_namespaces

if TYPE_CHECKING:
    from provisioning.aks.gateway import AksGateway
    from provisioning.aks.observed import ObservedCluster
    from provisioning.pipeline import Context
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
    from provisioning.aks.gateway import AksGateway

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
            raise _no_subscription()
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


def _no_subscription() -> UsageError:
    from provisioning.aks.gateway import missing_subscription

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
        return tuple(s for s in self.steps if s.marker != SAME)

    def confirmation_question(self) -> str:
        t = self.cluster.transition
        return (
            f"change AKS cluster {self.spec.name!r} from engine {t.current_engine} to "
            f"{t.target_engine} in {len(t.steps)} update(s); {REIMAGE_WARNING}"
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
            lines += [
                "",
                "  This plan reimages every node pool; `up` asks for confirmation (or pass --yes).",
            ]
        changes = len(self.changes)
        lines += [
            "",
            f"{changes} step{'s' if changes != 1 else ''} to run, "
            f"{len(self.steps) - changes} already as desired.",
        ]
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
) -> AksLabPlan:
    """What ``up`` would do. Works without credentials (then the cluster is assumed absent)."""
    workload, policies = _desired(spec)
    subscription = configured_subscription(spec)
    if subscription is None:
        # No subscription: say so at once rather than let DefaultAzureCredential probe for one.
        note = (
            f"Azure not consulted: no subscription set ({SUBSCRIPTION_ENV} or "
            f"{SUBSCRIPTION_KEY}); planning from nothing"
        )
        return _offline_plan(spec, None, note, workload, policies)
    provider = AksProvider(
        (gateway_factory or default_gateway_factory)(subscription),
        kube_factory or default_kube_factory,
    )
    try:
        return _observed_plan(spec, provider, subscription, workload, policies)
    except LabError as exc:
        # Bad credentials or no network: still show the requests, marked as not observed.
        note = f"Azure not consulted ({exc}); planning from nothing"
        return _offline_plan(spec, subscription, note, workload, policies)


def _desired(spec: LabSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from provisioning.pipeline import desired_objects

    if spec.provider != "aks":
        raise UsageError(f"lab {spec.name!r} is a {spec.provider} lab; use --provider aks")
    return desired_objects(spec)  # a broken template fails here, before any Azure call


def _offline_plan(
    spec: LabSpec,
    subscription: str | None,
    note: str,
    workload: list[dict[str, Any]],
    policies: list[dict[str, Any]],
) -> AksLabPlan:
    cluster = plan_cluster(
        spec,
        None,
        kubernetes_version=spec.aks.kubernetes_version,
        subscription=subscription,
        observed=False,
    )
    observed = ObservedLab.unobserved(note)
    return _assemble(spec, cluster, observed, subscription, workload, policies, {}, (note,))


def _observed_plan(
    spec: LabSpec,
    provider: AksProvider,
    subscription: str,
    workload: list[dict[str, Any]],
    policies: list[dict[str, Any]],
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
    )
    observed = provider.lab_state(spec, current)
    notes = (observed.reason,) if observed.reason else ()
    return _assemble(
        spec, cluster, observed, subscription, workload, policies, observed.objects, notes
    )


def _assemble(
    spec: LabSpec,
    cluster: AksPlan,
    observed: ObservedLab,
    subscription: str | None,
    workload: list[dict[str, Any]],
    policies: list[dict[str, Any]],
    current_objects: Mapping[str, str],
    notes: tuple[str, ...],
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
            f"engine {t.current_engine} -> {t.target_engine} in {len(t.steps)} update(s); "
            "every node pool is reimaged",
            items=tuple(
                (_STEP_MARKERS.get(s.kind, CHANGE), s.summary.lstrip("+~- ")) for s in t.steps
            ),
            destructive=t.needs_confirmation,
        )
    assert t.action == NOOP
    return PlanStep(
        SAME, "keep-cluster", f"AKS cluster {spec.name} in {where}", f"engine {spec.engine}"
    )


# --- up --------------------------------------------------------------------------------------


def lab_up(
    spec: LabSpec,
    progress: Progress,
    *,
    yes: bool,
    confirm: Callable[[str], bool] | None,
    gateway_factory: GatewayFactory | None = None,
    kube_factory: KubeFactory | None = None,
    poll_interval: float = 5.0,
) -> dict[str, Any]:
    """Create or update the AKS lab, then deploy the demo and the scenario's policies.

    Returns a JSON-able document: the plan, the steps run, and the lab as observed afterwards.
    """
    from provisioning.aks.apply import apply_plan

    workload, policies = _desired(spec)
    subscription = resolve_subscription(spec.aks.subscription_id)
    gateway = (gateway_factory or default_gateway_factory)(subscription)
    provider = AksProvider(gateway, kube_factory or default_kube_factory)
    group = spec.aks.group_for(spec.name)

    with progress.step(f"Observe AKS lab {spec.name} in resource group {group}") as h:
        plan = _observed_plan(spec, provider, subscription, workload, policies)
        for line in plan.cluster.lines():
            if not line.startswith("! "):
                h.note(line)
    if plan.blocked:
        raise UsageError(plan.blocked)
    if plan.needs_confirmation and not yes:
        question = plan.confirmation_question()
        if confirm is None:
            raise UsageError(
                f"this run would {question}; re-run with --yes to confirm (nothing was changed)"
            )
        if not confirm(f"{question[0].upper()}{question[1:]}. Continue?"):
            raise UsageError("cancelled; nothing was changed")
    for warning in plan.warnings:
        progress.warn(warning)

    t = plan.cluster.transition
    group_created = False
    if t.action == CREATE:
        with progress.step(f"Resource group {group} ({spec.aks.location})") as h:
            from provisioning.aks.tags import merged_tags

            group_created = gateway.ensure_group(
                group, spec.aks.location, merged_tags(spec.aks.tags, spec.name)
            )
            h.note("created, tagged as netpol-lab's" if group_created else "exists, left as is")
        # Recorded before the long create: an interrupted up is still known to be ours.
        _record(spec, "creating", group_created=group_created)
    cluster = plan.cluster.current
    if t.action in (CREATE, UPDATE):
        title = (
            f"Create AKS cluster {spec.name} ({plan.steps[0].detail})"
            if t.action == CREATE
            else f"Update AKS cluster {spec.name}: engine {t.current_engine} -> {t.target_engine}"
        )
        with progress.step(title) as h:
            cluster = apply_plan(gateway, spec, plan.cluster, progress=_arm_progress(h))
            h.note(f"provisioningState {cluster.provisioning_state}, engine {cluster.engine}")
    assert cluster is not None

    with progress.step(f"Fetch the user kubeconfig of {spec.name}") as h:
        write_private(spec.kubeconfig, gateway.user_kubeconfig(group, spec.name))
        h.note(
            f"kubeconfig: {spec.kubeconfig} (mode 0600; your current kubectl context is unchanged)"
        )
    _record(spec, "created", group_created=group_created)

    ctx = _context(spec, provider, progress, workload, policies, poll_interval)
    wait_nodes(ctx, expect=sum(p.count for p in cluster.node_pools) or spec.aks.node_count)
    _record(spec, "ready", group_created=group_created)

    # Re-read the lab's objects now: an engine update reimages nodes, so pods may be gone.
    state = observe_objects(ctx.kube, spec)
    pods_ready = state.pods_ready
    if t.action == UPDATE:
        # Bare pods on reimaged nodes do not come back on their own; recreate those not Ready.
        stale = {p for p, ready in pods_ready.items() if not ready}
        pods_ready = {p: r for p, r in pods_ready.items() if p not in stale}
        objects = {
            ref: ("" if _pod_key(ref) in stale else digest) for ref, digest in state.objects.items()
        }
    else:
        objects = state.objects
    run_object_steps(ctx, object_steps(spec, workload, policies, objects, pods_ready))

    after = provider.lab_state(spec, provider.cluster(spec))
    return {
        "lab": spec.name,
        "provider": "aks",
        "subscription": subscription,
        "resourceGroup": group,
        "resourceGroupCreated": _group_created(spec, group_created),
        "kubeconfig": str(spec.kubeconfig),
        "plan": plan.as_dict(),
        "executed": True,
        "steps": [r.as_dict() for r in progress.records],
        "after": after.as_dict(),
    }


def _pod_key(ref: str) -> str:
    parts = ref.split("/")
    return f"{parts[1]}/{parts[2]}" if parts[0] == "Pod" and len(parts) == 3 else ""


def _arm_progress(handle: StepHandle) -> Callable[[float, str], None]:
    def report(elapsed: float, state: str) -> None:
        handle.update(f"provisioningState {state} ({elapsed:.0f}s)")

    return report


def _group_created(spec: LabSpec, now: bool) -> bool:
    previous = load_record(spec)
    # An earlier, interrupted up may have created the group; this run then finds it existing.
    return now or bool(previous and previous.provider == "aks" and previous.resource_group_created)


def _record(spec: LabSpec, phase: str, *, group_created: bool) -> None:
    save_record(
        spec,
        LabRecord(
            lab=spec.name,
            provider="aks",
            engine=spec.engine,
            cluster_created=True,  # created now, or carrying this lab's tags (checked in plan)
            phase=phase,
            resource_group_created=_group_created(spec, group_created),
        ),
    )


def _context(
    spec: LabSpec,
    provider: AksProvider,
    progress: Progress,
    workload: list[dict[str, Any]],
    policies: list[dict[str, Any]],
    poll_interval: float,
) -> Context:
    from provisioning.pipeline import Context

    return Context(
        spec,
        NoCommands(),
        provider,
        progress,
        aks_engine(spec),
        workload,
        policies,
        poll_interval=poll_interval,
    )


def wait_nodes(ctx: Context, *, expect: int) -> Check:
    """Every node Ready: on AKS the engine runs on the nodes, so this is the engine's readiness."""
    with ctx.progress.step(f"Wait for all {expect} nodes to be Ready") as h:
        done = ctx.wait(
            lambda: all_ready("nodes", ctx.kube.list("v1", "Node"), node_ready, expect=expect),
            ctx.spec.timeouts.engine,
            h,
            hint=f"see `kubectl --kubeconfig {ctx.spec.kubeconfig} get nodes`; "
            "raise timeouts.engine if the nodes are still starting",
        )
        h.note(done.detail)
    return done


def run_object_steps(ctx: Context, steps: Sequence[PlanStep]) -> None:
    """The kind pipeline's workload and policy actions, run as ``pipeline.execute`` runs them."""
    from provisioning.pipeline import apply_policies, deploy_workload, wait_workload

    for step in steps:
        if step.action == "deploy-workload":
            if any(m != SAME for m, _ in step.items):
                deploy_workload(ctx, step)
            else:
                wait_workload(ctx)  # objects match; only readiness may be missing
        elif step.action == "apply-policies" and step.marker != SAME:
            apply_policies(ctx, step)


# --- status ----------------------------------------------------------------------------------


def lab_status(
    spec: LabSpec,
    *,
    gateway_factory: GatewayFactory | None = None,
    kube_factory: KubeFactory | None = None,
) -> dict[str, Any]:
    """The lab as it is now, JSON-able; ``render_status_text`` turns it into lines."""
    subscription = configured_subscription(spec)
    group = spec.aks.group_for(spec.name)
    aks: dict[str, Any] = {"subscription": subscription, "resourceGroup": group, "cluster": None}
    if subscription is None:
        observed = ObservedLab.unobserved(f"could not observe: {_no_subscription()}")
        return {**status_document(spec, observed), "aks": aks}
    provider = AksProvider(
        (gateway_factory or default_gateway_factory)(subscription),
        kube_factory or default_kube_factory,
    )
    try:
        cluster = provider.cluster(spec)
    except LabError as exc:
        observed = ObservedLab.unobserved(f"could not observe: {exc}")
        return {**status_document(spec, observed), "aks": aks}
    if cluster is not None:
        net = (cluster.raw.get("properties") or {}).get("networkProfile") or {}
        aks["cluster"] = {
            "name": cluster.name,
            "location": cluster.location,
            "provisioningState": cluster.provisioning_state,
            "kubernetesVersion": cluster.kubernetes_version,
            "engine": cluster.engine,
            "networkPlugin": cluster.network_plugin,
            "networkPluginMode": cluster.network_plugin_mode or "node subnet",
            "networkDataplane": cluster.network_dataplane,
            "networkPolicy": net.get("networkPolicy") or "none",
            "nodeResourceGroup": cluster.node_resource_group,
            "nodePools": [
                {"name": p.name, "os": p.os_type, "count": p.count, "vmSize": p.vm_size}
                for p in cluster.node_pools
            ],
            "tags": dict(cluster.tags),
        }
    return {**status_document(spec, provider.lab_state(spec, cluster)), "aks": aks}


def render_status_text(doc: Mapping[str, Any]) -> str:
    """The human view of a ``lab_status`` document."""
    aks = doc.get("aks") or {}
    lines = [f"Lab {doc['lab']} (aks, resource group {aks.get('resourceGroup')})"]
    if not doc.get("observed"):
        return "\n".join([*lines, f"  {doc.get('reason')}"]) + "\n"
    cluster = aks.get("cluster")
    if not cluster:
        lines.append(
            f"  cluster:    none (create it with `invoke up --provider aks --name {doc['lab']}`)"
        )
        return "\n".join(lines) + "\n"
    owner = "created by netpol-lab" if doc.get("owned") else "NOT created by netpol-lab"
    pools = ", ".join(f"{p['name']} {p['count']} x {p['vmSize']}" for p in cluster["nodePools"])
    lines += [
        f"  cluster:    {cluster['name']} in {cluster['location']}, {owner}, "
        f"provisioningState {cluster['provisioningState']}, Kubernetes "
        f"{cluster['kubernetesVersion']}",
        f"  engine:     {cluster['engine']} (networkPlugin {cluster['networkPlugin']}, "
        f"{cluster['networkPluginMode']}, dataplane {cluster['networkDataplane']}, "
        f"networkPolicy {cluster['networkPolicy']})",
        f"  node pools: {pools or '(none)'}",
    ]
    if doc.get("reason"):
        lines.append(f"  note:       {doc['reason']}")
    if doc.get("owned") and doc.get("api_reachable"):
        objects = doc.get("objects") or {}
        kinds = [key.split("/", 1)[0] for key in objects]
        ready = sum(1 for r in (doc.get("pods_ready") or {}).values() if r)
        lines.append(
            f"  objects:    {kinds.count('Namespace')} namespaces, {kinds.count('Pod')} pods "
            f"({ready} ready), {kinds.count('NetworkPolicy')} NetworkPolicies"
        )
        lines.append(f"  scenario:   {doc.get('scenario') or '(no policies applied)'}")
    if doc.get("kubeconfig"):
        lines.append(f"  kubeconfig: export KUBECONFIG={doc['kubeconfig']}  # to use kubectl")
    return "\n".join(lines) + "\n"


# --- down ------------------------------------------------------------------------------------


def lab_down(
    spec: LabSpec,
    progress: Progress,
    *,
    yes: bool,
    confirm: Callable[[str], bool] | None,
    no_wait: bool = False,
    keep_cluster: bool = False,
    gateway_factory: GatewayFactory | None = None,
    kube_factory: KubeFactory | None = None,
    poll_interval: float = 5.0,
) -> DownResult:
    """Remove what the lab created in Azure (or, with ``keep_cluster``, only its namespaces).

    Only resources carrying the tool's tags for this lab are deleted; a second run finds nothing
    and returns ``DownResult(())`` without a word.
    """
    subscription = resolve_subscription(spec.aks.subscription_id)
    gateway = (gateway_factory or default_gateway_factory)(subscription)
    provider = AksProvider(gateway, kube_factory or default_kube_factory)
    group = spec.aks.group_for(spec.name)
    cluster = provider.cluster(spec)
    if cluster is not None and not cluster.owned_by(spec.name):
        raise UsageError(
            f"cluster {spec.name!r} in resource group {group!r} is not tagged "
            f"{TAG_MANAGED_BY}={TOOL} for lab {spec.name!r}; netpol-lab deletes only what it "
            f"created (az aks delete -g {group} -n {spec.name} removes it by hand)"
        )
    if keep_cluster:
        if cluster is None:
            return DownResult(())
        return _remove_lab_namespaces(spec, provider, progress, poll_interval)

    status = gateway.group_status(group, spec.name)
    group_goes = status.exists and status.owned and not status.foreign
    if cluster is None and not group_goes:
        forget(spec)
        kept = (f"resource group {group}",) if status.exists and status.owned else ()
        return DownResult((), kept=kept)

    what = [f"AKS cluster {spec.name!r}"] if cluster is not None else []
    what += [f"resource group {group!r} (created by netpol-lab)"] if group_goes else []
    if not yes:
        question = f"Delete {' and '.join(what)}?"
        if confirm is None:
            raise UsageError(f"{question[:-1]}: re-run with --yes to confirm (nothing was changed)")
        if not confirm(question):
            raise UsageError("cancelled; nothing was changed")

    with progress.step(f"Delete {' and '.join(what)}") as h:
        report = teardown(
            gateway, group, spec.name, lab=spec.name, wait=not no_wait, progress=_arm_progress(h)
        )
        for line in report.lines():
            h.note(line)
        if no_wait:
            h.note(
                "not waiting: check later with az group list --tag managed-by=netpol-lab -o table"
            )
    forget(spec)
    removed: list[str] = []
    kept: list[str] = []
    started = " (deletion started)"
    if report.cluster in (DELETED, DELETING):
        removed.append(f"AKS cluster {spec.name}" + (started if report.cluster == DELETING else ""))
    if report.group in (DELETED, DELETING):
        removed.append(f"resource group {group}" + (started if report.group == DELETING else ""))
    elif report.group == KEPT:
        kept.append(f"resource group {group}")
    if report.node_group == PRESENT:
        kept.append(f"node resource group {report.node_group_name}")
    if report.cluster == ABSENT and not removed:
        return DownResult((), kept=tuple(kept))
    return DownResult(tuple(removed), kept=tuple(kept))


def _remove_lab_namespaces(
    spec: LabSpec, provider: AksProvider, progress: Progress, poll_interval: float
) -> DownResult:
    """``down --keep-cluster``: delete only the namespaces carrying this lab's labels."""
    assert provider.gateway is not None
    if not spec.kubeconfig.exists():  # e.g. another machine ran up: fetch it the same way
        group = spec.aks.group_for(spec.name)
        write_private(spec.kubeconfig, provider.gateway.user_kubeconfig(group, spec.name))
    return delete_lab_namespaces(
        provider.kube_factory(spec.kubeconfig),
        spec,
        progress,
        kept=f"AKS cluster {spec.name}",
        poll_interval=poll_interval,
    )
