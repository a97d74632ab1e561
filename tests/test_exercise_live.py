"""Exercises graded live (issue 11, live part) and solved by an instructor, on the simulated
machine (tests/fake_world.py).

Each test builds a lab that holds an exercise's baseline with the real pipeline (`up` with
``spec.exercise``), then changes it the way an attendee would (policies applied to the lab, a
pod relabelled) or the way ``solve`` does (``apply_solution``), and grades it with
``check_live``. The network is ``tests.fake_network.PolicyNetwork``: it decides every probe from
the policies and pods the simulated cluster holds, so nothing in it knows what a test expects.
Every lab also gets a cluster DNS pod (kube-system, k8s-app=kube-dns), as kind has, so the DNS
goals are probed.
"""

from __future__ import annotations

import dataclasses
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.errors import OperationError, UsageError
from provisioning.lab import pipeline
from provisioning.progress import Progress
from provisioning.providers.kind.provider import KindProvider
from provisioning.spec import LabSpec
from provisioning.validation.exercise_check import (
    NOT_ENFORCED,
    NOT_ENFORCED_LINE,
    OUTSIDE,
    PROBED,
    apply_solution,
    check_live,
    check_offline,
    render,
)
from provisioning.validation.probe import Outcome, ProbeResult
from provisioning.workload import exercises
from provisioning.workload.exercises import physical_names, rename_namespaces, solution_objects
from tests.fake_network import PolicyNetwork
from tests.fake_world import World
from tests.test_exercises import DATA, SHIPPED, WRONG

ALL = exercises.load_exercises()
LAB = "netpol-lab"
SUFFIX = "-lab1"


def make(world: World, tmp_path: Path, **spec_fields: Any) -> pipeline.Context:
    spec = LabSpec(state_root=tmp_path / "state", **spec_fields)
    provider = KindProvider(world, kube_factory=world.kube_factory())
    progress = Progress(io.StringIO(), spinner=False)
    ctx = pipeline.build_context(spec, world, progress, provider=provider)
    now = [0.0]  # simulated time: waits, the canary and re-probes pass without real sleeping
    ctx.clock = lambda: now[0]
    ctx.sleep = lambda s: now.__setitem__(0, now[0] + max(s, 0.25))
    return ctx


class ClusterOf:
    """The lab's simulated cluster, looked up when used (it exists only once `up` made it)."""

    def __init__(self, world: World, name: str = LAB) -> None:
        self.world, self.name = world, name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.world.clusters[self.name], attr)


COREDNS = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "coredns-7db6d8ff4d-x2k9q",
        "namespace": "kube-system",
        "labels": {"k8s-app": "kube-dns"},
    },
    "spec": {
        "containers": [
            {
                "name": "coredns",
                "image": "registry.k8s.io/coredns/coredns:v1.11.3",
                "ports": [
                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
                ],
            }
        ]
    },
}


def lab(
    tmp_path: Path,
    exercise_id: str,
    *,
    engine: str = "calico",
    enforcing: bool = True,
    dns: bool = True,
    network_engine: str = "reference",
    **fields: Any,
) -> tuple[World, pipeline.Context]:
    """A lab holding ``exercise_id``'s baseline, its network simulated by PolicyNetwork."""
    world = World()
    exercise = ALL[exercise_id]
    ctx = make(
        world,
        tmp_path,
        exercise=exercise_id,
        scenario=exercise.baseline.scenario,
        engine=engine,
        **fields,
    )
    result = pipeline.up(ctx, validate=False)
    assert result.executed
    if dns:
        world.clusters[LAB].apply([COREDNS])
    ctx.probe_executor = PolicyNetwork(ClusterOf(world), enforcing=enforcing, engine=network_engine)
    return world, ctx


def apply_answer(ctx: pipeline.Context, path: Path) -> None:
    """An attendee's ``kubectl apply -f FILE``: a policy without a namespace goes to default."""
    names = physical_names(ctx.spec.namespace_suffix)
    objects = []
    for doc in yaml.safe_load_all(path.read_text()):
        if doc is None:
            continue
        doc = rename_namespaces(doc, names)
        doc["metadata"].setdefault("namespace", "default")
        objects.append(doc)
    ctx.kube.apply(objects)


def relabel(ctx: pipeline.Context, namespace: str, name: str, **labels: str) -> None:
    """An attendee's ``kubectl label pod NAME -n NS KEY=VALUE --overwrite``."""
    pod = ctx.kube.get("v1", "Pod", name, namespace)
    assert pod is not None
    pod.pop("status", None)
    pod["metadata"]["labels"] = {**pod["metadata"]["labels"], **labels}
    ctx.kube.apply([pod])


def text_of(result: Any) -> str:
    return render(result, "text")


# --- every exercise: the bare baseline fails, the solution passes -----------------------------


@pytest.mark.parametrize("exercise_id", SHIPPED)
def test_the_baseline_fails_live_and_the_solution_passes(exercise_id: str, tmp_path: Path) -> None:
    exercise = ALL[exercise_id]
    _, ctx = lab(tmp_path, exercise_id)

    bare = check_live(exercise, ctx)
    assert bare.exit_code == 1 and bare.mode == "live"
    assert bare.failed_groups(), "the bare baseline must miss a goal"
    text = text_of(bare)
    for g in bare.goals:
        if not g.met:
            assert f"✗ {g.goal.describe()} (got {g.result.verdict})" in text
    assert bare.hints
    if not exercise.live_only:  # the same grading as offline on the same baseline
        inert = tmp_path / "inert.yaml"
        inert.write_text(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            "metadata: {name: inert, namespace: other}\n"
            "spec: {podSelector: {matchLabels: {app: nobody}}}\n"
        )
        offline = check_offline(exercise, inert)
        assert bare.failed_groups() == offline.failed_groups()
        assert [g.result.verdict for g in bare.goals] == [g.result.verdict for g in offline.goals]

    applied = apply_solution(ctx, exercise)
    assert applied
    solved = check_live(exercise, ctx)
    assert solved.exit_code == 0, text_of(solved)
    assert solved.passed and solved.hints == () and solved.warnings == ()
    counts = solved.probe_counts()
    assert counts["disagree"] == 0 and counts["errors"] == 0
    assert counts["probed"] == sum(not g.outside for g in exercise.goals)
    for g in solved.goals:
        assert g.evidence is not None
        assert g.evidence.kind == (OUTSIDE if g.goal.outside else PROBED)
        if not g.goal.outside:
            assert g.evidence.agrees is True and g.evidence.attempts == 1
    assert "goals met: done." in text_of(solved)
    # the solution shows as the attendee's own work, the baseline as the baseline
    policies = [a for a in applied if a.startswith("NetworkPolicy ")]
    assert len(solved.attendee) == len(policies)


@pytest.mark.parametrize("exercise_id", SHIPPED)
def test_the_solution_passes_on_a_lab_with_suffixed_namespaces(
    exercise_id: str, tmp_path: Path
) -> None:
    exercise = ALL[exercise_id]
    world, ctx = lab(tmp_path, exercise_id, namespace_suffix=SUFFIX)
    namespaces = {n["metadata"]["name"] for n in world.clusters[LAB].list("v1", "Namespace")}
    assert {f"demo{SUFFIX}", f"other{SUFFIX}"} <= namespaces and "demo" not in namespaces

    assert check_live(exercise, ctx).exit_code == 1
    applied = apply_solution(ctx, exercise)
    assert all(f"demo{SUFFIX}/" in a for a in applied)
    solved = check_live(exercise, ctx)
    assert solved.exit_code == 0, text_of(solved)
    assert solved.probe_counts()["disagree"] == 0
    # the output names the logical namespaces, as the goals do
    assert f"demo{SUFFIX}" not in "\n".join(line for g in solved.goals for line in g.reasons())
    assert json.loads(render(solved, "json"))["lab"]["namespace_suffix"] == SUFFIX


# --- wrong answers applied to the lab -------------------------------------------------------


@pytest.mark.parametrize(("exercise_id", "name", "failed", "hint"), WRONG)
def test_a_wrong_answer_applied_to_the_lab_fails_naming_the_goal(
    exercise_id: str, name: str, failed: list[str], hint: int, tmp_path: Path
) -> None:
    exercise = ALL[exercise_id]
    path = DATA / exercise_id / f"{name}.yaml"
    _, ctx = lab(tmp_path, exercise_id)
    apply_answer(ctx, path)

    result = check_live(exercise, ctx)
    assert result.exit_code == 1
    assert result.failed_groups() == failed
    assert [n for n, _ in result.hints] == [hint]
    text = text_of(result)
    assert f"Hint {hint}: {exercise.hints[hint - 1].text}" in text
    for g in result.goals:
        assert f"{'✓' if g.met else '✗'} {g.goal.describe()}" in text
    # the network does what the policies say: every probe agrees
    assert result.probe_counts()["disagree"] == 0 and result.probe_counts()["errors"] == 0
    # graded like the same file offline
    offline = check_offline(exercise, path)
    assert [g.met for g in result.goals] == [g.met for g in offline.goals]
    assert "solutions" not in text and exercise.solution.read_text() not in text


def test_a_policy_without_namespace_is_not_in_the_lab(tmp_path: Path) -> None:
    """kubectl apply put it in default: the live check does not see it, so nothing changed."""
    _, ctx = lab(tmp_path, "deny-all-ingress")
    apply_answer(ctx, DATA / "deny-all-ingress" / "no-namespace.yaml")
    assert ctx.kube.get("networking.k8s.io/v1", "NetworkPolicy", "deny-all", "default")
    result = check_live(ALL["deny-all-ingress"], ctx)
    assert result.attendee == () and result.failed_groups() == ["server-closed"]


# --- label-the-client: a pod's live labels are the answer -------------------------------------


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        ({"role": "client"}, "a label the policy does not select"),
        ({"app": "clients"}, "a typo in the value"),
    ],
)
def test_label_the_client_wrong_labels_fail_live(
    labels: dict[str, str], why: str, tmp_path: Path
) -> None:
    exercise = ALL["label-the-client"]
    _, ctx = lab(tmp_path, "label-the-client")
    relabel(ctx, "demo", "intruder", **labels)
    result = check_live(exercise, ctx)
    assert result.failed_groups() == ["intruder-in"], why
    (goal,) = result.goals
    assert goal.evidence is not None and goal.evidence.outcome == "blocked"
    assert goal.evidence.agrees is True


def test_label_the_client_relabelled_by_hand_passes_and_the_policies_are_unchanged(
    tmp_path: Path,
) -> None:
    exercise = ALL["label-the-client"]
    _, ctx = lab(tmp_path, "label-the-client")
    relabel(ctx, "demo", "intruder", app="client")
    result = check_live(exercise, ctx)
    assert result.exit_code == 0
    assert result.baseline == ("demo/demo-policy",) and result.attendee == ()
    (goal,) = result.goals
    assert goal.evidence is not None and goal.evidence.outcome == "connected"
    assert "demo/demo-policy spec.ingress[0] admits demo/intruder on TCP/80" in text_of(result)


def test_solve_relabels_the_pod_and_keeps_its_spec_and_lab_labels(tmp_path: Path) -> None:
    exercise = ALL["label-the-client"]
    world, ctx = lab(tmp_path, "label-the-client", namespace_suffix=SUFFIX)
    before = world.clusters[LAB].get("v1", "Pod", "intruder", f"demo{SUFFIX}")
    assert apply_solution(ctx, exercise) == [f"Pod demo{SUFFIX}/intruder: labels app=client"]
    after = world.clusters[LAB].get("v1", "Pod", "intruder", f"demo{SUFFIX}")
    assert after["spec"] == before["spec"]
    assert after["status"]["podIP"] == before["status"]["podIP"]  # the same pod, relabelled
    assert after["metadata"]["labels"] == {**before["metadata"]["labels"], "app": "client"}
    assert after["metadata"]["labels"]["netpol-lab.io/lab"] == LAB
    # a later `up` leaves it alone, as after `kubectl label`
    again = pipeline.up(
        make(
            world,
            tmp_path,
            exercise="label-the-client",
            scenario="aks-demo",
            namespace_suffix=SUFFIX,
        )
    )
    assert again.plan.changes == ()


# --- engines that do not enforce ------------------------------------------------------------


def test_engine_none_grades_from_the_policies_only(tmp_path: Path) -> None:
    exercise = ALL["client-only"]
    world, ctx = lab(tmp_path, "client-only", engine="none", enforcing=False)
    network = ctx.probe_executor

    bare = check_live(exercise, ctx)
    assert bare.lab is not None and bare.lab.enforced == "no" and not bare.lab.enforces
    assert bare.engine == "reference"  # the API reading: what the policies say
    text = text_of(bare)
    assert NOT_ENFORCED_LINE in text
    assert "probe:" not in text  # nothing probed, no goal blamed on the network
    assert all(g.evidence is not None and g.evidence.kind == NOT_ENFORCED for g in bare.goals)
    rounds = network.rounds  # the canary's only

    apply_solution(ctx, exercise)
    solved = check_live(exercise, ctx)
    assert solved.exit_code == 0, text_of(solved)
    assert NOT_ENFORCED_LINE in text_of(solved)
    # every connection is open on this lab, yet the deny goals are met: the policies decide
    assert network.rounds > rounds  # the canary ran again; no goal probe did
    assert not [a for a in network.answers if a.probe.startswith("demo/intruder -> demo/server")]
    doc = json.loads(render(solved, "json"))
    assert doc["lab"]["graded_from_policies_only"] is True
    assert doc["goals"][0]["probe"]["status"] == NOT_ENFORCED
    assert world.clusters[LAB].cilium_values["policyEnforcementMode"] == "never"


def test_an_engine_that_should_enforce_and_does_not_fails_in_the_canary(tmp_path: Path) -> None:
    exercise = ALL["client-only"]
    _, ctx = lab(tmp_path, "client-only", engine="calico", enforcing=False)
    apply_solution(ctx, exercise)
    with pytest.raises(OperationError, match="policies are not enforced here") as err:
        check_live(exercise, ctx)
    assert "engine calico should enforce" in str(err.value)
    assert ctx.canary.enforced == "no"


# --- probes next to the policies --------------------------------------------------------------


class LetsTheIntruderThrough:
    """An engine with a bug: it enforces (the canary passes) but never stops demo/intruder."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def run(self, probes, timeout):  # type: ignore[no-untyped-def]
        return [
            ProbeResult(r.probe, Outcome.CONNECTED, "", 0.01)
            if r.probe.source.name == "intruder"
            else r
            for r in self.inner.run(probes, timeout)
        ]


def test_a_network_that_disagrees_is_shown_and_not_blamed_on_the_attendee(tmp_path: Path) -> None:
    exercise = ALL["client-only"]
    _, ctx = lab(tmp_path, "client-only")
    ctx.probe_executor = LetsTheIntruderThrough(ctx.probe_executor)
    apply_solution(ctx, exercise)

    result = check_live(exercise, ctx)
    assert result.exit_code == 0  # the policies decide
    wrong = result.disagreeing()
    assert [g.goal.describe() for g in wrong] == [
        "demo/intruder -> demo/server:80/TCP deny",
        "demo/intruder -> demo/server:8080/TCP deny",
    ]
    assert all(g.met for g in wrong)
    assert wrong[0].evidence is not None and wrong[0].evidence.attempts > 1  # re-probed
    text = text_of(result)
    assert "probe: connected: the network let it through although the policies say deny" in text
    assert "not your doing" in text
    assert any("not your answer" in n for n in result.notes)
    assert "2 disagree" in text
    junit = ET.fromstring(render(result, "junit"))
    outs = [c.findtext("system-out") or "" for c in junit.iter("testcase")]
    assert sum("although the policies say deny" in o for o in outs) == 2


def test_a_policy_the_engine_has_not_programmed_yet_is_probed_again(tmp_path: Path) -> None:
    exercise = ALL["client-only"]
    world, ctx = lab(tmp_path, "client-only")
    ctx.run_canary = False  # so the first probe round is the goals'
    ctx.probe_executor = PolicyNetwork(ClusterOf(world), enforcing=True, lag_rounds=2)
    apply_solution(ctx, exercise)
    result = check_live(exercise, ctx)
    assert result.exit_code == 0
    assert result.probe_counts()["disagree"] == 0
    assert max(g.evidence.attempts for g in result.goals if g.evidence) == 3
    assert result.lab is not None and result.lab.enforced == ""


def test_the_lab_s_engine_reads_the_policies(tmp_path: Path) -> None:
    """An ipBlock-only answer to block-metadata: met on calico, where ipBlock matches pod IPs;
    not on cilium, where it does not. Graded by default as the lab's engine reads them."""
    path = DATA / "block-metadata" / "ipblock-only.yaml"
    exercise = ALL["block-metadata"]
    _, calico = lab(tmp_path / "c", "block-metadata", engine="calico")
    apply_answer(calico, path)
    assert check_live(exercise, calico).exit_code == 0

    _, cilium = lab(tmp_path / "i", "block-metadata", engine="cilium", network_engine="cilium")
    apply_answer(cilium, path)
    result = check_live(exercise, cilium)
    assert result.engine == "cilium" and result.failed_groups() == ["cluster-open"]
    cluster_open = next(g for g in result.goals if g.goal.group == "cluster-open")
    assert cluster_open.evidence is not None and cluster_open.evidence.outcome == "blocked"
    assert cluster_open.evidence.agrees is True
    # graded as the API reads them on request: the network still agrees with cilium's reading
    as_reference = check_live(exercise, cilium, engine="reference")
    assert as_reference.exit_code == 0 and as_reference.probe_counts()["disagree"] == 0
    assert "(engine cilium, read as reference)" in text_of(as_reference)


def test_outside_goals_are_graded_from_the_policies_and_say_so(tmp_path: Path) -> None:
    exercise = ALL["block-metadata"]
    _, ctx = lab(tmp_path, "block-metadata")
    apply_solution(ctx, exercise)
    result = check_live(exercise, ctx)
    outside = [g for g in result.goals if g.goal.outside]
    assert len(outside) == 3 and all(g.evidence.kind == OUTSIDE for g in outside)  # type: ignore[union-attr]
    text = text_of(result)
    assert (
        "✓ demo/client -> 169.254.169.254:80/TCP deny [outside the cluster: graded from the "
        "policies only]"
    ) in text
    assert "probes: 1 of 4 goals probed through the lab, 1 agree with the policies" in text


def test_dns_goals_without_readable_dns_pods_are_graded_but_not_probed(tmp_path: Path) -> None:
    exercise = ALL["dns-after-default-deny"]
    _, ctx = lab(tmp_path, "dns-after-default-deny", dns=False)
    apply_solution(ctx, exercise)
    result = check_live(exercise, ctx)
    assert result.exit_code == 0
    dns = [g for g in result.goals if g.goal.target == "kube-system/coredns"]
    assert all(g.evidence is not None and g.evidence.kind == "not-probed" for g in dns)
    assert any("could not be read" in n and "stand-in" in n for n in result.notes)


# --- suffixed namespaces: what was written vs what the lab names --------------------------------


def test_a_selector_naming_the_logical_namespace_on_a_suffixed_lab_is_caught(
    tmp_path: Path,
) -> None:
    """On a lab whose demo is demo-lab1, `kubernetes.io/metadata.name: demo` selects another
    namespace (or none): graded so, and warned about with the lab's real name."""
    exercise = ALL["same-namespace-only"]
    _, ctx = lab(tmp_path, "same-namespace-only", namespace_suffix=SUFFIX)

    def answer(selected: str) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "same-ns", "namespace": f"demo{SUFFIX}"},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": selected}
                                }
                            }
                        ]
                    }
                ],
            },
        }

    ctx.kube.apply([answer("demo")])
    wrong = check_live(exercise, ctx)
    assert wrong.failed_groups() == ["same-namespace-in"]
    assert any(
        "kubernetes.io/metadata.name=demo matches none of this lab's namespaces: here demo is "
        f"named 'demo{SUFFIX}'" in w
        for w in wrong.warnings
    ), wrong.warnings
    assert wrong.probe_counts()["disagree"] == 0  # the network agrees: it selects nothing

    ctx.kube.apply([answer(f"demo{SUFFIX}")])
    right = check_live(exercise, ctx)
    assert right.exit_code == 0 and right.warnings == ()
    assert right.attendee == (("demo/same-ns", ""),)


# --- output formats -------------------------------------------------------------------------


def test_json_and_junit_carry_the_probes(tmp_path: Path) -> None:
    exercise = ALL["db-from-backend"]
    _, ctx = lab(tmp_path, "db-from-backend")
    apply_answer(ctx, DATA / "db-from-backend" / "ored-peers.yaml")
    result = check_live(exercise, ctx)

    doc = json.loads(render(result, "json"))
    assert doc["mode"] == "live" and doc["exit_code"] == 1
    assert doc["lab"] == {
        "name": LAB,
        "engine": "calico",
        "namespace_suffix": "",
        "enforced": "yes",
        "graded_from_policies_only": False,
    }
    assert doc["probes"]["probed"] == 6 and doc["probes"]["agree"] == 6
    bad = [g for g in doc["goals"] if not g["met"]]
    assert [g["from"] for g in bad] == ["demo/client", "demo/intruder", "demo/server"]
    assert bad[0]["probe"]["outcome"] == "connected" and bad[0]["probe"]["agrees"] is True
    assert bad[0]["probe"]["probe"] == "demo/client -> demo/db:5432/TCP"
    assert doc["policies"]["yours"] == [{"policy": "demo/db-allow-backend", "file": None}]

    suite = ET.fromstring(render(result, "junit")).find("testsuite")
    assert suite is not None and suite.get("name") == "goals (calico, live)"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props == {"lab": LAB, "lab-engine": "calico", "enforced": "yes"}
    failure = next(
        c.find("failure") for c in suite.iter("testcase") if c.find("failure") is not None
    )
    assert failure is not None
    assert "probe: connected (the network agrees with the policies)" in (
        failure.get("message") or ""
    )


# --- labs that cannot be graded, and bad usage ---------------------------------------------------


def test_a_lab_holding_another_baseline_is_refused(tmp_path: Path) -> None:
    _, ctx = lab(tmp_path, "client-only")
    with pytest.raises(UsageError, match=r"holds the baseline of exercise 'client-only',") as err:
        check_live(ALL["db-from-backend"], ctx)
    assert "invoke exercise start db-from-backend" in str(err.value)
    with pytest.raises(UsageError, match="not the baseline of exercise 'db-from-backend'"):
        apply_solution(ctx, ALL["db-from-backend"])


def test_a_goal_s_missing_pod_is_named(tmp_path: Path) -> None:
    world, ctx = lab(tmp_path, "db-from-backend", namespace_suffix=SUFFIX)
    world.clusters[LAB].delete("v1", "Pod", "backend", f"demo{SUFFIX}")
    with pytest.raises(
        OperationError, match=f"goals need demo{SUFFIX}/backend \\(not in the lab\\)"
    ):
        check_live(ALL["db-from-backend"], ctx)


def test_an_engine_that_enforces_nothing_cannot_be_asked_to_grade(tmp_path: Path) -> None:
    _, ctx = lab(tmp_path, "client-only")
    with pytest.raises(UsageError, match=r"--engine none: .* proves nothing"):
        check_live(ALL["client-only"], ctx, engine="none")
    with pytest.raises(UsageError, match="--hints"):
        check_live(ALL["client-only"], ctx, hints=-1)


# --- solution objects ---------------------------------------------------------------------------


def test_solution_objects_map_namespaces_and_selector_values(tmp_path: Path) -> None:
    spec = LabSpec(state_root=tmp_path, namespace_suffix=SUFFIX)
    (pod,) = solution_objects(ALL["label-the-client"], spec)
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "intruder", "namespace": f"demo{SUFFIX}", "labels": {"app": "client"}},
    }
    (dns,) = solution_objects(ALL["dns-after-default-deny"], spec)
    assert dns["metadata"]["namespace"] == f"demo{SUFFIX}"
    peer = dns["spec"]["egress"][0]["to"][0]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }

    custom = tmp_path / "custom.yaml"
    custom.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: p, namespace: other}\n"
        "spec:\n  podSelector: {}\n  ingress:\n  - from:\n"
        "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: demo}}\n"
        "    - namespaceSelector:\n        matchExpressions:\n"
        "        - {key: kubernetes.io/metadata.name, operator: In, values: [other, kube-system]}\n"
    )
    (policy,) = solution_objects(dataclasses.replace(ALL["client-only"], solution=custom), spec)
    assert policy["metadata"]["namespace"] == f"other{SUFFIX}"
    peers = policy["spec"]["ingress"][0]["from"]
    assert peers[0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": f"demo{SUFFIX}"
    }
    assert peers[1]["namespaceSelector"]["matchExpressions"][0]["values"] == [
        f"other{SUFFIX}",
        "kube-system",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: demo}\n", "v1/Service"),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: demo, labels: {a: b}}\n"
            "spec: {containers: []}\n",
            "labels only",
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            "metadata: {name: p, namespace: default}\nspec: {podSelector: {}}\n",
            "metadata.namespace is 'default'",
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            "metadata: {name: p, namespace: demo}\nspec: {podSelector: {}, ingress: [{ports: "
            "[{port: 70000}]}]}\n",
            r"spec.ingress\[0\].ports\[0\].port",
        ),
        ("a: 1\na: 2\n", "duplicate key"),
        ("# nothing\n", "holds no object"),
    ],
)
def test_a_broken_solution_names_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "solution.yaml"
    path.write_text(content)
    broken = dataclasses.replace(ALL["client-only"], solution=path)
    with pytest.raises(UsageError, match=message) as err:
        solution_objects(broken, LabSpec(state_root=tmp_path))
    assert "solution.yaml" in str(err.value)


class Recording:
    """The lab's API, recording each apply (kinds and dry run) before passing it on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.applies: list[tuple[list[str], bool]] = []

    def apply(self, objects, *, dry_run=False):  # type: ignore[no-untyped-def]
        self.applies.append(([o["kind"] for o in objects], dry_run))
        return self.inner.apply(objects, dry_run=dry_run)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)


def test_solve_dry_runs_first_and_a_rejected_policy_changes_nothing(tmp_path: Path) -> None:
    from provisioning.kube import KubeError

    exercise = ALL["client-only"]
    world, ctx = lab(tmp_path, "client-only")
    recording = Recording(ctx.kube)
    ctx._kube = recording
    assert apply_solution(ctx, exercise) == ["NetworkPolicy demo/server-allow-client"]
    assert recording.applies == [(["NetworkPolicy"], True), (["NetworkPolicy"], False)]

    # two policies, the second rejected: the dry run stops it before the first is applied
    two = tmp_path / "two.yaml"
    two.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: first, namespace: demo}\nspec: {podSelector: {}}\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: second, namespace: demo}\nspec: {podSelector: {}}\n"
    )
    world.clusters[LAB].fail_on(
        "apply", "NetworkPolicy", "second", error=KubeError("admission webhook denied it")
    )
    with pytest.raises(KubeError, match="denied"):
        apply_solution(ctx, dataclasses.replace(exercise, solution=two))
    names = {
        p["metadata"]["name"]
        for p in world.clusters[LAB].list("networking.k8s.io/v1", "NetworkPolicy", "demo")
    }
    assert names == {"server-allow-client"}
