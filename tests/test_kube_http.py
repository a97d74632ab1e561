"""The real ``ClientKube`` (official client, real sockets) against a local API emulator.

These tests pin the requests the lab sends: method, path, query, headers and body, and how the
answers (404, 409, 422, 500, connection refused) come back to the caller.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.kube import ClientKube, KubeApi, KubeError, KubeUnreachable
from tests.fake_kube import FakeKube
from tests.kube_emulator import KubeEmulator, self_signed_tls, write_kubeconfig

TOKEN = "t0ken-for-tests"


@pytest.fixture
def emu() -> Iterator[KubeEmulator]:
    with KubeEmulator() as emulator:
        yield emulator


@pytest.fixture
def kubeconfig(tmp_path: Path, emu: KubeEmulator) -> Path:
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, {"lab": emu.url}, current="lab", token=TOKEN)
    return path


@pytest.fixture
def kube(kubeconfig: Path) -> ClientKube:
    return ClientKube(kubeconfig)


def closed_port() -> int:
    # Bind, read the port the OS picked, close: nothing listens there afterwards.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def policy(name: str = "deny", ns: str = "demo") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/x": "y"}},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


# --- apply ---


def test_apply_sends_server_side_apply_patches_in_order(
    kube: ClientKube, emu: KubeEmulator
) -> None:
    objects = [namespace("demo"), policy("deny"), policy("allow")]
    returned = kube.apply(objects)

    sent = emu.requests_to("PATCH")
    assert [(r.method, r.path) for r in sent] == [
        ("PATCH", "/api/v1/namespaces/demo"),
        ("PATCH", "/apis/networking.k8s.io/v1/namespaces/demo/networkpolicies/deny"),
        ("PATCH", "/apis/networking.k8s.io/v1/namespaces/demo/networkpolicies/allow"),
    ]
    for request, obj in zip(sent, objects, strict=True):
        assert request.query == {"fieldManager": ["netpol-lab"], "force": ["true"]}
        assert request.headers["content-type"] == "application/apply-patch+yaml"
        assert request.headers["accept"] == "application/json"
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.yaml() == obj
    # What comes back is the server's version of the object, not the input.
    assert [o["metadata"]["uid"] for o in returned] == ["uid-demo", "uid-deny", "uid-allow"]
    assert all("resourceVersion" in o["metadata"] for o in returned)


def test_apply_dry_run_asks_the_server_not_to_persist(kube: ClientKube, emu: KubeEmulator) -> None:
    [result] = kube.apply([namespace("demo")], dry_run=True)
    [request] = emu.requests
    assert request.query == {"fieldManager": ["netpol-lab"], "force": ["true"], "dryRun": ["All"]}
    assert result["metadata"]["name"] == "demo"
    assert emu.objects == {}


def test_apply_into_missing_namespace_names_the_object_and_server_message(
    kube: ClientKube,
) -> None:
    with pytest.raises(KubeError) as err:
        kube.apply([policy("deny", ns="ghost")])
    assert err.value.status == 404
    assert str(err.value) == (
        'apply NetworkPolicy/ghost/deny: HTTP 404 NotFound: namespaces "ghost" not found'
    )


@pytest.mark.parametrize(
    ("code", "reason", "message"),
    [
        (
            422,
            "Invalid",
            'NetworkPolicy.networking.k8s.io "deny" is invalid: spec.podSelector: Required value',
        ),
        (409, "Conflict", 'Operation cannot be fulfilled on networkpolicies "deny": conflict'),
    ],
)
def test_apply_error_surfaces_status_reason_object_and_message_then_stops(
    kube: ClientKube, emu: KubeEmulator, code: int, reason: str, message: str
) -> None:
    kube.apply([namespace("demo")])
    status = {"kind": "Status", "status": "Failure", "reason": reason, "code": code}
    path = "/apis/networking.k8s.io/v1/namespaces/demo/networkpolicies/deny"
    emu.reply("PATCH", path, code, status | {"message": message + "\nsecond line"})

    with pytest.raises(KubeError) as err:
        kube.apply([policy("ok"), policy("deny"), policy("never")])

    text = str(err.value)
    assert text == f"apply NetworkPolicy/demo/deny: HTTP {code} {reason}: {message} second line"
    assert "\n" not in text
    assert (err.value.status, err.value.reason) == (code, reason)
    assert [r.path.rsplit("/", 1)[-1] for r in emu.requests_to("PATCH")] == ["demo", "ok", "deny"]


def test_non_json_server_error_still_reads_as_one_line(kube: ClientKube, emu: KubeEmulator) -> None:
    emu.reply("GET", "/api/v1/namespaces/demo", 503, "upstream connect error\nor disconnect")
    with pytest.raises(KubeError) as err:
        kube.get("v1", "Namespace", "demo")
    assert str(err.value) == (
        "get Namespace/demo: HTTP 503 Service Unavailable: upstream connect error or disconnect"
    )


def test_apply_refuses_incomplete_objects_before_sending(
    kube: ClientKube, emu: KubeEmulator
) -> None:
    with pytest.raises(KubeError, match=r"needs apiVersion, kind and metadata\.name"):
        kube.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {}}])
    bare = policy()
    del bare["metadata"]["namespace"]
    with pytest.raises(KubeError, match=r"namespaced; set metadata\.namespace"):
        kube.apply([bare])
    assert emu.requests == []


# --- create ---


def test_create_posts_json_to_the_collection(kube: ClientKube, emu: KubeEmulator) -> None:
    kube.apply([namespace("demo")])
    created = kube.create(policy("deny"))

    [request] = emu.requests_to("POST")
    assert request.path == "/apis/networking.k8s.io/v1/namespaces/demo/networkpolicies"
    assert request.query == {"fieldManager": ["netpol-lab"]}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.body) == policy("deny")
    assert created["metadata"]["uid"] == "uid-deny"  # the server's object, not the input
    assert kube.get("networking.k8s.io/v1", "NetworkPolicy", "deny", "demo") == created


def test_create_of_an_existing_object_is_a_conflict(kube: ClientKube, emu: KubeEmulator) -> None:
    kube.create(namespace("demo"))
    assert emu.requests[0].path == "/api/v1/namespaces"
    with pytest.raises(KubeError) as err:
        kube.create(namespace("demo"))
    assert str(err.value) == (
        'create Namespace/demo: HTTP 409 AlreadyExists: namespaces "demo" already exists'
    )


def test_create_refuses_namespaced_objects_without_namespace(
    kube: ClientKube, emu: KubeEmulator
) -> None:
    bare = policy()
    del bare["metadata"]["namespace"]
    with pytest.raises(KubeError, match=r"namespaced; set metadata\.namespace"):
        kube.create(bare)
    with pytest.raises(KubeError, match=r"needs apiVersion and kind"):
        kube.create({"metadata": {"name": "x"}})
    assert emu.requests == []


def test_access_review_is_posted_cluster_scoped_and_answered(
    kube: ClientKube, emu: KubeEmulator
) -> None:
    emu.access = lambda attrs: {"denied": True, "reason": "RBAC: no"}
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "namespace": "demo",
                "verb": "create",
                "group": "",
                "resource": "pods",
                "subresource": "exec",
            }
        },
    }
    answer = kube.create(review)
    [request] = emu.reviews()
    assert request.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    assert json.loads(request.body) == review
    assert answer["status"] == {"allowed": False, "denied": True, "reason": "RBAC: no"}
    assert emu.objects == {}


# --- get / list / delete ---


def test_get_returns_object_or_none_on_404(kube: ClientKube, emu: KubeEmulator) -> None:
    kube.apply([namespace("demo"), policy()])
    got = kube.get("networking.k8s.io/v1", "NetworkPolicy", "deny", "demo")
    assert got is not None and got["spec"] == policy()["spec"]
    assert kube.get("networking.k8s.io/v1", "NetworkPolicy", "gone", "demo") is None
    assert kube.get("operator.tigera.io/v1", "TigeraStatus", "calico") is None
    assert [r.path for r in emu.requests_to("GET")] == [
        "/apis/networking.k8s.io/v1/namespaces/demo/networkpolicies/deny",
        "/apis/networking.k8s.io/v1/namespaces/demo/networkpolicies/gone",
        "/apis/operator.tigera.io/v1/tigerastatuses/calico",
    ]


def test_list_sends_label_selector_and_restores_kind(kube: ClientKube, emu: KubeEmulator) -> None:
    kube.apply([namespace("demo"), namespace("other"), policy("a"), policy("b", ns="other")])
    plain = {**policy("c"), "metadata": {"name": "c", "namespace": "demo"}}
    kube.apply([plain])

    selected = kube.list("networking.k8s.io/v1", "NetworkPolicy", "demo", "app.kubernetes.io/x=y")
    everywhere = kube.list("networking.k8s.io/v1", "NetworkPolicy")

    lists = emu.requests_to("GET")
    assert lists[0].path == "/apis/networking.k8s.io/v1/namespaces/demo/networkpolicies"
    assert lists[0].query == {"labelSelector": ["app.kubernetes.io/x=y"]}
    assert lists[1].path == "/apis/networking.k8s.io/v1/networkpolicies"
    assert lists[1].query == {}
    assert [o["metadata"]["name"] for o in selected] == ["a"]
    assert selected[0]["kind"] == "NetworkPolicy"
    assert selected[0]["apiVersion"] == "networking.k8s.io/v1"
    assert sorted(o["metadata"]["name"] for o in everywhere) == ["a", "b", "c"]


def test_list_of_a_type_not_served_yet_is_empty(kube: ClientKube, emu: KubeEmulator) -> None:
    # Before the Tigera CRDs exist the server answers 404 for the whole collection.
    assert kube.list("operator.tigera.io/v1", "TigeraStatus") == []
    assert emu.requests[0].path == "/apis/operator.tigera.io/v1/tigerastatuses"


def test_delete_sends_background_propagation_and_reports_404(
    kube: ClientKube, emu: KubeEmulator
) -> None:
    kube.apply([namespace("demo")])
    assert kube.delete("v1", "Namespace", "demo") is True
    assert kube.delete("v1", "Namespace", "demo") is False
    deletes = emu.requests_to("DELETE")
    assert [(r.path, r.query) for r in deletes] == [
        ("/api/v1/namespaces/demo", {"propagationPolicy": ["Background"]}),
    ] * 2


def test_delete_conflict_is_an_error(kube: ClientKube, emu: KubeEmulator) -> None:
    msg = 'Operation cannot be fulfilled on pods "server": the object has been modified'
    emu.reply(
        "DELETE",
        "/api/v1/namespaces/demo/pods/server",
        409,
        {"kind": "Status", "reason": "Conflict", "message": msg, "code": 409},
    )
    with pytest.raises(KubeError) as err:
        kube.delete("v1", "Pod", "server", "demo")
    assert str(err.value) == f"delete Pod/demo/server: HTTP 409 Conflict: {msg}"


# --- discovery ---


def test_unknown_kind_is_resolved_through_discovery_once(
    kube: ClientKube, emu: KubeEmulator
) -> None:
    emu.serve_discovery(
        "monitoring.coreos.com/v1",
        [
            # A subresource comes first on purpose: it carries the parent's kind.
            {"name": "servicemonitors/status", "kind": "ServiceMonitor", "namespaced": True},
            {"name": "servicemonitors", "kind": "ServiceMonitor", "namespaced": True},
            {"name": "prometheuses", "kind": "Prometheus", "namespaced": True},
        ],
    )
    kube.apply([namespace("demo")])
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "m", "namespace": "demo"},
        "spec": {},
    }
    kube.apply([monitor])
    assert kube.get("monitoring.coreos.com/v1", "ServiceMonitor", "m", "demo") is not None

    assert [r.path for r in emu.requests[1:]] == [
        "/apis/monitoring.coreos.com/v1",
        "/apis/monitoring.coreos.com/v1/namespaces/demo/servicemonitors/m",
        "/apis/monitoring.coreos.com/v1/namespaces/demo/servicemonitors/m",
    ]


def test_core_kinds_outside_the_table_use_core_discovery(
    kube: ClientKube, emu: KubeEmulator
) -> None:
    emu.serve_discovery("v1", [{"name": "secrets", "kind": "Secret", "namespaced": True}])
    assert kube.get("v1", "Secret", "s", "demo") is None
    assert [r.path for r in emu.requests] == ["/api/v1", "/api/v1/namespaces/demo/secrets/s"]


def test_kind_the_server_does_not_serve_is_a_clear_error(
    kube: ClientKube, emu: KubeEmulator
) -> None:
    with pytest.raises(KubeError) as err:
        kube.get("example.com/v1", "Widget", "w", "demo")
    assert str(err.value) == (
        "resolve Widget/demo/w: HTTP 404 NotFound: the API server does not serve "
        "example.com/v1; is its CRD installed?"
    )
    emu.serve_discovery("example.com/v2", [{"name": "gadgets", "kind": "Gadget"}])
    with pytest.raises(KubeError, match=r"example\.com/v2 has no kind Widget; is its CRD"):
        kube.list("example.com/v2", "Widget")


# --- version, reachability, configuration ---


def test_server_version(kube: ClientKube, emu: KubeEmulator) -> None:
    assert kube.server_version() == "v1.36.1"
    assert [(r.method, r.path) for r in emu.requests] == [("GET", "/version")]


def test_closed_port_is_unreachable_with_what_to_do(tmp_path: Path) -> None:
    port = closed_port()
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, {"lab": f"http://127.0.0.1:{port}"}, current="lab", token=TOKEN)
    kube = ClientKube(path, timeout=5)
    for call in (kube.server_version, lambda: kube.apply([namespace("demo")])):
        with pytest.raises(KubeUnreachable) as err:
            call()
        text = str(err.value)
        assert text.startswith(
            f"cannot reach the Kubernetes API at http://127.0.0.1:{port} from kubeconfig {path}: "
        )
        assert "refused" in text.lower()
        assert text.endswith("; is the cluster running? see `invoke doctor`")
        assert "\n" not in text


def test_named_context_is_used_and_current_context_ignored(
    tmp_path: Path, emu: KubeEmulator
) -> None:
    path = tmp_path / "kubeconfig"
    dead = f"http://127.0.0.1:{closed_port()}"
    write_kubeconfig(path, {"other": dead, "lab": emu.url}, current="other", token=TOKEN)
    before = path.read_text()
    assert ClientKube(path, context="lab").server_version() == "v1.36.1"
    with pytest.raises(KubeUnreachable):
        ClientKube(path).server_version()
    assert path.read_text() == before  # the kubeconfig is read, never rewritten


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_settings_come_from_the_kubeconfig(tmp_path: Path) -> None:
    server_tls, ca_data = self_signed_tls(tmp_path)
    with KubeEmulator(tls=server_tls) as emu:
        trusted, untrusted, skip = (tmp_path / n for n in ("trusted", "untrusted", "skip"))
        ca = {"certificate-authority-data": ca_data}
        write_kubeconfig(trusted, {"lab": emu.url}, "lab", TOKEN, cluster_extra=ca)
        write_kubeconfig(untrusted, {"lab": emu.url}, "lab", TOKEN)
        insecure = {"insecure-skip-tls-verify": True}
        write_kubeconfig(skip, {"lab": emu.url}, "lab", TOKEN, cluster_extra=insecure)

        assert ClientKube(trusted).server_version() == "v1.36.1"
        assert ClientKube(skip).server_version() == "v1.36.1"
        # Without the cluster's CA the handshake fails: unreachable, with the TLS reason.
        with pytest.raises(KubeUnreachable) as err:
            ClientKube(untrusted).server_version()
        assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
        assert str(err.value).endswith(
            "was the cluster recreated? its kubeconfig may be out of date (`invoke up` "
            "refreshes a lab's own; for your own cluster, fetch a fresh one)"
        )
        assert str(err.value).startswith(f"cannot reach the Kubernetes API at {emu.url} ")
        assert [r.headers["authorization"] for r in emu.requests] == [f"Bearer {TOKEN}"] * 2


def test_missing_kubeconfig_says_how_to_get_one(tmp_path: Path) -> None:
    kube = ClientKube(tmp_path / "nope")  # constructing is free: nothing is read yet
    with pytest.raises(KubeError) as err:
        kube.server_version()
    assert str(err.value).startswith(f"cannot load kubeconfig {tmp_path / 'nope'}: ")
    assert "invoke up" in str(err.value)


# --- the fake and the real client agree ---


@pytest.fixture(params=["fake", "client"])
def api(request: pytest.FixtureRequest) -> KubeApi:
    if request.param == "fake":
        return FakeKube()
    return request.getfixturevalue("kube")


def test_fake_and_client_agree_on_observable_behaviour(api: KubeApi) -> None:
    assert api.server_version() == "v1.36.1"
    with pytest.raises(KubeError) as err:
        api.apply([policy("deny")])
    assert str(err.value) == (
        'apply NetworkPolicy/demo/deny: HTTP 404 NotFound: namespaces "demo" not found'
    )
    api.apply([namespace("demo")])
    [dry] = api.apply([policy("deny")], dry_run=True)
    assert dry["metadata"]["name"] == "deny"
    assert api.get("networking.k8s.io/v1", "NetworkPolicy", "deny", "demo") is None
    [applied] = api.apply([policy("deny")])
    got = api.get("networking.k8s.io/v1", "NetworkPolicy", "deny", "demo")
    assert got is not None
    assert got["metadata"]["uid"] == applied["metadata"]["uid"]
    assert got["spec"] == policy()["spec"]
    listed = api.list("networking.k8s.io/v1", "NetworkPolicy", "demo", "app.kubernetes.io/x")
    assert [(o["kind"], o["metadata"]["name"]) for o in listed] == [("NetworkPolicy", "deny")]
    assert api.list("networking.k8s.io/v1", "NetworkPolicy", "demo", "!app.kubernetes.io/x") == []
    assert api.delete("networking.k8s.io/v1", "NetworkPolicy", "deny", "demo") is True
    assert api.delete("networking.k8s.io/v1", "NetworkPolicy", "deny", "demo") is False
    with pytest.raises(KubeError) as err:
        api.create(namespace("demo"))
    assert str(err.value) == (
        'create Namespace/demo: HTTP 409 AlreadyExists: namespaces "demo" already exists'
    )
    created = api.create(policy("deny"))
    assert created["metadata"]["uid"] and created["spec"] == policy()["spec"]
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "list", "group": "", "resource": "nodes"}},
    }
    assert api.create(review)["status"] == {"allowed": True}
