"""Permission checks for provider ``existing``: which reviews are asked, how answers become
findings, and that the real client sends correct SelfSubjectAccessReviews over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.doctor import FAIL, OK, WARN, Finding, healthy
from provisioning.kube import ClientKube, KubeError, Resource, known_resource
from provisioning.providers.existing.access import (
    AccessReport,
    Need,
    check_access,
    findings,
    policy_rules,
    required_access,
)
from provisioning.providers.existing.detect import collect
from provisioning.spec import LabSpec
from tests.fake_kube import Call, FakeKube
from tests.kube_emulator import SSAR_PATH, KubeEmulator, write_kubeconfig

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = LabSpec(name="mylab", provider="existing", namespace_suffix="-mylab")
# The namespaces the lab creates (pipeline.desired_objects), the canary's first.
LAB_NAMESPACES = ("canary-mylab", "demo-mylab", "other-mylab")
VERBS = ["get", "list", "create", "patch", "delete"]


def denies_exec_and_policy_delete(attrs: Mapping[str, Any]) -> bool | dict[str, Any]:
    if attrs.get("resource") == "pods" and attrs.get("subresource") == "exec":
        return {"allowed": False, "denied": True, "reason": "exec is off limits"}
    return not (attrs.get("resource") == "networkpolicies" and attrs.get("verb") == "delete")


def by_name(found: list[Finding]) -> dict[str, Finding]:
    return {f.name: f for f in found}


def missing(report: AccessReport) -> set[tuple[str, str, str | None]]:
    return {(a.need.verb, a.need.resource_text, a.need.namespace) for a in report.missing}


# --- what is asked -------------------------------------------------------------------------------


def test_required_access_covers_every_lab_verb_in_the_suffixed_namespaces() -> None:
    needs = required_access(SPEC)
    required = [n for n in needs if not n.optional]
    cluster = [(n.verb, n.resource) for n in required if n.namespace is None]
    assert cluster == [(v, "namespaces") for v in VERBS]
    for ns in LAB_NAMESPACES:
        here = [(n.verb, n.resource_text) for n in required if n.namespace == ns]
        assert here == [
            *((v, "pods") for v in VERBS),
            *((v, "services") for v in VERBS),
            *((v, "networkpolicies.networking.k8s.io") for v in VERBS),
            ("create", "pods/exec"),
            ("get", "pods/exec"),
        ]
    assert {n.namespace for n in required} == {None, *LAB_NAMESPACES}
    assert all(n.why for n in needs)
    assert len(set(needs)) == len(needs)


def test_detection_needs_are_optional_and_cover_every_read_collect_makes() -> None:
    optional = [n for n in required_access(SPEC) if n.optional]
    assert [str(n) for n in optional] == [
        *(
            f"{verb} {resource} cluster-wide"
            for resource in (
                "clusternetworkpolicies.policy.networking.k8s.io",
                "globalnetworkpolicies.projectcalico.org",
            )
            for verb in ("get", "list", "create", "patch", "delete")
        ),
        "list pods in namespace kube-system",  # the cluster DNS pods, for the DNS checks
        "list daemonsets.apps in all namespaces",
        "list deployments.apps in all namespaces",
        "list nodes cluster-wide",
        "get configmaps amazon-vpc-cni in namespace kube-system",
        "get configmaps cilium-config in namespace kube-system",
        "get configmaps eni-config in namespace kube-system",
        "get clusterroles.rbac.authorization.k8s.io kindnet cluster-wide",
    ]
    optional = [n for n in optional if n.resource not in ("pods", "clusternetworkpolicies")]
    # Every read collect() makes, on a cluster that makes it read the most, is one of them.
    cluster_role = Resource("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False)
    kube = FakeKube(resources=[cluster_role])
    kube.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}})
    for name in ("cilium.yaml", "terway.yaml", "kindnet.yaml"):
        for obj in yaml.safe_load_all((FIXTURES / name).read_text()):
            if obj and obj["kind"] == "DaemonSet" and obj["metadata"]["name"] == "kindnet":
                obj["spec"]["template"]["spec"]["containers"][0]["image"] = "my/kindnetd:dev"
            if obj and obj["kind"] != "Namespace":
                kube.seed(obj)
    kube.calls.clear()
    collect(kube)
    assert Call("get", "ClusterRole", None, "kindnet") in kube.calls
    assert len(kube.calls) == 7
    plural = {"ClusterRole": "clusterroles"}
    for call in kube.calls:
        resource = plural.get(call.kind) or next(
            r.plural for v in ("v1", "apps/v1") if (r := known_resource(v, call.kind))
        )
        assert any(
            n.verb == call.verb
            and n.resource == resource
            and n.namespace == call.namespace
            and n.name in ("", call.name or "")
            for n in optional
        ), call


def test_review_body_follows_the_authorization_v1_type() -> None:
    need = Need("create", "", "pods", "demo", "exec", why="probe")
    assert need.review() == {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "verb": "create",
                "group": "",
                "resource": "pods",
                "namespace": "demo",
                "subresource": "exec",
            }
        },
    }


# --- answers and findings against the in-memory API ----------------------------------------------


def test_denied_exec_and_policy_delete_are_named_exactly() -> None:
    kube = FakeKube(access=denies_exec_and_policy_delete)
    report = check_access(kube, SPEC)

    assert len(kube.reviews) == len(required_access(SPEC))
    assert {c.verb for c in kube.calls} == {"create"}
    assert missing(report) == {
        (verb, resource, ns)
        for ns in LAB_NAMESPACES
        for verb, resource in (
            ("create", "pods/exec"),
            ("get", "pods/exec"),
            ("delete", "networkpolicies.networking.k8s.io"),
        )
    }
    assert not report.ok

    found = by_name(findings(report))
    assert {n: f.status for n, f in found.items()} == {
        "permissions cluster-wide": OK,
        "permissions in namespace canary-mylab": FAIL,
        "permissions in namespace demo-mylab": FAIL,
        "permissions in namespace other-mylab": FAIL,
        "permissions for DNS checks": OK,
        "permissions for engine detection": OK,
    }
    assert not healthy(list(found.values()))
    demo = found["permissions in namespace demo-mylab"]
    assert demo.detail == (
        "missing networkpolicies.networking.k8s.io: delete; pods/exec: create, get"
    )
    assert "ClusterRole" in demo.fix and "namespace demo-mylab" in demo.fix
    assert demo.notes[:3] == (
        "not allowed: delete networkpolicies.networking.k8s.io in namespace demo-mylab "
        "(no reason given); needed to replace or remove the lab's NetworkPolicies",
        "not allowed: create pods/exec in namespace demo-mylab (exec is off limits); needed to "
        "run the probes with `kubectl exec` (SPDY; WebSocket from 1.35)",
        "not allowed: get pods/exec in namespace demo-mylab (exec is off limits); needed to "
        "run the probes with `kubectl exec` (WebSocket)",
    )
    rules = [json.loads(line[2:]) for line in demo.notes if line.startswith("- ")]
    assert rules == [
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["delete"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
    ]
    assert demo.data is not None and demo.data["missing_rules"] == rules


def test_everything_allowed_is_healthy() -> None:
    report = check_access(FakeKube(), SPEC)
    assert report.ok and report.missing == ()
    found = findings(report)
    assert [f.status for f in found] == [OK] * 6
    assert healthy(found)
    assert by_name(found)["permissions cluster-wide"].detail == (
        "all 5 allowed: namespaces: get, list, create, patch, delete"
    )


def test_missing_detection_reads_only_warn() -> None:
    def no_nodes(attrs: Mapping[str, Any]) -> bool:
        return attrs.get("resource") != "nodes"

    report = check_access(FakeKube(access=no_nodes), SPEC)
    assert report.ok
    found = findings(report)
    assert healthy(found)
    [warned] = [f for f in found if f.status != OK]
    assert (warned.name, warned.status, warned.required) == (
        "permissions for engine detection",
        WARN,
        False,
    )
    assert warned.detail.startswith("missing nodes: list; engine detection will be less sure")


def test_no_opinion_is_not_allowed_and_evaluation_errors_are_kept() -> None:
    def rule(attrs: Mapping[str, Any]) -> bool | dict[str, Any]:
        if attrs.get("resource") == "services" and attrs.get("verb") == "patch":
            return {"allowed": False, "evaluationError": "webhook authorizer timed out"}
        return True

    report = check_access(FakeKube(access=rule), SPEC)
    assert {(a.need.namespace, a.denied, a.reason) for a in report.missing} == {
        (ns, False, "webhook authorizer timed out") for ns in LAB_NAMESPACES
    }


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            KubeError(
                "selfsubjectaccessreviews.authorization.k8s.io is forbidden: User "
                '"system:anonymous" cannot create resource "selfsubjectaccessreviews"',
                status=403,
                reason="Forbidden",
            ),
            "system:basic-user",
        ),
        (KubeError("Unauthorized", status=401, reason="Unauthorized"), "credentials"),
        (KubeError("etcd is down", status=500, reason="InternalError"), "etcd is down"),
    ],
)
def test_a_refused_review_is_one_finding(error: KubeError, expected: str) -> None:
    kube = FakeKube()
    kube.fail_on("create", "SelfSubjectAccessReview", error=error)
    report = check_access(kube, SPEC)
    assert report.error is error and report.answers == ()
    [finding] = findings(report)
    assert (finding.name, finding.status, finding.required) == ("permissions", FAIL, True)
    assert expected in finding.detail + finding.fix
    assert len(kube.calls) == 1  # stops at the first refusal


def test_unreachable_api_is_one_finding_naming_server_and_cause() -> None:
    kube = FakeKube()
    kube.unreachable = True
    [finding] = findings(check_access(kube, SPEC))
    assert finding.status == FAIL
    assert finding.detail == (
        "cannot ask for permissions: the Kubernetes API at https://127.0.0.1:6443 does not "
        "answer: [Errno 111] Connection refused"
    )


def test_policy_rules_group_verbs_resources_and_names() -> None:
    needs = [
        Need("get", "", "pods", "a"),
        Need("list", "", "pods", "a"),
        Need("get", "", "services", "a"),
        Need("list", "", "services", "a"),
        Need("get", "", "configmaps", "k", name="x"),
        Need("get", "", "configmaps", "k", name="y"),
        Need("create", "", "pods", "a", "exec"),
    ]
    assert policy_rules(needs) == [
        {"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["x", "y"],
            "verbs": ["get"],
        },
    ]


# --- the real client against the HTTP emulator ---------------------------------------------------


@pytest.fixture
def emu() -> Iterator[KubeEmulator]:
    with KubeEmulator(access=denies_exec_and_policy_delete) as emulator:
        yield emulator


@pytest.fixture
def client(tmp_path: Path, emu: KubeEmulator) -> ClientKube:
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, {"mine": emu.url}, current="mine", token="user-token")
    return ClientKube(path)


def test_client_sends_one_review_per_need_and_parses_the_answers(
    client: ClientKube, emu: KubeEmulator
) -> None:
    needs = required_access(SPEC)
    report = check_access(client, SPEC)

    sent = emu.reviews()
    assert len(sent) == len(emu.requests) == len(needs)
    for request, need in zip(sent, needs, strict=True):
        assert (request.method, request.path) == ("POST", SSAR_PATH)
        assert request.headers["content-type"] == "application/json"
        assert request.headers["authorization"] == "Bearer user-token"
        body = json.loads(request.body)
        assert body["apiVersion"] == "authorization.k8s.io/v1"
        assert body["kind"] == "SelfSubjectAccessReview"
        attrs = body["spec"]["resourceAttributes"]
        assert attrs["verb"] == need.verb
        assert attrs["group"] == need.group
        assert attrs["resource"] == need.resource
        assert attrs.get("namespace", "") == (need.namespace or "")
        assert attrs.get("subresource", "") == need.subresource
        assert attrs.get("name", "") == need.name
        assert set(attrs) <= {"namespace", "verb", "group", "resource", "subresource", "name"}
    first_exec = next(
        i for i, n in enumerate(needs) if (n.namespace, n.subresource) == ("demo-mylab", "exec")
    )
    exec_review = json.loads(sent[first_exec].body)["spec"]["resourceAttributes"]
    assert exec_review == {
        "verb": "create",
        "group": "",
        "resource": "pods",
        "namespace": "demo-mylab",
        "subresource": "exec",
    }

    assert missing(report) == missing(check_access(FakeKube(access=emu.access), SPEC))
    denied = [a for a in report.missing if a.need.subresource == "exec"]
    assert denied and all(a.denied and a.reason == "exec is off limits" for a in denied)
    statuses = {f.name: f.status for f in findings(report)}
    assert statuses["permissions in namespace demo-mylab"] == FAIL
    assert statuses["permissions cluster-wide"] == OK


def test_client_forbidden_review_becomes_one_finding(client: ClientKube, emu: KubeEmulator) -> None:
    message = (
        'selfsubjectaccessreviews.authorization.k8s.io is forbidden: User "system:anonymous" '
        'cannot create resource "selfsubjectaccessreviews" in API group "authorization.k8s.io" '
        "at the cluster scope"
    )
    status = {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403}
    emu.reply("POST", SSAR_PATH, 403, status | {"message": message})
    [finding] = findings(check_access(client, SPEC))
    assert finding.status == FAIL
    assert finding.detail == (
        "the API server refused the permission check itself: create SelfSubjectAccessReview: "
        f"HTTP 403 Forbidden: {message}"
    )
    assert len(emu.requests) == 1


def test_client_unreachable_becomes_one_finding(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, {"mine": f"http://127.0.0.1:{port}"}, current="mine", token="t")
    [finding] = findings(check_access(ClientKube(path, timeout=5), SPEC))
    assert finding.status == FAIL
    assert finding.detail.startswith(
        f"cannot ask for permissions: the Kubernetes API at http://127.0.0.1:{port} does not answer"
    )
    assert "refused" in finding.detail.lower()
    assert str(path) in finding.fix


def test_client_answer_without_allowed_true_counts_as_missing(
    client: ClientKube, emu: KubeEmulator
) -> None:
    # Only ``status.allowed: true`` allows (``allowed`` is the one required status field).
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview"}
    emu.reply("POST", SSAR_PATH, 201, review | {"status": {"reason": "no verdict"}})
    report = check_access(client, SPEC)
    assert len(report.missing) == len(required_access(SPEC))
    assert all(a.reason == "no verdict" and not a.denied for a in report.missing)
    assert not healthy(findings(report))
