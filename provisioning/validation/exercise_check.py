"""Grade an exercise offline: the attendee's policy files, as if applied to the lab (issue 11).

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
never a count of their attempts. The reference solution is never read here.

Exit codes (``CheckResult.exit_code``): 0 every goal met, 1 one is not; bad input (unknown
exercise, unreadable or invalid policy file, a live-only exercise) raises ``UsageError`` (2).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioning.errors import UsageError, choice_error
from provisioning.workload import demo as workload
from provisioning.workload.exercises import MODEL_LAB, Exercise, Goal, Hint, workload_model
from provisioning.workload.scenarios import display_path

if TYPE_CHECKING:
    from provisioning.analysis.explain import DirectionExplanation, Result
    from provisioning.analysis.model import ClusterModel
    from provisioning.analysis.policy import Policy

FORMATS = ("text", "json", "junit")


@dataclass(frozen=True)
class GoalResult:
    goal: Goal
    result: Result  # the analyzer's verdict and both directions explained

    @property
    def met(self) -> bool:
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
        return {
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
    attendee: tuple[tuple[str, str], ...]  # (policy key, file) of the attendee's policies
    seconds: float

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercise": self.exercise.id,
            "title": self.exercise.title,
            "mode": "offline",
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
                "yours": [{"policy": k, "file": f} for k, f in self.attendee],
            },
            "seconds": round(self.seconds, 6),
        }


def check_offline(
    exercise: Exercise,
    policy_paths: str | Path | Sequence[str | Path],
    *,
    engine: str = "reference",
    hints: int = 1,
) -> CheckResult:
    """Grade ``policy_paths`` (files or folders) against ``exercise``; UsageError on bad input."""
    import time

    from provisioning.analysis import analyze
    from provisioning.analysis.engines import ENGINES, engine_profile
    from provisioning.analysis.model import Probe

    started = time.perf_counter()
    if exercise.live_only:
        raise UsageError(
            f"exercise {exercise.id!r} is checked on a live lab only: {exercise.live_only}",
            hint="it is graded on a running lab (the live check is not in this version yet); "
            "follow the task with kubectl on your lab",
        )
    if engine not in ENGINES:
        raise choice_error("engine", engine, list(ENGINES), where="--engine")
    profile = engine_profile(engine)
    if not profile.enforces:
        raise UsageError(
            f"--engine {engine}: {profile.note}; grading against it proves nothing",
            hint="choose an engine that enforces NetworkPolicy: "
            + ", ".join(n for n, p in ENGINES.items() if p.enforces),
        )
    if isinstance(hints, bool) or not isinstance(hints, int) or hints < 0:
        raise UsageError(f"--hints: {hints!r} must be a number of hints, 0 or more")
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
    policies = {**baseline, **{k: p for k, (p, _) in attendee.items()}}
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
    warnings = [
        *analysis.warnings,
        *_exercise_lint(model, [p for k, (p, _) in attendee.items()]),
    ]
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
        baseline=tuple(k for k in baseline if k not in attendee),
        attendee=tuple((k, f) for k, (_, f) in attendee.items()),
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


def _exercise_lint(model: ClusterModel, policies: Sequence[Policy]) -> list[str]:
    """Warnings the analyzer's lint does not give, about the attendee's policies only."""
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


# --- renderers ------------------------------------------------------------------------------


def render(result: CheckResult, fmt: str) -> str:
    if fmt not in FORMATS:
        raise choice_error("format", fmt, FORMATS, where="--format")
    return {"text": render_text, "json": render_json, "junit": render_junit}[fmt](result)


def render_text(result: CheckResult) -> str:
    ex = result.exercise
    yours = ", ".join(f"{k} ({f})" for k, f in result.attendee) or "none"
    base = ", ".join(result.baseline) or "none"
    lines = [
        f"Exercise {ex.id}: {ex.title}",
        f"Checked offline (engine {result.engine}), as if applied to the lab.",
        f"  baseline policies (scenario {ex.baseline.scenario}): {base}",
        f"  your policies: {yours}",
        "",
    ]
    for g in result.goals:
        mark = "✓" if g.met else "✗"
        got = "" if g.met else f" (got {g.result.verdict})"
        outside = " [outside the cluster]" if g.goal.outside else ""
        lines.append(f"{mark} {g.goal.describe()}{got}{outside}")
        lines.extend(f"    {r}" for r in g.reasons())
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
    carrying the analyzer's explanation and the hint; warnings go to the suite's system-out."""
    import xml.etree.ElementTree as ET

    ex = result.exercise
    root = ET.Element("testsuites", name=f"netpol-lab check {ex.id}")
    suite = ET.SubElement(root, "testsuite", name=f"goals ({result.engine}, offline)")
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
        if not g.met:
            why = " ".join(g.reasons())
            ET.SubElement(
                case,
                "failure",
                message=f"expected {g.goal.expect}, the policies give {g.result.verdict}. {why}",
                type="goal-not-met",
            ).text = hint_text or None
        else:
            ET.SubElement(case, "system-out").text = "\n".join(g.reasons())
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
