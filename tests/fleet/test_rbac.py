"""An attendee may do exactly what the exercises need, in their own namespaces only.

The generated Roles and RoleBindings of two attendees (with a little of a real cluster's
background RBAC) are evaluated with ``rbac.authorize`` for every verb x resource x namespace an
attendee could try, and the allowed cells must be exactly ``ALLOWED`` (each with its reason).
``authorize`` itself is checked on hand-written cases in the style of upstream's
``plugin/pkg/auth/authorizer/rbac/rbac_test.go`` / ``pkg/registry/rbac/validation/rule_test.go``.
The last test asks a real API server the same questions with ``kubectl auth can-i --as`` (opt-in,
see ``test_a_real_api_server_agrees``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from provisioning.fleet import rbac
from provisioning.fleet.rbac import attendee_rbac, authorize
from provisioning.lab.observe import lab_namespaces
from provisioning.spec import LabSpec, lab_labels

FLEET = "ws1"
FLEET_LABEL = {"netpol-lab.io/fleet": FLEET}
EXPIRES = {"netpol-lab.io/expires": "2031-01-01T00:00:00Z"}
ATTENDEES = ("alice", "bob")

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
# resource (as kubectl auth can-i names it, subresource after "/") -> API group
RESOURCES = {
    "networkpolicies": "networking.k8s.io",
    "pods": "",
    "pods/exec": "",
    "pods/log": "",
    "services": "",
    "secrets": "",
    "configmaps": "",
    "namespaces": "",
    "nodes": "",
    "clusternetworkpolicies": "policy.networking.k8s.io",
    "roles": "rbac.authorization.k8s.io",
    "rolebindings": "rbac.authorization.k8s.io",
}

# What an attendee may do in each of their own namespaces, and why. Nothing else, nowhere else.
ALLOWED: dict[tuple[str, str], str] = {
    **{
        ("networkpolicies", v): "the exercises: write, fix and remove policies"
        for v in ("get", "list", "watch", "create", "update", "patch", "delete")
    },
    **{("pods", v): "see the pods and their labels" for v in ("get", "list", "watch")},
    ("pods", "patch"): "kubectl label pod (exercise label-the-client)",
    ("pods/exec", "create"): "kubectl exec over SPDY (POST), and WebSocket from 1.35",
    ("pods/exec", "get"): "kubectl exec over WebSocket (GET)",
    ("pods/log", "get"): "kubectl logs",
    **{("services", v): "read the services (read only)" for v in ("get", "list", "watch")},
}


def lab(attendee: str) -> str:
    return f"{FLEET}-{attendee}"


def namespaces_of(attendee: str) -> tuple[str, ...]:
    """As fleet/plan.py names them: the lab's namespaces with the suffix ``-<lab>``."""
    name = lab(attendee)
    return lab_namespaces(LabSpec(name=name, namespace_suffix=f"-{name}"))


def sa_of(attendee: str) -> tuple[str, str]:
    return (f"demo-{lab(attendee)}", "attendee")


def objects_for(attendees: tuple[str, ...] = ATTENDEES) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for a in attendees:
        labels = {**lab_labels(lab(a)), **FLEET_LABEL}
        objects += attendee_rbac(lab(a), namespaces_of(a), labels=labels, annotations=EXPIRES)
    return objects


# A little of what a real cluster already holds (bootstrap policy: system:basic-user bound to
# system:authenticated; the aggregated "view" ClusterRole, here bound to someone else in
# kube-system). None of it may widen an attendee's access.
BACKGROUND: list[dict[str, Any]] = [
    {
        "kind": "ClusterRole",
        "metadata": {"name": "system:basic-user"},
        "rules": [
            {
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                "verbs": ["create"],
            }
        ],
    },
    {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "system:basic-user"},
        "roleRef": {"kind": "ClusterRole", "name": "system:basic-user"},
        "subjects": [{"kind": "Group", "name": "system:authenticated"}],
    },
    {
        "kind": "ClusterRole",
        "metadata": {"name": "view"},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["pods", "services", "configmaps", "namespaces"],
                "verbs": ["get", "list", "watch"],
            }
        ],
    },
    {
        "kind": "RoleBinding",
        "metadata": {"name": "ops-view", "namespace": "kube-system"},
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "ops", "namespace": "kube-system"}],
    },
]


def columns(attendee: str) -> list[tuple[str, str, bool]]:
    """(label, namespace, is it the attendee's own) for every place the attendee could try."""
    other = next(a for a in ATTENDEES if a != attendee)
    own = [(f"own {ns.split('-')[0]}", ns, True) for ns in namespaces_of(attendee)]
    theirs = [(f"{other}'s {ns.split('-')[0]}", ns, False) for ns in namespaces_of(other)]
    return [
        *own,
        *theirs,
        ("kube-system", "kube-system", False),
        ("default", "default", False),
        ("cluster scope / all namespaces", "", False),
    ]


MATRIX = [(a, label, ns, own) for a in ATTENDEES for label, ns, own in columns(a)]


@pytest.mark.parametrize(
    ("attendee", "label", "namespace", "own"), MATRIX, ids=[f"{m[0]}: {m[1]}" for m in MATRIX]
)
def test_every_verb_and_resource_an_attendee_could_try(
    attendee: str, label: str, namespace: str, own: bool
) -> None:
    objects = objects_for() + BACKGROUND
    wrong = []
    for resource, group in RESOURCES.items():
        for verb in VERBS:
            expected = own and (resource, verb) in ALLOWED
            got = authorize(objects, sa_of(attendee), verb, group, resource, namespace)
            if got != expected:
                wrong.append(f"{verb} {resource}: {'allowed' if got else 'denied'}")
    assert not wrong, f"{attendee} in {label} ({namespace or 'cluster'}): {wrong}"


def test_every_allowed_cell_has_a_reason_and_a_rule_with_a_why() -> None:
    assert all(ALLOWED.values())
    assert all(rule["why"] for rule in rbac.ROLE_RULES)
    # Every granted (resource, verb) is in ALLOWED or is one of the read-only extras the matrix
    # does not list (endpoints, endpointslices).
    granted = {
        (res, verb)
        for rule in rbac.ROLE_RULES
        for res in rule["resources"]
        for verb in rule["verbs"]
    }
    extras = {(r, v) for r in ("endpoints", "endpointslices") for v in ("get", "list", "watch")}
    assert granted == set(ALLOWED) | extras


def test_read_only_extras_in_own_namespaces_only() -> None:
    objects = objects_for()
    demo = f"demo-{lab('alice')}"
    bob_demo = f"demo-{lab('bob')}"
    for group, resource in (("", "endpoints"), ("discovery.k8s.io", "endpointslices")):
        for verb in ("get", "list", "watch"):
            assert authorize(objects, sa_of("alice"), verb, group, resource, demo)
            assert not authorize(objects, sa_of("alice"), verb, group, resource, bob_demo)
        assert not authorize(objects, sa_of("alice"), "create", group, resource, demo)


def test_the_pods_own_service_account_gets_nothing() -> None:
    """Pods run as ``default``; only ``attendee`` is bound (no group subjects)."""
    objects = objects_for()
    ns = f"demo-{lab('alice')}"
    for resource, group in RESOURCES.items():
        for verb in VERBS:
            assert not authorize(objects, (ns, "default"), verb, group, resource, ns)


def test_named_objects_are_allowed_like_any_other() -> None:
    objects = objects_for()
    ns = f"demo-{lab('alice')}"
    assert authorize(objects, sa_of("alice"), "get", "", "pods", ns, "exec", name="client")
    assert authorize(objects, sa_of("alice"), "patch", "", "pods", ns, name="client")
    assert not authorize(objects, sa_of("alice"), "get", "", "namespaces", ns, name=ns)


def test_generated_objects_are_namespaced_labelled_and_without_wildcards() -> None:
    name = lab("alice")
    namespaces = namespaces_of("alice")
    labels = {**lab_labels(name), **FLEET_LABEL}
    objects = attendee_rbac(name, namespaces, labels=labels, annotations=EXPIRES)

    assert [o["kind"] for o in objects] == ["ServiceAccount"] + ["Role", "RoleBinding"] * len(
        namespaces
    )
    sa = objects[0]
    assert sa["metadata"]["namespace"] == f"demo-{name}" == "demo-ws1-alice"
    assert sa["metadata"]["name"] == "attendee"
    assert sa["automountServiceAccountToken"] is False
    for obj in objects:
        assert obj["metadata"]["labels"] == labels
        assert obj["metadata"]["annotations"] == EXPIRES
        assert obj["metadata"]["namespace"] in namespaces
    for role in (o for o in objects if o["kind"] == "Role"):
        for rule in role["rules"]:
            assert set(rule) == {"apiGroups", "resources", "verbs"}  # no "why" sent
            values = [*rule["apiGroups"], *rule["resources"], *rule["verbs"]]
            assert "*" not in values and not any(v.startswith("*/") for v in values)
            assert "secrets" not in rule["resources"]
            assert "namespaces" not in rule["resources"]
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted(namespaces)
    for b in bindings:
        assert b["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": rbac.ROLE_NAME,
        }
        assert b["subjects"] == [
            {"kind": "ServiceAccount", "name": "attendee", "namespace": "demo-ws1-alice"}
        ]
    # The Role's rules do not depend on the namespace.
    rules = {json.dumps(o["rules"]) for o in objects if o["kind"] == "Role"}
    assert len(rules) == 1


def test_the_service_account_namespace_must_be_one_of_the_namespaces() -> None:
    with pytest.raises(ValueError, match="demo-ws1-alice"):
        attendee_rbac(lab("alice"), ["other-ws1-alice"], labels={})
    with pytest.raises(ValueError, match="repeat"):
        attendee_rbac(lab("alice"), ["demo-ws1-alice", "demo-ws1-alice"], labels={})


# --- authorize on upstream-style cases -----------------------------------------------------

SA = ("team-a", "builder")


def role(name: str, namespace: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": rules}


def cluster_role(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "ClusterRole", "metadata": {"name": name}, "rules": rules}


def binding(
    kind: str, name: str, ref_kind: str, ref: str, *subjects: dict[str, Any], namespace: str = ""
) -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": ref},
        "subjects": list(subjects),
    }


def sa_subject(name: str = "builder", namespace: str | None = "team-a") -> dict[str, Any]:
    return {
        "kind": "ServiceAccount",
        "name": name,
        **({"namespace": namespace} if namespace else {}),
    }


def rule(groups: list[str], resources: list[str], verbs: list[str], **extra: Any) -> dict:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs, **extra}


def test_default_deny() -> None:
    assert not authorize([], SA, "get", "", "pods", "team-a")
    only_roles = [cluster_role("all", rule(["*"], ["*"], ["*"])), role("r", "team-a")]
    assert not authorize(only_roles, SA, "get", "", "pods", "team-a")


def test_star_matches_every_verb_group_and_resource_everywhere() -> None:
    objects = [
        cluster_role("admin-ish", rule(["*"], ["*"], ["*"])),
        binding("ClusterRoleBinding", "b", "ClusterRole", "admin-ish", sa_subject()),
    ]
    for args in (
        ("deletecollection", "", "secrets", "kube-system"),
        ("list", "", "nodes", ""),
        ("create", "", "pods", "elsewhere", "exec"),
        ("escalate", "rbac.authorization.k8s.io", "clusterroles", ""),
    ):
        assert authorize(objects, SA, *args)


def test_each_field_must_match() -> None:
    objects = [
        role("r", "team-a", rule([""], ["pods"], ["get"])),
        binding("RoleBinding", "b", "Role", "r", sa_subject(), namespace="team-a"),
    ]
    assert authorize(objects, SA, "get", "", "pods", "team-a")
    assert not authorize(objects, SA, "list", "", "pods", "team-a")  # verb
    assert not authorize(objects, SA, "get", "apps", "pods", "team-a")  # group
    assert not authorize(objects, SA, "get", "", "services", "team-a")  # resource
    assert not authorize(objects, SA, "get", "", "pods", "team-a", "log")  # pods/log != pods


def test_subresources_match_exactly_or_by_star_slash() -> None:
    objects = [
        role(
            "r", "team-a", rule([""], ["pods/exec"], ["create"]), rule(["*"], ["*/scale"], ["get"])
        ),
        binding("RoleBinding", "b", "Role", "r", sa_subject(), namespace="team-a"),
    ]
    assert authorize(objects, SA, "create", "", "pods", "team-a", "exec")
    assert authorize(objects, SA, "create", "", "pods/exec", "team-a")  # same, written together
    assert not authorize(objects, SA, "create", "", "pods", "team-a")  # the pod itself
    assert not authorize(objects, SA, "create", "", "pods", "team-a", "attach")
    assert authorize(objects, SA, "get", "apps", "deployments", "team-a", "scale")
    assert not authorize(objects, SA, "get", "apps", "deployments", "team-a")
    assert not authorize(objects, SA, "get", "apps", "deployments", "team-a", "status")


def test_resource_names_limit_to_named_objects_and_never_match_a_list() -> None:
    objects = [
        role("r", "team-a", rule([""], ["configmaps"], ["get", "list"], resourceNames=["app"])),
        binding("RoleBinding", "b", "Role", "r", sa_subject(), namespace="team-a"),
    ]
    assert authorize(objects, SA, "get", "", "configmaps", "team-a", name="app")
    assert not authorize(objects, SA, "get", "", "configmaps", "team-a", name="other")
    assert not authorize(objects, SA, "list", "", "configmaps", "team-a")  # no name on a list


def test_a_role_binding_to_a_cluster_role_grants_in_its_namespace_only() -> None:
    objects = [
        cluster_role("edit-pods", rule([""], ["pods"], ["get", "delete"])),
        binding("RoleBinding", "b", "ClusterRole", "edit-pods", sa_subject(), namespace="team-b"),
    ]
    assert authorize(objects, SA, "delete", "", "pods", "team-b")
    assert not authorize(objects, SA, "delete", "", "pods", "team-a")  # the SA's own namespace
    assert not authorize(objects, SA, "delete", "", "pods", "")  # all namespaces


def test_roles_resolve_in_the_binding_namespace() -> None:
    objects = [
        role("r", "team-b", rule([""], ["pods"], ["get"])),
        # names Role "r", but there is no "r" in team-a: grants nothing
        binding("RoleBinding", "b", "Role", "r", sa_subject(), namespace="team-a"),
        # a ClusterRoleBinding cannot refer to a Role
        binding("ClusterRoleBinding", "c", "Role", "r", sa_subject()),
    ]
    for ns in ("team-a", "team-b", ""):
        assert not authorize(objects, SA, "get", "", "pods", ns)


def test_a_missing_role_grants_nothing_and_others_still_apply() -> None:
    objects = [
        binding("RoleBinding", "gone", "Role", "deleted", sa_subject(), namespace="team-a"),
        role("r", "team-a", rule([""], ["pods"], ["get"])),
        binding("RoleBinding", "b", "Role", "r", sa_subject(), namespace="team-a"),
    ]
    assert authorize(objects, SA, "get", "", "pods", "team-a")
    assert not authorize(objects, SA, "list", "", "pods", "team-a")


def test_cluster_role_bindings_apply_in_every_namespace_and_at_cluster_scope() -> None:
    objects = [
        cluster_role("read-nodes", rule([""], ["nodes", "pods"], ["list"])),
        binding("ClusterRoleBinding", "b", "ClusterRole", "read-nodes", sa_subject()),
    ]
    assert authorize(objects, SA, "list", "", "nodes", "")
    assert authorize(objects, SA, "list", "", "pods", "")
    assert authorize(objects, SA, "list", "", "pods", "anywhere")


@pytest.mark.parametrize(
    ("group", "who", "allowed"),
    [
        ("system:serviceaccounts", ("team-a", "builder"), True),
        ("system:serviceaccounts", ("team-z", "other"), True),
        ("system:serviceaccounts:team-a", ("team-a", "anyone"), True),
        ("system:serviceaccounts:team-a", ("team-z", "builder"), False),
        ("system:authenticated", ("team-z", "other"), True),
        ("system:masters", ("team-a", "builder"), False),
    ],
)
def test_group_subjects(group: str, who: tuple[str, str], allowed: bool) -> None:
    objects = [
        role("r", "shared", rule([""], ["pods"], ["get"])),
        binding(
            "RoleBinding", "b", "Role", "r", {"kind": "Group", "name": group}, namespace="shared"
        ),
    ]
    assert authorize(objects, who, "get", "", "pods", "shared") is allowed


def test_service_account_subjects() -> None:
    objects = [
        cluster_role("read", rule([""], ["pods"], ["get"])),
        # no namespace on the subject: the RoleBinding's namespace
        binding(
            "RoleBinding",
            "b",
            "ClusterRole",
            "read",
            sa_subject(namespace=None),
            namespace="team-a",
        ),
        # no namespace in a ClusterRoleBinding: matches nobody
        binding("ClusterRoleBinding", "c", "ClusterRole", "read", sa_subject("other", None)),
        # a User subject with the ServiceAccount's username is the same identity
        binding(
            "RoleBinding",
            "u",
            "ClusterRole",
            "read",
            {"kind": "User", "name": "system:serviceaccount:team-z:robot"},
            namespace="team-c",
        ),
    ]
    assert authorize(objects, ("team-a", "builder"), "get", "", "pods", "team-a")
    assert not authorize(objects, ("team-b", "builder"), "get", "", "pods", "team-a")
    assert not authorize(objects, ("team-a", "other"), "get", "", "pods", "team-x")
    assert not authorize(objects, ("", "other"), "get", "", "pods", "")
    assert authorize(objects, ("team-z", "robot"), "get", "", "pods", "team-c")
    assert not authorize(objects, ("team-z", "robot2"), "get", "", "pods", "team-c")


def test_non_resource_rules_grant_no_resources() -> None:
    objects = [
        cluster_role("disc", {"nonResourceURLs": ["*"], "verbs": ["get"]}),
        binding("ClusterRoleBinding", "b", "ClusterRole", "disc", sa_subject()),
    ]
    assert not authorize(objects, SA, "get", "", "pods", "team-a")


# --- the same questions, asked of a real API server --------------------------------------

KUBECONFIG_ENV = "NETPOL_LAB_FLEET_KUBECONFIG"


def _why_not_e2e() -> str | None:
    if os.environ.get("NETPOL_LAB_E2E") != "1":
        return "end-to-end tests are opt-in: set NETPOL_LAB_E2E=1"
    if shutil.which("kubectl") is None:
        return "kubectl is not installed"
    if not os.environ.get(KUBECONFIG_ENV):
        return f"{KUBECONFIG_ENV} names no kubeconfig of a cluster the test may add namespaces to"
    return None


def can_i_argv(verb: str, resource: str, group: str, namespace: str, sa: tuple[str, str]) -> list:
    """``kubectl auth can-i`` for one cell. The subresource goes in ``--subresource`` (a
    ``pods/exec`` argument would be read as TYPE/NAME), and cluster scope is ``-A``: without it
    kubectl sends the context's namespace even for cluster-scoped resources (kubectl
    ``pkg/cmd/auth/cani.go`` ``Complete``/``Validate`` only warns)."""
    base, _, sub = resource.partition("/")
    argv = ["kubectl", "auth", "can-i", verb, f"{base}.{group}" if group else base]
    if sub:
        argv += ["--subresource", sub]
    argv += ["-n", namespace] if namespace else ["-A"]
    return [*argv, "--as", f"system:serviceaccount:{sa[0]}:{sa[1]}"]


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_a_real_api_server_agrees(tmp_path: Path) -> None:
    """Opt-in: ``NETPOL_LAB_E2E=1`` and ``NETPOL_LAB_FLEET_KUBECONFIG`` pointing at a cluster (the
    e2e's kind cluster) whose user may create namespaces, RBAC and impersonate. Two attendees of a
    fleet with a random id get their namespaces, ServiceAccount, Roles and RoleBindings; every
    cell of alice's matrix is asked with ``kubectl auth can-i --as
    system:serviceaccount:demo-<lab>:attendee`` (impersonating a ServiceAccount adds its groups
    and system:authenticated, k8s.io/apiserver ``filters/impersonation.go``) and must answer as
    ``authorize`` does. The namespaces are deleted afterwards, also after a failure."""
    if reason := _why_not_e2e():
        pytest.skip(reason)
    env = {**os.environ, "KUBECONFIG": os.environ[KUBECONFIG_ENV]}
    fleet = f"e2e{secrets.token_hex(3)}"
    labs = {a: f"{fleet}-{a}" for a in ATTENDEES}
    spaces = {
        a: lab_namespaces(LabSpec(name=name, namespace_suffix=f"-{name}"))
        for a, name in labs.items()
    }
    objects: list[dict[str, Any]] = []
    for a, name in labs.items():
        labels = {**lab_labels(name), "netpol-lab.io/fleet": fleet}
        objects += [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}
            for ns in spaces[a]
        ]
        objects += attendee_rbac(name, spaces[a], labels=labels)
    manifest = tmp_path / "fleet-rbac.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    every_ns = [ns for a in ATTENDEES for ns in spaces[a]]
    try:
        subprocess.run(
            ["kubectl", "apply", "-f", str(manifest)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        sa = (f"demo-{labs['alice']}", "attendee")
        where = [*every_ns, "kube-system", "default", ""]
        cells = [
            (verb, resource, group, ns)
            for ns in where
            for resource, group in RESOURCES.items()
            for verb in VERBS
        ]

        def ask(cell: tuple[str, str, str, str]) -> tuple[tuple[str, str, str, str], str]:
            verb, resource, group, ns = cell
            done = subprocess.run(
                can_i_argv(verb, resource, group, ns, sa),
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            answer = done.stdout.strip().split(" ", 1)[0] if done.stdout.strip() else ""
            return cell, answer or f"error: {done.stderr.strip()[:200]}"

        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = dict(pool.map(ask, cells))
        errors = {c: a for c, a in answers.items() if a not in ("yes", "no")}
        assert not errors, errors
        wrong = []
        for (verb, resource, group, ns), answer in answers.items():
            model = authorize(objects, sa, verb, group, resource, ns)
            own = ns in spaces["alice"]
            expected = own and (resource, verb) in ALLOWED
            if (answer == "yes") != model or model != expected:
                wrong.append(f"{verb} {resource} in {ns or 'cluster'}: server {answer}")
        assert not wrong, wrong
    finally:
        subprocess.run(
            ["kubectl", "delete", "namespace", *every_ns, "--ignore-not-found", "--wait=false"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
