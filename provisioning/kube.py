"""The Kubernetes API seam: one narrow protocol, its errors, and the real client behind it.

Everything above this seam (engines, workload, policies, teardown) talks to the cluster through
``KubeApi``: server-side apply, create, get, list, delete, the server version and ServiceAccount
tokens (TokenRequest). ``ClientKube`` is the real implementation on the official ``kubernetes``
client, loading only the lab's own kubeconfig; ``tests.fake_kube.FakeKube`` is the in-memory
twin the logic tests use.

Why so low-level: we send raw REST requests through the client's REST layer (which keeps the
kubeconfig's TLS, client certificates, proxies and token refresh) and parse JSON ourselves, so
one code path works for any kind (CRDs included) without the generated model classes, and across
client releases 30-37 whose ``ApiClient.call_api`` signatures differ (37 moved to a new generator).

References:
- server-side apply: https://kubernetes.io/docs/reference/using-api/server-side-apply/
  (PATCH, ``Content-Type: application/apply-patch+yaml``, ``fieldManager`` required, ``force``)
- create: POST the object to its collection (``.../namespaces/<ns>/<plural>``); the answer is
  the object as stored, or for review kinds such as ``SelfSubjectAccessReview`` the request with
  its ``status`` filled in (kubernetes/api v0.36.3 ``authorization/v1/types.go``)
- URL layout and discovery: https://kubernetes.io/docs/reference/using-api/api-concepts/
- TokenRequest: POST an ``authentication.k8s.io/v1`` ``TokenRequest`` to a ServiceAccount's
  ``token`` subresource; kubernetes/kubernetes ``pkg/registry/core/serviceaccount/storage/
  token.go`` (``TokenREST.Create``, snapshot 0411cc70) answers 404 when the ServiceAccount is
  missing, 422 for an invalid ``spec.expirationSeconds``, and otherwise the request with
  ``status.token`` and ``status.expirationTimestamp`` filled in
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from provisioning.errors import LabError, OperationError, UsageError
from provisioning.spec import FIELD_MANAGER

DEFAULT_TIMEOUT = 30.0
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"


class KubeApi(Protocol):
    """The few Kubernetes API calls the lab needs; objects are plain dicts, as in the API."""

    def apply(
        self, objects: Sequence[Mapping[str, Any]], *, dry_run: bool = False
    ) -> list[dict[str, Any]]:
        """Server-side apply each object in order (field manager ``FIELD_MANAGER``, forced).

        ``dry_run`` asks the server to validate and default without persisting. Returns the
        objects as the server returned them. Stops at the first failure with ``KubeError``.
        """
        ...

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create one object (POST to its collection); returns what the server answered.

        Unlike ``apply`` it fails (409 ``AlreadyExists``) when the object exists. Objects that
        are only ever created, such as ``SelfSubjectAccessReview``, need no ``metadata.name``.
        """
        ...

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The object, or ``None`` when it does not exist (404)."""
        ...

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """Objects of a kind, in one namespace or (``None``) all, optionally label-selected."""
        ...

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete (background propagation). ``False`` when it was already gone (404)."""
        ...

    def server_version(self) -> str:
        """The API server's ``gitVersion``, e.g. ``v1.36.1``. Raises ``KubeUnreachable``."""
        ...

    def request_token(
        self, namespace: str, service_account: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Ask for a token of a ServiceAccount: POST ``body`` (an ``authentication.k8s.io/v1``
        ``TokenRequest``, as ``provisioning.fleet.kubeconfig.token_request`` builds it) to
        ``/api/v1/namespaces/<namespace>/serviceaccounts/<service_account>/token``.

        Returns the server's answer: the TokenRequest with ``status.token`` and
        ``status.expirationTimestamp`` (``issued_token`` reads them). The server may shorten the
        requested expiration, so the timestamp is the truth. A missing ServiceAccount is a
        ``KubeError`` (404 ``NotFound``), not ``None``; an expiration under 600 s or over 2^32 s
        is one too (422 ``Invalid``).
        """
        ...


# --- errors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectRef:
    """Which object a request was about, for messages: ``Kind/namespace/name``."""

    kind: str
    name: str | None = None
    namespace: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.kind, self.namespace, self.name) if p)

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(str(obj.get("kind") or "?"), meta.get("name"), meta.get("namespace"))


class KubeError(OperationError):
    """The API server refused a request (or could not be asked). One line: what, where, why."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        ref: ObjectRef | None = None,
        verb: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.ref = ref
        self.verb = verb
        self.server_message = _one_line(message)
        super().__init__(self._compose(), hint=hint)

    def _compose(self) -> str:
        parts = []
        if self.verb or self.ref:
            parts.append(" ".join(p for p in (self.verb, str(self.ref or "")) if p))
        if self.status is not None:
            parts.append(" ".join(p for p in (f"HTTP {self.status}", self.reason) if p))
        parts.append(self.server_message)
        return ": ".join(parts)

    @property
    def not_found(self) -> bool:
        return self.status == 404


class KubeUnreachable(KubeError):
    """The API server could not be reached at all (cluster down, wrong port, TLS failure)."""

    def __init__(self, server: str, kubeconfig: Path | str, cause: str) -> None:
        self.server = server
        self.kubeconfig = str(kubeconfig)
        self.cause = _one_line(cause)
        if "SSL" in cause or "certificate" in cause.lower():
            advice = (
                "was the cluster recreated? its kubeconfig may be out of date (`invoke up` "
                "refreshes a lab's own; for your own cluster, fetch a fresh one)"
            )
        else:
            advice = "is the cluster running? see `invoke doctor`"
        super().__init__(
            f"cannot reach the Kubernetes API at {server} from kubeconfig {kubeconfig}: "
            f"{_one_line(cause)}; {advice}"
        )


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def error_from_response(
    status: int, http_reason: str | None, body: bytes | str | None, *, ref: ObjectRef, verb: str
) -> KubeError:
    """A ``KubeError`` from a non-2xx response, preferring the server's ``Status`` object."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    reason, message = http_reason, text.strip() or "(empty response)"
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        reason = doc.get("reason") or reason
        message = doc.get("message") or message
    return KubeError(message, status=status, reason=reason, ref=ref, verb=verb)


# --- where each kind lives -------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """A REST resource: how a kind is addressed under its group/version."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def group_path(self) -> str:
        return group_path(self.api_version)

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        parts = [self.group_path]
        if self.namespaced and namespace:
            parts += ["namespaces", quote(namespace, safe="")]
        parts.append(self.plural)
        if name:
            parts.append(quote(name, safe=""))
        return "/".join(parts)


def group_path(api_version: str) -> str:
    """``v1`` -> ``/api/v1``; ``apps/v1`` -> ``/apis/apps/v1``."""
    return f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"


# The kinds the lab itself touches; anything else is looked up through discovery.
KNOWN_RESOURCES: dict[tuple[str, str], Resource] = {
    (r.api_version, r.kind): r
    for r in (
        Resource("v1", "Namespace", "namespaces", False),
        Resource("v1", "Node", "nodes", False),
        Resource("v1", "Pod", "pods", True),
        Resource("v1", "Service", "services", True),
        Resource("v1", "ConfigMap", "configmaps", True),
        Resource("v1", "ServiceAccount", "serviceaccounts", True),
        Resource("apps/v1", "DaemonSet", "daemonsets", True),
        Resource("apps/v1", "Deployment", "deployments", True),
        Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True),
        # A workshop fleet's attendee access (kubernetes/api v0.36.3 rbac/v1/types.go: Role and
        # RoleBinding are namespaced, served by every API server as roles, rolebindings).
        Resource("rbac.authorization.k8s.io/v1", "Role", "roles", True),
        Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
        # kubernetes-sigs/network-policy-api v0.2.0 apis/v1alpha2/clusternetworkpolicy_types.go:
        # +genclient:nonNamespaced, +kubebuilder:resource:shortName=cnp,scope=Cluster (a CRD:
        # 404 until it is installed).
        Resource(
            "policy.networking.k8s.io/v1alpha2",
            "ClusterNetworkPolicy",
            "clusternetworkpolicies",
            False,
        ),
        # Cluster-scoped, create only (kubernetes/api v0.36.3 authorization/v1/types.go:
        # +genclient:nonNamespaced, +genclient:onlyVerbs=create).
        Resource(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            False,
        ),
        Resource(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            False,
        ),
        # Calico's own API, served by the Calico API server the lab's Calico install includes
        # (an aggregated API, APIService v3.projectcalico.org; 404 until it is up).
        Resource("projectcalico.org/v3", "GlobalNetworkPolicy", "globalnetworkpolicies", False),
        Resource("operator.tigera.io/v1", "Installation", "installations", False),
        Resource("operator.tigera.io/v1", "APIServer", "apiservers", False),
        Resource("operator.tigera.io/v1", "TigeraStatus", "tigerastatuses", False),
    )
}


def known_resource(api_version: str, kind: str) -> Resource | None:
    return KNOWN_RESOURCES.get((api_version, kind))


def resource_from_discovery(
    api_version: str, kind: str, discovery: Mapping[str, Any]
) -> Resource | None:
    """Find ``kind`` in an ``APIResourceList`` (the body of ``GET /apis/<group>/<version>``)."""
    for entry in discovery.get("resources") or []:
        # Subresources (pods/status, deployments/scale) carry the parent's kind too.
        if entry.get("kind") == kind and "/" not in entry.get("name", "/"):
            return Resource(api_version, kind, entry["name"], bool(entry.get("namespaced")))
    return None


# --- the real client -------------------------------------------------------------------------


# Kubeconfigs with many clusters and embedded certificates reach a few hundred KiB.
KUBECONFIG_MAX_BYTES = 4 * 1024 * 1024


@contextlib.contextmanager
def _client_log() -> Iterator[list[str]]:
    """The messages the Kubernetes client logs at ERROR while it loads a kubeconfig, kept for
    the tool's own one-line error instead of printed. While the handler is on the root logger,
    ``logging.error`` does not install its default stderr handler (``logging.basicConfig`` runs
    only when the root logger has none)."""
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(" ".join(record.getMessage().split()))

    root = logging.getLogger()
    handler = Keep(logging.ERROR)
    root.addHandler(handler)
    try:
        yield messages
    finally:
        root.removeHandler(handler)


def current_context(kubeconfig: Path) -> str | None:
    """The kubeconfig's ``current-context`` (the top-level key of client-go's
    ``tools/clientcmd/api/v1/types.go`` Config), or None when it has none or cannot be read.
    Read through the bounded reader, like every kubeconfig the tool is given."""
    from provisioning.documents import parse_yaml, read_text

    try:
        text = read_text(kubeconfig, what="kubeconfig", limit=KUBECONFIG_MAX_BYTES)
        data = parse_yaml(text, source=f"kubeconfig {kubeconfig}")
    except (LabError, OSError):
        return None
    name = data.get("current-context") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


class ClientKube:
    """``KubeApi`` over the official client, reading only the lab's own kubeconfig file.

    The kubeconfig is loaded on first use, so constructing one is free and works before the
    cluster exists (``plan`` does that). The user's default kubeconfig and current context are
    never read or changed.
    """

    def __init__(
        self,
        kubeconfig: Path,
        context: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        pool_size: int | None = None,
    ) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.context = context
        self.timeout = timeout
        # Connections kept open to the API server: the client's default is cpu_count * 5
        # (kubernetes client 37.0.2 configuration.py); a workshop fleet's labs share one client
        # from more threads than that, and urllib3 would warn for each connection it drops.
        self.pool_size = pool_size
        self._client: Any = None
        self._resources: dict[tuple[str, str], Resource] = {}
        self._discovery: dict[str, dict[str, Any] | None] = {}

    # -- KubeApi --

    def apply(
        self, objects: Sequence[Mapping[str, Any]], *, dry_run: bool = False
    ) -> list[dict[str, Any]]:
        applied = []
        for obj in objects:
            ref = ObjectRef.of(obj)
            api_version, kind, name = obj.get("apiVersion"), obj.get("kind"), ref.name
            if not (api_version and kind and name):
                raise KubeError(
                    "an object to apply needs apiVersion, kind and metadata.name",
                    ref=ref,
                    verb="apply",
                )
            resource = self._resource(api_version, kind, ref=ref)
            if resource.namespaced and not ref.namespace:
                raise KubeError(
                    f"{kind} is namespaced; set metadata.namespace", ref=ref, verb="apply"
                )
            query = {"fieldManager": FIELD_MANAGER, "force": "true"}
            if dry_run:
                query["dryRun"] = "All"
            _, data = self._call(
                "PATCH",
                resource.path(ref.namespace, name),
                query,
                body=dict(obj),
                content_type=APPLY_CONTENT_TYPE,
                ref=ref,
                verb="apply",
            )
            applied.append(data)
        return applied

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        ref = ObjectRef.of(obj)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not (api_version and kind):
            raise KubeError("an object to create needs apiVersion and kind", ref=ref, verb="create")
        resource = self._resource(api_version, kind, ref=ref)
        if resource.namespaced and not ref.namespace:
            raise KubeError(f"{kind} is namespaced; set metadata.namespace", ref=ref, verb="create")
        _, data = self._call(
            "POST",
            resource.path(ref.namespace),
            {"fieldManager": FIELD_MANAGER},
            body=dict(obj),
            content_type="application/json",
            ref=ref,
            verb="create",
        )
        return data

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        ref = ObjectRef(kind, name, namespace)
        resource = self._resource(api_version, kind, ref=ref)
        status, data = self._call(
            "GET", resource.path(namespace, name), ref=ref, verb="get", missing_ok=True
        )
        return None if status == 404 else data

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        ref = ObjectRef(kind, None, namespace)
        resource = self._resource(api_version, kind, ref=ref)
        query = {"labelSelector": label_selector} if label_selector else {}
        status, data = self._call(
            "GET", resource.path(namespace), query, ref=ref, verb="list", missing_ok=True
        )
        if status == 404:  # the type is not served (yet), e.g. before its CRDs are installed
            return []
        items = data.get("items") if isinstance(data, dict) else None
        if items is None and isinstance(data, dict) and "items" in data:
            items = []  # "items": null is how Go serialises an empty list at times
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise KubeError(
                f"list {ref}: the API server answered something that is not a list of objects",
                hint=f"check that {self.kubeconfig} points at a Kubernetes API server",
            )
        # List items come without apiVersion/kind; restore them so callers get whole objects.
        return [{"apiVersion": api_version, "kind": kind, **item} for item in items]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        ref = ObjectRef(kind, name, namespace)
        resource = self._resource(api_version, kind, ref=ref)
        status, _ = self._call(
            "DELETE",
            resource.path(namespace, name),
            {"propagationPolicy": "Background"},
            ref=ref,
            verb="delete",
            missing_ok=True,
        )
        return status != 404

    def server_version(self) -> str:
        _, data = self._call("GET", "/version", ref=ObjectRef("version"), verb="get")
        if not isinstance(data, dict):
            raise KubeError(
                "GET /version: the API server answered something that is not a version",
                hint=f"check that {self.kubeconfig} points at a Kubernetes API server",
            )
        return str(data.get("gitVersion", ""))

    def request_token(
        self, namespace: str, service_account: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        ref = ObjectRef("TokenRequest", service_account or None, namespace or None)
        if not (namespace and service_account):
            raise KubeError(
                "a TokenRequest needs the ServiceAccount's namespace and name",
                ref=ref,
                verb="create",
            )
        accounts = known_resource("v1", "ServiceAccount")
        assert accounts is not None
        _, data = self._call(
            "POST",
            accounts.path(namespace, service_account) + "/token",
            body=dict(body),
            content_type="application/json",
            ref=ref,
            verb="create",
        )
        if not isinstance(data, dict):
            raise KubeError(
                "the API server answered the TokenRequest with something that is not an object",
                ref=ref,
                verb="create",
            )
        return data

    # -- resolution --

    def _resource(self, api_version: str, kind: str, *, ref: ObjectRef) -> Resource:
        key = (api_version, kind)
        if found := known_resource(api_version, kind) or self._resources.get(key):
            return found
        discovery = self._discover(api_version)
        found = resource_from_discovery(api_version, kind, discovery or {})
        if found is None:
            problem = (
                f"the API server does not serve {api_version}"
                if discovery is None
                else f"{api_version} has no kind {kind}"
            )
            raise KubeError(
                f"{problem}; is its CRD installed?",
                status=404,
                reason="NotFound",
                ref=ref,
                verb="resolve",
            )
        self._resources[key] = found
        return found

    def _discover(self, api_version: str) -> dict[str, Any] | None:
        if api_version not in self._discovery:
            status, data = self._call(
                "GET",
                group_path(api_version),
                ref=ObjectRef("APIResourceList", api_version),
                verb="discover",
                missing_ok=True,
            )
            self._discovery[api_version] = None if status == 404 else data
        return self._discovery[api_version]

    # -- transport --

    def _api_client(self) -> Any:
        if self._client is None:
            from kubernetes import config

            self._check_file()
            try:
                # persist_config=False: never write refreshed credentials back into the file.
                settings = None
                if self.pool_size:
                    from kubernetes.client import Configuration

                    # As new_client_from_config makes its own (type.__call__: not a copy of a
                    # process-wide default), with a larger pool.
                    settings = type.__call__(Configuration)
                    settings.connection_pool_maxsize = max(
                        settings.connection_pool_maxsize or 0, self.pool_size
                    )
                with _client_log() as logged:
                    self._client = config.new_client_from_config(
                        config_file=str(self.kubeconfig),
                        context=self.context,
                        persist_config=False,
                        client_configuration=settings,
                    )
                if logged:
                    # kubernetes/config/kube_config.py (client 37.0.2) _load_from_exec_plugin logs
                    # a failing credential plugin with logging.error and goes on without
                    # credentials; said here, once, rather than as a 401 later.
                    from provisioning.documents import cut

                    self._client = None
                    raise KubeError(
                        f"kubeconfig {self.kubeconfig}: the user's credentials could not be "
                        f"loaded ({cut(logged[0], 200)})",
                        hint="run the same kubectl command yourself to see why (often a login "
                        "that has expired: log in again)",
                    )
            except KubeError:
                raise
            except (config.ConfigException, OSError, ValueError) as exc:
                raise KubeError(
                    f"cannot load kubeconfig {self.kubeconfig}: {exc}",
                    hint="create the lab with `invoke up`, or check `invoke status`",
                ) from exc
            except Exception as exc:  # the client's loader trips over shapes it does not expect
                from provisioning.documents import cut

                raise UsageError(
                    f"kubeconfig {self.kubeconfig}: not usable ({type(exc).__name__}: "
                    f"{cut(str(exc), 120)})",
                    hint="check its clusters, users and contexts (`kubectl config view "
                    f"--kubeconfig {self.kubeconfig}`)",
                ) from None
        return self._client

    def _check_file(self) -> None:
        """A kubeconfig that exists is read through the tool's bounded reader first: a FIFO, a
        folder, a huge file, binary, an alias bomb or a document that is not a mapping is one
        line, before the client's own loader (which reads anything it is given) sees it."""
        from provisioning.documents import parse_yaml, read_text

        try:
            self.kubeconfig.lstat()
        except OSError:
            return  # missing: the loader's own message, with how to create the lab's
        text = read_text(self.kubeconfig, what="kubeconfig", limit=KUBECONFIG_MAX_BYTES)
        data = parse_yaml(text, source=f"kubeconfig {self.kubeconfig}")
        if not isinstance(data, dict):
            raise UsageError(
                f"kubeconfig {self.kubeconfig}: not a kubeconfig (a mapping with clusters, "
                "contexts and users)",
                hint="give the file `kubectl config view --raw` shows for your cluster",
            )

    @property
    def server(self) -> str:
        """The API server URL from the kubeconfig (loads it)."""
        return str(self._api_client().configuration.host)

    def _call(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        *,
        body: dict[str, Any] | None = None,
        content_type: str | None = None,
        ref: ObjectRef,
        verb: str,
        missing_ok: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """One request; returns (status, parsed JSON). Non-2xx raises, except 404 if allowed."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        client = self._api_client()
        cfg = client.configuration
        url = cfg.host.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json", "User-Agent": FIELD_MANAGER}
        if content_type:
            headers["Content-Type"] = content_type
        # Bearer tokens (static or from exec/OIDC refresh hooks) come from the configuration;
        # client certificates and CA bundles are already in the REST client's connection pool.
        for auth in cfg.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        try:
            # rest_client.request(method, url, headers=, body=, _request_timeout=) is the call
            # shared by clients 30-37. Differences it absorbs: 30 raises ApiException on non-2xx
            # where 37 returns the response; both JSON-encode a dict body sent as
            # apply-patch+yaml (JSON is YAML), but 30 would encode a str body a second time;
            # 30 ignores a float timeout unless it comes as a (connect, read) pair.
            resp = client.rest_client.request(
                method,
                url,
                headers=headers,
                body=body,
                _request_timeout=(self.timeout, self.timeout),
            )
            status, http_reason, raw = resp.status, resp.reason, _read(resp)
        except ApiException as exc:
            if not exc.status:  # status 0: TLS handshake failure, raised before any response
                raise KubeUnreachable(cfg.host, self.kubeconfig, str(exc.reason)) from exc
            status, http_reason, raw = exc.status, exc.reason, exc.body
        except urllib3.exceptions.HTTPError as exc:
            raise KubeUnreachable(cfg.host, self.kubeconfig, _cause(exc)) from exc
        if status == 404 and missing_ok:
            return status, {}
        if not 200 <= status <= 299:
            raise error_from_response(status, http_reason, raw, ref=ref, verb=verb)
        try:
            return status, json.loads(raw or b"{}")
        except ValueError as exc:
            raise KubeError(
                f"the server answered {method} {path} with non-JSON: {raw[:200]!r}",
                status=status,
                ref=ref,
                verb=verb,
            ) from exc


def _read(resp: Any) -> bytes | str:
    # 30 preloads ``data`` (decoded to str); 37 returns an unread RESTResponse (read() -> bytes).
    data = getattr(resp, "data", None)
    return data if data is not None else resp.read()


def _cause(exc: Exception) -> str:
    """The useful tail of a urllib3 error ("[Errno 111] Connection refused", "timed out")."""
    inner = getattr(exc, "reason", None) or exc
    text = str(inner)
    # NewConnectionError reads "<HTTPConnection object at 0x..>: Failed to establish ...".
    return re.sub(r"^<[^>]*>:\s*", "", text)
