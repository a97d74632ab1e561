"""An attendee's kubeconfig: the TokenRequest body, the file's format and how it is written.

The kubeconfig is loaded by the real ``kubernetes`` client (``new_client_from_config``), and over
HTTPS against the kube emulator with the emulator's CA, so the bearer token and the context's
namespace are checked on the wire, not only in the YAML.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import kubernetes
import pytest
import yaml

from provisioning.errors import OperationError, UsageError
from provisioning.fleet.kubeconfig import (
    attendee_kubeconfig,
    issued_token,
    token_path,
    token_request,
    write_kubeconfig,
)
from tests.kube_emulator import KubeEmulator, self_signed_tls

TOKEN = "eyJhbGciOiJSUzI1NiJ9.attendee.signature"
NS = "demo-ws1-alice"


def config_for(server: str, **kwargs: object) -> dict:
    args = {
        "cluster_name": "ws1",
        "server": server,
        "ca_data": None,
        "insecure": False,
        "namespace": NS,
        "user": "ws1-alice",
        "token": TOKEN,
        **kwargs,
    }
    return attendee_kubeconfig(**args)  # type: ignore[arg-type]


# --- TokenRequest -------------------------------------------------------------------------


def test_token_request_body() -> None:
    assert token_request(6 * 3600) == {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 21600},
    }
    assert token_request(600, audiences=["https://kubernetes.default.svc"])["spec"] == {
        "expirationSeconds": 600,
        "audiences": ["https://kubernetes.default.svc"],
    }
    assert token_request(3600.9)["spec"]["expirationSeconds"] == 3600  # FleetSpec.expires_in
    assert token_path(NS, "attendee") == f"/api/v1/namespaces/{NS}/serviceaccounts/attendee/token"


@pytest.mark.parametrize("seconds", [599, 0, -1, 599.99])
def test_an_expiry_under_ten_minutes_is_refused_in_one_line(seconds: float) -> None:
    with pytest.raises(UsageError) as err:
        token_request(seconds)
    message = str(err.value)
    assert message.startswith("--expires: ")
    assert "600s (10m)" in message
    assert "\n" not in message
    assert err.value.exit_code == 2


@pytest.mark.parametrize("value", [2**32 + 1, True, "3600", float("nan"), float("inf")])
def test_other_bad_expiries_are_refused(value: object) -> None:
    with pytest.raises(UsageError, match=r"^--expires: "):
        token_request(value)  # type: ignore[arg-type]


def test_the_issued_token_and_its_real_expiry() -> None:
    response = {"status": {"token": TOKEN, "expirationTimestamp": "2031-01-01T06:00:00Z"}}
    assert issued_token(response) == (TOKEN, "2031-01-01T06:00:00Z")
    with pytest.raises(OperationError, match=r"without status\.token"):
        issued_token({"status": {}})


# --- the kubeconfig -----------------------------------------------------------------------


def test_the_kubeconfig_follows_the_v1_format() -> None:
    config = config_for("https://127.0.0.1:6443", ca_data="LS0tLS1CRUdJTiBDRVJU")
    assert config == {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": "ws1",
                "cluster": {
                    "server": "https://127.0.0.1:6443",
                    "certificate-authority-data": "LS0tLS1CRUdJTiBDRVJU",
                },
            }
        ],
        "users": [{"name": "ws1-alice", "user": {"token": TOKEN}}],
        "contexts": [
            {
                "name": "ws1-alice@ws1",
                "context": {"cluster": "ws1", "user": "ws1-alice", "namespace": NS},
            }
        ],
        "current-context": "ws1-alice@ws1",
    }


def test_ca_as_pem_is_encoded_and_bad_ca_or_ca_with_insecure_is_refused() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    cluster = config_for("https://x", ca_data=pem)["clusters"][0]["cluster"]
    assert base64.b64decode(cluster["certificate-authority-data"]).decode() == pem
    with pytest.raises(UsageError, match="neither PEM nor base64"):
        config_for("https://x", ca_data="not base64 !")
    with pytest.raises(UsageError, match="does not hold a PEM"):
        config_for("https://x", ca_data=base64.b64encode(b"hello").decode())
    with pytest.raises(UsageError, match="insecure flag is not allowed"):
        config_for("https://x", ca_data=pem, insecure=True)
    insecure = config_for("https://x", insecure=True)["clusters"][0]["cluster"]
    assert insecure == {"server": "https://x", "insecure-skip-tls-verify": True}
    with pytest.raises(ValueError, match="token"):
        config_for("https://x", token="")


def test_the_real_client_loads_it_and_sends_the_token_in_the_namespace(tmp_path: Path) -> None:
    server_tls, ca_data = self_signed_tls(tmp_path)
    with KubeEmulator(tls=server_tls) as emu:
        path = tmp_path / "out" / "ws1-alice.kubeconfig"
        write_kubeconfig(path, config_for(emu.url, ca_data=ca_data))

        api_client = kubernetes.config.new_client_from_config(config_file=str(path))
        configuration = api_client.configuration
        assert configuration.host == emu.url
        assert configuration.api_key["BearerToken"] == f"Bearer {TOKEN}"
        assert configuration.verify_ssl is True
        _, active = kubernetes.config.list_kube_config_contexts(config_file=str(path))
        assert active["context"]["namespace"] == NS

        # A real HTTPS request, verified against the cluster's CA, carries the bearer token.
        policies = kubernetes.client.NetworkingV1Api(api_client)
        assert policies.list_namespaced_network_policy(NS).items == []
        (request,) = emu.requests
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.path == f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"


def test_insecure_kubeconfig_loads_without_verification(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_kubeconfig(path, config_for("https://127.0.0.1:6443", insecure=True))
    configuration = kubernetes.config.new_client_from_config(config_file=str(path)).configuration
    assert configuration.verify_ssl is False
    assert configuration.api_key["BearerToken"] == f"Bearer {TOKEN}"


# --- writing the file ---------------------------------------------------------------------


def test_written_with_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "new" / "ws1-alice.kubeconfig"
    old = os.umask(0)
    try:
        write_kubeconfig(path, config_for("https://x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert yaml.safe_load(path.read_text()) == config_for("https://x")
    assert sorted(p.name for p in path.parent.iterdir()) == ["ws1-alice.kubeconfig"]


def test_replaces_atomically_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "ws1-alice.kubeconfig"
    path.write_text("old\n")
    path.chmod(0o644)
    before = path.stat().st_ino
    write_kubeconfig(path, config_for("https://x", token="second"))
    assert path.stat().st_ino != before  # a new file renamed over the old one
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text())["users"][0]["user"]["token"] == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["ws1-alice.kubeconfig"]


def test_a_failed_write_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "a-directory"
    (target / "inside").mkdir(parents=True)  # os.replace cannot put a file over it
    with pytest.raises(OperationError) as err:
        write_kubeconfig(target, config_for("https://x"))
    assert str(err.value).startswith(f"cannot write the kubeconfig {target}: ")
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-directory"]
