"""May this user run a lab on this cluster? Every verb the lab uses, asked of the API server.

On a cluster the user already has (provider ``existing``), the kubeconfig's user may lack some
of the permissions the lab needs. ``required_access`` lists them, ``check_access`` asks the API
server about each one with a ``SelfSubjectAccessReview`` and ``findings`` turns the answers
into ``doctor`` findings that name what is missing and what to ask a cluster admin for.

The review (kubernetes/api v0.36.3 ``authorization/v1/types.go``): POST
``/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`` with ``spec.resourceAttributes``
{namespace, verb, group, resource, subresource, name}; "" namespace means "all namespaces" for a
namespaced resource (and is the only value for a cluster-scoped one), "" name means "all". The
answer is ``status.allowed`` ("required. True if the action would be allowed"), ``status.denied``
(optional; "If both allowed is false and denied is false, then the authorizer has no opinion",
which still means not allowed), ``status.reason`` and ``status.evaluationError``.

Every authenticated user may create SelfSubjectAccessReviews: kubernetes/kubernetes
``plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`` gives ClusterRole
``system:basic-user`` "create" on ``selfsubjectaccessreviews`` (and ``selfsubjectrulesreviews``)
and binds it to group ``system:authenticated`` (read in a stored snapshot of that file, not at a
release tag). A 403 on the review itself therefore means the request was not authenticated as
expected or that binding was removed; it is reported as one finding, not as missing needs.

Which verbs the lab's calls need:
- server-side apply is a PATCH ("patch"), and when it creates the object the API server also
  authorizes "create" for it (k8s.io/apiserver v0.36.3 ``pkg/endpoints/handlers/patch.go``:
  ``createAuthorizerAttributes`` with ``Verb: "create"``), so the lab needs both;
- probes run ``kubectl exec``. kubectl sends it over WebSockets by default now, a GET that is
  authorized as "get" on ``pods/exec``; API servers from 1.35 also check "create" for it
  (feature gate AuthorizePodWebsocketUpgradeCreatePermission, beta and on by default;
  kubernetes/kubernetes#133515, PR #134577's release note), and SPDY (older kubectl) is a POST,
  "create". So both verbs are needed.

The lab's namespaces are the ones it creates (``lab.observe.lab_namespaces``: ``demo``,
``other`` and the enforcement canary's, each with the lab's suffix); it lists, applies and
deletes pods, services and policies in those only, never across all namespaces.

Engine detection (``detect.collect``) only reads, and a 403 there is recorded as a gap; its
needs are optional: missing ones make detection less sure, they do not stop the lab.

The DNS checks of validation read the cluster DNS pods: one list of pods in kube-system by the
label ``k8s-app=kube-dns`` (``validation.live.observe_dns``). That need is optional too: without
it ``observe_dns`` gets a 403, which it catches, and the checks are judged against a stand-in
pod with CoreDNS's labels as kubeadm deploys it (``live.STAND_IN_DNS``). Policies that allow
DNS by those labels (what the lab's scenarios do) are judged the same; only a policy that allows
DNS by IP block, or a cluster whose DNS pods carry other labels, could be judged wrongly, and
then the check fails visibly rather than passing wrongly. So doctor warns and the lab runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from provisioning.doctor import FAIL, OK, WARN, Finding
from provisioning.kube import KubeApi, KubeError, KubeUnreachable
from provisioning.spec import CLUSTER_DNS_LABELS, CLUSTER_DNS_NAMESPACE, LabSpec

AUTHORIZATION_API = "authorization.k8s.io/v1"
SSAR_KIND = "SelfSubjectAccessReview"

NETWORKING = "networking.k8s.io"
APPS = "apps"
RBAC = "rbac.authorization.k8s.io"
LAB_VERBS = ("get", "list", "create", "patch", "delete")

# Resources the lab asks about that are cluster-scoped (a Role cannot grant them).
CLUSTER_SCOPED = frozenset(
    {
        ("", "namespaces"),
        ("", "nodes"),
        (RBAC, "clusterroles"),
        ("policy.networking.k8s.io", "clusternetworkpolicies"),
        ("projectcalico.org", "globalnetworkpolicies"),
    }
)

# The ConfigMaps ``detect.collect`` may read in kube-system: amazon-vpc-cni always, the others
# when a Cilium / Terway DaemonSet runs there (``detect.wanted_configmaps``).
DETECTION_CONFIGMAPS = ("amazon-vpc-cni", "cilium-config", "eni-config")
DETECTION_NAMESPACE = "kube-system"

_WHY_NAMESPACES = {
    "get": "see whether the lab's namespaces exist (status, teardown)",
    "list": "find the lab's namespaces by their labels (status, teardown)",
    "create": "create the lab's namespaces (server-side apply also checks create)",
    "patch": "apply the lab's namespaces (server-side apply is a PATCH)",
    "delete": "delete the lab's namespaces on teardown",
}
_WHY_OBJECTS = {
    "get": "read the lab's {what} (readiness, status)",
    "list": "find the lab's {what} by their labels (status)",
    "create": "create the lab's {what} (server-side apply also checks create)",
    "patch": "apply the lab's {what} (server-side apply is a PATCH)",
    "delete": "replace or remove the lab's {what}",
}


@dataclass(frozen=True)
class Need:
    """One permission the lab needs: ``verb`` on ``group``/``resource``[/``subresource``].

    ``namespace`` ``None`` is a cluster-scoped resource, or a namespaced one in all namespaces;
    ``name`` "" means any object. ``optional`` needs only make engine detection surer.
    """

    verb: str
    group: str
    resource: str
    namespace: str | None
    subresource: str = ""
    why: str = ""
    name: str = ""
    optional: bool = False

    @property
    def cluster_scoped(self) -> bool:
        return (self.group, self.resource) in CLUSTER_SCOPED

    @property
    def resource_text(self) -> str:
        """As ``kubectl auth can-i`` names it: ``pods/exec``, ``deployments.apps``."""
        text = self.resource + (f"/{self.subresource}" if self.subresource else "")
        return f"{text}.{self.group}" if self.group else text

    @property
    def where(self) -> str:
        if self.namespace:
            return f"in namespace {self.namespace}"
        return "cluster-wide" if self.cluster_scoped else "in all namespaces"

    def __str__(self) -> str:
        named = f" {self.name}" if self.name else ""
        return f"{self.verb} {self.resource_text}{named} {self.where}"

    def attributes(self) -> dict[str, str]:
        """``spec.resourceAttributes`` of the review (empty namespace/subresource/name left out)."""
        attrs = {"verb": self.verb, "group": self.group, "resource": self.resource}
        if self.namespace:
            attrs["namespace"] = self.namespace
        if self.subresource:
            attrs["subresource"] = self.subresource
        if self.name:
            attrs["name"] = self.name
        return attrs

    def review(self) -> dict[str, Any]:
        """The ``SelfSubjectAccessReview`` that asks about this need."""
        return {
            "apiVersion": AUTHORIZATION_API,
            "kind": SSAR_KIND,
            "spec": {"resourceAttributes": self.attributes()},
        }


def required_access(spec: LabSpec) -> tuple[Need, ...]:
    """Everything the lab does on an existing cluster, as permissions, in a stable order."""
    from provisioning.lab.observe import lab_namespaces

    needs = [Need(v, "", "namespaces", None, why=_WHY_NAMESPACES[v]) for v in LAB_VERBS]
    for ns in lab_namespaces(spec):
        for group, resource, what in (
            ("", "pods", "pods"),
            ("", "services", "services"),
            (NETWORKING, "networkpolicies", "NetworkPolicies"),
        ):
            needs += [
                Need(v, group, resource, ns, why=_WHY_OBJECTS[v].format(what=what))
                for v in LAB_VERBS
            ]
        run = "run the probes with `kubectl exec`"
        needs += [
            Need("create", "", "pods", ns, "exec", why=f"{run} (SPDY; WebSocket from 1.35)"),
            Need("get", "", "pods", ns, "exec", why=f"{run} (WebSocket)"),
        ]
    return (*needs, *CLUSTER_POLICY_ACCESS, DNS_ACCESS, *detection_access())


# Optional: scenarios with cluster-wide policies need them; without "list" the lab sees none of
# its own (observe tolerates 403 and 404: no rights, or no ClusterNetworkPolicy CRD).
CLUSTER_POLICY_ACCESS = tuple(
    Need(
        v,
        group,
        resource,
        None,
        why=f"{v} the lab's own {what} (scenarios with cluster-wide policies)",
        optional=True,
    )
    for group, resource, what in (
        ("policy.networking.k8s.io", "clusternetworkpolicies", "ClusterNetworkPolicies"),
        ("projectcalico.org", "globalnetworkpolicies", "Calico GlobalNetworkPolicies"),
    )
    for v in LAB_VERBS
)

_DNS_SELECTOR = ",".join(f"{k}={v}" for k, v in CLUSTER_DNS_LABELS.items())

# Optional: without it the DNS checks use a stand-in for the DNS pods (see the module docstring).
DNS_ACCESS = Need(
    "list",
    "",
    "pods",
    CLUSTER_DNS_NAMESPACE,
    why=f"read the cluster DNS pods ({_DNS_SELECTOR}) that validation's DNS checks are judged "
    "against",
    optional=True,
)


def detection_access() -> tuple[Need, ...]:
    """What ``detect.collect`` reads; all optional."""
    needs = [
        Need("list", APPS, "daemonsets", None, why="find the engine's node agent"),
        Need("list", APPS, "deployments", None, why="find the engine's operator or controller"),
        Need("list", "", "nodes", None, why="read k3s and Terway node annotations and labels"),
    ]
    needs += [
        Need("get", "", "configmaps", DETECTION_NAMESPACE, name=name, why=why)
        for name, why in zip(
            DETECTION_CONFIGMAPS,
            (
                "tell whether the AWS VPC CNI enforces NetworkPolicy",
                "read Cilium's policy enforcement mode",
                "tell whether Terway enforces NetworkPolicy",
            ),
            strict=True,
        )
    ]
    needs.append(
        Need("get", RBAC, "clusterroles", None, name="kindnet", why="date an untagged kindnetd")
    )
    return tuple(replace(n, optional=True) for n in needs)


# --- asking ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """The API server's answer about one need."""

    need: Need
    allowed: bool
    denied: bool = False  # an authorizer said no outright (not just "no opinion")
    reason: str = ""  # status.reason, and status.evaluationError if any

    @property
    def because(self) -> str:
        return self.reason or "no reason given"


@dataclass(frozen=True)
class AccessReport:
    """The answers in the order of the needs; ``error`` when the reviews could not be made."""

    answers: tuple[Answer, ...]
    error: KubeError | None = None

    @property
    def missing(self) -> tuple[Answer, ...]:
        return tuple(a for a in self.answers if not a.allowed)

    @property
    def ok(self) -> bool:
        """Reviews made and every required need allowed (optional ones may be missing)."""
        return self.error is None and not any(not a.need.optional for a in self.missing)


def check_access(kube: KubeApi, spec: LabSpec, needs: Sequence[Need] | None = None) -> AccessReport:
    """One SelfSubjectAccessReview per need (``required_access(spec)`` by default).

    Stops at the first review the API server refuses or cannot be asked (unreachable, 401,
    403, ...): that comes back as ``error``, with the answers so far.
    """
    answers: list[Answer] = []
    for need in required_access(spec) if needs is None else needs:
        try:
            answered = kube.create(need.review())
        except KubeError as err:
            return AccessReport(tuple(answers), err)
        answers.append(parse_answer(need, answered))
    return AccessReport(tuple(answers))


def parse_answer(need: Need, review: Mapping[str, Any]) -> Answer:
    """Read ``status`` of an answered review; anything but ``allowed: true`` is not allowed."""
    status = review.get("status")
    status = status if isinstance(status, Mapping) else {}
    reasons = [str(status.get(k) or "").strip() for k in ("reason", "evaluationError")]
    return Answer(
        need,
        allowed=status.get("allowed") is True,
        denied=status.get("denied") is True,
        reason="; ".join(r for r in reasons if r),
    )


# --- reporting ---------------------------------------------------------------------------------


def findings(report: AccessReport) -> list[Finding]:
    """One finding per group of needs: cluster-wide, each lab namespace, engine detection.

    Required groups FAIL when anything is missing, the detection group only WARNs. When the
    reviews could not be made at all, a single finding says why.
    """
    if report.error is not None:
        return [_error_finding(report.error)]
    groups: dict[str, list[Answer]] = {}
    for answer in report.answers:
        groups.setdefault(_group(answer.need), []).append(answer)
    return [_group_finding(title, answers) for title, answers in groups.items()]


DNS_GROUP = "permissions for DNS checks"
DETECTION_GROUP = "permissions for engine detection"

# What a missing optional need costs, per group.
_OPTIONAL_COST = {
    DETECTION_GROUP: "engine detection will be less sure (it names what it could not read)",
    DNS_GROUP: "DNS checks will be judged against a stand-in for the cluster DNS pods "
    f"({_DNS_SELECTOR}, no real IP), as kubeadm deploys CoreDNS",
}


def _group(need: Need) -> str:
    if need == DNS_ACCESS:
        return DNS_GROUP
    if need.optional:
        return DETECTION_GROUP
    if need.namespace:
        return f"permissions in namespace {need.namespace}"
    return "permissions cluster-wide"


def _group_finding(title: str, answers: list[Answer]) -> Finding:
    needs = [a.need for a in answers]
    missing = [a for a in answers if not a.allowed]
    optional = all(n.optional for n in needs)
    data = {
        "needs": [_answer_dict(a) for a in answers],
        "missing_rules": policy_rules(a.need for a in missing),
    }
    if not missing:
        return Finding(
            title,
            OK,
            f"all {len(answers)} allowed: {summary(needs)}",
            required=not optional,
            data=data,
        )
    notes = [f"not allowed: {a.need} ({a.because}); needed to {a.need.why}" for a in missing]
    notes.append("rules granting them (a Role's or ClusterRole's `rules:`):")
    notes += [f"- {json.dumps(rule)}" for rule in data["missing_rules"]]
    detail = f"missing {summary(a.need for a in missing)}"
    if optional:
        where = (
            "a Role with the rules below in kube-system, bound to you by a RoleBinding there"
            if title == DNS_GROUP
            else "a ClusterRole with the rules below, bound to you by a ClusterRoleBinding (the "
            "ConfigMaps alone may come from a Role in kube-system)"
        )
        return Finding(
            title,
            WARN,
            f"{detail}; {_OPTIONAL_COST[title]}",
            f"optional: ask a cluster admin for {where}",
            required=False,
            notes=tuple(notes),
            data=data,
        )
    return Finding(
        title, FAIL, detail, _fix(needs[0]), required=True, notes=tuple(notes), data=data
    )


def _fix(sample: Need) -> str:
    if sample.namespace is None:
        return (
            "ask a cluster admin for a ClusterRole with the rules below, bound to you by a "
            "ClusterRoleBinding (namespaces are cluster-scoped: a Role cannot grant them); "
            "check with `kubectl auth can-i --list`"
        )
    ns = sample.namespace
    return (
        f"ask a cluster admin to grant the rules below in namespace {ns}: a ClusterRole with "
        "them bound to you by a ClusterRoleBinding (the lab creates the namespace, so nothing "
        f"can be bound inside it beforehand), or, if the admin creates {ns} for you, a "
        "RoleBinding there to the built-in ClusterRole `edit`, which covers them all; "
        f"check with `kubectl auth can-i --list -n {ns}`"
    )


def _error_finding(err: KubeError) -> Finding:
    title = "permissions"
    if isinstance(err, KubeUnreachable):
        return Finding(
            title,
            FAIL,
            f"cannot ask for permissions: the Kubernetes API at {err.server} does not answer: "
            f"{err.cause}",
            f"check the cluster and the kubeconfig {err.kubeconfig} (and its context): "
            f"`kubectl --kubeconfig {err.kubeconfig} cluster-info`",
        )
    if err.status == 401:
        return Finding(
            title,
            FAIL,
            f"the API server does not accept the kubeconfig's credentials: {err}",
            "log in again or refresh the credentials of the kubeconfig's user "
            "(`kubectl auth whoami` shows who the API server thinks you are)",
        )
    if err.status == 403:
        return Finding(
            title,
            FAIL,
            f"the API server refused the permission check itself: {err}",
            "every authenticated user may create SelfSubjectAccessReviews (ClusterRole "
            "system:basic-user, bound to group system:authenticated), so the request was "
            "probably anonymous or that binding was changed: check the kubeconfig's user with "
            "`kubectl auth whoami` and ask a cluster admin",
        )
    return Finding(
        title,
        FAIL,
        f"the permission check failed: {err}",
        "retry; if it persists, see whether the API server serves authorization.k8s.io/v1 "
        "(`kubectl api-versions`)",
    )


def _answer_dict(answer: Answer) -> dict[str, Any]:
    need = answer.need
    return {
        **need.attributes(),
        "allowed": answer.allowed,
        "denied": answer.denied,
        "reason": answer.reason,
        "optional": need.optional,
        "why": need.why,
    }


def summary(needs: Iterable[Need]) -> str:
    """``pods: get, list; pods/exec: create`` -- verbs per resource, in first-seen order."""
    verbs: dict[str, list[str]] = {}
    for need in needs:
        key = need.resource_text + (f" {need.name}" if need.name else "")
        if need.namespace and need.optional:
            key += f" in {need.namespace}"
        elif need.namespace is None and not need.cluster_scoped:
            key += " (all namespaces)"
        verbs.setdefault(key, [])
        if need.verb not in verbs[key]:
            verbs[key].append(need.verb)
    return "; ".join(f"{key}: {', '.join(v)}" for key, v in verbs.items())


def policy_rules(needs: Iterable[Need]) -> list[dict[str, Any]]:
    """RBAC ``PolicyRule``s granting exactly ``needs`` (rbac.authorization.k8s.io/v1 fields).

    Needs on the same object set share a rule; resources with the same verbs share one too.
    """
    by_target: dict[tuple[str, str, str], list[str]] = {}
    for need in needs:
        resource = need.resource + (f"/{need.subresource}" if need.subresource else "")
        verbs = by_target.setdefault((need.group, resource, need.name), [])
        if need.verb not in verbs:
            verbs.append(need.verb)
    merged: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    names: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for (group, resource, name), verbs in by_target.items():
        if name:
            names.setdefault((group, resource, tuple(verbs)), []).append(name)
        else:
            merged.setdefault((group, tuple(verbs)), []).append(resource)
    rules: list[dict[str, Any]] = [
        {"apiGroups": [group], "resources": resources, "verbs": list(verbs)}
        for (group, verbs), resources in merged.items()
    ]
    rules += [
        {"apiGroups": [group], "resources": [resource], "resourceNames": named, "verbs": list(v)}
        for (group, resource, v), named in names.items()
    ]
    return rules
