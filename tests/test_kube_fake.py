"""Logic tests for the in-memory ``FakeKube``: the semantics other tests rely on must hold."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.kube import KubeApi, KubeError, KubeUnreachable, Resource
from provisioning.spec import FIELD_MANAGER
from tests.fake_kube import Call, FakeKube, parse_selector, selector_matches


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(name: str, namespace: str = "demo", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "agnhost"}]},
    }


def policy(name: str, namespace: str = "demo") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


def test_satisfies_the_protocol(kube: FakeKube) -> None:
    api: KubeApi = kube  # a type checker verifies this; the call proves it at runtime
    assert api.server_version() == "v1.36.1"


def test_apply_creates_with_server_fields_and_manager(kube: FakeKube) -> None:
    [created_ns, created] = kube.apply([ns("demo"), pod("server", app="server")])
    assert created_ns["status"] == {"phase": "Active"}
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["resourceVersion"]
    assert meta["generation"] == 1
    assert [m["manager"] for m in meta["managedFields"]] == [FIELD_MANAGER]
    assert meta["managedFields"][0]["operation"] == "Apply"
    assert kube.get("v1", "Pod", "server", "demo") == created


def test_reapply_keeps_uid_and_status_and_bumps_versions(kube: FakeKube) -> None:
    kube.apply([ns("demo")])
    [first] = kube.apply([pod("server", app="server")])
    kube.set_status("v1", "Pod", "server", "demo", {"phase": "Running"})
    [same] = kube.apply([pod("server", app="server")])
    changed = pod("server", app="server", tier="web")
    changed["spec"]["containers"][0]["image"] = "agnhost:2.56"
    [second] = kube.apply([changed])

    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert second["status"] == {"phase": "Running"}
    assert second["metadata"]["labels"] == {"app": "server", "tier": "web"}
    assert second["spec"]["containers"][0]["image"] == "agnhost:2.56"
    versions = [int(o["metadata"]["resourceVersion"]) for o in (first, same, second)]
    assert versions == sorted(set(versions))
    assert same["metadata"]["generation"] == 1  # labels/no-op do not bump generation
    assert second["metadata"]["generation"] == 2
    assert len(second["metadata"]["managedFields"]) == 1


def test_apply_ignores_status_in_the_applied_object(kube: FakeKube) -> None:
    kube.apply([ns("demo")])
    obj = pod("server") | {"status": {"phase": "Succeeded"}}
    [created] = kube.apply([obj])
    assert "status" not in created


def test_reapply_keeps_other_managers_and_replaces_ours(kube: FakeKube) -> None:
    kube.apply([ns("demo")])
    seeded = pod("server")
    seeded["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Update"}]
    kube.seed(seeded)
    kube.apply([pod("server")])
    [again] = kube.apply([pod("server")])
    assert [m["manager"] for m in again["metadata"]["managedFields"]] == ["kubectl", FIELD_MANAGER]


def test_namespaced_object_needs_its_namespace(kube: FakeKube) -> None:
    with pytest.raises(KubeError) as err:
        kube.apply([pod("server", namespace="ghost")])
    assert err.value.status == 404
    assert 'namespaces "ghost" not found' in str(err.value)
    assert "Pod/ghost/server" in str(err.value)
    assert kube.objects() == []


def test_namespaced_object_without_namespace_is_refused(kube: FakeKube) -> None:
    obj = pod("server")
    del obj["metadata"]["namespace"]
    with pytest.raises(KubeError, match=r"set metadata\.namespace"):
        kube.apply([obj])


def test_apply_stops_at_first_failure_keeping_earlier_objects(kube: FakeKube) -> None:
    with pytest.raises(KubeError):
        kube.apply([ns("demo"), pod("a"), pod("b", namespace="other"), pod("c")])
    assert [o["metadata"]["name"] for o in kube.objects()] == ["demo", "a"]


def test_dry_run_changes_nothing_but_still_validates(kube: FakeKube) -> None:
    [would] = kube.apply([ns("demo")], dry_run=True)
    assert would["metadata"]["name"] == "demo"
    assert kube.objects() == []
    with pytest.raises(KubeError, match="not found"):
        kube.apply([pod("server")], dry_run=True)


def test_cluster_scoped_kinds_drop_namespace(kube: FakeKube) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "installations.operator.tigera.io", "namespace": "x"},
        "spec": {},
    }
    [created] = kube.apply([crd])
    assert "namespace" not in created["metadata"]
    name = "installations.operator.tigera.io"
    assert kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)


def test_get_missing_is_none_and_copies_are_independent(kube: FakeKube) -> None:
    assert kube.get("v1", "Namespace", "demo") is None
    kube.apply([ns("demo")])
    got = kube.get("v1", "Namespace", "demo")
    assert got is not None
    got["metadata"]["labels"]["mutated"] = "yes"
    assert "mutated" not in kube.get("v1", "Namespace", "demo")["metadata"]["labels"]


def test_list_filters_by_kind_namespace_and_selector(kube: FakeKube) -> None:
    kube.apply([ns("demo"), ns("other")])
    kube.apply([pod("server", app="server"), pod("client", app="client")])
    kube.apply([pod("client", namespace="other", app="client"), policy("deny")])

    def names(items: list[dict[str, Any]]) -> list[str]:
        return [f"{o['metadata'].get('namespace')}/{o['metadata']['name']}" for o in items]

    assert names(kube.list("v1", "Pod")) == ["demo/client", "demo/server", "other/client"]
    assert names(kube.list("v1", "Pod", "demo")) == ["demo/client", "demo/server"]
    assert names(kube.list("v1", "Pod", label_selector="app=client")) == [
        "demo/client",
        "other/client",
    ]
    assert names(kube.list("v1", "Pod", "other", "app in (server)")) == []
    assert names(kube.list("networking.k8s.io/v1", "NetworkPolicy")) == ["demo/deny"]
    assert names(kube.list("v1", "Namespace", "demo")) == ["None/demo", "None/other"]


def test_delete_reports_whether_it_existed(kube: FakeKube) -> None:
    kube.apply([ns("demo"), pod("server")])
    assert kube.delete("v1", "Pod", "server", "demo") is True
    assert kube.delete("v1", "Pod", "server", "demo") is False
    assert kube.get("v1", "Pod", "server", "demo") is None


def test_deleting_a_namespace_deletes_its_objects_only(kube: FakeKube) -> None:
    kube.apply([ns("demo"), ns("other"), pod("server"), policy("deny")])
    kube.apply([pod("client", namespace="other")])
    assert kube.delete("v1", "Namespace", "demo") is True
    assert [o["metadata"]["name"] for o in kube.objects()] == ["other", "client"]


def test_calls_are_recorded_in_order(kube: FakeKube) -> None:
    kube.apply([ns("demo")])
    kube.get("v1", "Pod", "server", "demo")
    kube.list("v1", "Pod", "demo", "app=x")
    kube.delete("v1", "Namespace", "demo")
    kube.server_version()
    assert kube.calls == [
        Call("apply", "Namespace", None, "demo"),
        Call("get", "Pod", "demo", "server"),
        Call("list", "Pod", "demo", None),
        Call("delete", "Namespace", None, "demo"),
        Call("server_version", "", None, None),
    ]


def test_unreachable_makes_every_call_raise(kube: FakeKube) -> None:
    kube.apply([ns("demo")])
    kube.unreachable = True
    calls = [
        lambda: kube.apply([ns("x")]),
        lambda: kube.get("v1", "Namespace", "demo"),
        lambda: kube.list("v1", "Namespace"),
        lambda: kube.delete("v1", "Namespace", "demo"),
        kube.server_version,
    ]
    for call in calls:
        with pytest.raises(KubeUnreachable, match="cannot reach the Kubernetes API"):
            call()
    kube.unreachable = False
    assert kube.get("v1", "Namespace", "demo") is not None


def test_fail_on_injects_errors_a_given_number_of_times(kube: FakeKube) -> None:
    boom = KubeError("admission webhook denied", status=422, reason="Invalid")
    kube.fail_on("apply", "Namespace", "demo", error=boom, times=1)
    with pytest.raises(KubeError) as err:
        kube.apply([ns("demo")])
    assert err.value is boom
    assert kube.apply([ns("demo")])[0]["metadata"]["name"] == "demo"
    kube.fail_on("list")
    for _ in range(2):
        with pytest.raises(KubeError, match="HTTP 500"):
            kube.list("v1", "Pod")


def test_seed_requires_namespace_and_keeps_status(kube: FakeKube) -> None:
    with pytest.raises(KubeError, match='namespaces "demo" not found'):
        kube.seed(pod("server"))
    kube.seed(ns("demo"))
    seeded = kube.seed(pod("server") | {"status": {"phase": "Pending"}})
    assert seeded["status"] == {"phase": "Pending"}
    assert kube.get("v1", "Pod", "server", "demo")["status"] == {"phase": "Pending"}


def test_set_status_on_missing_object_is_a_test_bug(kube: FakeKube) -> None:
    with pytest.raises(KeyError, match="TigeraStatus/calico"):
        kube.set_status("operator.tigera.io/v1", "TigeraStatus", "calico", None, {})


def test_tigerastatus_is_cluster_scoped_and_custom_kinds_can_be_declared() -> None:
    kube = FakeKube(resources=[Resource("example.com/v1", "Widget", "widgets", False)])
    kube.apply([{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}])
    ts = {"apiVersion": "operator.tigera.io/v1", "kind": "TigeraStatus", "metadata": {"name": "c"}}
    kube.apply([ts])
    kube.set_status("operator.tigera.io/v1", "TigeraStatus", "c", None, {"conditions": []})
    assert kube.list("operator.tigera.io/v1", "TigeraStatus")[0]["status"] == {"conditions": []}
    with pytest.raises(KubeError, match=r"set metadata\.namespace"):
        kube.apply([{"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}])


# --- label selectors ---

LABELS = {"app": "server", "tier": "web", "env": ""}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=server", True),
        ("app==server", True),
        ("app=client", False),
        ("app!=client", True),
        ("app!=server", False),
        ("missing!=x", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app in (client, server)", True),
        ("app in (client)", False),
        ("missing in (x)", False),
        ("app notin (client)", True),
        ("app notin (server,client)", False),
        ("missing notin (x)", True),
        ("app=server,tier in (web,api),!missing", True),
        ("app=server, tier=db", False),
        ("env=", True),
        ("example.com/role", False),
    ],
)
def test_selector_semantics(selector: str, expected: bool) -> None:
    assert selector_matches(selector, LABELS) is expected


@pytest.mark.parametrize("selector", ["app in ()", "=x", "app=(x)", "app in (x", "a b", "app=x,"])
def test_invalid_selectors_are_refused_like_the_server(selector: str) -> None:
    with pytest.raises(KubeError) as err:
        parse_selector(selector)
    assert err.value.status == 400
    assert "unable to parse requirement" in str(err.value)


label_keys = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.io/[a-z]{1,5})?", fullmatch=True)
label_values = st.from_regex(r"([a-z0-9]([a-z0-9.-]{0,6}[a-z0-9])?)?", fullmatch=True)


@given(st.dictionaries(label_keys, label_values, min_size=1, max_size=5))
def test_equality_selector_built_from_labels_matches_them(labels: dict[str, str]) -> None:
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    assert selector_matches(selector, labels)
    first = next(iter(labels))
    assert not selector_matches(f"{selector},!{first}", labels)
    if labels[first]:
        assert not selector_matches(f"{first} notin ({labels[first]},y)", labels)
        assert selector_matches(f"{first} in (y,{labels[first]})", labels)


# --- create ---


def test_create_stores_with_server_fields_and_refuses_duplicates(kube: FakeKube) -> None:
    created_ns = kube.create(ns("demo"))
    assert created_ns["status"] == {"phase": "Active"}
    created = kube.create(pod("server", app="server"))
    meta = created["metadata"]
    assert meta["uid"] and meta["resourceVersion"] and meta["generation"] == 1
    assert [(m["manager"], m["operation"]) for m in meta["managedFields"]] == [
        (FIELD_MANAGER, "Update")
    ]
    assert kube.get("v1", "Pod", "server", "demo") == created

    with pytest.raises(KubeError) as err:
        kube.create(pod("server"))
    assert (err.value.status, err.value.reason) == (409, "AlreadyExists")
    assert str(err.value) == (
        'create Pod/demo/server: HTTP 409 AlreadyExists: pods "server" already exists'
    )
    kube.create(policy("deny"))
    with pytest.raises(KubeError, match=r'networkpolicies\.networking\.k8s\.io "deny" already'):
        kube.create(policy("deny"))
    assert kube.calls[-1] == Call("create", "NetworkPolicy", "demo", "deny")


def test_create_needs_namespace_and_name(kube: FakeKube) -> None:
    with pytest.raises(KubeError, match='namespaces "demo" not found') as err:
        kube.create(pod("server"))
    assert err.value.status == 404
    with pytest.raises(KubeError) as err:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {}})
    assert (err.value.status, err.value.reason) == (422, "Invalid")
    assert kube.objects() == []


def ssar(**attributes: str) -> dict[str, Any]:
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }


def test_access_review_is_answered_by_the_rule_and_stores_nothing() -> None:
    def rule(attrs: Any) -> Any:
        if attrs.get("subresource") == "exec":
            return {"denied": True, "reason": "no exec"}
        return attrs.get("verb") != "delete"

    kube = FakeKube(access=rule)
    asked = ssar(verb="create", resource="pods", subresource="exec", namespace="demo")
    answer = kube.create(asked)
    assert answer["spec"] == asked["spec"]
    assert answer["status"] == {"allowed": False, "denied": True, "reason": "no exec"}
    assert kube.create(ssar(verb="delete", resource="pods"))["status"] == {"allowed": False}
    assert kube.create(ssar(verb="get", resource="pods"))["status"] == {"allowed": True}
    assert FakeKube().create(ssar(verb="delete", resource="nodes"))["status"]["allowed"] is True
    assert [r["verb"] for r in kube.reviews] == ["create", "delete", "get"]
    assert kube.objects() == []
    assert kube.calls[0] == Call("create", "SelfSubjectAccessReview", None, None)


def test_access_review_without_attributes_is_invalid(kube: FakeKube) -> None:
    with pytest.raises(KubeError) as err:
        kube.create({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview"})
    assert err.value.status == 422
    assert "exactly one of nonResourceAttributes or resourceAttributes" in str(err.value)


def test_create_can_fail_and_be_unreachable(kube: FakeKube) -> None:
    forbidden = KubeError("forbidden", status=403, reason="Forbidden")
    kube.fail_on("create", "SelfSubjectAccessReview", error=forbidden, times=1)
    with pytest.raises(KubeError) as err:
        kube.create(ssar(verb="get", resource="pods"))
    assert err.value is forbidden
    kube.unreachable = True
    with pytest.raises(KubeUnreachable) as unreachable:
        kube.create(ns("demo"))
    assert unreachable.value.cause == "[Errno 111] Connection refused"
