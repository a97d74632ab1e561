"""Planning: compare the desired lab with what was observed and list the steps, as pure data.

Markers as in Terraform plans: ``+`` create, ``~`` change or finish, ``-`` remove, ``-/+`` destroy
and create again, ``=`` already as desired. ``up`` executes exactly the steps of a plan and then
observes again; ``plan`` prints it (text or one JSON document).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioning.lab.objects import ref, spec_hash
from provisioning.lab.observe import ObservedLab
from provisioning.lab.provider import ClusterPlan
from provisioning.spec import LabSpec

CREATE, CHANGE, REMOVE, REPLACE, SAME = "+", "~", "-", "-/+", "="


@dataclass(frozen=True)
class PlanStep:
    marker: str
    action: str  # machine key the pipeline dispatches on
    title: str
    detail: str = ""
    items: tuple[tuple[str, str], ...] = ()  # (marker, object ref) for object-level changes
    destructive: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "marker": self.marker,
            "action": self.action,
            "title": self.title,
            "detail": self.detail,
            "items": [{"marker": m, "object": r} for m, r in self.items],
            "destructive": self.destructive,
        }


@dataclass(frozen=True)
class Plan:
    spec: LabSpec
    observed: ObservedLab
    steps: tuple[PlanStep, ...]
    artifacts: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    blocked: str | None = None  # set when the plan must not run (someone else's cluster)
    notes: tuple[str, ...] = field(default=())
    # (image, what it is for, in the local Docker: True/False, None when Docker was not asked).
    # An image not cached is pulled from its registry during `up`; `invoke preload` caches them.
    images: tuple[tuple[str, str, bool | None], ...] = field(default=())
    # The provider's own view of its steps (AKS: each ARM request), shown in place of the step
    # lines of the actions in ``shown_by_lines``; ``details`` join the JSON document.
    provider_lines: tuple[str, ...] = ()
    shown_by_lines: frozenset[str] = frozenset()
    details: Mapping[str, Any] = field(default_factory=dict)
    confirmation: str = ""  # what a destructive step does, as `up` asks about it
    confirmation_note: str = ""  # the same for the plan text ("deletes a cluster")
    provider_plan: Any = field(default=None, compare=False, repr=False)  # ClusterPlan.native

    @property
    def needs_confirmation(self) -> bool:
        return any(s.destructive for s in self.steps)

    @property
    def changes(self) -> tuple[PlanStep, ...]:
        """Steps that change the lab; validation runs on every `up` but changes nothing."""
        return changes_of(self.steps)

    def render_text(self, *, artifacts: bool = True) -> str:
        return render_text(self, artifacts=artifacts)

    def as_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "lab": spec.name,
            "provider": spec.provider,
            "engine": spec.engine,
            "scenario": spec.scenario,
            "profile": spec.profile,
            "kubeconfig": str(spec.kubeconfig),
            "observed": self.observed.as_dict(),
            "blocked": self.blocked,
            "needs_confirmation": self.needs_confirmation,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "steps": [s.as_dict() for s in self.steps],
            "images": [
                {"image": image, "for": purpose, "cached": cached}
                for image, purpose, cached in self.images
            ],
            **dict(self.details),
            "artifacts": dict(self.artifacts),
        }


def object_changes(
    desired: Sequence[Mapping[str, Any]], observed: Mapping[str, str], kinds: set[str]
) -> tuple[tuple[str, str], ...]:
    """Per-object markers: desired vs observed hashes, plus observed objects no longer wanted."""
    items: list[tuple[str, str]] = []
    wanted = set()
    for obj in desired:
        key = ref(obj)
        wanted.add(key)
        if key not in observed:
            items.append((CREATE, key))
        elif observed[key] != spec_hash(obj):
            items.append((CHANGE, key))
        else:
            items.append((SAME, key))
    for key in sorted(observed):
        if key.split("/", 1)[0] in kinds and key not in wanted:
            items.append((REMOVE, key))
    return tuple(items)


def summary_marker(items: Sequence[tuple[str, str]]) -> str:
    changes = {m for m, _ in items} - {SAME}
    if not changes:
        return SAME
    return changes.pop() if len(changes) == 1 else CHANGE


# The last step of every `up` that validates, on every provider.
VALIDATE_STEP = PlanStep(
    CREATE,
    "validate",
    "validate",
    "probe every client -> server port and compare with the analyzer",
)

WORKLOAD_KINDS = frozenset({"Namespace", "Pod", "Service"})
POLICY_KINDS = frozenset({"NetworkPolicy"})


def object_steps(
    spec: LabSpec,
    workload: Sequence[Mapping[str, Any]],
    policies: Sequence[Mapping[str, Any]],
    current: Mapping[str, str],
    pods_ready: Mapping[str, bool],
) -> tuple[PlanStep, PlanStep]:
    """The workload and policy steps with per-object markers; the same on every provider.

    A workload whose objects all match but whose pods are not Ready yet is marked ``~``: the
    step then only waits.
    """
    workload_items = object_changes(workload, current, WORKLOAD_KINDS)
    waiting = sorted(p for p, ready in pods_ready.items() if not ready)
    marker = summary_marker(workload_items)
    if marker == SAME and waiting:
        marker = CHANGE
    pods = sum(1 for o in workload if o.get("kind") == "Pod")
    namespaces = sum(1 for o in workload if o.get("kind") == "Namespace")
    policy_items = object_changes(policies, current, POLICY_KINDS)
    count = len(policies)
    return (
        PlanStep(
            marker,
            "deploy-workload",
            "demo workload",
            f"{namespaces} namespaces, {pods} pods"
            + (f"; waiting for {', '.join(waiting)}" if waiting else ""),
            items=workload_items,
        ),
        PlanStep(
            summary_marker(policy_items),
            "apply-policies",
            f"scenario {spec.scenario}",
            f"{count} NetworkPolic{'y' if count == 1 else 'ies'}",
            items=policy_items,
        ),
    )


def assemble(
    spec: LabSpec,
    observed: ObservedLab,
    cluster: ClusterPlan,
    *,
    workload: Sequence[Mapping[str, Any]],
    policies: Sequence[Mapping[str, Any]],
    artifacts: Mapping[str, Any],
    validate: bool = False,
) -> Plan:
    """The whole plan: the provider's cluster steps, then the lab's own steps. Pure: no I/O."""
    notes: list[str] = []
    if not observed.observed:
        notes.append(f"{observed.reason}; planning from nothing")
    elif observed.reason:
        notes.append(observed.reason)
    notes += [n for n in cluster.notes if n not in notes]
    common: dict[str, Any] = {
        "warnings": cluster.warnings,
        "notes": tuple(notes),
        "images": cluster.images,
        "provider_lines": cluster.lines,
        "shown_by_lines": cluster.shown_by_lines,
        "details": cluster.details,
        "confirmation": cluster.confirmation,
        "confirmation_note": cluster.confirmation_note,
        "provider_plan": cluster.native,
    }
    if cluster.blocked:
        return Plan(spec, observed, (), artifacts, blocked=cluster.blocked, **common)
    current = {} if cluster.fresh else observed.objects
    waiting = {} if cluster.fresh else observed.pods_ready
    steps = (
        *cluster.steps,
        *object_steps(spec, workload, policies, current, waiting),
        *((VALIDATE_STEP,) if validate else ()),
    )
    return Plan(spec, observed, steps, artifacts, **common)


def changes_of(steps: Sequence[PlanStep]) -> tuple[PlanStep, ...]:
    return tuple(s for s in steps if s.marker != SAME and s.action != VALIDATE_STEP.action)


def summary_line(steps: Sequence[PlanStep]) -> str:
    """``2 changes to make, 2 already as desired; then validate.``"""
    changes = len(changes_of(steps))
    same = sum(1 for s in steps if s.marker == SAME)
    then = "; then validate" if any(s.action == VALIDATE_STEP.action for s in steps) else ""
    return (
        f"{changes} change{'s' if changes != 1 else ''} to make, {same} already as desired{then}."
    )


def step_lines(steps: Sequence[PlanStep]) -> list[str]:
    """One line per step (marker, title, detail) and one per changed object under it."""
    lines = []
    for step in steps:
        detail = f": {step.detail}" if step.detail else ""
        lines.append(f"  {step.marker:>3} {step.title}{detail}")
        lines += [f"        {m:>3} {r}" for m, r in step.items if m != SAME]
    return lines


def image_lines(images: Sequence[tuple[str, str, bool | None]]) -> list[str]:
    """The images `up` needs and whether each is in the local Docker (`preload` caches them)."""
    if not images:
        return []
    missing = sum(1 for _, _, cached in images if cached is False)
    unknown = any(cached is None for _, _, cached in images)
    head = (
        "Images (Docker did not answer, so whether they are cached is unknown):"
        if unknown
        else f"Images ({missing} to pull from registries during `up`; "
        "`invoke preload` caches them):"
        if missing
        else "Images (all in the local Docker; `up` pulls nothing):"
    )
    marks = {True: "cached", False: "pull", None: "?"}
    return ["", head] + [
        f"  {marks[cached]:>6}  {image}  ({purpose})" for image, purpose, cached in images
    ]


def render_text(plan: Plan, *, artifacts: bool = True) -> str:
    """The human view of a plan, the same for every provider."""
    import yaml

    spec = plan.spec
    lines = [
        f"Plan for lab {spec.name} ({spec.provider}, engine {spec.engine}, "
        f"scenario {spec.scenario})" + (f" from profile {spec.profile}" if spec.profile else ""),
    ]
    lines += [f"  note: {n}" for n in plan.notes]
    lines += [f"  ! warning: {w}" for w in plan.warnings]
    if plan.provider_lines:
        # Four spaces: a "+" here lines up with the right-aligned step markers below.
        lines += ["", *(f"    {line}" for line in plan.provider_lines)]
    if plan.blocked:
        lines.append(f"  ✗ cannot proceed: {plan.blocked}")
        return "\n".join(lines) + "\n"
    if not plan.provider_lines:
        lines.append("")
    lines += step_lines([s for s in plan.steps if s.action not in plan.shown_by_lines])
    if plan.needs_confirmation:
        what = plan.confirmation_note or "deletes a cluster"
        lines.append("")
        lines.append(f"  This plan {what}; `up` asks for confirmation (or pass --yes).")
    lines += ["", summary_line(plan.steps)]
    lines += image_lines(plan.images)
    if artifacts:
        for name, content in plan.artifacts.items():
            lines.append("")
            lines.append(f"--- {name}")
            text = (
                content
                if isinstance(content, str)
                else yaml.safe_dump(content, sort_keys=False, default_flow_style=False)
            )
            lines.append(text.rstrip())
    return "\n".join(lines) + "\n"
