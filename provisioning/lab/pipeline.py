"""``up`` on every provider: observe, plan, confirm, execute exactly the plan's steps, re-observe.

The pipeline talks to the cluster's provider only through ``provisioning.lab.provider.Provider``
and imports no provider module. Steps are dispatched from one table: the shared actions
(``ACTIONS``: the demo workload, the scenario's policies, validation) plus the provider's own
(``Provider.actions``: create, update or recreate the cluster, install the engine), in the
spirit of kind's create actions: steps that are not needed are simply not in the plan. After
executing, the lab is observed again so the result is what is really there.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from provisioning.errors import OperationError, UsageError
from provisioning.lab.confirm import require_confirmation
from provisioning.lab.engine import EngineSettings
from provisioning.lab.objects import ref, with_hash
from provisioning.lab.observe import API_VERSIONS, SCENARIO_LABEL, ObservedLab, observe_objects
from provisioning.lab.plan import SAME, VALIDATE_STEP, Plan, PlanStep, assemble, object_steps
from provisioning.lab.provider import Provider
from provisioning.lab.readiness import Check, all_ready, pod_problem, pod_ready, wait_for
from provisioning.lab.state import LabRecord, load_record, remember_scenario, save_record
from provisioning.progress import Progress, StepHandle
from provisioning.runner import Runner
from provisioning.spec import LabSpec
from provisioning.workload import demo as workload

# The step actions the pipeline itself carries out; every other key is the provider's.
SHARED_ACTIONS = ("deploy-workload", "apply-policies", "validate")


@dataclass
class Context:
    """What every action shares: the spec, the seams, the progress printer."""

    spec: LabSpec
    runner: Runner  # local commands: the provider's tools, kubectl for probes
    provider: Provider
    progress: Progress
    engine: EngineSettings
    workload: list[dict[str, Any]]
    policies: list[dict[str, Any]]
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    poll_interval: float = 2.0
    probe_timeout: float = 2.0
    deadline: float = 60.0
    validation: Any = None  # the ValidationReport of the last validate step
    canary: Any = None  # the CanaryResult of the last validate step
    run_canary: bool = True  # check that the engine enforces at all before probing
    canary_deadline: float = 30.0  # seconds each canary wait may take
    probe_executor: Any = None  # None: kubectl exec into the client pods (tests inject one)
    # Set by a provider action that replaced the nodes (an AKS engine update reimages them):
    # bare pods that were on them do not come back, so those not Ready are created again.
    nodes_replaced: bool = False
    _kube: Any = field(default=None, repr=False)

    @property
    def kube(self) -> Any:
        """The lab's Kubernetes API, built lazily: the kubeconfig may exist only after create."""
        if self._kube is None:
            self._kube = self.provider.kube(self.spec)
        return self._kube

    def reset_kube(self) -> None:
        self._kube = None

    def wait(
        self, check: Callable[[], Check], timeout: float, handle: StepHandle, hint: str = ""
    ) -> Check:
        return wait_for(
            check,
            timeout=timeout,
            on_update=handle.update,
            interval=self.poll_interval,
            clock=self.clock,
            sleep=self.sleep,
            hint=hint,
        )


def desired_objects(spec: LabSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The demo workload and the scenario's policies, rendered, validated and hash-annotated;
    with ``spec.exercise``, its baseline too: the extra templates and the extra pods.

    A broken template raises UsageError here, before anything is created or applied.
    """
    from provisioning.lab.canary import namespace_manifest
    from provisioning.workload.policies import prepare_scenario, render_policies, validate_rendered

    extra_pods: tuple[Any, ...] = ()
    if spec.exercise:
        from provisioning.workload.exercises import load_exercise
        from provisioning.workload.scenarios import load_scenario

        exercise = load_exercise(spec.exercise)
        scenario = load_scenario(exercise.baseline.scenario, exercise.root)
        scenario = replace(scenario, policies=scenario.policies + exercise.baseline.policies)
        rendered = render_policies(scenario, spec.name, suffix=spec.namespace_suffix)
        validate_rendered(rendered)
        extra_pods = exercise.baseline.pods
    else:
        rendered = prepare_scenario(spec.scenario, spec.name, suffix=spec.namespace_suffix)

    def marked(obj: dict[str, Any], **labels: str) -> dict[str, Any]:
        """``obj`` with the spec's extra labels and annotations (and ``labels``), hashed."""
        meta = dict(obj["metadata"])
        meta["labels"] = {**spec.object_labels, **meta.get("labels", {}), **labels}
        if spec.object_annotations:
            meta["annotations"] = {**meta.get("annotations", {}), **spec.object_annotations}
        return with_hash({**obj, "metadata": meta})

    policies = [marked(o, **{SCENARIO_LABEL: spec.scenario}) for o in rendered.objects]
    manifests = workload.demo_manifests(spec.name, suffix=spec.namespace_suffix)
    manifests += workload.extra_pod_manifests(extra_pods, spec.name, suffix=spec.namespace_suffix)
    # The canary's own namespace comes first with the lab's namespaces: no scenario policy in it.
    return [marked(o) for o in [namespace_manifest(spec), *manifests]], policies


def build_context(
    spec: LabSpec,
    runner: Runner,
    progress: Progress,
    provider: Provider,
    **settings: Any,
) -> Context:
    """The context of one run. The engine is the provider's answer: on a cluster the user
    already has, that is the engine found running there, and the spec follows it."""
    engine = provider.engine(spec)
    if engine.engine != spec.engine:
        spec = replace(spec, engine=engine.engine)
    workload_objs, policy_objs = desired_objects(spec)
    engine = check_cluster_wide(spec, engine, policy_objs)
    return Context(spec, runner, provider, progress, engine, workload_objs, policy_objs, **settings)


def check_cluster_wide(
    spec: LabSpec, engine: EngineSettings, policies: Sequence[dict[str, Any]]
) -> EngineSettings:
    """A scenario with cluster-wide policies needs an engine that enforces them: refused where
    the engine does not; a warning where it cannot be told (a cluster the user already has)."""
    kinds = {o["kind"] for o in policies if not o["metadata"].get("namespace")}
    notes = []
    for kind, supported, where in (
        (
            "ClusterNetworkPolicy",
            engine.cluster_network_policy,
            "kind with --engine calico (Calico 3.32) or --engine cilium (Cilium 1.20, "
            "installed with ClusterNetworkPolicy on)",
        ),
        (
            "GlobalNetworkPolicy",
            engine.calico_api,
            "kind with --engine calico (Calico's API server, projectcalico.org/v3)",
        ),
    ):
        if kind not in kinds:
            continue
        what = f"scenario {spec.scenario} uses {kind}"
        if supported is False:
            raise UsageError(
                f"{what}, which engine {engine.engine} on {spec.provider} does not enforce",
                hint=f"run it on {where}; see `invoke scenarios`",
            )
        if supported is None:
            notes.append(
                f"{what}: whether engine {engine.engine} here enforces it cannot be told from "
                "the cluster; validation will show it (its API must be served there)"
            )
    return replace(engine, warnings=(*engine.warnings, *notes)) if notes else engine


def lab_artifacts(ctx: Context) -> dict[str, Any]:
    """What every provider's plan shows: the engine, the demo manifests, the policies."""
    import yaml

    return {
        "engine": ctx.engine.as_dict(),
        "demo manifests": yaml.safe_dump_all(ctx.workload, sort_keys=False),
        f"policies (scenario {ctx.spec.scenario})": (
            yaml.safe_dump_all(ctx.policies, sort_keys=False) if ctx.policies else "(none)"
        ),
    }


def plan_for(ctx: Context, *, validate: bool = False) -> Plan:
    """Observe the lab and plan: the provider's cluster steps, then the shared lab steps."""
    observed = ctx.provider.observe(ctx.spec)
    cluster = ctx.provider.plan_cluster(ctx.spec, observed, ctx.engine)
    return assemble(
        ctx.spec,
        observed,
        cluster,
        workload=ctx.workload,
        policies=ctx.policies,
        artifacts={**cluster.artifacts, **lab_artifacts(ctx)},
        validate=validate,
    )


# --- shared actions ---------------------------------------------------------------------------


def record(ctx: Context, phase: str, *, resource_group_created: bool | None = None) -> None:
    """The lab record: which provider and engine, how far ``up`` got. Recorded before a long
    create too, so an interrupted ``up`` is still known to be the tool's and ``down`` cleans it."""
    previous = load_record(ctx.spec)
    same = previous is not None and previous.provider == ctx.spec.provider
    save_record(
        ctx.spec,
        LabRecord(
            lab=ctx.spec.name,
            provider=ctx.spec.provider,
            engine=ctx.spec.engine,
            cluster_created=ctx.provider.info.creates_clusters,
            phase=phase,
            resource_group_created=bool(
                resource_group_created
                if resource_group_created is not None
                else (same and previous and previous.resource_group_created)
            ),
            scenario=previous.scenario if same and previous else None,
            exercise=previous.exercise if same and previous else None,
            **_cluster_of(ctx),
        ),
    )


def _cluster_of(ctx: Context) -> dict[str, str | None]:
    """On a cluster the user already has: their kubeconfig and the context the lab runs in (the
    kubeconfig's current-context named, so switching it later does not move the lab)."""
    if not ctx.provider.info.uses_user_kubeconfig or ctx.spec.existing.kubeconfig is None:
        return {}
    from provisioning.kube import current_context

    path = ctx.spec.existing.kubeconfig
    return {"kubeconfig": str(path), "context": ctx.spec.kube_context or current_context(path)}


def _remove(ctx: Context, step: PlanStep) -> None:
    for marker, key in step.items:
        if marker != "-":
            continue
        parts = key.split("/")
        kind, name = parts[0], parts[-1]
        namespace = parts[1] if len(parts) == 3 else None
        ctx.kube.delete(API_VERSIONS[kind], kind, name, namespace)


def deploy_workload(ctx: Context, step: PlanStep) -> None:
    changed = {key for marker, key in step.items if marker == "~"}
    with ctx.progress.step("Deploy the demo workload") as h:
        # Pod specs are mostly immutable: a changed pod is deleted, then applied again.
        for obj in ctx.workload:
            key = ref(obj)
            if key in changed and obj["kind"] == "Pod":
                meta = obj["metadata"]
                ctx.kube.delete("v1", "Pod", meta["name"], meta["namespace"])
                h.update(f"waiting for the old {meta['namespace']}/{meta['name']} to go")
                ctx.wait(
                    lambda m=meta: Check(
                        ctx.kube.get("v1", "Pod", m["name"], m["namespace"]) is None,
                        f"waiting for the old pod {m['namespace']}/{m['name']} to be deleted",
                    ),
                    ctx.spec.timeouts.workload,
                    h,
                )
        ctx.kube.apply(ctx.workload)
        _remove(ctx, step)
    wait_workload(ctx)


def wait_workload(ctx: Context) -> None:
    # Every pod the lab deploys: the demo's and an exercise's extra pods, servers first.
    targets = [o["metadata"] for o in ctx.workload if o["kind"] == "Pod"]
    with ctx.progress.step(f"Wait for {len(targets)} demo pods to be Ready") as h:

        def check() -> Check:
            pods = []
            for t in targets:
                pod = ctx.kube.get("v1", "Pod", t["name"], t["namespace"])
                if pod is None:
                    return Check(False, f"waiting for pod {t['namespace']}/{t['name']} to appear")
                pods.append(pod)
            return all_ready("demo pods", pods, pod_ready, expect=len(targets), why=pod_problem)

        kubectl = " ".join(ctx.provider.kubectl_args(ctx.spec))
        done = ctx.wait(
            check,
            ctx.spec.timeouts.workload,
            h,
            hint=f"see `kubectl {kubectl} get pods -A` for image pulls or scheduling",
        )
        h.note(done.detail)


def apply_policies(ctx: Context, step: PlanStep) -> None:
    count = len(ctx.policies)
    with ctx.progress.step(
        f"Apply scenario {ctx.spec.scenario} ({count} polic{'y' if count == 1 else 'ies'})"
    ) as h:
        if ctx.policies:
            # The server validates everything first (dry run), so a rejected policy leaves the
            # lab's previous policies untouched rather than half-replaced.
            ctx.kube.apply(ctx.policies, dry_run=True)
            ctx.kube.apply(ctx.policies)
        _remove(ctx, step)
        for obj in ctx.policies:
            meta = obj["metadata"]
            h.note(
                f"{meta['namespace']}/{meta['name']}"
                if meta.get("namespace")
                else f"{obj['kind']} {meta['name']}"
            )


def probe_executor(ctx: Context) -> Any:
    """The injected executor, else kubectl exec into the lab's pods through the provider's
    kubeconfig and context."""
    if ctx.probe_executor is not None:
        return ctx.probe_executor
    from provisioning.validation.probe_kubectl import KubectlExecutor

    return KubectlExecutor(ctx.runner, ctx.spec.kubeconfig, context=ctx.spec.kube_context)


def enforcement_check(ctx: Context, executor: Any) -> None:
    """The canary before validation: does the engine enforce NetworkPolicy here at all?

    "Policies are not enforced here" is its own verdict, distinct from "probes differ from
    the policies": an engine that should enforce and does not fails here, with the evidence,
    before any probe; an engine that is not meant to (``none``, or a cluster found without
    one) is validated as enforcing nothing, and the report says so.
    """
    from provisioning.lab.canary import CANARY_NAMESPACE, run_canary

    with ctx.progress.step("Canary: does the engine enforce NetworkPolicy here?") as h:
        result = run_canary(
            ctx.kube,
            executor,
            ctx.spec,
            probe_timeout=ctx.probe_timeout,
            deadline=ctx.canary_deadline,
            clock=ctx.clock,
            sleep=ctx.sleep,
            on_update=h.update,
            poll_interval=max(ctx.poll_interval / 2, 0.0),
            namespace=ctx.spec.namespace(CANARY_NAMESPACE),
        )
        ctx.canary = result
        h.note(f"enforced: {result.enforced}: {result.detail}")
        if result.enforced == "no" and ctx.engine.enforces:
            h.fail()
    if result.enforced == "no":
        deciding = [e for e in result.evidence if "under deny" in e] or list(result.evidence[-1:])
        evidence = "; ".join(deciding)
        if ctx.engine.enforces:
            raise OperationError(
                f"policies are not enforced here: engine {ctx.spec.engine} should enforce "
                f"NetworkPolicy, but a deny-all policy did not stop traffic ({evidence})",
                hint="check the engine's pods (`kubectl "
                + " ".join(ctx.provider.kubectl_args(ctx.spec))
                + " get pods -n kube-system`); validation was not run",
            )
        ctx.progress.info(
            f"  policies are not enforced here (engine {ctx.spec.engine}): the validation "
            "expects every connection to be allowed"
        )
        if ctx.spec.engine != "none":  # e.g. a cluster whose engine could not be told
            ctx.spec = replace(ctx.spec, engine="none")
    elif result.enforced == "unknown":
        ctx.progress.warn(
            f"the canary could not tell whether policies are enforced: {result.detail}"
        )
    elif not ctx.engine.enforces and ctx.spec.engine == "none":
        ctx.progress.warn(
            "the canary saw a deny policy enforced although engine none should enforce nothing"
        )


def validate_lab(ctx: Context, step: PlanStep) -> None:
    """The canary, then probe the live lab and compare with the analyzer's expectations."""
    from provisioning.report import render
    from provisioning.validation.validate import exit_code, run_validation
    from provisioning.workload.policies import load_scenario

    stated = load_scenario(ctx.spec.scenario).expectations
    if ctx.spec.exercise:
        from provisioning.workload.exercises import load_exercise

        if load_exercise(ctx.spec.exercise).baseline.policies:
            # The scenario's stated expectations describe the scenario alone; an exercise that
            # adds policies to it (a default deny) changes them. The analyzer's still apply.
            stated = ()
    executor = probe_executor(ctx)
    if ctx.run_canary:
        enforcement_check(ctx, executor)
    with ctx.progress.step("Validate: probe every client -> server port") as h:
        report = run_validation(
            ctx.kube,
            ctx.runner,
            ctx.spec,
            executor=executor,
            stated_expectations=stated,
            probe_timeout=ctx.probe_timeout,
            deadline=ctx.deadline,
        )
        ctx.validation = report
        failed = exit_code(report) != 0
        h.note("mismatches: see the table below" if failed else "every probe matched")
        if failed:
            h.fail()
    ctx.progress.info(render(report, "table").rstrip())
    if failed:
        raise OperationError(
            "validation failed: observed traffic differs from what the policies say",
            hint="see the table above; policies can take seconds to be enforced, so "
            "`invoke validate` again shows whether it converged",
        )


ACTIONS: Mapping[str, Callable[[Context, PlanStep], None]] = {
    "deploy-workload": deploy_workload,
    "apply-policies": apply_policies,
    "validate": validate_lab,
}


def run_steps(ctx: Context, steps: Sequence[PlanStep]) -> None:
    """Run the given steps that change something, in order (any provider's plan)."""
    actions = {**ctx.provider.actions(), **ACTIONS}
    for step in steps:
        if step.marker == SAME:
            continue
        if step.action == "deploy-workload" and not any(m != SAME for m, _ in step.items):
            wait_workload(ctx)  # objects match; only readiness is missing
            continue
        if step.action not in actions:
            raise OperationError(f"no action for plan step {step.action!r} ({step.title})")
        actions[step.action](ctx, step)


def lab_steps(ctx: Context, plan: Plan, *, cluster_changed: bool) -> tuple[PlanStep, ...]:
    """The workload and policy steps to run now. After the cluster changed, they are planned
    again from the objects really there (an update may have taken pods with its nodes)."""
    planned = tuple(s for s in plan.steps if s.action in ("deploy-workload", "apply-policies"))
    if not cluster_changed:
        return planned
    state = observe_objects(ctx.kube, ctx.spec)
    objects, pods_ready = state.objects, state.pods_ready
    if ctx.nodes_replaced:
        stale = {p for p, ready in pods_ready.items() if not ready}
        pods_ready = {p: r for p, r in pods_ready.items() if p not in stale}
        objects = {k: ("" if _pod_key(k) in stale else v) for k, v in objects.items()}
    return object_steps(ctx.spec, ctx.workload, ctx.policies, objects, pods_ready)


def _pod_key(key: str) -> str:
    parts = key.split("/")
    return f"{parts[1]}/{parts[2]}" if parts[0] == "Pod" and len(parts) == 3 else ""


def execute(plan: Plan, ctx: Context) -> None:
    """Run the plan: the provider's cluster steps, ``connect``, the lab's steps, validation."""
    cluster_steps = [s for s in plan.steps if s.action not in SHARED_ACTIONS]
    run_steps(ctx, cluster_steps)
    ctx.provider.connect(ctx)
    changed = any(s.marker != SAME for s in cluster_steps)
    run_steps(ctx, lab_steps(ctx, plan, cluster_changed=changed))
    # The lab now carries the scenario's policies, also when they were already in place.
    remember_scenario(ctx.spec)
    if any(s.action == VALIDATE_STEP.action for s in plan.steps):
        validate_lab(ctx, VALIDATE_STEP)


@dataclass(frozen=True)
class UpResult:
    plan: Plan
    after: ObservedLab | None
    executed: bool


def up(
    ctx: Context,
    *,
    yes: bool = False,
    dry_run: bool = False,
    confirm: Callable[[str], bool] | None = None,
    validate: bool = False,
) -> UpResult:
    if not dry_run:
        ctx.provider.preflight(ctx.spec)
    with ctx.progress.step(f"Observe lab {ctx.spec.name}") as h:
        plan = plan_for(ctx, validate=validate)
        for note in plan.notes:
            h.note(note)
    if plan.blocked:
        raise UsageError(plan.blocked)
    if dry_run:
        return UpResult(plan, None, executed=False)
    if not plan.observed.observed:
        # Planning from nothing is fine for `plan`; `up` needs to see the cluster to act.
        error = UsageError if plan.observed.usage else OperationError
        raise error(
            plan.observed.reason,
            hint=plan.observed.hint
            or "run `invoke doctor` to see what is missing and how to fix it",
        )
    if plan.needs_confirmation:
        question = plan.confirmation or "; ".join(s.detail for s in plan.steps if s.destructive)
        require_confirmation(f"This run would {question}. Continue", yes=yes, confirm=confirm)
    for warning in plan.warnings:
        ctx.progress.warn(warning)
    execute(plan, ctx)
    after = ctx.provider.observe(ctx.spec)
    return UpResult(plan, after, executed=True)


def up_document(ctx: Context, result: UpResult | None) -> dict[str, Any]:
    """The JSON document of ``up`` on every provider, also when a step failed."""
    doc: dict[str, Any] = {
        "lab": ctx.spec.name,
        "provider": ctx.spec.provider,
        "kubeconfig": str(ctx.spec.kubeconfig),
        "plan": result.plan.as_dict() if result else None,
        "executed": bool(result and result.executed),
        "steps": [r.as_dict() for r in ctx.progress.records],
        "after": result.after.as_dict() if result and result.after else None,
        "validation": None,
        "canary": ctx.canary.as_dict() if ctx.canary is not None else None,
        "record": dataclasses.asdict(record) if (record := load_record(ctx.spec)) else None,
    }
    if ctx.validation is not None:
        from provisioning.report.json_report import report_document

        doc["validation"] = report_document(ctx.validation)
    return doc
