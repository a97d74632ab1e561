"""Exercises (issue 11, offline part): strict loading, and grading reference and wrong answers.

Every shipped exercise's reference solution must pass offline; every wrong answer under
``tests/exercises/<exercise id>/`` must fail, naming the goals it misses and showing the hint an
attendee would get. A broken exercises file names the file and the key; a bad policy file names
the file and the field; both are exit 2 (``UsageError``).
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from provisioning.errors import EXIT_USAGE, UsageError
from provisioning.validation.exercise_check import check_offline, render
from provisioning.workload import demo as workload
from provisioning.workload import exercises, scenarios

DATA = Path(__file__).parent / "exercises"
SHIPPED = (
    "label-the-client",
    "deny-all-ingress",
    "client-only",
    "bookstore-api-allow",
    "dns-after-default-deny",
    "same-namespace-only",
    "db-from-backend",
    "block-metadata",
)
ALL = exercises.load_exercises()
OFFLINE = [e for e in SHIPPED if not ALL[e].live_only]

# (exercise, wrong answer, the goal groups it must fail, the hint number shown first).
WRONG = [
    ("deny-all-ingress", "both-directions", ["egress-untouched"], 3),
    ("deny-all-ingress", "allow-all-rule", ["server-closed"], 1),
    ("deny-all-ingress", "no-namespace", ["server-closed"], 1),
    ("client-only", "no-ports", ["admin-closed"], 1),
    ("client-only", "any-namespace", ["others-out"], 1),
    ("client-only", "selects-client", ["others-out", "admin-closed"], 1),
    ("client-only", "egress-type", ["others-out", "admin-closed"], 1),
    ("bookstore-api-allow", "all-pods", ["server-untouched"], 3),
    ("bookstore-api-allow", "self-peer", ["frontend-in"], 1),
    ("bookstore-api-allow", "any-namespace", ["others-out"], 1),
    ("dns-after-default-deny", "ack-name-label", ["dns", "dns-tcp"], 1),
    ("dns-after-default-deny", "udp-only", ["dns-tcp"], 3),
    ("dns-after-default-deny", "ingress-rule", ["dns", "dns-tcp"], 1),
    ("dns-after-default-deny", "allow-all-egress", ["internet-still-denied"], 4),
    ("same-namespace-only", "client-label", ["same-namespace-in"], 1),
    ("same-namespace-only", "any-namespace", ["other-namespace-out"], 1),
    ("same-namespace-only", "port-80-only", ["same-namespace-in"], 1),
    ("db-from-backend", "ored-peers", ["others-out"], 1),
    ("db-from-backend", "all-pods", ["server-untouched"], 4),
    ("db-from-backend", "udp-port", ["backend-in"], 1),
    ("block-metadata", "client-only", ["metadata-blocked"], 1),
    ("block-metadata", "cluster-only", ["internet-open"], 1),
    ("block-metadata", "deny-as-allow", ["metadata-blocked", "internet-open", "cluster-open"], 1),
    ("block-metadata", "no-policy-types", ["cluster-open"], 4),
]


def answer(exercise_id: str, name: str) -> Path:
    return DATA / exercise_id / f"{name}.yaml"


# --- the shipped data ---------------------------------------------------------------------


def test_the_shipped_exercises_are_exactly_the_issue_s_eight_in_order() -> None:
    assert tuple(ALL) == SHIPPED


def test_every_exercise_has_a_solution_and_a_baseline_scenario_that_exist() -> None:
    known = scenarios.scenario_names()
    for exercise in ALL.values():
        assert exercise.solution.is_file()
        assert exercise.solution.parent == scenarios.default_root() / "solutions"
        assert exercise.baseline.scenario in known
        assert exercise.hints and exercise.goals


@pytest.mark.parametrize("exercise_id", OFFLINE)
def test_every_offline_exercise_has_at_least_two_wrong_answers(exercise_id: str) -> None:
    assert len([w for w in WRONG if w[0] == exercise_id]) >= 2
    on_disk = {p.stem for p in (DATA / exercise_id).glob("*.yaml")}
    listed = {w[1] for w in WRONG if w[0] == exercise_id}
    assert listed <= on_disk


def test_the_model_agrees_with_the_demo_workload() -> None:
    model = exercises.workload_model(ALL["db-from-backend"])
    server = model.pod("demo/server")
    assert server is not None
    assert {(p.name, p.port, p.protocol) for p in server.ports} == {
        (p.name, p.number, p.protocol) for p in workload.SERVER.ports
    }
    assert ("admin", 8080, "TCP") in {(p.name, p.port, p.protocol) for p in server.ports}
    for pod in workload.pods():
        modelled = model.pod(pod.ref)
        assert modelled is not None and modelled.labels["app"] == pod.app
    dns = model.pod("kube-system/coredns")
    assert dns is not None and dns.labels == {"k8s-app": "kube-dns"}
    assert {(p.name, p.port, p.protocol) for p in dns.ports} == {
        ("dns", 53, "UDP"),
        ("dns-tcp", 53, "TCP"),
    }
    assert model.pod("demo/db") is not None and model.pod("demo/backend") is not None
    assert model.pod("demo/apiserver") is None  # the bookstore's pods belong to its exercise
    for name, ns in model.namespaces.items():
        assert ns.labels["kubernetes.io/metadata.name"] == name
    assert set(model.namespaces) == {"demo", "other", "kube-system"}


def test_goal_lists_expand_to_one_goal_per_source_and_port() -> None:
    goals = [g for g in ALL["deny-all-ingress"].goals if g.group == "server-closed"]
    assert len(goals) == 6
    assert {(g.source, g.port) for g in goals} == {
        (s, p) for s in ("demo/client", "demo/intruder", "other/client") for p in (80, 8080)
    }


def test_the_dns_exercise_baseline_is_default_deny_both_ways_in_demo() -> None:
    from provisioning.validation.exercise_check import baseline_policies

    policies = baseline_policies(ALL["dns-after-default-deny"])
    assert list(policies) == ["demo/default-deny-ingress", "demo/default-deny-egress"]
    assert baseline_policies(ALL["deny-all-ingress"]) == {}


# --- grading ------------------------------------------------------------------------------


@pytest.mark.parametrize("exercise_id", OFFLINE)
def test_the_reference_solution_passes_offline(exercise_id: str) -> None:
    exercise = ALL[exercise_id]
    result = check_offline(exercise, exercise.solution)
    assert result.exit_code == 0, render(result, "text")
    assert result.passed and result.met == len(exercise.goals)
    assert result.hints == () and result.more_hints == 0
    assert result.warnings == ()
    assert "goals met: done." in render(result, "text")


@pytest.mark.parametrize("exercise_id", OFFLINE)
def test_the_baseline_alone_does_not_pass(exercise_id: str, tmp_path: Path) -> None:
    """Every exercise asks for work: the baseline alone (plus a policy that selects no pod)
    fails, so a passing check means something; an empty file is bad input, not an answer."""
    inert = tmp_path / "inert.yaml"
    inert.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: inert, namespace: other}\n"
        "spec: {podSelector: {matchLabels: {app: nobody}}}\n"
    )
    result = check_offline(ALL[exercise_id], inert)
    assert result.exit_code == 1
    assert result.hints, "a failed check shows a hint"
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    with pytest.raises(UsageError, match=r"empty\.yaml: no NetworkPolicy in it"):
        check_offline(ALL[exercise_id], empty)


@pytest.mark.parametrize(("exercise_id", "name", "failed", "hint"), WRONG)
def test_a_wrong_answer_fails_naming_the_goal_and_showing_the_hint(
    exercise_id: str, name: str, failed: list[str], hint: int
) -> None:
    exercise = ALL[exercise_id]
    result = check_offline(exercise, answer(exercise_id, name))
    assert result.exit_code == 1
    assert result.failed_groups() == failed
    assert [n for n, _ in result.hints] == [hint]
    text = render(result, "text")
    assert f"Hint {hint}: {exercise.hints[hint - 1].text}" in text
    for g in result.goals:
        mark = "✓" if g.met else "✗"
        assert f"{mark} {g.goal.describe()}" in text
    # the reference solution is never shown
    assert "solutions" not in text
    assert exercise.solution.read_text() not in text


def test_a_failed_goal_says_why_with_the_analyzer_s_sentence() -> None:
    result = check_offline(ALL["client-only"], answer("client-only", "no-ports"))
    failed = [g for g in result.goals if not g.met]
    assert [g.goal.describe() for g in failed] == ["demo/client -> demo/server:8080/TCP deny"]
    assert failed[0].reasons() == [
        "egress: demo/client is not isolated for egress (no policy selects it for egress)",
        "ingress: demo/server is isolated for ingress by demo/server-allow-client and "
        "demo/server-allow-client spec.ingress[0] admits demo/client on TCP/8080",
    ]
    text = render(result, "text")
    assert "✗ demo/client -> demo/server:8080/TCP deny (got allow)" in text
    assert "5 of 6 goals met: not yet." in text


def test_a_denied_goal_names_the_direction_that_blocks_it() -> None:
    result = check_offline(ALL["db-from-backend"], answer("db-from-backend", "udp-port"))
    backend = next(g for g in result.goals if g.goal.group == "backend-in")
    assert backend.reasons() == [
        "ingress: demo/db is isolated for ingress by demo/db-allow-backend and no ingress "
        "rule admits demo/backend on TCP/5432"
    ]


def test_hints_are_progressive_on_request() -> None:
    exercise = ALL["same-namespace-only"]
    path = answer("same-namespace-only", "client-label")
    first = check_offline(exercise, path)
    assert [n for n, _ in first.hints] == [1] and first.more_hints == 2
    assert "(2 more hints: --hints 2)" in render(first, "text")
    every = check_offline(exercise, path, hints=10)
    assert [n for n, _ in every.hints] == [1, 2, 3]  # hint 4 is about the other goal
    assert every.more_hints == 0
    none = check_offline(exercise, path, hints=0)
    assert none.hints == () and none.more_hints == 3


def test_the_ack_dns_pitfall_is_a_warning_and_the_second_hint() -> None:
    """Hint 1 (egress, and a `to` matching the DNS pods) fits both DNS wrong answers; the
    ACK label pitfall is the specific hint 2, and the warning names the selector at once."""
    exercise = ALL["dns-after-default-deny"]
    result = check_offline(exercise, answer("dns-after-default-deny", "ack-name-label"), hints=2)
    assert any(
        "namespaceSelector name=kube-system matches no namespace" in w for w in result.warnings
    )
    assert any("no egress rule allows DNS" in w for w in result.warnings)
    assert [n for n, _ in result.hints] == [1, 2]
    assert "`to` must match the DNS pods" in result.hints[0][1].text
    assert "name: kube-system" in result.hints[1][1].text
    assert "kubernetes.io/metadata.name" in result.hints[1][1].text
    ingress = check_offline(exercise, answer("dns-after-default-deny", "ingress-rule"))
    assert "not an ingress rule" in ingress.hints[0][1].text


def test_the_aks_ored_peers_pitfall_is_the_db_hint_after_the_gentle_one() -> None:
    result = check_offline(ALL["db-from-backend"], answer("db-from-backend", "ored-peers"), hints=2)
    denied = {g.goal.source for g in result.goals if g.goal.group == "others-out" and not g.met}
    assert denied == {"demo/client", "demo/intruder", "demo/server"}  # other/client stays out
    assert [n for n, _ in result.hints] == [1, 2]
    assert result.hints[0][1].text.startswith("Select the database (role=db)")
    text = result.hints[1][1].text
    assert "ORed" in text and "role=frontend AND from 172.17.0.0/16" in text


def test_policy_types_mistakes_are_warned_about() -> None:
    """kubernetes/api networking/v1/types.go (v0.36.3), NetworkPolicySpec.policyTypes: "If you
    want to write an egress-only policy, you must explicitly specify policyTypes [ "Egress" ]."
    """
    result = check_offline(ALL["block-metadata"], answer("block-metadata", "no-policy-types"))
    assert (
        "policy demo/deny-metadata-egress: policyTypes is omitted, so this policy also isolates "
        "the pods it selects for ingress; with no ingress rule it admits nothing into "
        "demo/server, demo/client, demo/intruder. For an egress-only policy, set policyTypes: "
        "[Egress]"
    ) in result.warnings
    assert "policyTypes: [Egress]" in result.hints[0][1].text
    result = check_offline(ALL["client-only"], answer("client-only", "egress-type"))
    assert (
        "policy demo/server-allow-client spec.ingress has no effect: policyTypes does not list "
        "Ingress"
    ) in result.warnings


def test_a_policy_without_namespace_is_warned_about() -> None:
    result = check_offline(ALL["deny-all-ingress"], answer("deny-all-ingress", "no-namespace"))
    assert any("in namespace 'default', where the lab has no pods" in w for w in result.warnings)


def test_an_ipblock_only_answer_passes_on_the_reference_reading_with_a_cilium_note() -> None:
    exercise = ALL["block-metadata"]
    path = answer("block-metadata", "ipblock-only")
    result = check_offline(exercise, path)
    assert result.exit_code == 0
    assert result.notes == (
        "on cilium (ipBlock does not select pod IPs; cluster traffic is matched by selectors "
        "only) goal demo/client -> demo/server:80/TCP allow would not be met",
    )
    on_cilium = check_offline(exercise, path, engine="cilium")
    assert on_cilium.exit_code == 1
    assert on_cilium.failed_groups() == ["cluster-open"]
    # hint 4 (policyTypes: [Egress]) is the gentler one for this goal; the Cilium one follows
    assert [n for n, _ in on_cilium.hints] == [4] and on_cilium.more_hints == 1
    on_cilium = check_offline(exercise, path, engine="cilium", hints=2)
    assert on_cilium.hints[1][0] == 5 and "Cilium" in on_cilium.hints[1][1].text
    assert any("on reference" in n and "would be met" in n for n in on_cilium.notes)


def test_an_attendee_policy_replaces_the_baseline_policy_of_the_same_name(
    tmp_path: Path,
) -> None:
    # Replacing the baseline's default deny egress by an allow-all one is "as if applied".
    path = tmp_path / "replace.yaml"
    path.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: default-deny-egress, namespace: demo}\n"
        "spec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}\n"
    )
    result = check_offline(ALL["dns-after-default-deny"], path)
    assert result.baseline == ("demo/default-deny-ingress",)
    assert any("replaces the baseline's policy of that name" in n for n in result.notes)
    assert result.failed_groups() == ["internet-still-denied"]


def test_a_folder_of_answers_is_read_recursively(tmp_path: Path) -> None:
    exercise = ALL["block-metadata"]
    (tmp_path / "sub").mkdir()
    shutil.copy(exercise.solution, tmp_path / "sub" / "answer.yml")
    (tmp_path / "notes.txt").write_text("not a policy")
    assert check_offline(exercise, tmp_path).exit_code == 0


# --- output formats -----------------------------------------------------------------------


def test_json_carries_each_goal_s_result_and_explanation() -> None:
    result = check_offline(ALL["client-only"], answer("client-only", "any-namespace"))
    doc = json.loads(render(result, "json"))
    assert doc["exercise"] == "client-only" and doc["passed"] is False and doc["exit_code"] == 1
    assert doc["met"] == 5 and doc["total"] == 6
    bad = [g for g in doc["goals"] if not g["met"]]
    assert [(g["id"], g["from"], g["to"], g["port"], g["expect"], g["verdict"]) for g in bad] == [
        ("others-out", "other/client", "demo/server", 80, "deny", "allow")
    ]
    assert bad[0]["explanation"][1].startswith("ingress: demo/server is isolated for ingress")
    assert bad[0]["analysis"]["ingress"]["allowed_by"] == [
        {"policy": "demo/server-allow-client", "rule": "spec.ingress[0]"}
    ]
    assert doc["hints"] == [{"number": 1, "text": ALL["client-only"].hints[0].text}]
    assert doc["policies"]["yours"][0]["policy"] == "demo/server-allow-client"
    assert "solution" not in json.dumps(doc)


def test_junit_has_one_case_per_goal_and_a_failure_with_the_hint() -> None:
    result = check_offline(ALL["db-from-backend"], answer("db-from-backend", "ored-peers"))
    root = ET.fromstring(render(result, "junit"))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(result.goals) == 6
    assert suite.get("failures") == "3" and suite.get("tests") == "6"
    failures = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failures] == [
        f"demo/{p} -> demo/db:5432/TCP expect deny" for p in ("client", "intruder", "server")
    ]
    failure = failures[0].find("failure")
    assert failure is not None
    assert "expected deny, the policies give allow" in (failure.get("message") or "")
    assert (failure.text or "").startswith("hint 1: Select the database (role=db)")


def test_an_unknown_format_is_a_usage_error() -> None:
    result = check_offline(ALL["client-only"], ALL["client-only"].solution)
    with pytest.raises(UsageError, match="unknown format 'xml'; choose one of"):
        render(result, "xml")


# --- bad input: exit 2 ----------------------------------------------------------------------


def test_an_unknown_exercise_lists_the_ids() -> None:
    with pytest.raises(UsageError) as info:
        exercises.load_exercise("dns")
    assert info.value.exit_code == EXIT_USAGE
    assert "--exercise: unknown exercise 'dns'; choose one of:" in str(info.value)
    assert "dns-after-default-deny" in str(info.value)


def test_the_label_exercise_is_live_only_offline() -> None:
    exercise = ALL["label-the-client"]
    with pytest.raises(UsageError, match="checked on a live lab only") as info:
        check_offline(exercise, ALL["client-only"].solution)
    assert info.value.exit_code == EXIT_USAGE
    solution = yaml.safe_load(exercise.solution.read_text())
    assert solution["kind"] == "Pod"
    assert solution["metadata"] == {
        "name": "intruder",
        "namespace": "demo",
        "labels": {"app": "client"},
    }


def test_an_engine_that_enforces_nothing_is_refused() -> None:
    with pytest.raises(UsageError, match=r"--engine none: .* grading against it proves nothing"):
        check_offline(ALL["client-only"], ALL["client-only"].solution, engine="none")
    with pytest.raises(UsageError, match="unknown engine"):
        check_offline(ALL["client-only"], ALL["client-only"].solution, engine="weave")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # a field the API server would reject: the file, the policy and the field
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            "metadata: {name: p, namespace: demo}\n"
            "spec: {podSelector: {}, ingress: [{ports: [{port: 70000}]}]}\n",
            r"answer.yaml: policy demo/p: spec.ingress\[0\].ports\[0\].port",
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            "metadata: {name: p, namespace: demo}\n"
            "spec: {podSelector: {matchLabels: {app: 'not ok!'}}}\n",
            r"answer.yaml: policy demo/p: spec.podSelector.matchLabels",
        ),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", r"answer.yaml: a Pod is not a"),
        ("a: [unclosed\n", r"answer.yaml:2: not valid YAML"),
        ("a: 1\na: 2\n", r"answer.yaml.*duplicate key"),
    ],
)
def test_a_bad_policy_file_names_the_file_and_field(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "answer.yaml"
    path.write_text(content)
    with pytest.raises(UsageError, match=message) as info:
        check_offline(ALL["client-only"], path)
    assert info.value.exit_code == EXIT_USAGE


def test_missing_and_empty_inputs_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nothing\.yaml: no such file"):
        check_offline(ALL["client-only"], tmp_path / "nothing.yaml")
    with pytest.raises(UsageError, match="no policy files"):
        check_offline(ALL["client-only"], tmp_path)


def test_the_same_policy_in_two_files_names_both(tmp_path: Path) -> None:
    solution = ALL["client-only"].solution
    shutil.copy(solution, tmp_path / "a.yaml")
    shutil.copy(solution, tmp_path / "b.yaml")
    with pytest.raises(UsageError, match=r"b\.yaml: policy demo/server-allow-client is also in"):
        check_offline(ALL["client-only"], tmp_path)


# --- a broken exercises file names the file and the key --------------------------------------


@pytest.fixture
def lab_dir(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(scenarios.default_root(), root)
    return root


def rewrite(root: Path, old: str, new: str) -> None:
    path = root / exercises.EXERCISES_FILE
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "    title: Deny all ingress",
            "    titel: Deny all ingress",
            r"exercises\[1\]\.titel: unknown key",
        ),
        ("  - id: client-only", "  - id: deny-all-ingress", r"exercises\[2\]\.id: duplicate"),
        ("  - id: client-only", "  - id: Client_Only", r"exercises\[2\]\.id: 'Client_Only'"),
        (
            "      scenario: aks-demo",
            "      scenario: aks",
            r"exercises\[0\]\.baseline\.scenario: unknown scenario 'aks'",
        ),
        (
            "        - default-deny-egress\n",
            "        - default-deny-everything\n",
            r"exercises\[4\]\.baseline\.policies\[1\]\.template: no template",
        ),
        (
            "{id: client-in, from: demo/client,",
            "{id: client-in, from: demo/cliend,",
            r"exercises\[2\]\.goals\[0\]\.from: unknown pod 'demo/cliend'",
        ),
        (
            "port: 5432, expect: allow}",
            "port: 5433, expect: allow}",
            r"exercises\[6\]\.goals\[0\]\.port: demo/db does not listen on 5433/TCP",
        ),
        (
            "        port: [80, 8080]\n        expect: deny",
            "        port: [80, 8081]\n        expect: deny",
            r"exercises\[1\]\.goals\[0\]\.port\[1\]: demo/server does not listen on 8081/TCP",
        ),
        (
            "to: 203.0.113.10, port: 443, expect: allow}",
            "to: 10.244.0.9, port: 443, expect: allow}",
            r"exercises\[7\]\.goals\[1\]\.to: 10\.244\.0\.9 is inside the pod network",
        ),
        (
            "expect: allow}\n    hints:\n      - >-\n        Read demo-policy",
            "expect: maybe}\n    hints:\n      - >-\n        Read demo-policy",
            r"exercises\[0\]\.goals\[0\]\.expect: 'maybe'; choose one of: allow, deny",
        ),
        (
            "        when: [admin-closed]",
            "        when: [admin-open]",
            r"exercises\[2\]\.hints\[2\]\.when\[0\]: no goal with id 'admin-open'",
        ),
        (
            "    solution: block-metadata.yaml",
            "    solution: ../scenarios.yaml",
            r"exercises\[7\]\.solution: '\.\./scenarios\.yaml' must be a file name",
        ),
        (
            "    solution: block-metadata.yaml",
            "    solution: block-the-metadata.yaml",
            r"exercises\[7\]\.solution: .*block-the-metadata\.yaml does not exist",
        ),
        (
            "{namespace: demo, name: db, labels: {role: db},",
            "{namespace: demo, name: server, labels: {role: db},",
            r"exercises\[6\]\.baseline\.pods\[0\]\.name: pod demo/server is already",
        ),
        (
            "{namespace: demo, name: db, labels: {role: db},",
            "{namespace: prod, name: db, labels: {role: db},",
            r"exercises\[6\]\.baseline\.pods\[0\]\.namespace: 'prod' is not a lab namespace",
        ),
        (
            "ports: [{name: postgres, port: 5432}]",
            "ports: [{name: postgres, port: '5432'}]",
            r"exercises\[6\]\.baseline\.pods\[0\]\.ports\[0\]\.port: expected a port number",
        ),
        (
            "    hints:\n      - text: >-\n          A pod is isolated",
            "    hints: []\n    old_hints:\n      - text: >-\n          A pod is isolated",
            r"exercises\[1\]\.old_hints: unknown key",
        ),
        (
            '    article: ACK "Use network policies" (default deny)\n',
            "",
            r"exercises\[1\]\.article: missing required key",
        ),
    ],
)
def test_a_broken_exercise_names_the_file_and_key(
    lab_dir: Path, old: str, new: str, message: str
) -> None:
    rewrite(lab_dir, old, new)
    with pytest.raises(UsageError, match=r"exercises\.yaml: " + message) as info:
        exercises.load_exercises(lab_dir)
    assert info.value.exit_code == EXIT_USAGE


def test_a_duplicate_yaml_key_and_a_missing_file_are_refused(lab_dir: Path) -> None:
    rewrite(lab_dir, "    title: Deny all ingress", "    title: x\n    title: Deny all ingress")
    with pytest.raises(UsageError, match=r"exercises\.yaml.*duplicate key 'title'"):
        exercises.load_exercises(lab_dir)
    (lab_dir / exercises.EXERCISES_FILE).unlink()
    with pytest.raises(UsageError, match=r"exercises file .*exercises\.yaml: no such file"):
        exercises.load_exercises(lab_dir)


def test_an_empty_goal_list_and_empty_hints_are_refused(lab_dir: Path) -> None:
    rewrite(
        lab_dir,
        "    goals:\n      - {id: intruder-in, from: demo/intruder, to: demo/server, port: 80, "
        "expect: allow}\n",
        "    goals: []\n",
    )
    with pytest.raises(UsageError, match=r"exercises\[0\]\.goals: an exercise needs at least"):
        exercises.load_exercises(lab_dir)
