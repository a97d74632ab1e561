"""An in-memory ``KubeApi`` for tests of the code above the seam (engines, workload, teardown).

It keeps the semantics callers depend on, the way the API server behaves:
- apply is server-side apply, simplified: every top-level field other than ``metadata`` and
  ``status`` is replaced by the applied object's, as are labels and annotations; server-set
  fields survive (``uid``, ``creationTimestamp``, ``status``), ``resourceVersion`` increments
  on every write, ``generation`` when the spec changes, and ``managedFields`` names the manager;
- namespaced objects need their namespace (``namespaces "x" not found``, 404);
- deleting a namespace deletes what is in it (at once; the real server takes a while);
- a kind served by a CustomResourceDefinition (``CRD_BACKED``) or by an aggregated API
  (``AGGREGATED``) answers 404 "the server could not find the requested resource" until that
  CRD or APIService object exists, as the API server does for a group/resource it does not
  serve;
- ``dry_run`` validates and returns the would-be object but stores nothing;
- create stores like apply (manager operation ``Update``) but answers 409 ``AlreadyExists``
  when the object exists; creating a ``SelfSubjectAccessReview`` stores nothing and answers
  with ``status`` filled in from the ``access`` rule (default: everything allowed), as
  authorization.k8s.io/v1 does (kubernetes/api v0.36.3 ``authorization/v1/types.go``:
  ``status.allowed``, ``status.denied``, ``status.reason``, ``status.evaluationError``);
- ``request_token`` answers a TokenRequest as ``TokenREST.Create`` does (kubernetes/kubernetes
  ``pkg/registry/core/serviceaccount/storage/token.go``, snapshot 0411cc70): 404
  ``serviceaccounts "<name>" not found`` for a missing ServiceAccount, 422 for an expiration
  outside 600 s .. 2^32 s, the expiration cut to ``max_token_expiration`` when that is set (as
  ``--service-account-max-token-expiration`` does), and an opaque token that ``token_subject``
  accepts until it expires or its ServiceAccount is deleted (see ``answer_token_request``);
- label selectors follow the Kubernetes grammar (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``,
  ``a in (x,y)``, ``a notin (x)``), see
  https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors.
Objects are returned as deep copies, so a caller can never mutate the fake's state by accident.

Test helpers: ``seed``, ``set_status``, ``calls`` (what was asked, in order), ``unreachable``
(every call raises ``KubeUnreachable``), ``fail_on`` (inject a server error), ``reviews``
(the ``resourceAttributes`` of every access review asked, in order), ``clock`` (the time
tokens are issued and checked at), ``max_token_expiration``, ``token_subject`` and
``warnings`` (what the server would have sent as ``Warning`` headers).
"""

from __future__ import annotations

import copy
import datetime
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from provisioning.kube import KubeError, KubeUnreachable, ObjectRef, Resource, known_resource
from provisioning.spec import FIELD_MANAGER

# Kinds that exist only once their CRD is installed (kind -> the CRD's name, <plural>.<group>).
# Until then the API server answers an unserved path with its not-found handler: 404, reason
# NotFound, message "the server could not find the requested resource" (kubernetes/kubernetes
# staging/src/k8s.io/apiserver/pkg/util/notfoundhandler/not_found_handler.go, ServeHTTP).
# kube_emulator.py serves the same tables over HTTP.
CRD_BACKED: dict[tuple[str, str], str] = {
    (
        "policy.networking.k8s.io/v1alpha2",
        "ClusterNetworkPolicy",
    ): "clusternetworkpolicies.policy.networking.k8s.io",
}
CRD_API = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
# Kinds of an aggregated API: served once its APIService exists, named "<version>.<group>" as
# kube-aggregator requires ("the name *must* be version.group": kubernetes/kubernetes
# staging/src/k8s.io/kube-aggregator/pkg/apis/apiregistration/validation/validation.go,
# ValidateAPIService) -- projectcalico.org/v3 by the Calico API server, whose APIService the
# Tigera operator renders as v3.projectcalico.org (tigera/operator pkg/render/apiserver.go,
# apiServiceRegistration: Group projectcalico.org, Version v3).
AGGREGATED: dict[tuple[str, str], str] = {
    ("projectcalico.org/v3", "GlobalNetworkPolicy"): "v3.projectcalico.org",
}
APISERVICE_API = ("apiregistration.k8s.io/v1", "APIService")

FAKE_SERVER = "https://127.0.0.1:6443"
FAKE_TIMESTAMP = "2026-01-01T00:00:00Z"  # fixed, so test output is stable

AUTHORIZATION_V1 = "authorization.k8s.io/v1"
SSAR_KIND = "SelfSubjectAccessReview"

# Decides one access review from its ``spec.resourceAttributes`` (a dict as sent: namespace,
# verb, group, resource, subresource, name; absent keys mean ""). ``True``/``False`` become
# ``{"allowed": ...}``; a mapping is used as the whole ``status`` (to script ``denied``,
# ``reason``, ``evaluationError``).
AccessRule = Callable[[Mapping[str, Any]], bool | Mapping[str, Any]]


def review_status(rule: AccessRule | None, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The ``status`` of a ``SubjectAccessReview`` answered by ``rule`` (``None``: allow all)."""
    answer = True if rule is None else rule(dict(attributes))
    if isinstance(answer, Mapping):
        return {"allowed": False, **copy.deepcopy(dict(answer))}
    return {"allowed": bool(answer)}


def review_spec_error(obj: Mapping[str, Any]) -> str | None:
    """Why the server would refuse this review with 422, or ``None``.

    The API server requires exactly one of resourceAttributes and nonResourceAttributes
    (kubernetes/kubernetes pkg/apis/authorization/validation); the wording here is the fake's.
    """
    spec = obj.get("spec") or {}
    given = [k for k in ("resourceAttributes", "nonResourceAttributes") if spec.get(k)]
    if len(given) != 1:
        return "spec: exactly one of nonResourceAttributes or resourceAttributes must be specified"
    return None


# --- TokenRequest ----------------------------------------------------------------------------
#
# Upstream, all kubernetes/kubernetes (stored snapshots, not release tags):
# - pkg/registry/core/serviceaccount/storage/token.go @0411cc70, TokenREST.Create, in this
#   order: metadata.name/namespace in the body must match the URL (422); the ServiceAccount is
#   looked up (its NotFound, 404, is the answer); unset spec.audiences become the API server's
#   audiences; metadata name, namespace and uid are the ServiceAccount's, creationTimestamp is
#   now; static validation (422, the Invalid error named ""); a pod, secret or node the token is
#   bound to is looked up; the expiration is cut to --service-account-max-token-expiration when
#   that is set and smaller (with the warning "requested expiration of %d seconds shortened to
#   %d seconds"); status = {token, expirationTimestamp: now + spec.expirationSeconds}.
# - pkg/apis/authentication/validation/validation.go @0411cc70, ValidateTokenRequest:
#   MinTokenAgeSec = 10 * 60, "may not specify a duration less than 10 minutes", and
#   "may not specify a duration larger than 2^32 seconds" above 1<<32.
# - pkg/apis/authentication/v1/defaults.go @428e68e0: an unset expirationSeconds is one hour.
# - staging/src/k8s.io/api/authentication/v1/types.go @008b3652: TokenRequestSpec {audiences,
#   expirationSeconds, boundObjectRef} and TokenRequestStatus {token, expirationTimestamp}, all
#   serialised without omitempty; "token is the opaque bearer token".
# - pkg/controlplane/apiserver/options/options.go @03f3da88, Complete: the max expiration flag
#   "must be between 1 hour and 2^32 seconds" (the API server does not start otherwise).
# - pkg/serviceaccount/claims.go @a23d4fdd, validator.Validate: a bound token is refused once
#   expired, or once its ServiceAccount is gone or has another UID (so re-creating a
#   ServiceAccount of the same name does not revive its old tokens).
# - apimachinery errors.NewInvalid: '<Kind>.<group> "<name>" is invalid: <field errors>', each
#   '<field>: Invalid value: <value>: <detail>' (strings quoted).

AUTHENTICATION_V1 = "authentication.k8s.io/v1"
TOKEN_REQUEST_KIND = "TokenRequest"
TOKEN_REQUEST_INVALID = f'{TOKEN_REQUEST_KIND}.authentication.k8s.io "{{name}}" is invalid'
MIN_TOKEN_SECONDS = 10 * 60  # validation.go MinTokenAgeSec
MAX_TOKEN_SECONDS = 1 << 32  # validation.go: "larger than 2^32 seconds"
MIN_MAX_TOKEN_EXPIRATION = 3600  # options.go: the max expiration flag is at least 1 hour
DEFAULT_TOKEN_SECONDS = 3600  # defaults.go: an unset expirationSeconds
# What kind's API server answers for unset spec.audiences: its --api-audiences, which default to
# the --service-account-issuer kind passes (https://kubernetes.default.svc.cluster.local).
API_AUDIENCES: tuple[str, ...] = ("https://kubernetes.default.svc.cluster.local",)


class IssuedToken(NamedTuple):
    """What the fake remembers of a token it issued (the claims a real token carries)."""

    namespace: str
    service_account: str
    uid: str  # the ServiceAccount's, as the token's kubernetes.io/serviceaccount/uid claim
    expires: float  # seconds since the epoch, the token's exp claim


class TokenAnswer(NamedTuple):
    """``answer_token_request``'s result: what to send back, and what to remember."""

    response: dict[str, Any]
    token: str
    issued: IssuedToken
    warning: str | None  # the Warning the API server would send (expiration shortened)


def rfc3339(seconds: float) -> str:
    """A ``metav1.Time`` as JSON: RFC 3339 in UTC, whole seconds (truncated, as Go formats)."""
    moment = datetime.datetime.fromtimestamp(int(seconds), tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def opaque_token() -> str:
    """A random bearer token shaped like a JWT (three base64url parts). It is opaque: nothing
    is encoded in it, and callers must not decode it (a real one is a signed JWT, but the API
    calls it "the opaque bearer token")."""
    return ".".join(secrets.token_urlsafe(n) for n in (27, 192, 192))


def service_account_username(namespace: str, name: str) -> str:
    """``system:serviceaccount:<namespace>:<name>`` (apiserver's serviceaccount.MakeUsername)."""
    return f"system:serviceaccount:{namespace}:{name}"


def answer_token_request(
    body: Mapping[str, Any],
    namespace: str,
    name: str,
    service_account: Mapping[str, Any] | None,
    *,
    now: float,
    max_expiration: int | None = None,
    audiences: Sequence[str] = API_AUDIENCES,
) -> TokenAnswer:
    """Answer a TokenRequest for the ServiceAccount ``namespace/name`` as ``TokenREST.Create``
    does (see the notes above), or raise ``KubeError`` with the status, reason and message the
    API server would send. ``service_account`` is the stored object, or ``None`` when missing.

    Shared by ``FakeKube`` and ``tests.kube_emulator``. Beyond upstream: tokens bound to an
    object (``spec.boundObjectRef``) are refused (400), as the fake keeps no pods to bind to.
    """
    ref = ObjectRef(TOKEN_REQUEST_KIND, name, namespace)

    def refuse(status: int, reason: str, message: str) -> KubeError:
        return KubeError(message, status=status, reason=reason, ref=ref, verb="create")

    def invalid(field: str, value: Any, detail: str, *, named: str) -> KubeError:
        shown = f'"{value}"' if isinstance(value, str) else value
        message = f"{TOKEN_REQUEST_INVALID.format(name=named)}: {field}: Invalid value: {shown}"
        return refuse(422, "Invalid", f"{message}: {detail}")

    if max_expiration and not MIN_MAX_TOKEN_EXPIRATION <= max_expiration <= MAX_TOKEN_SECONDS:
        raise ValueError(  # a fake set up as no API server would start
            "the service-account-max-token-expiration must be between 1 hour and 2^32 "
            f"seconds, got {max_expiration}"
        )
    # Decoding (the fake's wording after the API server's prefix).
    undecodable = f'{TOKEN_REQUEST_KIND} in version "v1" cannot be handled as a TokenRequest'
    if not isinstance(body, Mapping):
        raise refuse(400, "BadRequest", f"{undecodable}: the body is not an object")
    if (body.get("apiVersion"), body.get("kind")) not in (
        (AUTHENTICATION_V1, TOKEN_REQUEST_KIND),
        (None, None),
    ):
        raise refuse(
            400,
            "BadRequest",
            f"{undecodable}: the body is {body.get('apiVersion')} {body.get('kind')}",
        )
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    if not isinstance(meta, Mapping) or not isinstance(spec, Mapping):
        raise refuse(400, "BadRequest", f"{undecodable}: metadata and spec must be objects")
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        seconds = DEFAULT_TOKEN_SECONDS
    elif isinstance(seconds, bool) or not isinstance(seconds, int) or seconds >= 1 << 63:
        raise refuse(
            400,
            "BadRequest",
            f"{undecodable}: spec.expirationSeconds: expected an int64, got {seconds!r}",
        )
    wanted_audiences = spec.get("audiences") or []
    if not isinstance(wanted_audiences, list) or not all(
        isinstance(a, str) for a in wanted_audiences
    ):
        raise refuse(400, "BadRequest", f"{undecodable}: spec.audiences: expected strings")

    # TokenREST.Create, in its order.
    if meta.get("name") and meta["name"] != name:
        raise invalid(
            "metadata.name",
            meta["name"],
            "must match the service account name if specified",
            named=name,
        )
    if meta.get("namespace") and meta["namespace"] != namespace:
        raise invalid(
            "metadata.namespace",
            meta["namespace"],
            "must match the service account namespace if specified",
            named=name,
        )
    if service_account is None:
        # apimachinery NewNotFound for the ServiceAccount lookup (also when the namespace is
        # missing: the lookup does not tell the two apart).
        raise refuse(404, "NotFound", f'serviceaccounts "{name}" not found')
    uid = str((service_account.get("metadata") or {}).get("uid") or "")
    if seconds < MIN_TOKEN_SECONDS:
        raise invalid(
            "spec.expirationSeconds",
            seconds,
            "may not specify a duration less than 10 minutes",
            named="",
        )
    if seconds > MAX_TOKEN_SECONDS:
        raise invalid(
            "spec.expirationSeconds",
            seconds,
            "may not specify a duration larger than 2^32 seconds",
            named="",
        )
    if spec.get("boundObjectRef"):
        raise refuse(400, "BadRequest", "the fake API server does not bind tokens to objects")
    warning = None
    if max_expiration and seconds > max_expiration:
        warning = f"requested expiration of {seconds} seconds shortened to {max_expiration} seconds"
        seconds = max_expiration

    token = opaque_token()
    expires = float(int(now) + seconds)  # the exp claim: whole seconds
    response = {
        "kind": TOKEN_REQUEST_KIND,
        "apiVersion": AUTHENTICATION_V1,
        "metadata": {
            **copy.deepcopy(dict(meta)),
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "creationTimestamp": rfc3339(now),
        },
        "spec": {
            "audiences": list(wanted_audiences or audiences),
            "expirationSeconds": seconds,
            "boundObjectRef": None,
        },
        "status": {"token": token, "expirationTimestamp": rfc3339(expires)},
    }
    return TokenAnswer(response, token, IssuedToken(namespace, name, uid, expires), warning)


def issued_token_subject(
    issued: IssuedToken | None, service_account: Mapping[str, Any] | None, *, now: float
) -> str | None:
    """The user a token authenticates as, or ``None`` once it is expired, or its ServiceAccount
    deleted or replaced by another of the same name (claims.go validator.Validate; the real
    validator also allows go-jose's one-minute leeway past ``exp``, the fake none)."""
    if issued is None or now >= issued.expires or service_account is None:
        return None
    if (service_account.get("metadata") or {}).get("uid") != issued.uid:
        return None
    return service_account_username(issued.namespace, issued.service_account)


class Call(NamedTuple):
    """One recorded request: ``("apply", "Pod", "demo", "server")``."""

    verb: str
    kind: str
    namespace: str | None
    name: str | None


# --- label selectors -------------------------------------------------------------------------

_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
_EQ_RE = re.compile(rf"^({_KEY})\s*(!=|==|=)\s*({_VALUE})$")
_EXISTS_RE = re.compile(rf"^(!?)\s*({_KEY})$")


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # "!=", "notin"


def parse_selector(selector: str | None) -> list[Requirement]:
    """Parse a label selector; an invalid one raises ``KubeError`` (400) like the server."""
    requirements = []
    for clause in _split_clauses(selector or ""):
        if m := _SET_RE.match(clause):
            values = [v.strip() for v in m.group(3).split(",")]
            if not all(values) or not all(re.fullmatch(_VALUE, v) for v in values):
                raise _bad_selector(selector, clause)
            requirements.append(Requirement(m.group(1), m.group(2), frozenset(values)))
        elif m := _EQ_RE.match(clause):
            op = "!=" if m.group(2) == "!=" else "="
            requirements.append(Requirement(m.group(1), op, frozenset([m.group(3)])))
        elif m := _EXISTS_RE.match(clause):
            requirements.append(Requirement(m.group(2), "!exists" if m.group(1) else "exists"))
        else:
            raise _bad_selector(selector, clause)
    return requirements


def selector_matches(selector: str | None, labels: Mapping[str, str] | None) -> bool:
    """True when every clause of ``selector`` holds for ``labels`` (an empty selector: all)."""
    return all(r.matches(labels or {}) for r in parse_selector(selector))


def _split_clauses(selector: str) -> list[str]:
    # Commas separate clauses except inside the parentheses of in/notin.
    clauses, depth, current = [], 0, []
    for ch in selector:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            clauses.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    clauses.append("".join(current).strip())
    if clauses == [""]:
        return []
    return clauses


def _bad_selector(selector: str | None, clause: str) -> KubeError:
    # The server answers 400 BadRequest (kubernetes/apimachinery pkg/labels/selector.go Parse
    # errors, "unable to parse requirement: ..."); the fake's text is its own, shorter wording.
    return KubeError(
        f"unable to parse requirement {clause!r} in label selector {selector!r}",
        status=400,
        reason="BadRequest",
        verb="list",
    )


@dataclass
class _Failure:
    """An injected error (``FakeKube.fail_on``); ``times`` counts down, ``None`` is forever."""

    verb: str
    kind: str | None
    name: str | None
    error: KubeError
    times: int | None

    def matches(self, verb: str, kind: str, name: str | None) -> bool:
        return (
            self.verb == verb
            and self.kind in (None, kind)
            and self.name in (None, name)
            and self.times != 0
        )


# --- the fake --------------------------------------------------------------------------------

_Key = tuple[str, str, str, str]  # (group, kind, namespace or "", name)


class FakeKube:
    """In-memory ``KubeApi``. See the module docstring for what it keeps faithful."""

    def __init__(
        self,
        *,
        version: str = "v1.36.1",
        resources: Sequence[Resource] = (),
        access: AccessRule | None = None,
    ) -> None:
        """``resources`` declares kinds beyond ``KNOWN_RESOURCES`` (unknown kinds: namespaced);
        ``access`` answers access reviews (see ``AccessRule``; ``None`` allows everything)."""
        self.version = version
        self.unreachable = False
        self.access = access
        self.calls: list[Call] = []
        self.reviews: list[dict[str, Any]] = []
        self._resources = {(r.api_version, r.kind): r for r in resources}
        self._objects: dict[_Key, dict[str, Any]] = {}
        self._failures: list[_Failure] = []
        self._uids = 0
        self._versions = 0
        # TokenRequest: the time tokens are issued and checked at (seconds since the epoch),
        # the API server's --service-account-max-token-expiration in seconds (None: unset),
        # its audiences, the tokens issued, and the warnings it would have sent.
        self.clock: Callable[[], float] = time.time
        self.max_token_expiration: int | None = None
        self.api_audiences: tuple[str, ...] = API_AUDIENCES
        self.warnings: list[str] = []
        self._tokens: dict[str, IssuedToken] = {}

    # -- KubeApi --

    def apply(
        self, objects: Sequence[Mapping[str, Any]], *, dry_run: bool = False
    ) -> list[dict[str, Any]]:
        results = []
        for obj in objects:
            ref = ObjectRef.of(obj)
            self._enter("apply", ref.kind, ref.namespace, ref.name)
            if not (obj.get("apiVersion") and obj.get("kind") and ref.name):
                raise KubeError(
                    "an object to apply needs apiVersion, kind and metadata.name",
                    ref=ref,
                    verb="apply",
                )
            self._require_crd(obj["apiVersion"], obj["kind"], "apply", ref)
            merged = self._merge(obj, ref)
            if not dry_run:
                self._objects[self._key_of(merged)] = merged
            results.append(copy.deepcopy(merged))
        return results

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        ref = ObjectRef.of(obj)
        self._enter("create", ref.kind, ref.namespace, ref.name)
        if not (obj.get("apiVersion") and obj.get("kind")):
            raise KubeError("an object to create needs apiVersion and kind", ref=ref, verb="create")
        if (obj["apiVersion"], obj["kind"]) == (AUTHORIZATION_V1, SSAR_KIND):
            return self._review(obj, ref)
        if not ref.name:
            # apimachinery validation: metadata.name (or generateName, which the fake lacks).
            raise KubeError(
                "metadata.name: Required value: name or generateName is required",
                status=422,
                reason="Invalid",
                ref=ref,
                verb="create",
            )
        key = self._key(obj["apiVersion"], obj["kind"], ref.namespace, ref.name)
        if key in self._objects:
            # kubernetes/apimachinery pkg/api/errors/errors.go NewAlreadyExists:
            # '<resource>[.<group>] "<name>" already exists', 409 AlreadyExists.
            raise KubeError(
                f'{self._qualified_resource(obj["apiVersion"], obj["kind"])} "{ref.name}" '
                "already exists",
                status=409,
                reason="AlreadyExists",
                ref=ref,
                verb="create",
            )
        created = self._merge(obj, ref, verb="create", operation="Update")
        self._objects[self._key_of(created)] = created
        return copy.deepcopy(created)

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        self._enter("get", kind, namespace, name)
        self._require_crd(api_version, kind, "get", ObjectRef(kind, name, namespace))
        found = self._objects.get(self._key(api_version, kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        self._enter("list", kind, namespace, None)
        self._require_crd(api_version, kind, "list", ObjectRef(kind, "", namespace))
        requirements = parse_selector(label_selector)
        group = _group(api_version)
        scoped = namespace is not None and self._namespaced(api_version, kind)
        matching = sorted(
            (key, obj)
            for key, obj in list(self._objects.items())
            if key[0] == group
            and key[1] == kind
            and (not scoped or key[2] == namespace)
            and all(r.matches(obj["metadata"].get("labels") or {}) for r in requirements)
        )
        return [copy.deepcopy(obj) for _, obj in matching]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        self._enter("delete", kind, namespace, name)
        self._require_crd(api_version, kind, "delete", ObjectRef(kind, name, namespace))
        key = self._key(api_version, kind, namespace, name)
        if self._objects.pop(key, None) is None:
            return False
        if kind == "Namespace" and _group(api_version) == "":
            for other in [k for k in self._objects if k[2] == name]:
                del self._objects[other]
        return True

    def server_version(self) -> str:
        self._enter("server_version", "", None, None)
        return self.version

    def request_token(
        self, namespace: str, service_account: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Recorded as ``Call("create", "TokenRequest", namespace, service_account)``; answered
        by ``answer_token_request`` (404 without the ServiceAccount, 422 for an expiration out of
        range, cut to ``max_token_expiration``). The token is remembered for ``token_subject``.
        """
        self._enter("create", TOKEN_REQUEST_KIND, namespace, service_account)
        found = self._objects.get(self._key("v1", "ServiceAccount", namespace, service_account))
        answer = answer_token_request(
            body,
            namespace,
            service_account,
            found,
            now=self.clock(),
            max_expiration=self.max_token_expiration,
            audiences=self.api_audiences,
        )
        self._tokens[answer.token] = answer.issued
        if answer.warning:
            self.warnings.append(answer.warning)
        return answer.response

    # -- test helpers --

    def seed(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as if another client created it (its status and managers kept).

        Namespaced objects still need their namespace seeded first, as on a real server.
        """
        ref = ObjectRef.of(obj)
        stored = copy.deepcopy(dict(obj))
        meta = stored.setdefault("metadata", {})
        if self._namespaced(stored["apiVersion"], stored["kind"]):
            self._require_namespace(ref, "seed")
        else:
            meta.pop("namespace", None)
        meta.setdefault("uid", self._new_uid())
        meta.setdefault("creationTimestamp", FAKE_TIMESTAMP)
        meta.setdefault("resourceVersion", self._next_version())
        meta.setdefault("generation", 1)
        if stored["kind"] == "Namespace":
            stored.setdefault("status", {"phase": "Active"})
        self._objects[self._key_of(stored)] = stored
        return copy.deepcopy(stored)

    def set_status(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        status: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Replace an object's status, as its controller would. The object must exist."""
        key = self._key(api_version, kind, namespace, name)
        if key not in self._objects:
            raise KeyError(f"no {ObjectRef(kind, name, namespace)} to set the status of")
        obj = self._objects[key]
        obj["status"] = copy.deepcopy(dict(status))
        obj["metadata"]["resourceVersion"] = self._next_version()
        return copy.deepcopy(obj)

    def fail_on(
        self,
        verb: str,
        kind: str | None = None,
        name: str | None = None,
        *,
        error: KubeError | None = None,
        times: int | None = None,
    ) -> None:
        """Make matching calls raise ``error`` (default: HTTP 500), ``times`` times or always.

        ``verb`` is one of apply, create, get, list, delete, server_version (a TokenRequest is
        ``create`` of kind ``TokenRequest``, named after its ServiceAccount); ``None`` kind/name
        match any.
        """
        error = error or KubeError("injected failure", status=500, reason="InternalError")
        self._failures.append(_Failure(verb, kind, name, error, times))

    def token_subject(self, token: str) -> str | None:
        """Who ``token`` authenticates as (``system:serviceaccount:<ns>:<name>``), or ``None``:
        a token the fake did not issue, one past its expiry (by ``clock``), or one whose
        ServiceAccount was deleted (or deleted and created again), as the API server's token
        authenticator decides (see ``issued_token_subject``)."""
        issued = self._tokens.get(token)
        found = None
        if issued is not None:
            key = self._key("v1", "ServiceAccount", issued.namespace, issued.service_account)
            found = self._objects.get(key)
        return issued_token_subject(issued, found, now=self.clock())

    def objects(self) -> list[dict[str, Any]]:
        """Everything stored, sorted by group, kind, namespace, name (copies)."""
        return [copy.deepcopy(self._objects[k]) for k in sorted(self._objects)]

    # -- internals --

    def _enter(self, verb: str, kind: str, namespace: str | None, name: str | None) -> None:
        self.calls.append(Call(verb, kind, namespace, name))
        if self.unreachable:
            # What provisioning/kube.py raises when the socket refuses (Python's ECONNREFUSED).
            raise KubeUnreachable(
                FAKE_SERVER, "(fake kubeconfig)", "[Errno 111] Connection refused"
            )
        for failure in self._failures:
            if failure.matches(verb, kind, name):
                if failure.times is not None:
                    failure.times -= 1
                raise failure.error

    def _review(self, obj: Mapping[str, Any], ref: ObjectRef) -> dict[str, Any]:
        """Answer a SelfSubjectAccessReview: nothing is stored, the status is the answer."""
        if problem := review_spec_error(obj):
            raise KubeError(
                f"{SSAR_KIND}.authorization.k8s.io is invalid: {problem}",
                status=422,
                reason="Invalid",
                ref=ref,
                verb="create",
            )
        answered = copy.deepcopy(dict(obj))
        attributes = (answered.get("spec") or {}).get("resourceAttributes") or {}
        self.reviews.append(copy.deepcopy(attributes))
        answered.setdefault("metadata", {})
        answered["status"] = review_status(self.access, attributes)
        return answered

    def _qualified_resource(self, api_version: str, kind: str) -> str:
        resource = known_resource(api_version, kind) or self._resources.get((api_version, kind))
        plural = resource.plural if resource else f"{kind.lower()}s"  # unknown: a guess
        group = _group(api_version)
        return f"{plural}.{group}" if group else plural

    def _merge(
        self,
        obj: Mapping[str, Any],
        ref: ObjectRef,
        *,
        verb: str = "apply",
        operation: str = "Apply",
    ) -> dict[str, Any]:
        applied = copy.deepcopy(dict(obj))
        meta = applied.setdefault("metadata", {})
        if self._namespaced(applied["apiVersion"], applied["kind"]):
            if not ref.namespace:
                raise KubeError(
                    f"{ref.kind} is namespaced; set metadata.namespace", ref=ref, verb=verb
                )
            self._require_namespace(ref, verb)
        else:
            meta.pop("namespace", None)
        existing = self._objects.get(self._key_of(applied))
        applied.pop("status", None)  # status belongs to controllers, not to apply
        if existing is None:
            meta.update(
                uid=self._new_uid(),
                creationTimestamp=FAKE_TIMESTAMP,
                resourceVersion=self._next_version(),
                generation=1,
            )
            if applied["kind"] == "Namespace":
                applied["status"] = {"phase": "Active"}
            managers: list[dict[str, Any]] = []
        else:
            old_meta = existing["metadata"]
            spec_changed = {k: v for k, v in applied.items() if k != "metadata"} != {
                k: v for k, v in existing.items() if k not in ("metadata", "status")
            }
            meta.update(
                uid=old_meta["uid"],
                creationTimestamp=old_meta["creationTimestamp"],
                resourceVersion=self._next_version(),
                generation=old_meta.get("generation", 1) + (1 if spec_changed else 0),
            )
            if "status" in existing:
                applied["status"] = copy.deepcopy(existing["status"])
            managers = [
                m
                for m in old_meta.get("managedFields") or []
                if not (m.get("manager") == FIELD_MANAGER and m.get("operation") == "Apply")
            ]
        managers.append(
            {
                "manager": FIELD_MANAGER,
                "operation": operation,
                "apiVersion": applied["apiVersion"],
                "time": FAKE_TIMESTAMP,
                "fieldsType": "FieldsV1",
            }
        )
        meta["managedFields"] = managers
        return applied

    def _require_namespace(self, ref: ObjectRef, verb: str) -> None:
        if ("", "Namespace", "", ref.namespace or "") not in self._objects:
            # kubernetes/apimachinery pkg/api/errors/errors.go NewNotFound: '<resource> "<name>"
            # not found', 404 NotFound (the API server's answer for a missing namespace).
            raise KubeError(
                f'namespaces "{ref.namespace}" not found',
                status=404,
                reason="NotFound",
                ref=ref,
                verb=verb,
            )

    def _require_crd(self, api_version: str, kind: str, verb: str, ref: ObjectRef) -> None:
        crd = CRD_BACKED.get((api_version, kind))
        service = AGGREGATED.get((api_version, kind))
        if crd is not None:
            served = self._key(*CRD_API, None, crd) in self._objects
        elif service is not None:
            served = self._key(*APISERVICE_API, None, service) in self._objects
        else:
            return
        if served:
            return
        # The not-found handler's Status (see CRD_BACKED above).
        raise KubeError(
            "the server could not find the requested resource",
            status=404,
            reason="NotFound",
            ref=ref,
            verb=verb,
        )

    def serve_api(self, name: str) -> None:
        """Seed the APIService ``name`` (``v3.projectcalico.org``), as its API server does."""
        if self._key(*APISERVICE_API, None, name) not in self._objects:
            self.seed(
                {
                    "apiVersion": APISERVICE_API[0],
                    "kind": APISERVICE_API[1],
                    "metadata": {"name": name},
                }
            )

    def install_crd(self, name: str) -> None:
        """Seed the CustomResourceDefinition ``name`` (as an engine's manifest would)."""
        if self._key(*CRD_API, None, name) not in self._objects:
            self.seed({"apiVersion": CRD_API[0], "kind": CRD_API[1], "metadata": {"name": name}})

    def _namespaced(self, api_version: str, kind: str) -> bool:
        if (api_version, kind) == APISERVICE_API:  # apiregistration.k8s.io: cluster-scoped
            return False
        resource = known_resource(api_version, kind) or self._resources.get((api_version, kind))
        # Unknown kinds (custom resources) are namespaced unless they are known cluster-scoped.
        return resource.namespaced if resource else True

    def _key(self, api_version: str, kind: str, namespace: str | None, name: str) -> _Key:
        ns = (namespace or "") if self._namespaced(api_version, kind) else ""
        return (_group(api_version), kind, ns, name)

    def _key_of(self, obj: Mapping[str, Any]) -> _Key:
        meta = obj["metadata"]
        return self._key(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])

    def _new_uid(self) -> str:
        self._uids += 1
        return str(uuid.UUID(int=self._uids))  # deterministic, still uid-shaped

    def _next_version(self) -> str:
        self._versions += 1
        return str(self._versions)


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""
