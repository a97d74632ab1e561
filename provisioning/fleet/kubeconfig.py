"""An attendee's kubeconfig: a time-bound ServiceAccount token, their cluster, their namespace.

The token comes from a TokenRequest (``authentication.k8s.io/v1``): ``POST
/api/v1/namespaces/{ns}/serviceaccounts/{name}/token`` with the body ``token_request`` builds.
No Secret is created, so nothing long-lived is left behind: the token stops working at its
expiry, or earlier when the ServiceAccount is deleted (``fleet down``).

The API server's rules for ``spec.expirationSeconds`` (kubernetes/kubernetes, read in stored
snapshots, not at a release tag):

- ``pkg/apis/authentication/validation/validation.go`` (snapshot 0411cc70): ``MinTokenAgeSec =
  10 * 60``; shorter is refused ("may not specify a duration less than 10 minutes"), and so is
  longer than ``1<<32`` seconds ("may not specify a duration larger than 2^32 seconds").
  ``token_request`` refuses both before asking, naming ``--expires``.
- ``pkg/registry/core/serviceaccount/storage/token.go`` (``TokenREST.Create``): when the API
  server runs with ``--service-account-max-token-expiration`` and the request asks for more, the
  expiration is cut to that maximum (newer servers add the warning "requested expiration of %d
  seconds shortened to %d seconds"). So the token may expire before the fleet does: the
  response's ``status.expirationTimestamp`` is the truth, and ``issued_token`` returns it for the
  caller to compare with the fleet's expiry. Unset ``spec.audiences`` means the API server's own
  audiences, which is what kubectl needs.

The kubeconfig follows client-go's v1 format (kubernetes/kubernetes
``staging/src/k8s.io/client-go/tools/clientcmd/api/v1/types.go``, snapshot 03a3b6c7): ``Config``
has ``clusters`` (``NamedCluster``: name, cluster {server, certificate-authority-data (base64 of
PEM, a ``[]byte`` in JSON), insecure-skip-tls-verify}), ``users`` (``NamedAuthInfo``: name, user
{token}), ``contexts`` (``NamedContext``: name, context {cluster, user, namespace}) and
``current-context``. The context's namespace is the attendee's demo namespace, so plain
``kubectl get netpol`` works without ``-n``. A CA together with insecure-skip-tls-verify is
refused, as client-go's transport does ("specifying a root certificates file with the insecure
flag is not allowed", ``transport.TLSConfigFor``).

``write_kubeconfig`` writes the file readable by the user only (0600), atomically (a temporary
file in the same folder, created with ``O_CREAT|O_EXCL`` and mode 0600, then ``os.replace``).
It replaces whatever is at the path: whether an existing file may be replaced (a re-issued
kubeconfig, or a file the tool did not write) is the caller's decision.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from provisioning.errors import OperationError, UsageError

AUTHENTICATION_API = "authentication.k8s.io/v1"
MIN_EXPIRATION_SECONDS = 600  # validation.go MinTokenAgeSec
MAX_EXPIRATION_SECONDS = 1 << 32  # validation.go: "larger than 2^32 seconds" is refused
FILE_MODE = 0o600


def token_path(namespace: str, service_account: str) -> str:
    """Where a TokenRequest is POSTed (the ServiceAccount's ``token`` subresource)."""
    return f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"


def token_request(
    expiration_seconds: int | float, *, audiences: Sequence[str] | None = None
) -> dict[str, Any]:
    """The TokenRequest body for a token that lives ``expiration_seconds``.

    Seconds as a float (``FleetSpec.expires_in``) are cut to whole seconds. Shorter than 600 s
    or longer than 2^32 s is a ``UsageError`` naming ``--expires`` (the API
    server would refuse it). The server may still shorten it (see the module docstring).
    """
    if isinstance(expiration_seconds, bool) or not isinstance(expiration_seconds, (int, float)):
        raise UsageError(f"--expires: expected seconds, got {expiration_seconds!r}")
    if isinstance(expiration_seconds, float):  # the API takes whole seconds
        if not math.isfinite(expiration_seconds):
            raise UsageError(f"--expires: expected seconds, got {expiration_seconds}")
        expiration_seconds = int(expiration_seconds)
    if expiration_seconds < MIN_EXPIRATION_SECONDS:
        raise UsageError(
            f"--expires: {expiration_seconds}s is too short: an attendee's token lives at least "
            f"{MIN_EXPIRATION_SECONDS}s (10m), the Kubernetes TokenRequest minimum"
        )
    if expiration_seconds > MAX_EXPIRATION_SECONDS:
        raise UsageError(
            f"--expires: {expiration_seconds}s is too long: a TokenRequest lives at most "
            f"2^32 seconds"
        )
    spec: dict[str, Any] = {"expirationSeconds": expiration_seconds}
    if audiences:
        if not all(isinstance(a, str) and a for a in audiences):
            raise ValueError(f"audiences must be non-empty strings, got {list(audiences)!r}")
        spec["audiences"] = list(audiences)
    return {"apiVersion": AUTHENTICATION_API, "kind": "TokenRequest", "spec": spec}


def issued_token(response: dict[str, Any]) -> tuple[str, str]:
    """The token and its ``expirationTimestamp`` (RFC 3339) from a TokenRequest response."""
    status = response.get("status") if isinstance(response, dict) else None
    token = status.get("token") if isinstance(status, dict) else None
    expires = status.get("expirationTimestamp") if isinstance(status, dict) else None
    if not isinstance(token, str) or not token or not isinstance(expires, str):
        raise OperationError(
            "the API server answered the TokenRequest without status.token and "
            "status.expirationTimestamp"
        )
    return token, expires


def _ca_field(ca_data: str) -> str:
    """``certificate-authority-data``: base64 of the PEM. PEM text is encoded; anything else
    must already be base64 (as copied from another kubeconfig)."""
    text = ca_data.strip()
    if text.startswith("-----BEGIN"):
        return base64.b64encode((text + "\n").encode()).decode()
    try:
        pem = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(
            "the cluster's certificate authority is neither PEM nor base64 of PEM"
        ) from None
    if b"-----BEGIN" not in pem:
        raise UsageError("the cluster's certificate authority (base64) does not hold a PEM")
    return text


def attendee_kubeconfig(
    *,
    cluster_name: str,
    server: str,
    ca_data: str | None,
    insecure: bool,
    namespace: str,
    user: str,
    token: str,
) -> dict[str, Any]:
    """One cluster, one user (the bearer ``token``), one context in ``namespace``, current.

    ``ca_data`` is the cluster's CA as PEM text or as base64 of it (a kubeconfig's
    ``certificate-authority-data``); None with ``insecure`` False trusts the system's roots.
    """
    for field, value in (
        ("cluster_name", cluster_name),
        ("server", server),
        ("namespace", namespace),
        ("user", user),
        ("token", token),
    ):
        if not isinstance(value, str) or not value:
            raise ValueError(f"attendee_kubeconfig: {field} must be a non-empty string")
    if insecure and ca_data:
        raise UsageError(
            "a kubeconfig cannot both verify the server with a CA and skip verification "
            "(client-go: specifying a root certificates file with the insecure flag is not "
            "allowed)"
        )
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = _ca_field(ca_data)
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    context = f"{user}@{cluster_name}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": cluster_name, "user": user, "namespace": namespace},
            }
        ],
        "current-context": context,
    }


def write_kubeconfig(path: Path, config: dict[str, Any]) -> None:
    """Write ``config`` as YAML to ``path``, mode 0600, atomically; replaces what is there.

    The folder is created (0700) when missing. A failure is one ``OperationError`` line and
    leaves neither a partial file at ``path`` nor the temporary file (``lab.state.write_private``).
    """
    from provisioning.lab.state import write_private

    def failed(where: Path, exc: OSError) -> OperationError:
        return OperationError(f"cannot write the kubeconfig {where}: {exc.strerror or exc}")

    data = yaml.safe_dump(config, sort_keys=False, default_flow_style=False).encode()
    write_private(Path(path), data, mode=FILE_MODE, failed=failed)
