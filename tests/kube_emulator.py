"""A small Kubernetes API emulator on 127.0.0.1 for the HTTP tier of the kube seam tests.

Why our own and not kmock: kmock (0.8) is asyncio-only and its pytest plugin needs
pytest-asyncio, while ``ClientKube`` is synchronous (urllib3 underneath); driving it from an
event loop would mean threads around every call. ``http.server`` in a background thread lets the
real client talk plain HTTP to a real socket, and the tests read back exactly what was sent.

It records every request and answers like the API server for what the lab uses: the URL layout
(``/api/v1``, ``/apis/<group>/<version>``, ``namespaces/<ns>/<plural>/<name>``), server-side
apply (PATCH ``application/apply-patch+yaml``, ``fieldManager`` required, ``dryRun=All`` stores
nothing), create (POST ``application/json`` to the collection: 201, or 409 ``AlreadyExists``),
get, list with ``labelSelector``, delete, ``/version``, discovery documents, 404 ``Status``
bodies (``namespaces "x" not found`` for a missing namespace). A ``SelfSubjectAccessReview``
POST is answered from ``access`` (the same rule type as ``FakeKube``'s; ``None`` allows all)
and stored nowhere; ``reviews()`` reads back the ``resourceAttributes`` that were sent.
``reply`` scripts a fixed answer for one method and path, to provoke errors.

A TokenRequest (POST ``/api/v1/namespaces/<ns>/serviceaccounts/<name>/token``) is answered by
``tests.fake_kube.answer_token_request``, as ``FakeKube.request_token`` is (upstream sources
cited there): 201 with ``status.token`` and ``status.expirationTimestamp``, 404 without the
ServiceAccount, 422 for an expiration out of range, and the expiration cut to
``max_token_expiration`` with the API server's ``Warning`` header. ``token_subject`` tells
whether a token issued here still authenticates (``clock`` is the time it is checked at).

The emulator has no controllers unless asked. Two opt-in modes stand in for them, so a whole
``invoke up`` and ``down`` can run against it:

- ``kubelet=True``: a pod written (created or applied, not a dry run) is reported as kubelet
  reports a started pod whose containers passed their readiness probes: ``status.phase``
  ``Running``, ``podIP``/``podIPs`` from a pod CIDR, ``hostIP``, ``startTime``, the conditions
  ``PodReadyToStartContainers``, ``Initialized``, ``ContainersReady``, ``Ready`` and
  ``PodScheduled`` all ``True``, and one ``containerStatuses`` entry per container with
  ``ready``, ``started`` and ``state.running.startedAt``. Field names: kubernetes/api core/v1
  ``types.go`` (``PodStatus``, ``PodCondition``, ``ContainerStatus``); the conditions and what
  they mean: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-conditions.
  Status belongs to the status subresource, so an apply of an existing pod keeps it (the pod's
  IP does not change), and a pod seeded with a status keeps the one it was given.
- ``namespace_controller=True``: deleting a namespace also deletes everything in it, as the
  namespace controller of kube-controller-manager does once the namespace is Terminating
  (https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/); here at once.

``seed`` stores an object as another client made it (for engine fixtures and a user's own
objects), and serves discovery for a kind the client does not know (a ClusterRole).

Status bodies follow https://kubernetes.io/docs/reference/using-api/api-concepts/ (``Status``).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import itertools
import json
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from provisioning.kube import KubeError
from tests.fake_kube import AGGREGATED as _FAKE_AGGREGATED
from tests.fake_kube import (
    API_AUDIENCES,
    AUTHORIZATION_V1,
    SSAR_KIND,
    AccessRule,
    IssuedToken,
    answer_token_request,
    issued_token_subject,
    review_spec_error,
    review_status,
    selector_matches,
)
from tests.fake_kube import CRD_BACKED as _FAKE_CRD_BACKED

SSAR_PATH = f"/apis/{AUTHORIZATION_V1}/selfsubjectaccessreviews"
# The ServiceAccount token subresource ("serviceaccounts/token" in the core API's storage).
TOKEN_PATH_RE = re.compile(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token$")

_ObjKey = tuple[str, str, str, str]  # (group/version, namespace or "", plural, name)


def _by_plural(table: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """fake_kube's (api version, kind) tables keyed as requests name them: (api version,
    plural)."""
    from provisioning.kube import known_resource

    out = {}
    for (api_version, kind), name in table.items():
        resource = known_resource(api_version, kind)
        assert resource is not None, (api_version, kind)
        out[api_version, resource.plural] = name
    return out


# Resources served only once their CRD or APIService exists, with the not-found handler's
# 404 before that: the same tables as FakeKube's, where their upstream sources are cited.
CRD_BACKED = _by_plural(_FAKE_CRD_BACKED)
AGGREGATED = _by_plural(_FAKE_AGGREGATED)


@dataclass(frozen=True)
class Recorded:
    """One request as it arrived on the wire."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def yaml(self) -> Any:
        """The body parsed as YAML, as the API server reads apply-patch+yaml (JSON is YAML)."""
        return yaml.safe_load(self.body)


@dataclass
class KubeEmulator:
    """Start with ``with KubeEmulator() as emu:``; point a kubeconfig at ``emu.url``."""

    version: str = "v1.36.1"
    requests: list[Recorded] = field(default_factory=list)
    discovery: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[_ObjKey, dict[str, Any]] = field(default_factory=dict)
    scripted: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None  # serve https with this server context
    access: AccessRule | None = None  # answers SelfSubjectAccessReviews; None: allow all
    kubelet: bool = False  # pods written become Running and Ready with an IP (see module doc)
    namespace_controller: bool = False  # deleting a namespace deletes what is in it
    clock: Callable[[], float] = time.time  # when tokens are issued and checked
    max_token_expiration: int | None = None  # --service-account-max-token-expiration, seconds
    api_audiences: tuple[str, ...] = API_AUDIENCES  # for a TokenRequest without audiences
    warnings: list[str] = field(default_factory=list)  # Warning headers sent, in order
    tokens: dict[str, IssuedToken] = field(default_factory=dict)  # issued, by token

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._versions = itertools.count(1)
        self._pod_ips = itertools.count(2)
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle --

    def __enter__(self) -> KubeEmulator:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Recorded(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                status, payload, warnings = emulator._answer(request)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for warning in warnings:  # RFC 7234 warn-code 299, as the API server sends
                    self.send_header("Warning", f'299 - "{warning}"')
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PATCH = do_DELETE = do_POST = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        # A short poll interval so shutdown() returns at once instead of after the 0.5 s default.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "use the emulator as a context manager"
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    # -- test controls --

    def reply(self, method: str, path: str, status: int, body: dict[str, Any] | str) -> None:
        """Answer ``method path`` with this status and body from now on (recorded as usual)."""
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.scripted[(method, path)] = (status, payload)

    def serve_discovery(self, group_version: str, resources: list[dict[str, Any]]) -> None:
        path = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
        self.discovery[path] = {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }

    def seed(self, obj: dict[str, Any], *, plural: str = "", namespaced: bool = True) -> None:
        """Store ``obj`` as another client made it (status kept, nothing recorded).

        Known kinds (``provisioning.kube.KNOWN_RESOURCES``) need nothing more; for another kind
        give ``plural`` and ``namespaced``, and its group version's discovery document is served
        so the real client can find it, as the API server serves every kind it knows.
        """
        from provisioning.kube import known_resource

        api_version, kind = obj["apiVersion"], obj["kind"]
        resource = known_resource(api_version, kind)
        if resource is not None:
            plural, namespaced = resource.plural, resource.namespaced
        elif not plural:
            raise ValueError(f"{api_version} {kind} is not a known kind: give its plural")
        else:
            path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
            listed = self.discovery.get(path, {}).get("resources", [])
            if not any(r.get("kind") == kind for r in listed):
                entry = {"name": plural, "kind": kind, "namespaced": namespaced}
                self.serve_discovery(api_version, [*listed, entry])
        stored = json.loads(json.dumps(obj))
        meta = stored.setdefault("metadata", {})
        namespace = meta.get("namespace", "") if namespaced else ""
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta.setdefault("resourceVersion", str(next(self._versions)))
        with self._lock:
            self.objects[(api_version, namespace, plural, meta["name"])] = stored

    def requests_to(self, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if method in (None, r.method)]

    def reviews(self) -> list[Recorded]:
        """The SelfSubjectAccessReview requests, in order (their bodies as sent)."""
        return [r for r in self.requests if (r.method, r.path) == ("POST", SSAR_PATH)]

    def token_subject(self, token: str) -> str | None:
        """Who a token issued here authenticates as, or ``None`` once it is expired (by
        ``clock``) or its ServiceAccount is gone (``tests.fake_kube.issued_token_subject``)."""
        with self._lock:
            issued = self.tokens.get(token)
            found = None
            if issued is not None:
                key = ("v1", issued.namespace, "serviceaccounts", issued.service_account)
                found = self.objects.get(key)
            return issued_token_subject(issued, found, now=self.clock())

    # -- the API --

    def _answer(self, request: Recorded) -> tuple[int, bytes, list[str]]:
        with self._lock:
            self.requests.append(request)
            if scripted := self.scripted.get((request.method, request.path)):
                return (*scripted, [])
            warned = len(self.warnings)
            status, doc = self._route(request)
            return status, json.dumps(doc).encode(), self.warnings[warned:]

    def _route(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        if request.path == "/version":
            return 200, {"major": "1", "minor": "36", "gitVersion": self.version}
        if request.path in self.discovery:
            return 200, self.discovery[request.path]
        if token := TOKEN_PATH_RE.match(request.path):
            if request.method != "POST":  # the subresource only creates
                # The status code is the API server's; the message is the emulator's own.
                return _status(405, "MethodNotAllowed", f"{request.method} is not supported here")
            return self._token(token.group(1), token.group(2), request)
        parsed = _parse_path(request.path)
        if parsed is None:
            return _status(404, "NotFound", "the server could not find the requested resource")
        group_version, namespace, plural, name = parsed
        crd = CRD_BACKED.get((group_version, plural))
        service = AGGREGATED.get((group_version, plural))
        if (
            crd
            and ("apiextensions.k8s.io/v1", "", "customresourcedefinitions", crd)
            not in self.objects
        ) or (
            service
            and ("apiregistration.k8s.io/v1", "", "apiservices", service) not in self.objects
        ):
            # Not served yet (no CRD, or its API server is not registered): the not-found
            # handler's Status, as FakeKube answers it.
            return _status(404, "NotFound", "the server could not find the requested resource")
        # Only writes check the namespace; reads in a missing one are plain 404s or empty lists.
        namespace_missing = ("v1", "", "namespaces", namespace) not in self.objects
        if namespace and request.method == "PATCH" and namespace_missing:
            return _status(404, "NotFound", f'namespaces "{namespace}" not found')
        key = (group_version, namespace or "", plural, name or "")
        if request.method == "GET" and name is None:
            return 200, self._list(group_version, namespace, plural, request)
        if request.method == "GET":
            return (200, self.objects[key]) if key in self.objects else _missing(plural, name)
        if request.method == "DELETE" and name:
            if self.objects.pop(key, None) is None:
                return _missing(plural, name)
            if self.namespace_controller and key[:3] == ("v1", "", "namespaces"):
                for inside in [k for k in self.objects if k[1] == name]:
                    del self.objects[inside]
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
        if request.method == "PATCH" and name:
            return self._apply(key, request)
        if request.method == "POST" and name is None:
            return self._create(group_version, namespace, plural, request)
        # The status code is the API server's; the message is the emulator's own.
        return _status(405, "MethodNotAllowed", f"{request.method} is not supported here")

    def _create(
        self, group_version: str, namespace: str | None, plural: str, request: Recorded
    ) -> tuple[int, dict[str, Any]]:
        if request.headers.get("content-type") != "application/json":
            return _status(415, "UnsupportedMediaType", "the emulator only creates from JSON")
        try:
            obj = json.loads(request.body)
        except ValueError:
            return _status(400, "BadRequest", "the request body is not JSON")
        if request.path == SSAR_PATH:
            return self._review(obj)
        if namespace and ("v1", "", "namespaces", namespace) not in self.objects:
            return _status(404, "NotFound", f'namespaces "{namespace}" not found')
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            return _status(422, "Invalid", "metadata.name: Required value")
        key = (group_version, namespace or "", plural, name)
        if key in self.objects:
            group = group_version.rpartition("/")[0]
            qualified = f"{plural}.{group}" if group else plural
            return _status(409, "AlreadyExists", f'{qualified} "{name}" already exists')
        meta["uid"] = f"uid-{name}"
        meta["resourceVersion"] = str(next(self._versions))
        self.objects[key] = obj
        self._run_pod(key, None)
        return 201, obj

    def _token(self, namespace: str, name: str, request: Recorded) -> tuple[int, dict[str, Any]]:
        """A TokenRequest for the ServiceAccount ``namespace/name``, answered as FakeKube does."""
        if request.headers.get("content-type") != "application/json":
            return _status(415, "UnsupportedMediaType", "the emulator only creates from JSON")
        try:
            body = json.loads(request.body)
        except ValueError:
            return _status(400, "BadRequest", "the request body is not JSON")
        found = self.objects.get(("v1", namespace, "serviceaccounts", name))
        try:
            answer = answer_token_request(
                body,
                namespace,
                name,
                found,
                now=self.clock(),
                max_expiration=self.max_token_expiration,
                audiences=self.api_audiences,
            )
        except KubeError as refused:
            return _status(
                refused.status or 500, refused.reason or "InternalError", refused.server_message
            )
        self.tokens[answer.token] = answer.issued
        if answer.warning:
            self.warnings.append(answer.warning)
        return 201, answer.response

    def _review(self, obj: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if (obj.get("apiVersion"), obj.get("kind")) != (AUTHORIZATION_V1, SSAR_KIND):
            return _status(400, "BadRequest", "the body is not an authorization.k8s.io/v1 SSAR")
        if problem := review_spec_error(obj):
            message = f"{SSAR_KIND}.authorization.k8s.io is invalid: {problem}"
            return _status(422, "Invalid", message)
        attributes = (obj.get("spec") or {}).get("resourceAttributes") or {}
        obj.setdefault("metadata", {})
        obj["status"] = review_status(self.access, attributes)
        return 201, obj

    def _apply(self, key: _ObjKey, request: Recorded) -> tuple[int, dict[str, Any]]:
        if request.headers.get("content-type") != "application/apply-patch+yaml":
            return _status(415, "UnsupportedMediaType", "the emulator only speaks apply patches")
        if not request.query.get("fieldManager"):
            return _status(422, "Invalid", "PatchOptions.meta.k8s.io is invalid: fieldManager")
        obj = request.yaml()
        meta = obj.setdefault("metadata", {})
        if meta.get("name") != key[3]:
            return _status(400, "BadRequest", "the name of the object does not match the URL")
        existing = self.objects.get(key)
        meta["uid"] = existing["metadata"]["uid"] if existing else f"uid-{key[3]}"
        meta["resourceVersion"] = str(next(self._versions))
        if request.query.get("dryRun") != ["All"]:
            self.objects[key] = obj
            self._run_pod(key, existing)
        return (200 if existing else 201), obj

    def _run_pod(self, key: _ObjKey, before: dict[str, Any] | None) -> None:
        """``kubelet`` mode: a pod written is started; one already running keeps its status."""
        if not self.kubelet or key[:1] + key[2:3] != ("v1", "pods"):
            return
        pod = self.objects[key]
        if before is not None and before.get("status"):
            pod["status"] = before["status"]
        elif not pod.get("status"):
            pod["status"] = _running_status(pod, _pod_ip(next(self._pod_ips)))

    def _list(
        self, group_version: str, namespace: str | None, plural: str, request: Recorded
    ) -> dict[str, Any]:
        selector = (request.query.get("labelSelector") or [""])[0]
        items = []
        for (gv, ns, pl, _), obj in sorted(self.objects.items()):
            wanted = gv == group_version and pl == plural and namespace in (None, ns)
            if wanted and selector_matches(selector, obj["metadata"].get("labels")):
                # Like the server: list items carry no apiVersion/kind of their own.
                items.append({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")})
        return {"kind": "List", "apiVersion": group_version, "metadata": {}, "items": items}


def _pod_ip(index: int) -> str:
    """The ``index``-th address (from 2) of kind's default pod subnet 10.244.0.0/16
    (kubernetes-sigs/kind v0.31.0 pkg/apis/config/v1alpha4/default.go), skipping each /24's
    .0, .1 (the node's bridge) and .255, so hundreds of pods keep valid addresses."""
    block, host = divmod(index - 2, 253)
    return f"10.244.{block}.{host + 2}"


# When the emulator's kubelet starts pods (fixed, so test output is stable).
STARTED_AT = "2026-01-01T00:00:00Z"
NODE_IP = "172.18.0.2"  # the node all pods run on


def _running_status(pod: dict[str, Any], ip: str) -> dict[str, Any]:
    """A pod's ``status`` as kubelet reports it once every container runs and is Ready
    (kubernetes/api core/v1 types.go ``PodStatus``; see the module docstring)."""
    conditions = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    containers = (pod.get("spec") or {}).get("containers") or []
    return {
        "phase": "Running",
        "conditions": [
            {"type": c, "status": "True", "lastTransitionTime": STARTED_AT} for c in conditions
        ],
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": STARTED_AT,
        "containerStatuses": [
            {
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": STARTED_AT}},
            }
            for c in containers
        ],
        "qosClass": _qos_class(containers),
    }


def _qos_class(containers: list[dict[str, Any]]) -> str:
    """kubernetes/kubernetes pkg/apis/core/helper/qos/qos.go ``GetPodQOS`` (cpu and memory):
    no requests or limits anywhere is BestEffort; limits equal to requests for both in every
    container (requests default to limits) is Guaranteed; anything else Burstable."""
    wanted = ("cpu", "memory")
    any_set, guaranteed = False, True
    for c in containers:
        resources = c.get("resources") or {}
        limits = resources.get("limits") or {}
        requests = {**limits, **(resources.get("requests") or {})}
        if any(requests.get(r) or limits.get(r) for r in wanted):
            any_set = True
        if not all(limits.get(r) and requests.get(r) == limits.get(r) for r in wanted):
            guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _parse_path(path: str) -> tuple[str, str | None, str, str | None] | None:
    """``/apis/g/v/namespaces/ns/plural/name`` -> (``g/v``, ns, plural, name)."""
    segments = path.strip("/").split("/")
    if segments[0] == "api" and len(segments) >= 3:
        group_version, rest = segments[1], segments[2:]
    elif segments[0] == "apis" and len(segments) >= 4:
        group_version, rest = f"{segments[1]}/{segments[2]}", segments[3:]
    else:
        return None
    if len(rest) == 1:
        return group_version, None, rest[0], None
    if len(rest) == 2:
        return group_version, None, rest[0], rest[1]
    if rest[0] == "namespaces" and len(rest) in (3, 4):
        return group_version, rest[1], rest[2], rest[3] if len(rest) == 4 else None
    return None


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    doc = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return code, doc


def _missing(plural: str, name: str) -> tuple[int, dict[str, Any]]:
    return _status(404, "NotFound", f'{plural} "{name}" not found')


def write_kubeconfig(
    path: Any,
    contexts: dict[str, str],
    current: str,
    token: str,
    *,
    cluster_extra: dict[str, Any] | None = None,
) -> None:
    """A kubeconfig with one cluster/user per context, all using the same bearer token.

    ``cluster_extra`` goes into every cluster entry (``certificate-authority-data``, ...).
    """
    clusters = [
        {"name": n, "cluster": {"server": url, **(cluster_extra or {})}}
        for n, url in contexts.items()
    ]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": [{"name": n, "user": {"token": token}} for n in contexts],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in contexts],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


def self_signed_tls(directory: Any) -> tuple[ssl.SSLContext, str]:
    """A server TLS context for 127.0.0.1 and the base64 CA data a kubeconfig would carry."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-emulator")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, base64.b64encode(cert_pem).decode()
