"""``up``: observe, plan, confirm, then execute exactly the plan's steps, one small action each.

The pipeline is one readable table (``ACTIONS``) from a plan step's action key to a function
``(ctx, step) -> None``, in the spirit of kind's create actions: steps that are not needed are
simply not in the plan. After executing, the lab is observed again so the result is what is
really there, not what was hoped for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from provisioning.errors import OperationError, UsageError
from provisioning.lab.confirm import require_confirmation
from provisioning.lab.objects import ref, with_hash
from provisioning.lab.observe import SCENARIO_LABEL, ObservedLab
from provisioning.lab.plan import REMOVE, SAME, Plan, PlanStep, make_plan
from provisioning.lab.readiness import Check, all_ready, pod_problem, pod_ready, wait_for
from provisioning.lab.state import (
    LabRecord,
    load_record,
    remember_scenario,
    save_record,
    write_lab_file,
)
from provisioning.progress import Progress, StepHandle
from provisioning.providers.kind import engines
from provisioning.providers.kind.engines import EngineSettings
from provisioning.providers.kind.provider import KindProvider, config_path, kind_config
from provisioning.runner import Runner
from provisioning.spec import LabSpec
from provisioning.workload import demo as workload


class LabProvider(Protocol):
    """What the shared actions need from a provider (kind here; AKS in providers/aks.py)."""

    kube_factory: Callable[[Path], Any]

    def observe(self, spec: LabSpec) -> ObservedLab: ...


@dataclass
class Context:
    """What every action shares: the spec, the seams, the progress printer."""

    spec: LabSpec
    runner: Runner
    provider: LabProvider
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
    probe_executor: Any = None  # None: kubectl exec into the client pods (tests inject one)
    _kube: Any = field(default=None, repr=False)

    @property
    def kube(self) -> Any:
        """The lab's Kubernetes API, built lazily: the kubeconfig exists only after create."""
        if self._kube is None:
            self._kube = self.provider.kube_factory(self.spec.kubeconfig)
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


def cilium_installer(runner: Runner) -> str:
    """Helm when the machine has it, else the cilium CLI; Helm is what plans show by default."""
    if runner.which("helm") is None and runner.which("cilium") is not None:
        return "cilium"
    return "helm"


def desired_objects(spec: LabSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The demo workload and the scenario's policies, rendered, validated and hash-annotated.

    A broken template raises UsageError here, before anything is created or applied.
    """
    from provisioning.workload.policies import prepare_scenario

    rendered = prepare_scenario(spec.scenario, spec.name)
    policies = []
    for obj in rendered.objects:
        labelled = dict(obj)
        meta = dict(labelled["metadata"])
        meta["labels"] = {**meta.get("labels", {}), SCENARIO_LABEL: spec.scenario}
        labelled["metadata"] = meta
        policies.append(with_hash(labelled))
    return [with_hash(o) for o in workload.demo_manifests(spec.name)], policies


def build_context(
    spec: LabSpec, runner: Runner, progress: Progress, provider: KindProvider | None = None
) -> Context:
    provider = provider or KindProvider(runner)
    engine = engines.kind_engine(spec, cilium_installer=cilium_installer(runner))
    workload_objs, policy_objs = desired_objects(spec)
    return Context(spec, runner, provider, progress, engine, workload_objs, policy_objs)


def artifacts(ctx: Context) -> dict[str, Any]:
    import yaml

    return {
        f"kind config ({config_path(ctx.spec)})": kind_config(ctx.spec, ctx.engine),
        "engine": ctx.engine.as_dict(),
        "demo manifests": yaml.safe_dump_all(ctx.workload, sort_keys=False),
        f"policies (scenario {ctx.spec.scenario})": (
            yaml.safe_dump_all(ctx.policies, sort_keys=False) if ctx.policies else "(none)"
        ),
    }


def cluster_summary(spec: LabSpec) -> str:
    image = spec.kind.node_image.split("@")[0]
    return f"kind, 1 control-plane + {spec.kind.workers} worker(s), {image}"


def plan_for(ctx: Context, *, validate: bool = False) -> Plan:
    from provisioning.providers.kind.preload import image_status

    observed = ctx.provider.observe(ctx.spec)
    images = tuple(
        (image.ref, image.purpose, cached) for image, cached in image_status(ctx.spec, ctx.runner)
    )
    return make_plan(
        ctx.spec,
        observed,
        ctx.engine,
        workload=ctx.workload,
        policies=ctx.policies,
        artifacts=artifacts(ctx),
        validate=validate,
        cluster_summary=cluster_summary(ctx.spec),
        images=images,
    )


# --- actions --------------------------------------------------------------------------------


def _record(ctx: Context, phase: str) -> None:
    previous = load_record(ctx.spec)
    save_record(
        ctx.spec,
        LabRecord(
            lab=ctx.spec.name,
            provider=ctx.spec.provider,
            engine=ctx.spec.engine,
            cluster_created=True,
            phase=phase,
            resource_group_created=bool(previous and previous.resource_group_created),
            scenario=previous.scenario if previous else None,
        ),
    )


def create_cluster(ctx: Context, step: PlanStep) -> None:
    import yaml

    with ctx.progress.step(
        f"Create kind cluster {ctx.spec.name} ({cluster_summary(ctx.spec)})"
    ) as h:
        # Recorded first: an interrupted create is still known to be ours, so down can clean it.
        _record(ctx, "creating")
        ctx.provider.create(
            ctx.spec, yaml.safe_dump(kind_config(ctx.spec, ctx.engine), sort_keys=False)
        )
        ctx.reset_kube()
        _record(ctx, "created")
        h.note(
            f"kubeconfig: {ctx.spec.kubeconfig} (mode 0600; your current kubectl context "
            "is unchanged)"
        )
        from provisioning.providers.kind.preload import load_cached_images

        # Before the engine is installed, so its pods find their images (after `preload`).
        loaded, problems = load_cached_images(ctx.spec, ctx.runner)
        for image in loaded:
            h.note(f"loaded {image} from the local Docker into the nodes")
        for problem in problems:
            ctx.progress.warn(f"{problem}; the nodes will pull it from its registry")


def recreate_cluster(ctx: Context, step: PlanStep) -> None:
    with ctx.progress.step(f"Delete kind cluster {ctx.spec.name} ({step.detail.split(':')[0]})"):
        ctx.provider.delete(ctx.spec)
    create_cluster(ctx, step)


def install_engine(ctx: Context, step: PlanStep) -> None:
    for warning in ctx.engine.warnings:
        ctx.progress.warn(warning)
    for action in ctx.engine.actions:
        with ctx.progress.step(action.title[:1].upper() + action.title[1:]):
            for path, content in action.files:
                write_lab_file(ctx.spec, Path(path).name, content)
            if action.argv:
                ctx.runner.run(action.argv, env=dict(action.env), timeout=ctx.spec.timeouts.engine)
            if action.objects:
                ctx.kube.apply([with_hash(o) for o in action.objects])
    wait_engine(ctx, step)


def wait_engine(ctx: Context, step: PlanStep) -> None:
    with ctx.progress.step(f"Wait for {ctx.spec.engine} and all nodes to be ready") as h:
        done = ctx.wait(
            engines.readiness_check(ctx.spec.engine, ctx.kube),
            ctx.spec.timeouts.engine,
            h,
            hint="see `invoke status`; on small machines raise timeouts.engine",
        )
        h.note(done.detail)
    _record(ctx, "ready")


def _remove(ctx: Context, step: PlanStep) -> None:
    kinds = {
        "Namespace": "v1",
        "Pod": "v1",
        "Service": "v1",
        "NetworkPolicy": "networking.k8s.io/v1",
    }
    for marker, key in step.items:
        if marker != REMOVE:
            continue
        parts = key.split("/")
        kind, name = parts[0], parts[-1]
        namespace = parts[1] if len(parts) == 3 else None
        ctx.kube.delete(kinds[kind], kind, name, namespace)


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
    targets = workload.readiness_targets()
    with ctx.progress.step(f"Wait for {len(targets)} demo pods to be Ready") as h:

        def check() -> Check:
            pods = []
            for t in targets:
                pod = ctx.kube.get("v1", "Pod", t.name, t.namespace)
                if pod is None:
                    return Check(False, f"waiting for pod {t.namespace}/{t.name} to appear")
                pods.append(pod)
            return all_ready("demo pods", pods, pod_ready, expect=len(targets), why=pod_problem)

        done = ctx.wait(
            check,
            ctx.spec.timeouts.workload,
            h,
            hint="see `kubectl --kubeconfig "
            f"{ctx.spec.kubeconfig} get pods -A` for image pulls or scheduling",
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
        remember_scenario(ctx.spec)
        for obj in ctx.policies:
            h.note(f"{obj['metadata']['namespace']}/{obj['metadata']['name']}")


def validate_lab(ctx: Context, step: PlanStep) -> None:
    """Probe the live lab and compare with the analyzer's expectations (issue 4's validator)."""
    from provisioning.report import render
    from provisioning.validation.validate import exit_code, run_validation
    from provisioning.workload.policies import load_scenario

    stated = load_scenario(ctx.spec.scenario).expectations
    with ctx.progress.step("Validate: probe every client -> server port") as h:
        report = run_validation(
            ctx.kube,
            ctx.runner,
            ctx.spec,
            executor=ctx.probe_executor,
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
    "create-cluster": create_cluster,
    "recreate-cluster": recreate_cluster,
    "install-engine": install_engine,
    "wait-engine": wait_engine,
    "deploy-workload": deploy_workload,
    "apply-policies": apply_policies,
    "validate": validate_lab,
}


def run_steps(
    ctx: Context,
    steps: Sequence[PlanStep],
    *,
    extra: Mapping[str, Callable[[Context, PlanStep], None]] | None = None,
) -> None:
    """Run the given steps that change something, in order (any provider's plan)."""
    actions = {**ACTIONS, **(extra or {})}
    for step in steps:
        if step.marker == SAME:
            continue
        if step.action == "deploy-workload" and not any(m != SAME for m, _ in step.items):
            wait_workload(ctx)  # objects match; only readiness is missing
            continue
        actions[step.action](ctx, step)


def execute(
    plan: Plan,
    ctx: Context,
    *,
    extra: Mapping[str, Callable[[Context, PlanStep], None]] | None = None,
) -> None:
    """Run exactly the plan's steps that change something, in order."""
    run_steps(ctx, plan.steps, extra=extra)


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
    extra: Mapping[str, Callable[[Context, PlanStep], None]] | None = None,
) -> UpResult:
    with ctx.progress.step(f"Observe lab {ctx.spec.name}") as h:
        plan = plan_for(ctx, validate=validate)
        for note in plan.notes:
            h.note(note)
    if plan.blocked:
        raise UsageError(plan.blocked)
    if dry_run:
        return UpResult(plan, None, executed=False)
    if not plan.observed.observed:
        # Planning from nothing is fine for `plan`; `up` needs kind and Docker to act.
        raise OperationError(
            plan.observed.reason,
            hint="run `invoke doctor` to see what is missing and how to fix it",
        )
    if plan.needs_confirmation:
        question = "; ".join(s.detail for s in plan.steps if s.destructive)
        require_confirmation(f"This run would {question}. Continue", yes=yes, confirm=confirm)
    execute(plan, ctx, extra=extra)
    after = ctx.provider.observe(ctx.spec)
    return UpResult(plan, after, executed=True)
