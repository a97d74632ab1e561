"""Grade an exercise: offline, the attendee's policy files as if applied to the lab (issue 11);
live, what a lab holding the exercise's baseline really has.

``check_offline(exercise, policy_paths)`` takes the exercise's baseline policies (rendered from
its scenario's templates and its extra templates, exactly as ``up`` would render them) plus the
attendee's files (read by ``analysis.load.load_policies``, which names file and field when one
is wrong), and runs the analyzer on the exercise's workload model
(``exercises.workload_model``). An attendee's policy with the same namespace/name as a baseline
policy replaces it, as ``kubectl apply`` would. Nothing touches a cluster.

The result, per goal: met or not, the verdict the analyzer expects and its sentences (which
policy and rule admits or isolates it); then the analyzer's lint warnings plus two checks of
our own (a namespaceSelector that matches no namespace: the ACK DNS policy's ``name:
kube-system``; a policy outside the lab's namespaces, e.g. one without ``metadata.namespace``,
which ``kubectl apply`` puts in ``default``); and notes for goals whose verdict differs under
another enforcing engine (Cilium does not match pod IPs against ipBlocks, ``analysis.engines``).

Hints: the exercise's hints are ordered from gentle to specific. A hint is *relevant* when a
goal it names (``when``) failed, or when it names none and any goal failed. The check shows the
first ``hints`` relevant ones (default 1) and says how many more there are: an attendee asks for
the next with ``--hints 2``. The check is stateless, so "progressive" is the attendee's choice,
never a count of their attempts. Neither check reads the reference solution.

The live check (``check_live(exercise, ctx)``, ``ctx`` the lab's ``pipeline.Context``) grades
what the lab holds: every NetworkPolicy in the lab's namespaces, whoever made it (listed per
namespace without a label selector, ``live.observe``), and the live pods with their current
labels and IPs, so relabelling a pod (label-the-client) is an answer too. Physical namespace
names (``demo-mylab``) are mapped back to the logical ones (``demo``) in pods, policies and
``kubernetes.io/metadata.name`` selector values, so the goals and the output read as offline;
a selector naming a logical ``demo`` on a suffixed lab selects another namespace, and is graded
so (it matches none of the lab's) and warned about. The model is those pods, the cluster DNS pod
as the exercise model has it (``kube-system/coredns``, at the IP of a live DNS pod when they
can be read) and the lab's namespaces with their live labels. Grading is the same function as
offline (``_grade``): same goals, explanations, lint warnings, engine notes and hints. A lab
policy that is not the baseline's as ``up`` rendered it (new, or changed) is "yours".

Then the live check probes every in-cluster goal through the lab (``pipeline.probe_executor``),
after the canary (``pipeline.enforcement_check``), and shows each probe next to the policy
verdict. Decision: **the policies decide, the probe is evidence**. A goal is met when the
policies in the lab (read by the grading engine, by default the lab's own) give the expected
verdict, whatever the probe says: the attendee's work is the policies and labels, and the grade
must not depend on an engine's bug, its programming lag or a probe that could not run. A probe
that disagrees with the policies (re-probed until ``ctx.deadline`` first, as engines take
seconds to program a change) is shown as "the network did X although the policies say Y", with
a note that this is the lab's engine, not the answer. On a lab whose engine enforces nothing
(``none``: the canary reports "not enforced") nothing is probed and the check says "policies are
not enforced on this lab: goals are graded from the policies only"; an engine that should
enforce and does not fails in the canary (``OperationError`` "policies are not enforced here").
A goal whose ``to`` is an IP outside the cluster is graded from the policies only, and says so.

``solution_objects`` (``workload.exercises``) and ``apply_solution(ctx, exercise)`` put the
reference solution into a lab, for instructors; ``check_offline`` and ``check_live`` never read
it.

Exit codes (``CheckResult.exit_code``): 0 every goal met, 1 one is not; bad input (unknown
exercise, unreadable or invalid policy file, a live-only exercise offline, a lab that does not
hold the exercise's baseline) raises ``UsageError`` (2); a lab that cannot be graded (a goal's
pod missing, the API unreachable, policies not enforced where they should be) ``OperationError``
(1).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioning.errors import OperationError, UsageError, choice_error
from provisioning.spec import CLUSTER_DNS_LABELS, CLUSTER_DNS_NAMESPACE
from provisioning.workload import demo as workload
from provisioning.workload.exercises import (
    MODEL_LAB,
    NAMESPACE_NAME_LABEL,
    Exercise,
    Goal,
    Hint,
    dns_pod,
    rename_namespaces,
    solution_objects,
    workload_model,
)
from provisioning.workload.scenarios import display_path

if TYPE_CHECKING:
    from provisioning.analysis.engines import EngineProfile
    from provisioning.analysis.explain import DirectionExplanation, Result
    from provisioning.analysis.model import ClusterModel
    from provisioning.analysis.policy import Policy
    from provisioning.lab.pipeline import Context
    from provisioning.validation.live import LiveLab, LivePod
    from provisioning.validation.probe import Probe, ProbeResult

FORMATS = ("text", "json", "junit")

# LiveEvidence.kind: what the live check did for a goal.
PROBED = "probed"  # a probe ran through the lab (its outcome may still be an error)
NOT_PROBED = "not-probed"  # this goal could not be probed (``detail`` says why)
OUTSIDE = "outside"  # ``to`` is outside the cluster: graded from the policies only
NOT_ENFORCED = "not-enforced"  # the lab enforces no policy: graded from the policies only

NOT_ENFORCED_LINE = "policies are not enforced on this lab: goals are graded from the policies only"
OUTSIDE_LINE = "outside the cluster: graded from the policies only"


@dataclass(frozen=True)
class LiveEvidence:
    """What the lab's network did for one goal, next to what its policies say (live only).

    ``expected``: the policies' verdict as the lab's engine reads them (the network's
    expectation; the goal's grade is the grading engine's). ``outcome``: a probe outcome
    (``connected``, ``blocked``, ``refused``, ``error``) when ``kind`` is ``probed``.
    """

    kind: str
    expected: bool
    outcome: str = ""
    detail: str = ""  # why it was not probed, or what the probe printed
    attempts: int = 0
    probe: str = ""  # the probe as run, with the lab's (physical) names

    @property
    def network_allowed(self) -> bool | None:
        """What the probe says the network did; None when nothing was learnt."""
        if self.kind != PROBED:
            return None
        from provisioning.validation.probe import Outcome

        return Outcome(self.outcome).allowed

    @property
    def agrees(self) -> bool | None:
        allowed = self.network_allowed
        return None if allowed is None else allowed == self.expected

    def sentence(self) -> str:
        """One line for reports: the probe's outcome and whether the policies agree."""
        if self.kind == NOT_ENFORCED:
            return f"not probed: {NOT_ENFORCED_LINE}"
        if self.kind == OUTSIDE:
            return f"not probed: {OUTSIDE_LINE}"
        if self.kind == NOT_PROBED:
            return f"not probed: {self.detail}"
        if self.agrees is None:
            return (
                f"error: {self.detail or 'no answer'} (the probe could not run; it says nothing "
                "about the network)"
            )
        if self.agrees:
            return f"{self.outcome} (the network agrees with the policies)"
        did = "let it through" if self.network_allowed else "blocked it"
        says = "allow" if self.expected else "deny"
        tries = f" after {self.attempts} probes" if self.attempts > 1 else ""
        return (
            f"{self.outcome}: the network {did} although the policies say {says}{tries} "
            "(not your doing: the lab's engine does not enforce them as written, or not yet)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.kind,
            "probe": self.probe or None,
            "outcome": self.outcome or None,
            "network_allowed": self.network_allowed,
            "policies_allow": self.expected,
            "agrees": self.agrees,
            "attempts": self.attempts,
            "detail": self.detail or None,
            "sentence": self.sentence(),
        }


@dataclass(frozen=True)
class GoalResult:
    goal: Goal
    result: Result  # the analyzer's verdict and both directions explained
    evidence: LiveEvidence | None = None  # the live check's probe; None offline

    @property
    def met(self) -> bool:
        """Whether the policies give the expected verdict: they decide, a probe is evidence."""
        return self.result.allowed == self.goal.allowed

    def reasons(self) -> list[str]:
        """The analyzer's sentences that decide the verdict: the denying direction(s) of a
        denied connection, both directions of an allowed one (egress first)."""
        directions = [self.result.egress, self.result.ingress]
        if not self.result.allowed:
            directions = [d for d in directions if d.verdict == "deny"]
        return [f"{d.direction}: {_bare(d)}" for d in directions]

    def to_dict(self) -> dict[str, Any]:
        g = self.goal
        out = {
            "id": g.group,
            "from": g.source,
            "to": g.target,
            "port": g.port,
            "protocol": g.protocol,
            "expect": g.expect,
            "verdict": self.result.verdict,
            "met": self.met,
            "outside_cluster": g.outside,
            "explanation": self.reasons(),
            "analysis": self.result.to_dict(),
        }
        if self.evidence is not None:
            out["probe"] = self.evidence.to_dict()
        return out


@dataclass(frozen=True)
class LabInfo:
    """The lab a live check ran on."""

    name: str
    engine: str  # the lab's engine (after the canary: ``none`` when it enforces nothing)
    enforced: str  # the canary's verdict: yes, no, unknown; "" when the canary did not run
    namespace_suffix: str = ""
    probe_seconds: float = 0.0  # how long probing took, re-probes included

    @property
    def enforces(self) -> bool:
        return self.enforced != "no"


@dataclass(frozen=True)
class CheckResult:
    exercise: Exercise
    engine: str
    goals: tuple[GoalResult, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    hints: tuple[tuple[int, Hint], ...]  # (number in the exercise, hint) shown
    more_hints: int  # relevant hints not shown
    baseline: tuple[str, ...]  # policy keys of the baseline, after replacement
    attendee: tuple[tuple[str, str], ...]  # (policy key, file; "" live) of the attendee's policies
    seconds: float
    lab: LabInfo | None = None  # the live check's lab; None offline

    @property
    def mode(self) -> str:
        return "offline" if self.lab is None else "live"

    @property
    def met(self) -> int:
        return sum(g.met for g in self.goals)

    @property
    def passed(self) -> bool:
        return self.met == len(self.goals)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def failed_groups(self) -> list[str]:
        return list(dict.fromkeys(g.goal.group for g in self.goals if not g.met))

    def probe_counts(self) -> dict[str, int]:
        """Live only: goals probed, agreeing, disagreeing, errors, and graded without a probe."""
        evidence = [g.evidence for g in self.goals if g.evidence is not None]
        probed = [e for e in evidence if e.kind == PROBED]
        return {
            "probed": len(probed),
            "agree": sum(e.agrees is True for e in probed),
            "disagree": sum(e.agrees is False for e in probed),
            "errors": sum(e.agrees is None for e in probed),
            "not_probed": len(evidence) - len(probed),
        }

    def disagreeing(self) -> list[GoalResult]:
        return [g for g in self.goals if g.evidence is not None and g.evidence.agrees is False]

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "exercise": self.exercise.id,
            "title": self.exercise.title,
            "mode": self.mode,
            "engine": self.engine,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "met": self.met,
            "total": len(self.goals),
            "goals": [g.to_dict() for g in self.goals],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "hints": [{"number": n, "text": h.text} for n, h in self.hints],
            "more_hints": self.more_hints,
            "policies": {
                "baseline": list(self.baseline),
                "yours": [{"policy": k, "file": f or None} for k, f in self.attendee],
            },
            "seconds": round(self.seconds, 6),
        }
        if self.lab is not None:
            doc["lab"] = {
                "name": self.lab.name,
                "engine": self.lab.engine,
                "namespace_suffix": self.lab.namespace_suffix,
                "enforced": self.lab.enforced or None,
                "graded_from_policies_only": not self.lab.enforces,
            }
            doc["probes"] = {**self.probe_counts(), "seconds": round(self.lab.probe_seconds, 6)}
        return doc


# --- offline --------------------------------------------------------------------------------


def check_offline(
    exercise: Exercise,
    policy_paths: str | Path | Sequence[str | Path],
    *,
    engine: str = "reference",
    hints: int = 1,
) -> CheckResult:
    """Grade ``policy_paths`` (files or folders) against ``exercise``; UsageError on bad input."""
    started = time.perf_counter()
    if exercise.live_only:
        raise UsageError(
            f"exercise {exercise.id!r} is checked on a live lab only: {exercise.live_only}",
            hint=f"grade it on a lab that holds its baseline (`invoke up --exercise "
            f"{exercise.id}`), with the live check; follow the task with kubectl on your lab",
        )
    _grading_profile(engine)
    _check_hints(hints)
    paths = [policy_paths] if isinstance(policy_paths, str | Path) else list(policy_paths)
    if not paths:
        raise UsageError("--policies: give a policy file or a folder of them")

    model = workload_model(exercise)
    baseline = baseline_policies(exercise)
    attendee = _attendee_policies(paths)
    notes = []
    replaced = [k for k in baseline if k in attendee]
    for key in replaced:
        notes.append(
            f"your {key} ({attendee[key][1]}) replaces the baseline's policy of that name, "
            "as kubectl apply would"
        )
    return _grade(
        exercise,
        model,
        {**baseline, **{k: p for k, (p, _) in attendee.items()}},
        baseline=[k for k in baseline if k not in attendee],
        attendee=[(k, f) for k, (_, f) in attendee.items()],
        engine=engine,
        hints=hints,
        notes=notes,
        started=started,
    )


def _grading_profile(engine: str) -> EngineProfile:
    """The analyzer's profile of an engine given to grade with; it must enforce."""
    from provisioning.analysis.engines import ENGINES, engine_profile

    if engine not in ENGINES:
        raise choice_error("engine", engine, list(ENGINES), where="--engine")
    profile = engine_profile(engine)
    if not profile.enforces:
        raise UsageError(
            f"--engine {engine}: {profile.note}; grading against it proves nothing",
            hint="choose an engine that enforces NetworkPolicy: "
            + ", ".join(n for n, p in ENGINES.items() if p.enforces),
        )
    return profile


def _check_hints(hints: Any) -> None:
    if isinstance(hints, bool) or not isinstance(hints, int) or hints < 0:
        raise UsageError(f"--hints: {hints!r} must be a number of hints, 0 or more")


# --- the grading both checks share ----------------------------------------------------------


def _grade(
    exercise: Exercise,
    model: ClusterModel,
    policies: Mapping[str, Policy],
    *,
    baseline: Sequence[str],
    attendee: Sequence[tuple[str, str]],
    engine: str,
    hints: int,
    notes: Sequence[str] = (),
    renamed: Mapping[str, tuple[str, str]] | None = None,
    started: float,
) -> CheckResult:
    """Run the analyzer on ``model`` with ``policies`` (by key, in the order they apply) for
    every goal; lint the attendee's policies; notes for other engines; the relevant hints.

    ``attendee``: (key, file) of the policies that are the attendee's (linted by
    ``_exercise_lint``); ``renamed``: selector values the live check renamed (see there).
    """
    from provisioning.analysis import analyze
    from provisioning.analysis.engines import ENGINES, engine_profile
    from provisioning.analysis.model import Probe

    profile = engine_profile(engine)
    notes = list(notes)
    probes = [
        Probe(g.source, g.target, g.port, g.protocol, origin=f"goal {g.describe()}")
        for g in exercise.goals
    ]
    analysis = analyze(model, list(policies.values()), probes, engine)
    results = tuple(
        GoalResult(g, r) for g, r in zip(exercise.goals, analysis.results(), strict=True)
    )
    for name, other in ENGINES.items():
        if not other.enforces or name == engine:
            continue
        if (other.ipblock_selects_pods, other.enforces) == (
            profile.ipblock_selects_pods,
            profile.enforces,
        ):
            continue  # the same reading: the same verdicts
        alt = analyze(model, list(policies.values()), probes, name)
        for gr, r in zip(results, alt.results(), strict=True):
            if (r.allowed == gr.goal.allowed) != gr.met:
                state = "be met" if r.allowed == gr.goal.allowed else "not be met"
                notes.append(f"on {name} ({other.note}) goal {gr.goal.describe()} would {state}")
    yours = [policies[k] for k, _ in attendee]
    warnings = [*analysis.warnings, *_exercise_lint(model, yours, renamed or {})]
    failed = {g.goal.group for g in results if not g.met}
    relevant = [
        (n, h)
        for n, h in enumerate(exercise.hints, start=1)
        if failed and (not h.when or failed.intersection(h.when))
    ]
    return CheckResult(
        exercise=exercise,
        engine=engine,
        goals=results,
        warnings=tuple(dict.fromkeys(warnings)),
        notes=tuple(notes),
        hints=tuple(relevant[:hints]),
        more_hints=max(0, len(relevant) - hints),
        baseline=tuple(baseline),
        attendee=tuple(attendee),
        seconds=time.perf_counter() - started,
    )


def baseline_policies(exercise: Exercise, lab: str = MODEL_LAB) -> dict[str, Policy]:
    """The baseline's policies by ``namespace/name``, rendered and validated like ``up`` does.

    The exercise's extra templates are rendered by the scenario renderer itself, so they come
    out exactly as a scenario's would.
    """
    from provisioning.analysis.policy import parse_policy
    from provisioning.workload.policies import render_policies, validate_rendered
    from provisioning.workload.scenarios import load_scenario

    scenario = load_scenario(exercise.baseline.scenario, exercise.root)
    scenario = dataclasses.replace(
        scenario, policies=scenario.policies + exercise.baseline.policies
    )
    rendered = render_policies(scenario, lab)
    validate_rendered(rendered)
    out: dict[str, Policy] = {}
    for template, obj in rendered.items():
        policy = parse_policy(obj, source=f"template {template}")
        out[policy.key] = policy
    return out


def _attendee_policies(paths: Sequence[str | Path]) -> dict[str, tuple[Policy, str]]:
    """``namespace/name`` -> (policy, file) of every policy under ``paths``; two policies of
    the same name are refused naming both files (applied in turn, the second would replace
    the first, which is rarely what was meant)."""
    from provisioning.analysis.load import POLICY_SUFFIXES, load_policies

    out: dict[str, tuple[Policy, str]] = {}
    for given in paths:
        root = Path(given)
        if root.is_dir():
            files = sorted(
                p for p in root.rglob("*") if p.is_file() and p.suffix in POLICY_SUFFIXES
            )
            if not files:
                load_policies(root)  # its one line: "no policy files in this directory"
        else:
            files = [root]
        for file in files:
            found = load_policies(file, require_type=True)
            if not found:
                raise UsageError(
                    f"{display_path(file)}: no NetworkPolicy in it",
                    hint="write your policy in this file, then check again",
                )
            for policy in found:
                shown = display_path(file)
                if policy.key in out:
                    first = out[policy.key][1]
                    where = "twice in that file" if first == shown else f"also in {first}"
                    raise UsageError(
                        f"{shown}: policy {policy.key} is {where}",
                        hint="give each policy its own metadata.name",
                    )
                out[policy.key] = (policy, shown)
    return out


def _exercise_lint(
    model: ClusterModel,
    policies: Sequence[Policy],
    renamed: Mapping[str, tuple[str, str]] | None = None,
) -> list[str]:
    """Warnings the analyzer's lint does not give, about the attendee's policies only.

    ``renamed``: selector value -> (logical name, physical name) for a live lab with suffixed
    namespaces, where a ``kubernetes.io/metadata.name`` selector naming ``demo`` selects a
    namespace that is not the lab's ``demo-<lab>``; the live check renamed those values so
    they match nothing in the model, and the warning names what was written.
    """
    renamed = renamed or {}
    warnings = []
    lab = ", ".join(workload.NAMESPACES)
    for policy in policies:
        if policy.namespace not in model.namespaces:
            warnings.append(
                f"policy {policy.key} is in namespace {policy.namespace!r}, where the lab has "
                f"no pods; without metadata.namespace, kubectl apply puts a policy in the "
                f"current namespace (usually 'default'): set it to one of {lab}"
            )
        elif policy.namespace not in workload.NAMESPACES:
            warnings.append(
                f"policy {policy.key} is outside the lab's namespaces ({lab}): it would act on "
                f"the cluster's own pods in {policy.namespace}"
            )
        for rule in (*policy.ingress, *policy.egress):
            side = "from" if rule.direction == "ingress" else "to"
            for i, peer in enumerate(rule.peers or ()):
                sel = peer.namespace_selector
                if sel is None:
                    continue
                if not any(sel.matches(ns.labels) for ns in model.namespaces.values()):
                    written = [
                        renamed[v]
                        for r in sel.requirements
                        if r.key == NAMESPACE_NAME_LABEL
                        for v in sorted(r.values)
                        if v in renamed
                    ]
                    if written:
                        logical, physical = written[0]
                        warnings.append(
                            f"policy {policy.key} {rule.path}.{side}[{i}]: namespaceSelector "
                            f"{NAMESPACE_NAME_LABEL}={logical} matches none of this lab's "
                            f"namespaces: here {logical} is named {physical!r}, so write that "
                            "name (or select the netpol-lab.io/role label)"
                        )
                        continue
                    warnings.append(
                        f"policy {policy.key} {rule.path}.{side}[{i}]: namespaceSelector "
                        f"{sel.describe()} matches no namespace (every namespace carries "
                        "kubernetes.io/metadata.name=<its name>; other labels exist only if "
                        "someone added them)"
                    )
    return warnings


def _bare(d: DirectionExplanation) -> str:
    """The analyzer's sentence without its "expected allow: " head (the goal line says it)."""
    sentence = d.sentence()
    head = f"expected {d.verdict}: "
    return sentence[len(head) :] if sentence.startswith(head) else sentence


# --- live -----------------------------------------------------------------------------------


def check_live(
    exercise: Exercise,
    ctx: Context,
    *,
    engine: str | None = None,
    hints: int = 1,
    probe: bool = True,
) -> CheckResult:
    """Grade what the lab of ``ctx`` holds against ``exercise``, then probe its goals
    (``probe=False``: graded from the lab's policies and pods only, as ``fleet status`` does
    for a whole room; no canary, no probe, a few API reads).

    ``engine``: the analyzer's reading to grade with; by default the lab's own engine, or the
    API reading (``reference``) on a lab that enforces nothing. UsageError when the lab does
    not hold the exercise's baseline; OperationError when it cannot be graded or when its
    engine should enforce policies and does not (the canary's verdict).
    """
    from provisioning.lab import pipeline
    from provisioning.validation import live

    started = time.perf_counter()
    if engine is not None:
        _grading_profile(engine)
    _check_hints(hints)
    _require_baseline(exercise, ctx)

    observed = live.observe(ctx.kube, ctx.spec)
    view = _LiveView.of(exercise, observed, ctx)

    executor = pipeline.probe_executor(ctx) if probe else None
    enforced = ""
    if ctx.run_canary and probe:
        pipeline.enforcement_check(ctx, executor)  # raises: should enforce and does not
        enforced = ctx.canary.enforced
    elif not ctx.engine.enforces:
        enforced = "no"
    lab_engine = live.ANALYZER_ENGINES.get(ctx.spec.engine, ctx.spec.engine)
    from provisioning.analysis.engines import ENGINES

    lab_reads = lab_engine if lab_engine in ENGINES and ENGINES[lab_engine].enforces else None
    if enforced == "no":
        lab_reads = None
    grading = engine or lab_reads or "reference"

    notes = list(view.notes)
    if enforced == "no":
        notes.insert(0, f"{NOT_ENFORCED_LINE} (engine {ctx.spec.engine}, read as {grading})")
    elif enforced == "unknown":
        notes.insert(
            0,
            f"the canary could not tell whether policies are enforced on this lab "
            f"({ctx.canary.detail}); the probes are shown as evidence",
        )
    result = _grade(
        exercise,
        view.model,
        view.policies,
        baseline=view.baseline,
        attendee=[(k, "") for k in view.attendee],
        engine=grading,
        hints=hints,
        notes=notes,
        renamed=view.renamed,
        started=started,
    )

    # What the network should do: the policies read by the lab's own engine.
    expected = [g.result.allowed for g in result.goals]
    if lab_reads is not None and lab_reads != grading:
        from provisioning.analysis import analyze
        from provisioning.analysis.model import Probe as Wanted

        wanted = [Wanted(g.source, g.target, g.port, g.protocol) for g in exercise.goals]
        again = analyze(view.model, list(view.policies.values()), wanted, lab_reads)
        expected = [r.allowed for r in again.results()]

    if not probe:
        lab = LabInfo(ctx.spec.name, ctx.spec.engine, enforced, ctx.spec.namespace_suffix)
        return dataclasses.replace(result, lab=lab, seconds=time.perf_counter() - started)
    probing_started = time.perf_counter()
    enforces = enforced != "no"
    evidence = _probe_goals(ctx, executor, exercise.goals, expected, view, enforces=enforces)
    goals = tuple(
        dataclasses.replace(g, evidence=e) for g, e in zip(result.goals, evidence, strict=True)
    )
    lab = LabInfo(
        ctx.spec.name,
        ctx.spec.engine,
        enforced,
        ctx.spec.namespace_suffix,
        time.perf_counter() - probing_started,
    )
    live_notes = list(result.notes)
    wrong = [g for g in goals if g.evidence is not None and g.evidence.agrees is False]
    if wrong:
        live_notes.append(
            f"the network disagreed with the policies on {len(wrong)} goal"
            f"{'s' if len(wrong) > 1 else ''} ({', '.join(g.goal.describe() for g in wrong)}): "
            f"that is the lab's engine ({ctx.spec.engine}), not your answer; goals are graded "
            "from the policies"
        )
    errors = [g for g in goals if g.evidence is not None and g.evidence.kind == PROBED]
    errors = [g for g in errors if g.evidence is not None and g.evidence.agrees is None]
    if errors:
        live_notes.append(
            f"{len(errors)} probe{'s' if len(errors) > 1 else ''} could not run; those goals "
            "are graded from the policies"
        )
    return dataclasses.replace(
        result,
        goals=goals,
        notes=tuple(live_notes),
        lab=lab,
        seconds=time.perf_counter() - started,
    )


def _require_baseline(exercise: Exercise, ctx: Context) -> None:
    """The live check and ``solve`` need a lab that holds this exercise's baseline."""
    spec = ctx.spec
    if spec.exercise == exercise.id:
        return
    holds = (
        f"the baseline of exercise {spec.exercise!r}"
        if spec.exercise
        else f"scenario {spec.scenario!r}"
    )
    raise UsageError(
        f"lab {spec.name!r} holds {holds}, not the baseline of exercise {exercise.id!r}",
        hint=f"start it with `invoke exercise start {exercise.id}` first",
    )


@dataclass(frozen=True)
class _LiveView:
    """The live lab in the exercise's logical names: model, policies, attribution, and the
    lab's own pods (physical) behind each logical pod ref."""

    model: ClusterModel
    policies: dict[str, Policy]  # logical key -> policy, the baseline's first
    baseline: tuple[str, ...]  # keys of the baseline's policies, unchanged
    attendee: tuple[str, ...]  # keys of the others: new, or a baseline policy changed
    pods: Mapping[str, LivePod]  # logical ref -> the live pod (kube-system/coredns: a DNS pod)
    renamed: Mapping[str, tuple[str, str]]  # selector value -> (logical, physical)
    notes: tuple[str, ...]

    @classmethod
    def of(cls, exercise: Exercise, observed: LiveLab, ctx: Context) -> _LiveView:
        from provisioning.analysis.model import ClusterModel
        from provisioning.analysis.policy import parse_policy
        from provisioning.validation import live

        spec = ctx.spec
        suffix = spec.namespace_suffix
        to_logical = {workload.physical_namespace(ns, suffix): ns for ns in workload.NAMESPACES}
        # On a suffixed lab a selector value naming a logical namespace ("demo") selects some
        # other namespace of that name, never the lab's: renamed so it matches nothing here.
        renamed = {
            f"{ns}--not-this-lab": (ns, workload.physical_namespace(ns, suffix))
            for ns in workload.NAMESPACES
            if suffix
        }
        selector_names = {**to_logical, **{v[0]: k for k, v in renamed.items()}}
        missing = [phys for phys in to_logical if phys not in observed.namespaces]
        if missing:
            raise OperationError(
                f"lab {spec.name!r} has no namespace {', '.join(missing)}, so it cannot be graded",
                hint=f"run `invoke up --exercise {exercise.id}`",
            )
        namespaces: dict[str, Any] = {}
        for phys, ns in to_logical.items():
            labels = dict(observed.namespaces[phys])
            labels[NAMESPACE_NAME_LABEL] = ns
            namespaces[ns] = {"labels": labels}
        namespaces[CLUSTER_DNS_NAMESPACE] = {"labels": {}}

        pods: dict[str, LivePod] = {}
        for pod in observed.pods:
            if pod.namespace in to_logical:
                pods[f"{to_logical[pod.namespace]}/{pod.name}"] = pod
        notes = []
        dns = dns_pod()
        if observed.dns_pods:
            dns_ip = observed.dns_pods[0].ip
            pods[dns.ref] = observed.dns_pods[0]
        else:
            from provisioning.validation.live import STAND_IN_DNS

            dns_ip = STAND_IN_DNS.ip
            if any(dns.ref in (g.source, g.target) for g in exercise.goals):
                notes.append(
                    f"the cluster DNS pods ({CLUSTER_DNS_NAMESPACE}, "
                    f"{','.join(f'{k}={v}' for k, v in CLUSTER_DNS_LABELS.items())}) could not "
                    f"be read: {dns.ref} is graded at a stand-in IP ({dns_ip}) and not probed"
                )
        _require_goal_pods(exercise, pods, observed, spec)

        model_pods = [
            live.pod_dict(p, namespace=to_logical[p.namespace])
            for ref, p in pods.items()
            if ref != dns.ref
        ]
        model_pods.append(
            {
                "namespace": dns.namespace,
                "name": dns.name,
                "labels": dict(dns.labels),
                "ip": dns_ip,
                "ports": [
                    {"name": p.name, "port": p.number, "protocol": p.protocol} for p in dns.ports
                ],
            }
        )
        model = ClusterModel.from_dict(
            {"namespaces": namespaces, "pods": model_pods}, source=f"lab {spec.name}"
        )

        # The baseline as `up` applied it (physical keys), to tell its policies from others.
        desired = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o for o in ctx.policies}
        found: dict[str, Policy] = {}
        for raw in observed.policies:
            meta = raw.get("metadata") or {}
            if meta.get("namespace") not in to_logical:
                continue  # the canary's namespace: its policies select none of the goals' pods
            key = f"{meta['namespace']}/{meta.get('name')}"
            logical = rename_namespaces(raw, to_logical, selector_names)
            found[key] = parse_policy(logical, source=f"NetworkPolicy {key} in lab {spec.name}")
        policies: dict[str, Policy] = {}
        baseline: list[str] = []
        for key, obj in desired.items():
            if key not in found:
                logical_key = f"{to_logical.get(obj['metadata']['namespace'])}/{key.split('/')[1]}"
                notes.append(
                    f"the baseline's policy {logical_key} is not in the lab (deleted?): "
                    f"`invoke up --exercise {exercise.id}` puts it back"
                )
                continue
            mine = parse_policy(rename_namespaces(obj, to_logical, selector_names))
            if _same_policy(found[key], mine):
                policies[found[key].key] = found[key]
                baseline.append(found[key].key)
        attendee = []
        for key, policy in found.items():
            if policy.key in policies:
                continue
            if key in desired:
                notes.append(
                    f"your {policy.key} replaces the baseline's policy of that name "
                    "(it differs from what the baseline applied)"
                )
            policies[policy.key] = policy
            attendee.append(policy.key)
        return cls(
            model,
            policies,
            tuple(baseline),
            tuple(attendee),
            pods,
            renamed,
            tuple(notes),
        )


def _same_policy(a: Policy, b: Policy) -> bool:
    """The same policy, the API server's defaulting of ``policyTypes`` aside."""
    return dataclasses.replace(a, policy_types_explicit=False) == dataclasses.replace(
        b, policy_types_explicit=False
    )


def _require_goal_pods(
    exercise: Exercise, pods: Mapping[str, LivePod], observed: LiveLab, spec: Any
) -> None:
    """Every pod a goal names must be running in the lab, else it cannot be graded."""
    dns = dns_pod().ref
    needed = dict.fromkeys(
        ref
        for g in exercise.goals
        for ref in (g.source, None if g.outside else g.target)
        if ref is not None and ref != dns
    )
    absent = [ref for ref in needed if ref not in pods]
    if not absent:
        return
    why = {lo.pod: lo.reason for lo in observed.left_out}
    parts = []
    for ref in absent:
        physical = workload.physical_ref(ref, spec.namespace_suffix)
        reason = why.get(physical)
        parts.append(f"{physical} ({reason})" if reason else f"{physical} (not in the lab)")
    raise OperationError(
        f"the lab cannot be graded yet: the exercise's goals need {', '.join(parts)}",
        hint=f"wait for the pods to be Ready (`invoke status`), or run `invoke up --exercise "
        f"{exercise.id}` to put the baseline back",
    )


def _probe_goals(
    ctx: Context,
    executor: Any,
    goals: Sequence[Goal],
    expected: Sequence[bool],
    view: _LiveView,
    *,
    enforces: bool,
) -> list[LiveEvidence]:
    """One probe per in-cluster goal through the lab; a probe that disagrees with the policies
    (or errs) is run again until ``ctx.deadline``, since engines take a while to program."""
    from provisioning.validation.probe import Outcome, Probe

    evidence: list[LiveEvidence | None] = [None] * len(goals)
    wanted: dict[Probe, list[int]] = {}
    for i, (goal, allowed) in enumerate(zip(goals, expected, strict=True)):
        if not enforces:
            evidence[i] = LiveEvidence(NOT_ENFORCED, allowed)
            continue
        if goal.outside:
            evidence[i] = LiveEvidence(OUTSIDE, allowed)
            continue
        source, target = view.pods.get(goal.source), view.pods.get(goal.target)
        if target is None:  # the DNS pods could not be read: nothing to connect to
            evidence[i] = LiveEvidence(
                NOT_PROBED, allowed, detail=f"no {goal.target} pod could be read to probe"
            )
            continue
        if source is None or not source.is_source:
            evidence[i] = LiveEvidence(
                NOT_PROBED,
                allowed,
                detail=f"{source.key if source else goal.source} has no agnhost container to "
                "probe from",
            )
            continue
        probe = Probe(source.ref(), target.ref(), goal.port, goal.protocol)
        wanted.setdefault(probe, []).append(i)
    if wanted:
        answers = _run_probes(ctx, executor, {p: expected[ids[0]] for p, ids in wanted.items()})
        for probe, ids in wanted.items():
            answer, attempts = answers.get(probe, (None, 0))
            for i in ids:
                evidence[i] = LiveEvidence(
                    PROBED,
                    expected[i],
                    outcome=(answer.outcome if answer else Outcome.ERROR).value,
                    detail=(answer.detail if answer else "the executor gave no answer"),
                    attempts=attempts,
                    probe=probe.key,
                )
    return [e for e in evidence if e is not None]


def _run_probes(
    ctx: Context, executor: Any, expected: Mapping[Probe, bool]
) -> dict[Probe, tuple[ProbeResult, int]]:
    """Each probe's last result and how many times it ran."""
    answers: dict[Probe, tuple[ProbeResult, int]] = {}
    pending = list(expected)
    count = len(pending)
    with ctx.progress.step(f"Probe {count} goal{'s' if count > 1 else ''} through the lab") as h:
        start = ctx.clock()
        while pending:
            for result in executor.run(pending, ctx.probe_timeout):
                if result.probe in expected:
                    runs = answers[result.probe][1] if result.probe in answers else 0
                    answers[result.probe] = (result, runs + 1)
            pending = [
                p
                for p in pending
                if p not in answers or answers[p][0].outcome.allowed != expected[p]
            ]
            if not pending or ctx.clock() - start >= ctx.deadline:
                break
            h.update(f"{len(pending)} disagree with the policies; probing again")
            ctx.sleep(ctx.poll_interval)
        agree = sum(1 for p, (r, _) in answers.items() if r.outcome.allowed == expected[p])
        h.note(f"{agree} of {count} agree with the policies")
    return answers


# --- solve (instructors) --------------------------------------------------------------------


def apply_solution(ctx: Context, exercise: Exercise) -> list[str]:
    """Apply ``exercise``'s reference solution to the lab of ``ctx``; what was applied.

    Policies are applied as they are (dry run first, so a rejected one leaves the lab as it
    was, as ``pipeline.apply_policies`` does). A labels-only Pod document relabels the lab's
    pod: the lab's own manifest of it (``ctx.workload``) with those labels, so the apply (field
    manager ``netpol-lab``, which owns the pod) keeps the spec it set; a labels-only partial
    object under that manager would drop the spec it owns. The manifest's spec-hash stays, so
    a later ``up`` leaves the relabelled pod alone, as after ``kubectl label``.
    """
    from provisioning.lab.objects import ref

    _require_baseline(exercise, ctx)
    objects = solution_objects(exercise, ctx.spec)
    manifests = {ref(o): o for o in ctx.workload if o.get("kind") == "Pod"}
    to_apply: list[dict[str, Any]] = []
    applied: list[str] = []
    for obj in objects:
        meta = obj["metadata"]
        where = f"{meta['namespace']}/{meta['name']}"
        if obj["kind"] != "Pod":
            to_apply.append(obj)
            applied.append(f"{obj['kind']} {where}")
            continue
        manifest = manifests.get(ref(obj))
        if manifest is None or ctx.kube.get("v1", "Pod", meta["name"], meta["namespace"]) is None:
            raise OperationError(
                f"the solution relabels pod {where}, which is not in lab {ctx.spec.name!r}",
                hint=f"run `invoke up --exercise {exercise.id}` first",
            )
        pod = json.loads(json.dumps(manifest))
        pod["metadata"]["labels"] = {**pod["metadata"].get("labels", {}), **meta["labels"]}
        to_apply.append(pod)
        labels = ", ".join(f"{k}={v}" for k, v in meta["labels"].items())
        applied.append(f"Pod {where}: labels {labels}")
    with ctx.progress.step(f"Apply the reference solution of {exercise.id}") as h:
        ctx.kube.apply(to_apply, dry_run=True)
        ctx.kube.apply(to_apply)
        for line in applied:
            h.note(line)
    return applied


# --- renderers ------------------------------------------------------------------------------


def render(result: CheckResult, fmt: str) -> str:
    if fmt not in FORMATS:
        raise choice_error("format", fmt, FORMATS, where="--format")
    return {"text": render_text, "json": render_json, "junit": render_junit}[fmt](result)


def render_text(result: CheckResult) -> str:
    ex = result.exercise
    base = ", ".join(result.baseline) or "none"
    if result.lab is None:
        yours = ", ".join(f"{k} ({f})" for k, f in result.attendee) or "none"
        lines = [
            f"Exercise {ex.id}: {ex.title}",
            f"Checked offline (engine {result.engine}), as if applied to the lab.",
            f"  baseline policies (scenario {ex.baseline.scenario}): {base}",
            f"  your policies: {yours}",
            "",
        ]
    else:
        lab = result.lab
        read = "" if result.engine == lab.engine else f", read as {result.engine}"
        yours = ", ".join(k for k, _ in result.attendee) or "none"
        lines = [
            f"Exercise {ex.id}: {ex.title}",
            f"Checked live on lab {lab.name} (engine {lab.engine}{read}): the policies in its "
            "namespaces and its pods' labels as they are now.",
            f"  baseline policies (scenario {ex.baseline.scenario}): {base}",
            f"  your policies: {yours}",
        ]
        if not lab.enforces:
            lines.append(f"  {NOT_ENFORCED_LINE}.")
        else:
            counts = result.probe_counts()
            total = counts["probed"] + counts["not_probed"]
            goals = "goal" if total == 1 else "goals"
            line = f"  probes: {counts['probed']} of {total} {goals} probed through the lab"
            if counts["probed"]:
                line += f", {counts['agree']} agree with the policies"
            if counts["disagree"]:
                line += f", {counts['disagree']} disagree"
            if counts["errors"]:
                line += f", {counts['errors']} could not run"
            lines.append(line + " (the policies decide; a probe is evidence)")
        lines.append("")
    for g in result.goals:
        mark = "✓" if g.met else "✗"
        got = "" if g.met else f" (got {g.result.verdict})"
        outside = ""
        if g.goal.outside:
            outside = " [outside the cluster]" if result.lab is None else f" [{OUTSIDE_LINE}]"
        lines.append(f"{mark} {g.goal.describe()}{got}{outside}")
        lines.extend(f"    {r}" for r in g.reasons())
        if g.evidence is not None and g.evidence.kind in (PROBED, NOT_PROBED):
            lines.append(f"    probe: {g.evidence.sentence()}")
    if result.warnings:
        lines += ["", "Warnings:"]
        lines.extend(f"  - {w}" for w in result.warnings)
    if result.notes:
        lines += ["", "Notes:"]
        lines.extend(f"  - {n}" for n in result.notes)
    for number, hint in result.hints:
        lines += ["", f"Hint {number}: {hint.text}"]
    if result.more_hints:
        lines.append(
            f"  ({result.more_hints} more hint{'s' if result.more_hints > 1 else ''}: "
            f"--hints {len(result.hints) + 1})"
        )
    verdict = "done" if result.passed else "not yet"
    lines += ["", f"{result.met} of {len(result.goals)} goals met: {verdict}."]
    return "\n".join(lines) + "\n"


def render_json(result: CheckResult) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_junit(result: CheckResult) -> str:
    """One test case per goal, in the style of ``report.junit``: a goal not met is a failure
    carrying the analyzer's explanation and the hint; warnings go to the suite's system-out.
    Live, each case also carries its probe (in the failure message, or its system-out)."""
    import xml.etree.ElementTree as ET

    ex = result.exercise
    root = ET.Element("testsuites", name=f"netpol-lab check {ex.id}")
    suite = ET.SubElement(root, "testsuite", name=f"goals ({result.engine}, {result.mode})")
    if result.lab is not None:
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("lab", result.lab.name),
            ("lab-engine", result.lab.engine),
            ("enforced", result.lab.enforced or "not checked"),
        ):
            ET.SubElement(props, "property", name=name, value=value)
    hint_text = "\n".join(f"hint {n}: {h.text}" for n, h in result.hints)
    for g in result.goals:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{ex.id}.{g.goal.group}",
            name=f"{g.goal.source} -> {g.goal.target}:{g.goal.port}/{g.goal.protocol}"
            f" expect {g.goal.expect}",
            time="0",
        )
        probe = [f"probe: {g.evidence.sentence()}"] if g.evidence is not None else []
        if not g.met:
            why = " ".join([*g.reasons(), *probe])
            ET.SubElement(
                case,
                "failure",
                message=f"expected {g.goal.expect}, the policies give {g.result.verdict}. {why}",
                type="goal-not-met",
            ).text = hint_text or None
        else:
            ET.SubElement(case, "system-out").text = "\n".join([*g.reasons(), *probe])
    suite.set("tests", str(len(result.goals)))
    suite.set("failures", str(len(result.goals) - result.met))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    suite.set("time", f"{result.seconds:.3f}")
    extra = [*(f"warning: {w}" for w in result.warnings), *(f"note: {n}" for n in result.notes)]
    if extra:
        ET.SubElement(suite, "system-out").text = "\n".join(extra)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
