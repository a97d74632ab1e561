"""``KubeApi.request_token``: a ServiceAccount token through a TokenRequest.

Every behaviour is checked twice, through ``FakeKube`` directly and through the real
``ClientKube`` against the HTTP emulator, so the fake, the emulator and the client agree with
the API server (kubernetes/kubernetes ``pkg/registry/core/serviceaccount/storage/token.go``
and ``pkg/apis/authentication/validation/validation.go``, snapshot 0411cc70; the details are
cited in ``tests/fake_kube.py``).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.fleet.kubeconfig import issued_token, token_path, token_request
from provisioning.kube import ClientKube, KubeApi, KubeError
from provisioning.lab.reset import CountingKube
from tests.fake_kube import Call, FakeKube
from tests.kube_emulator import KubeEmulator, write_kubeconfig

NS = "ws1"
SA = "alice"
NOW = 1_900_000_000.75  # 2030-03-17T17:46:40Z and a fraction
SUBJECT = f"system:serviceaccount:{NS}:{SA}"


def at(seconds: float) -> str:
    """RFC 3339, UTC, whole seconds: how the API server writes a metav1.Time."""
    moment = datetime.datetime.fromtimestamp(int(seconds), tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def namespace(name: str = NS) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def service_account(name: str = SA, ns: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": ns},
    }


def raw_request(seconds: Any) -> dict[str, Any]:
    """A TokenRequest body ``token_request`` would refuse to build (it checks the same limits)."""
    return {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": seconds},
    }


class Backend:
    """One ``KubeApi`` and the server-side knobs and views the tests need."""

    def __init__(
        self,
        name: str,
        api: KubeApi,
        server: FakeKube | KubeEmulator,
        clock: list[float],
    ) -> None:
        self.name = name
        self.api = api
        self.server = server
        self._clock = clock

    @property
    def now(self) -> float:
        return self._clock[0]

    @now.setter
    def now(self, value: float) -> None:
        self._clock[0] = value

    def set_max_expiration(self, seconds: int | None) -> None:
        self.server.max_token_expiration = seconds

    def token_subject(self, token: str) -> str | None:
        return self.server.token_subject(token)

    @property
    def warnings(self) -> list[str]:
        return self.server.warnings


@pytest.fixture(params=["fake", "client"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    clock = [NOW]
    if request.param == "fake":
        fake = FakeKube()
        fake.clock = lambda: clock[0]
        yield Backend("fake", fake, fake, clock)
        return
    with KubeEmulator(clock=lambda: clock[0]) as emu:
        kubeconfig = tmp_path / "kubeconfig"
        write_kubeconfig(kubeconfig, {"lab": emu.url}, current="lab", token="t")
        yield Backend("client", ClientKube(kubeconfig), emu, clock)


@pytest.fixture
def ready(backend: Backend) -> Backend:
    """The namespace and its ServiceAccount exist."""
    backend.api.apply([namespace(), service_account()])
    return backend


# --- the token -------------------------------------------------------------------------------


def test_issued_token_round_trip(ready: Backend) -> None:
    [stored] = [
        o for o in ready.api.list("v1", "ServiceAccount", NS) if o["metadata"]["name"] == SA
    ]
    response = ready.api.request_token(NS, SA, token_request(6 * 3600))

    token, expires = issued_token(response)
    assert expires == at(NOW + 6 * 3600)
    assert len(token.split(".")) == 3  # JWT-shaped, but opaque
    assert response["apiVersion"] == "authentication.k8s.io/v1"
    assert response["kind"] == "TokenRequest"
    meta = response["metadata"]
    assert (meta["name"], meta["namespace"]) == (SA, NS)
    assert meta["uid"] == stored["metadata"]["uid"]  # the ServiceAccount's
    assert meta["creationTimestamp"] == at(NOW)
    assert response["spec"] == {
        "audiences": ["https://kubernetes.default.svc.cluster.local"],  # the server's own
        "expirationSeconds": 6 * 3600,
        "boundObjectRef": None,
    }
    assert ready.token_subject(token) == SUBJECT
    assert ready.warnings == []

    again, _ = issued_token(ready.api.request_token(NS, SA, token_request(6 * 3600)))
    assert again != token  # every request issues a new token; the first stays valid
    assert ready.token_subject(token) == ready.token_subject(again) == SUBJECT
    assert ready.token_subject("not-a-token") is None


def test_audiences_asked_for_are_kept(ready: Backend) -> None:
    body = token_request(3600, audiences=["https://kubernetes.default.svc"])
    response = ready.api.request_token(NS, SA, body)
    assert response["spec"]["audiences"] == ["https://kubernetes.default.svc"]


def test_client_posts_the_body_to_the_token_subresource(tmp_path: Path) -> None:
    with KubeEmulator() as emu:
        kubeconfig = tmp_path / "kubeconfig"
        write_kubeconfig(kubeconfig, {"lab": emu.url}, current="lab", token="t")
        emu.seed(namespace())
        emu.seed(service_account())
        ClientKube(kubeconfig).request_token(NS, SA, token_request(3600))

    [request] = emu.requests
    assert (request.method, request.path) == ("POST", token_path(NS, SA))
    assert request.query == {}
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == token_request(3600)


def test_unset_expiration_is_one_hour(ready: Backend) -> None:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    response = ready.api.request_token(NS, SA, body)
    assert response["spec"]["expirationSeconds"] == 3600
    assert response["status"]["expirationTimestamp"] == at(NOW + 3600)


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("create_namespace", [True, False])
def test_missing_service_account_is_a_one_line_not_found(
    backend: Backend, create_namespace: bool
) -> None:
    if create_namespace:
        backend.api.apply([namespace()])
    with pytest.raises(KubeError) as err:
        backend.api.request_token(NS, "bob", token_request(3600))
    # The ServiceAccount lookup answers, whether or not the namespace exists.
    assert str(err.value) == (
        'create TokenRequest/ws1/bob: HTTP 404 NotFound: serviceaccounts "bob" not found'
    )
    assert "\n" not in str(err.value)
    assert err.value.not_found and err.value.reason == "NotFound"


@pytest.mark.parametrize(
    ("seconds", "detail"),
    [
        (599, "may not specify a duration less than 10 minutes"),
        (0, "may not specify a duration less than 10 minutes"),
        (-1, "may not specify a duration less than 10 minutes"),
        ((1 << 32) + 1, "may not specify a duration larger than 2^32 seconds"),
    ],
)
def test_expiration_out_of_range_is_invalid(ready: Backend, seconds: int, detail: str) -> None:
    with pytest.raises(KubeError) as err:
        ready.api.request_token(NS, SA, raw_request(seconds))
    assert err.value.status == 422
    assert str(err.value) == (
        'create TokenRequest/ws1/alice: HTTP 422 Invalid: TokenRequest.authentication.k8s.io "" '
        f"is invalid: spec.expirationSeconds: Invalid value: {seconds}: {detail}"
    )


def test_limits_themselves_are_accepted(ready: Backend) -> None:
    for seconds in (600, 1 << 32):
        response = ready.api.request_token(NS, SA, raw_request(seconds))
        assert response["spec"]["expirationSeconds"] == seconds


def test_service_account_is_looked_up_before_validation(backend: Backend) -> None:
    # TokenREST.Create looks the ServiceAccount up before it validates the spec.
    backend.api.apply([namespace()])
    with pytest.raises(KubeError) as err:
        backend.api.request_token(NS, "bob", raw_request(599))
    assert err.value.status == 404


def test_name_in_the_body_must_match_the_url(ready: Backend) -> None:
    body = {**token_request(3600), "metadata": {"name": "mallory"}}
    with pytest.raises(KubeError) as err:
        ready.api.request_token(NS, SA, body)
    assert str(err.value) == (
        "create TokenRequest/ws1/alice: HTTP 422 Invalid: TokenRequest.authentication.k8s.io "
        '"alice" is invalid: metadata.name: Invalid value: "mallory": must match the service '
        "account name if specified"
    )


@pytest.mark.parametrize("seconds", ["3600", 3600.0, True, None])
def test_undecodable_expiration_is_a_bad_request(ready: Backend, seconds: Any) -> None:
    if seconds is None:  # null is "unset": defaulted, not refused
        assert ready.api.request_token(NS, SA, raw_request(None))["spec"]["expirationSeconds"]
        return
    with pytest.raises(KubeError) as err:
        ready.api.request_token(NS, SA, raw_request(seconds))
    assert err.value.status == 400 and err.value.reason == "BadRequest"


def test_client_refuses_an_empty_name_before_sending(tmp_path: Path) -> None:
    with KubeEmulator() as emu:
        kubeconfig = tmp_path / "kubeconfig"
        write_kubeconfig(kubeconfig, {"lab": emu.url}, current="lab", token="t")
        with pytest.raises(KubeError, match="namespace and name"):
            ClientKube(kubeconfig).request_token(NS, "", token_request(3600))
    assert emu.requests == []


# --- --service-account-max-token-expiration --------------------------------------------------


def test_max_expiration_shortens_the_token(ready: Backend) -> None:
    ready.set_max_expiration(2 * 3600)
    response = ready.api.request_token(NS, SA, token_request(6 * 3600))
    token, expires = issued_token(response)
    assert response["spec"]["expirationSeconds"] == 2 * 3600
    assert expires == at(NOW + 2 * 3600)
    assert ready.warnings == ["requested expiration of 21600 seconds shortened to 7200 seconds"]

    ready.now = NOW + 2 * 3600 - 1
    assert ready.token_subject(token) == SUBJECT
    ready.now = NOW + 2 * 3600
    assert ready.token_subject(token) is None


def test_max_expiration_leaves_shorter_requests_alone(ready: Backend) -> None:
    ready.set_max_expiration(2 * 3600)
    response = ready.api.request_token(NS, SA, token_request(3600))
    assert response["spec"]["expirationSeconds"] == 3600
    assert ready.warnings == []


def test_max_expiration_warning_is_sent_as_a_header(tmp_path: Path) -> None:
    import urllib.request

    with KubeEmulator(max_token_expiration=3600) as emu:
        emu.seed(namespace())
        emu.seed(service_account())
        request = urllib.request.Request(
            emu.url + token_path(NS, SA),
            data=json.dumps(token_request(7200)).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 201
            assert answer.headers.get_all("Warning") == [
                '299 - "requested expiration of 7200 seconds shortened to 3600 seconds"'
            ]


@pytest.mark.parametrize("seconds", [60, 3599, (1 << 32) + 1])
def test_a_max_expiration_no_api_server_accepts_is_a_setup_error(seconds: int) -> None:
    fake = FakeKube()
    fake.seed(namespace())
    fake.seed(service_account())
    fake.max_token_expiration = seconds
    with pytest.raises(ValueError, match="between 1 hour and 2\\^32 seconds"):
        fake.request_token(NS, SA, token_request(3600))


# --- the token's life ------------------------------------------------------------------------


def test_token_dies_with_its_service_account(ready: Backend) -> None:
    token, _ = issued_token(ready.api.request_token(NS, SA, token_request(6 * 3600)))
    assert ready.token_subject(token) == SUBJECT

    assert ready.api.delete("v1", "ServiceAccount", SA, NS) is True
    assert ready.token_subject(token) is None
    with pytest.raises(KubeError, match='serviceaccounts "alice" not found'):
        ready.api.request_token(NS, SA, token_request(3600))


def test_token_expires(ready: Backend) -> None:
    token, _ = issued_token(ready.api.request_token(NS, SA, token_request(600)))
    ready.now = NOW + 599
    assert ready.token_subject(token) == SUBJECT
    # The exp claim is whole seconds: issued at NOW (a fraction past), gone at int(NOW) + 600.
    ready.now = int(NOW) + 600
    assert ready.token_subject(token) is None


def test_recreated_service_account_does_not_revive_old_tokens() -> None:
    # Only the fake: the emulator gives an object the same uid each time it is created.
    fake = FakeKube()
    fake.apply([namespace(), service_account()])
    token, _ = issued_token(fake.request_token(NS, SA, token_request(3600)))
    fake.delete("v1", "ServiceAccount", SA, NS)
    fake.apply([service_account()])
    assert fake.token_subject(token) is None  # another uid than the token's claim
    fresh, _ = issued_token(fake.request_token(NS, SA, token_request(3600)))
    assert fake.token_subject(fresh) == SUBJECT


def test_deleting_the_namespace_kills_the_token() -> None:
    fake = FakeKube()
    fake.apply([namespace(), service_account()])
    token, _ = issued_token(fake.request_token(NS, SA, token_request(3600)))
    fake.delete("v1", "Namespace", NS)
    assert fake.token_subject(token) is None


# --- the fake's bookkeeping ------------------------------------------------------------------


def test_fake_records_the_request_and_honours_injected_failures() -> None:
    fake = FakeKube()
    fake.apply([namespace(), service_account()])
    fake.calls.clear()
    fake.request_token(NS, SA, token_request(3600))
    assert fake.calls == [Call("create", "TokenRequest", NS, SA)]

    fake.fail_on(
        "create",
        "TokenRequest",
        SA,
        error=KubeError("forbidden", status=403, reason="Forbidden"),
        times=1,
    )
    with pytest.raises(KubeError, match="Forbidden"):
        fake.request_token(NS, SA, token_request(3600))
    fake.request_token(NS, SA, token_request(3600))  # once only

    fake.unreachable = True
    with pytest.raises(KubeError, match="Connection refused"):
        fake.request_token(NS, SA, token_request(3600))


def test_fake_response_is_a_copy(ready: Backend) -> None:
    body = token_request(3600)
    response = ready.api.request_token(NS, SA, body)
    assert body == token_request(3600)  # the caller's body is not changed
    response["spec"]["expirationSeconds"] = 1
    assert ready.api.request_token(NS, SA, body)["spec"]["expirationSeconds"] == 3600


def test_counting_wrapper_passes_token_requests_on_as_creates() -> None:
    fake = FakeKube()
    fake.apply([namespace(), service_account()])
    counting = CountingKube(fake)
    counting.request_token(NS, SA, token_request(3600))
    assert counting.snapshot()["create"] == 1
    assert fake.calls[-1] == Call("create", "TokenRequest", NS, SA)


def test_bound_tokens_are_not_faked(ready: Backend) -> None:
    body = token_request(3600)
    body["spec"]["boundObjectRef"] = {"kind": "Pod", "apiVersion": "v1", "name": "p"}
    with pytest.raises(KubeError) as err:
        ready.api.request_token(NS, SA, body)
    assert err.value.status == 400
