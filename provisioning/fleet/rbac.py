"""What a workshop attendee may do on the shared cluster, and a faithful RBAC evaluator to prove it.

Mode ``namespaces`` runs one lab per attendee on one cluster. Attendee ``alice`` of fleet ``ws1``
has the lab ``ws1-alice`` and its namespaces (``demo-ws1-alice``, ``other-ws1-alice``, and the
canary's when the caller passes it). ``attendee_rbac`` gives the attendee a ServiceAccount
``attendee`` in the lab's demo namespace and, in each of the namespaces it is given, a Role and a
RoleBinding of that ServiceAccount. Nothing cluster-scoped (no ClusterRole, no
ClusterRoleBinding), no Secrets, no wildcard, so the attendee can neither list nor change another
attendee's namespaces nor anything cluster-wide. The rules, with why each verb is there, are
``ROLE_RULES``:

- NetworkPolicies (networking.k8s.io): get, list, watch, create, update, patch, delete. The
  exercises are writing, fixing and removing policies (``kubectl apply`` reads then creates or
  patches; ``kubectl edit`` patches; ``kubectl replace`` is a PUT, "update"). No
  deletecollection: ``kubectl delete netpol --all`` is not an exercise.
- pods: get, list, watch to see the pods and their labels (``kubectl exec`` and ``kubectl logs``
  also get the pod first); patch for ``kubectl label pod`` (exercise ``label-the-client``), which
  is a PATCH. No create or delete: the workload is the lab's, reset puts it back.
- pods/exec: create and get. The verb comes from the HTTP method (k8s.io/apiserver
  ``pkg/endpoints/request/requestinfo.go`` ``NewRequestInfo``: POST is "create", GET is "get").
  ``ExecREST.ConnectMethods`` accepts GET and POST ("We must support GET for browsers that want
  to use WebSockets", ``pkg/registry/core/pod/rest/subresources.go``). kubectl sends exec over
  WebSockets (a GET, "get") by default since 1.30 and falls back to SPDY (a POST, "create");
  from Kubernetes 1.35 the API server also requires "create" for the WebSocket upgrade (feature
  gate ``AuthorizePodWebsocketUpgradeCreatePermission``, beta and on by default, kubernetes/
  website ``content/en/docs/reference/command-line-tools-reference/feature-gates/
  AuthorizePodWebsocketUpgradeCreatePermission.md``; kubernetes/kubernetes#133515, PR #134577).
  So both verbs, as ``providers/existing/access.py`` asks of a lab's own user.
- pods/log: get (``kubectl logs``, a GET on the subresource).
- services, endpoints (core) and endpointslices (discovery.k8s.io): get, list, watch. Read only:
  the exercises look at what a policy protects, they never change the services.

What is deliberately not granted:

- namespaces. A namespace is cluster-scoped: ``kubectl get namespaces`` asks "list namespaces"
  with no namespace, which only a ClusterRoleBinding could grant. ``kubectl get netpol -n
  demo-ws1-alice`` still works: it is ``GET /apis/networking.k8s.io/v1/namespaces/
  demo-ws1-alice/networkpolicies``, which ``NewRequestInfo`` turns into verb "list", resource
  "networkpolicies", namespace "demo-ws1-alice"; the RBAC authorizer then visits the RoleBindings
  *in that namespace* (``VisitRulesFor``) and never reads the Namespace object. Upstream's
  ``view`` ClusterRole grants "get namespaces" at namespace scope so a user can read *this*
  namespace (``GET /api/v1/namespaces/demo-ws1-alice`` has namespace demo-ws1-alice, so a Role
  there could allow it); the exercises do not need it, so ``kubectl get ns demo-ws1-alice`` is
  forbidden too. API discovery (``/api``, ``/apis``) is a non-resource URL every authenticated
  user gets from ClusterRole ``system:discovery`` (bootstrap policy), not from these Roles.
- Secrets, ConfigMaps, Roles/RoleBindings (no escalation), pod create/delete, deletecollection.

The evaluator. ``authorize`` answers "may this ServiceAccount do this?" over a list of
Roles, RoleBindings, ClusterRoles and ClusterRoleBindings given as dicts, the way the RBAC
authorizer does (read in stored snapshots of kubernetes/kubernetes, not at a release tag; these
functions have been stable for years):

- ``plugin/pkg/auth/authorizer/rbac/rbac.go`` (snapshot 01aa0f3f): ``Authorize`` visits every
  applicable rule and allows on the first ``RuleAllows``; otherwise "no opinion", which is a
  denial when RBAC is the last authorizer. ``RuleAllows`` for a resource request combines
  ``resource + "/" + subresource`` and requires ``VerbMatches && APIGroupMatches &&
  ResourceMatches && ResourceNameMatches``.
- ``pkg/apis/rbac/v1/evaluation_helpers.go`` (snapshot 03bf11a3): ``VerbMatches`` (``*`` or
  equal), ``APIGroupMatches`` (``*`` or equal; "" is the core group), ``ResourceMatches`` (``*``,
  equal to the combined resource, or ``*/<subresource>`` when the request has that subresource),
  ``ResourceNameMatches`` (no resourceNames: any; else the request's name must be listed, so a
  list, with no name, never matches a rule with resourceNames).
- ``pkg/registry/rbac/validation/rule.go`` (snapshot 05c351a9): ``VisitRulesFor`` visits all
  ClusterRoleBindings, then, only when the request has a namespace, the RoleBindings *of that
  namespace*; ``GetRoleReferenceRules`` resolves a RoleBinding's ``Role`` in the binding's
  namespace and a ``ClusterRole`` by name (so a RoleBinding to a ClusterRole grants its rules in
  that one namespace only); a missing role is an error that grants nothing. ``appliesToUser``:
  ``User`` by name, ``Group`` by membership, ``ServiceAccount`` by
  ``system:serviceaccount:<ns>:<name>`` where an empty subject namespace defaults to the
  RoleBinding's namespace and never matches in a ClusterRoleBinding.
- k8s.io/apiserver ``pkg/authentication/serviceaccount/util.go`` (snapshot 00261adb):
  ``MakeUsername`` and ``MakeGroupNames`` (``system:serviceaccounts``,
  ``system:serviceaccounts:<ns>``); authenticated users also carry ``system:authenticated``
  (added for every non-anonymous user, and for an impersonated ServiceAccount by
  ``pkg/endpoints/filters/impersonation.go``, which is what ``kubectl auth can-i --as`` uses).

Not modelled: non-resource URLs (``authorize`` takes resource requests only), ClusterRole
aggregation (the rules are taken as given, as the controller would have filled them), and other
authorizers (Node, webhooks) before RBAC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

RBAC_API = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"
NETWORKING = "networking.k8s.io"
DISCOVERY = "discovery.k8s.io"

SERVICE_ACCOUNT = "attendee"
ROLE_NAME = "netpol-lab-attendee"
BINDING_NAME = "netpol-lab-attendee"

# The attendee's rules, with why each is there. ``attendee_rbac`` writes them without ``why``
# (a PolicyRule has no such field); ``fleet plan`` prints them with it.
ROLE_RULES: tuple[Mapping[str, Any], ...] = (
    {
        "apiGroups": [NETWORKING],
        "resources": ["networkpolicies"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        "why": "write, fix and remove NetworkPolicies: what the exercises are about "
        "(kubectl apply/edit/replace/delete)",
    },
    {
        "apiGroups": [""],
        "resources": ["pods"],
        "verbs": ["get", "list", "watch"],
        "why": "see the pods and their labels (kubectl get pods --show-labels; exec and logs "
        "read the pod first)",
    },
    {
        "apiGroups": [""],
        "resources": ["pods"],
        "verbs": ["patch"],
        "why": "kubectl label pod (exercise label-the-client) is a PATCH",
    },
    {
        "apiGroups": [""],
        "resources": ["pods/exec"],
        "verbs": ["create", "get"],
        "why": "probe with kubectl exec: WebSocket is a GET ('get'), SPDY a POST ('create'), "
        "and from 1.35 the WebSocket upgrade also needs 'create'",
    },
    {
        "apiGroups": [""],
        "resources": ["pods/log"],
        "verbs": ["get"],
        "why": "kubectl logs",
    },
    {
        "apiGroups": [""],
        "resources": ["services", "endpoints"],
        "verbs": ["get", "list", "watch"],
        "why": "read the services the policies protect (read only)",
    },
    {
        "apiGroups": [DISCOVERY],
        "resources": ["endpointslices"],
        "verbs": ["get", "list", "watch"],
        "why": "read which pods back a service (read only)",
    },
)


def service_account_namespace(lab: str) -> str:
    """Where the attendee's ServiceAccount lives: the lab's demo namespace (``demo-<lab>``)."""
    from provisioning.workload.demo import DEMO_NAMESPACE

    # LabSpec.namespace with the fleet's suffix "-<lab>" (fleet/plan.py attendee_namespaces).
    return f"{DEMO_NAMESPACE}-{lab}"


def service_account_username(namespace: str, name: str) -> str:
    """``system:serviceaccount:<ns>:<name>`` (k8s.io/apiserver serviceaccount ``MakeUsername``)."""
    return f"system:serviceaccount:{namespace}:{name}"


def service_account_groups(namespace: str) -> tuple[str, ...]:
    """The groups a ServiceAccount's requests carry: ``MakeGroupNames`` plus
    ``system:authenticated``."""
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")


def attendee_rbac(
    lab: str,
    namespaces: Sequence[str],
    *,
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The attendee's ServiceAccount, then a Role and a RoleBinding in each of ``namespaces``.

    ``labels`` are put on every object (the lab's ``lab_labels`` and the fleet's id label);
    ``annotations`` too when given (the fleet's expiry). The ServiceAccount is ``attendee`` in
    ``demo-<lab>``, which must be one of ``namespaces``. The Role is the same in each namespace
    (``ROLE_RULES`` without ``why``); pass only the namespaces the attendee works in.
    """
    sa_namespace = service_account_namespace(lab)
    if sa_namespace not in namespaces:
        raise ValueError(f"{sa_namespace} (the ServiceAccount's) is not among {list(namespaces)}")
    if len(set(namespaces)) != len(namespaces):
        raise ValueError(f"namespaces repeat: {list(namespaces)}")

    def meta(name: str, namespace: str) -> dict[str, Any]:
        m: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
        if annotations:
            m["annotations"] = dict(annotations)
        return m

    rules = [{k: list(v) for k, v in rule.items() if k != "why"} for rule in ROLE_RULES]
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(SERVICE_ACCOUNT, sa_namespace),
            # The token comes from a TokenRequest (fleet/kubeconfig.py); pods never mount it.
            "automountServiceAccountToken": False,
        }
    ]
    for ns in namespaces:
        objects.append(
            {
                "apiVersion": RBAC_API,
                "kind": "Role",
                "metadata": meta(ROLE_NAME, ns),
                "rules": [dict(r) for r in rules],
            }
        )
        objects.append(
            {
                "apiVersion": RBAC_API,
                "kind": "RoleBinding",
                "metadata": meta(BINDING_NAME, ns),
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": ROLE_NAME},
                "subjects": [
                    {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": sa_namespace}
                ],
            }
        )
    return objects


# --- the evaluator ------------------------------------------------------------------------


def verb_matches(rule: Mapping[str, Any], verb: str) -> bool:
    """``VerbMatches``."""
    return any(v == "*" or v == verb for v in rule.get("verbs") or ())


def api_group_matches(rule: Mapping[str, Any], group: str) -> bool:
    """``APIGroupMatches``."""
    return any(g == "*" or g == group for g in rule.get("apiGroups") or ())


def resource_matches(rule: Mapping[str, Any], combined: str, subresource: str) -> bool:
    """``ResourceMatches``: ``*``, the combined ``resource[/subresource]``, or ``*/<sub>``."""
    for r in rule.get("resources") or ():
        if r == "*" or r == combined:
            return True
        if subresource and r == f"*/{subresource}":
            return True
    return False


def resource_name_matches(rule: Mapping[str, Any], name: str) -> bool:
    """``ResourceNameMatches``: no resourceNames matches any name (and none)."""
    names = rule.get("resourceNames") or ()
    return not names or name in names


def rule_allows(
    rule: Mapping[str, Any], verb: str, group: str, resource: str, subresource: str, name: str
) -> bool:
    """``RuleAllows`` for a resource request."""
    combined = f"{resource}/{subresource}" if subresource else resource
    return (
        verb_matches(rule, verb)
        and api_group_matches(rule, group)
        and resource_matches(rule, combined, subresource)
        and resource_name_matches(rule, name)
    )


def applies_to_user(
    subject: Mapping[str, Any], username: str, groups: Iterable[str], namespace: str
) -> bool:
    """``appliesToUser``; ``namespace`` is the RoleBinding's ("" for a ClusterRoleBinding)."""
    kind = subject.get("kind")
    if kind == "User":
        return username == subject.get("name")
    if kind == "Group":
        return subject.get("name") in set(groups)
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        if not sa_namespace:
            return False
        return username == service_account_username(sa_namespace, subject.get("name") or "")
    return False


def _role_rules(
    objects: Sequence[Mapping[str, Any]], role_ref: Mapping[str, Any], namespace: str
) -> list[Mapping[str, Any]]:
    """``GetRoleReferenceRules``: a Role in the binding's namespace, a ClusterRole by name;
    nothing when it does not exist (upstream: an error, which grants nothing)."""
    kind, name = role_ref.get("kind"), role_ref.get("name")
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") != kind or meta.get("name") != name:
            continue
        if kind == "Role" and namespace and meta.get("namespace") == namespace:
            return list(obj.get("rules") or ())
        if kind == "ClusterRole":
            return list(obj.get("rules") or ())
    return []


def authorize(
    objects: Sequence[Mapping[str, Any]],
    user_sa: tuple[str, str],
    verb: str,
    group: str,
    resource: str,
    namespace: str,
    subresource: str = "",
    name: str = "",
) -> bool:
    """May ServiceAccount ``user_sa`` = (namespace, name) do this resource request?

    ``namespace`` "" is a cluster-scoped request (or a namespaced resource in all namespaces);
    ``resource`` may also be written ``pods/exec`` (split into resource and subresource).
    Default deny: only a rule some binding applies grants anything.
    """
    if "/" in resource and not subresource:
        resource, subresource = resource.split("/", 1)
    sa_namespace, sa_name = user_sa
    username = service_account_username(sa_namespace, sa_name)
    groups = service_account_groups(sa_namespace)

    def allowed_by(binding: Mapping[str, Any], binding_ns: str) -> bool:
        subjects = binding.get("subjects") or ()
        if not any(applies_to_user(s, username, groups, binding_ns) for s in subjects):
            return False
        rules = _role_rules(objects, binding.get("roleRef") or {}, binding_ns)
        return any(rule_allows(r, verb, group, resource, subresource, name) for r in rules)

    for obj in objects:
        if obj.get("kind") == "ClusterRoleBinding" and allowed_by(obj, ""):
            return True
    if namespace:
        for obj in objects:
            meta = obj.get("metadata") or {}
            if (
                obj.get("kind") == "RoleBinding"
                and meta.get("namespace") == namespace
                and allowed_by(obj, namespace)
            ):
                return True
    return False
