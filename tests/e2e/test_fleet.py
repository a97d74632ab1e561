"""A workshop fleet on a real kind cluster, through the commands an instructor types.

Mode namespaces, engine calico, two attendees: ``invoke fleet up`` makes the fleet's own kind
cluster (named like the fleet) and one lab per attendee on it, ``fleet kubeconfigs`` issues each
attendee a kubeconfig with a ServiceAccount token, and the test then plays attendee att01 with
plain ``kubectl --kubeconfig FILE`` (no ``--as``): what the token may and may not do (``kubectl
auth can-i`` and a real apply, allowed in att01's namespace and Forbidden in att02's), then
``fleet status --html``, ``fleet reset --attendee att01`` (the attendee's policy goes), ``fleet
down`` (the cluster goes, a second ``down`` finds nothing, the token stops working).

Selected apart from the engines' tests (``conftest.py``): set ``NETPOL_LAB_E2E_FLEET=1`` (with the
runner: ``NETPOL_LAB_E2E_FLEET=1 python -m tests.e2e.run --engines calico``), or name this file:
``NETPOL_LAB_E2E=1 python -m pytest -m e2e tests/e2e/test_fleet.py``. It skips like the others
(``require_kind``: opt-in, Docker, kind, kubectl).

The fleet's id is random (``e2e-fleet-<hex>``), its state (records, the cluster's kubeconfig) is
in a private ``NETPOL_LAB_HOME`` under the test's temporary folder, and ``$KUBECONFIG`` points at
a file that must never appear. ``fleet down --yes`` runs in ``finally``, after a failure and after
Ctrl-C too; if the cluster is still listed by ``kind get clusters`` after it, the test deletes it
with ``kind delete cluster`` only when every one of its nodes carries ``netpol-lab.io/fleet=<id>``
(the label the fleet puts on its kind nodes), and fails saying so.

Each step is a subprocess with its own budget, from the lab's own timeouts as in ``budget.py``;
the test's pytest-timeout marker is their sum plus a margin. The attendee kubeconfigs name the
server as the instructor's kubeconfig does: for kind ``https://127.0.0.1:<port>``, reachable
from this host only, which is where the test runs its kubectl.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.fleet.plan import FLEET_LABEL
from tests.e2e import budget
from tests.e2e.steps import StepRunner

ROOT = Path(__file__).resolve().parents[2]
ENGINE = "calico"
ATTENDEES = ("att01", "att02")  # `--attendees 2` numbers them so (fleet/roster.py numbered)
FLEET_PREFIX = "e2e-fleet-"  # + 6 hex digits: 16 characters, within the fleet id's 20
FLEET_UP_AT_LEAST = 20 * 60.0  # seconds: kind create and Calico alone take 5-10 min on CI
POLICY = "e2e-attendee-policy"  # what att01 applies, and `fleet reset` must remove

# (verb, resource, subresource, namespace with "{fleet}" in it or None for cluster scope,
# whether att01's token may). Resources carry their group, as tests/fleet/test_rbac.py asks.
CAN_I: tuple[tuple[str, str, str, str | None, bool], ...] = (
    ("create", "networkpolicies.networking.k8s.io", "", "demo-{fleet}-att01", True),
    ("create", "pods", "exec", "demo-{fleet}-att01", True),
    ("list", "pods", "", "demo-{fleet}-att02", False),
    ("get", "secrets", "", "demo-{fleet}-att01", False),
    ("list", "namespaces", "", None, False),
    ("create", "clusterroles.rbac.authorization.k8s.io", "", None, False),
    ("create", "networkpolicies.networking.k8s.io", "", "kube-system", False),
)


def can_i_argv(verb: str, resource: str, subresource: str, namespace: str | None) -> list[str]:
    """``kubectl auth can-i`` for one question. The subresource goes in ``--subresource`` (a
    ``pods/exec`` argument would be read as TYPE/NAME), and cluster scope is ``-A``: without it
    kubectl sends the kubeconfig's namespace (here the attendee's) even for cluster-scoped
    resources (tests/fleet/test_rbac.py ``can_i_argv``)."""
    argv = ["auth", "can-i", verb, resource]
    if subresource:
        argv += ["--subresource", subresource]
    return [*argv, *(["-n", namespace] if namespace else ["-A"])]


def _question(index: int) -> str:
    verb, resource, sub, namespace, allowed = CAN_I[index]
    where = (namespace or "").replace("{fleet}", "<fleet>")
    return " ".join(
        [
            "kubectl auth can-i",
            *can_i_argv(verb, resource.split(".")[0], sub, where or None)[2:],
            f"as att01 (expect {'yes' if allowed else 'no'})",
        ]
    )


# The test's steps, in run order: (key, label, phases the step runs), as budget.STEPS.
STEPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "fleet-up",
        "invoke fleet up --mode namespaces --attendees 2 --engine calico --expires 1h (the "
        "shared kind cluster and Calico, then both labs in parallel: workload, canary, "
        "validation)",
        ("cluster", "engine", "workload", "canary", "validation"),
    ),
    ("fleet-nodes", "kubectl get nodes (the shared cluster's nodes carry the fleet label)", ()),
    ("kubeconfigs", "invoke fleet kubeconfigs --out DIR", ()),
    *((f"can-i-{i + 1}", _question(i), ()) for i in range(len(CAN_I))),
    ("attendee-pods", "kubectl get pods as att01 (the kubeconfig's namespace)", ()),
    ("apply-own", f"kubectl apply NetworkPolicy {POLICY} -n demo-<fleet>-att01 as att01", ()),
    ("apply-other", f"kubectl apply NetworkPolicy {POLICY} -n demo-<fleet>-att02 as att01", ()),
    ("other-untouched", "kubectl get networkpolicies -n demo-<fleet>-att02 (instructor)", ()),
    ("status", "invoke fleet status --json --html FILE", ()),
    (
        "reset",
        "invoke fleet reset --attendee att01 (back to the baseline, validated)",
        ("workload", "canary", "validation"),
    ),
    ("policies-after-reset", "kubectl get networkpolicies as att01 (after the reset)", ()),
    ("down", "invoke fleet down --yes (the shared kind cluster)", ("cluster",)),
    ("kind-clusters", "kind get clusters (the fleet's cluster is gone)", ()),
    ("leftover-kubeconfig", "kind get kubeconfig (only if down left the cluster)", ()),
    ("leftover-nodes", "kubectl get nodes (only if down left it: is it the fleet's?)", ()),
    (
        "leftover-delete",
        "kind delete cluster (last resort, the fleet's cluster only)",
        ("cluster",),
    ),
    ("down-again", "invoke fleet down --yes (nothing left to remove)", ()),
    ("token-after-down", "kubectl get pods as att01 (after down: must fail)", ()),
)


def fleet_budgets(allowances: budget.Allowances) -> dict[str, budget.StepBudget]:
    """Every step's budget, as ``budget.step_budgets`` computes them; ``fleet up`` gets at
    least ``FLEET_UP_AT_LEAST``."""
    out = {}
    for key, label, phases in STEPS:
        parts = tuple((phase, allowances.of(phase)) for phase in phases)
        parts += (("overhead", allowances.overhead),)
        seconds = sum(value for _, value in parts)
        if key == "fleet-up" and seconds < FLEET_UP_AT_LEAST:
            parts += (("up to 20 min", FLEET_UP_AT_LEAST - seconds),)
            seconds = FLEET_UP_AT_LEAST
        out[key] = budget.StepBudget(key, label, seconds, parts)
    return out


ALLOWANCES = budget.allowances_for(ENGINE)
BUDGETS = fleet_budgets(ALLOWANCES)

pytestmark = [
    pytest.mark.e2e,
    # method="signal": a timeout fails the test with pytest.fail(), so the `finally` below still
    # removes the fleet (pytest-timeout README, "Timeout Methods"), as in test_kind_lab.py.
    pytest.mark.timeout(budget.whole_test_timeout(BUDGETS), method="signal"),
]


def invoke(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]


def render_budgets() -> str:
    lines = [f"fleet ({ENGINE}): time budget per step"]
    for index, b in enumerate(BUDGETS.values(), 1):
        lines.append(f"  {index:2d}. {b.label}: {b.seconds:g} s = {b.breakdown()}")
    total = budget.whole_test_timeout(BUDGETS)
    lines.append(f"  test timeout (pytest-timeout marker): {total:g} s")
    return "\n".join(lines) + "\n"


def attendee_policy() -> dict[str, Any]:
    """A policy an attendee would write: only the client may reach the server."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": POLICY},
        "spec": {
            "podSelector": {"matchLabels": {"app": "server"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}],
        },
    }


def names_of(kubectl_json: str) -> set[str]:
    return {item["metadata"]["name"] for item in json.loads(kubectl_json)["items"]}


def server_of(kubeconfig: Path) -> str:
    """The server of ``kubeconfig``'s current context."""
    config = yaml.safe_load(kubeconfig.read_text())
    contexts = {c["name"]: c["context"] for c in config["contexts"]}
    cluster = contexts[config["current-context"]]["cluster"]
    return {c["name"]: c["cluster"] for c in config["clusters"]}[cluster]["server"]


def remove_if_the_fleets(steps: StepRunner, fleet_id: str, scratch: Path) -> str | None:
    """The last resort after ``fleet down``: None when kind no longer lists the cluster; else
    delete it only if every node carries the fleet's label, and say what was done."""
    listed = steps.run("kind-clusters", ["kind", "get", "clusters"], check=False)
    if listed.returncode != 0:
        return f"`kind get clusters` failed ({listed.stderr.strip()[:200]}); nothing deleted"
    if fleet_id not in listed.stdout.split():
        return None
    got = steps.run(
        "leftover-kubeconfig", ["kind", "get", "kubeconfig", "--name", fleet_id], check=False
    )
    if got.returncode != 0:
        return f"kind cluster {fleet_id} left by fleet down; its kubeconfig unreadable, kept"
    kubeconfig = scratch / "leftover.kubeconfig"
    fd = os.open(kubeconfig, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(got.stdout)
    nodes_argv = ["kubectl", "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "json"]
    nodes = steps.run("leftover-nodes", [*nodes_argv, "--request-timeout=30s"], check=False)
    try:
        items = json.loads(nodes.stdout)["items"] if nodes.returncode == 0 else []
    except (ValueError, KeyError):
        items = []
    labels = [(n["metadata"].get("labels") or {}).get(FLEET_LABEL) for n in items]
    if not labels or any(value != fleet_id for value in labels):
        return (
            f"kind cluster {fleet_id} left by fleet down; its nodes do not all carry "
            f"{FLEET_LABEL}={fleet_id} (or its API did not answer), so it was kept"
        )
    deleted = steps.run(
        "leftover-delete",
        ["kind", "delete", "cluster", "--name", fleet_id, "--kubeconfig", str(kubeconfig)],
        check=False,
    )
    outcome = (
        "deleted it" if deleted.returncode == 0 else f"kind delete exited {deleted.returncode}"
    )
    return f"kind cluster {fleet_id} left by fleet down; the test {outcome}"


def test_a_fleet_of_two_on_one_kind_cluster_from_up_to_down(
    require_kind, report_dir: Path, tmp_path: Path
) -> None:
    require_kind(ENGINE)
    fleet_id = FLEET_PREFIX + secrets.token_hex(3)
    own, other = (f"demo-{fleet_id}-{a}" for a in ATTENDEES)
    state = tmp_path / "state"
    out = tmp_path / "kubeconfigs"
    never_used = tmp_path / "KUBECONFIG-never-used"
    env = {
        **os.environ,
        # The fleet's records and its cluster's kubeconfig in the test's folder.
        "NETPOL_LAB_HOME": str(state),
        # Every command names its kubeconfig; one that fell back to $KUBECONFIG would create this.
        "KUBECONFIG": str(never_used),
    }
    steps = StepRunner(BUDGETS, cwd=ROOT, log_dir=report_dir / "steps" / "fleet", env=env)
    fleet = ["--fleet", fleet_id]
    print(render_budgets(), end="")
    print(f"fleet {fleet_id}: NETPOL_LAB_HOME={state}, kubeconfigs in {out}")
    try:
        # --- 1. up: the shared kind cluster with Calico, then both labs, validated -------------
        up_argv = invoke(
            "fleet", "up", *fleet, "--mode", "namespaces", "--attendees", str(len(ATTENDEES))
        )
        up_argv += ["--engine", ENGINE, "--expires", "1h", "--json"]
        up = json.loads(steps.run("fleet-up", up_argv).stdout)
        assert up["ok"] is True and up["failed"] == [], up["failed"]
        assert (up["mode"], up["provider"]) == ("namespaces", "kind"), up
        rows = {row["id"]: row for row in up["attendees"]}
        assert sorted(rows) == list(ATTENDEES), sorted(rows)
        for row in rows.values():
            assert row["ok"] is True and row["detail"] == "validated", row
        assert up["cluster"]["lab"] == fleet_id, up["cluster"]
        admin = Path(up["cluster"]["kubeconfig"])
        assert admin.resolve().is_relative_to(state.resolve()), admin  # the private state
        as_admin = ["kubectl", "--kubeconfig", str(admin)]

        nodes = json.loads(
            steps.run("fleet-nodes", [*as_admin, "get", "nodes", "-o", "json"]).stdout
        )
        node_labels = [n["metadata"]["labels"].get(FLEET_LABEL) for n in nodes["items"]]
        assert node_labels and set(node_labels) == {fleet_id}, node_labels

        # --- 2. one kubeconfig per attendee, 0600 -------------------------------------------
        issued = steps.run(
            "kubeconfigs", invoke("fleet", "kubeconfigs", *fleet, "--out", str(out), "--json")
        )
        issued_doc = json.loads(issued.stdout)
        assert issued_doc["ok"] is True, issued_doc
        files = {row["id"]: Path(row["path"]) for row in issued_doc["kubeconfigs"]}
        assert sorted(files) == list(ATTENDEES), issued_doc
        assert sorted(p.name for p in out.iterdir()) == [
            f"{fleet_id}-{a}.kubeconfig" for a in ATTENDEES
        ]
        for path in files.values():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))
        att01 = files["att01"]
        config = yaml.safe_load(att01.read_text())
        (context,) = config["contexts"]
        assert context["context"]["namespace"] == own, context
        # The instructor's address of the cluster: kind's https://127.0.0.1:<port>, this host's.
        assert server_of(att01) == server_of(admin)
        as_att01 = ["kubectl", "--kubeconfig", str(att01)]

        # --- 3. what att01's token may do, asked as att01 ---------------------------------------
        for index, (verb, resource, sub, where, allowed) in enumerate(CAN_I):
            namespace = where.format(fleet=fleet_id) if where else None
            asked = steps.run(
                f"can-i-{index + 1}",
                [*as_att01, *can_i_argv(verb, resource, sub, namespace)],
                check=False,
            )
            answer = asked.stdout.strip().split(" ", 1)[0] if asked.stdout.strip() else ""
            question = f"can-i {verb} {resource}{'/' + sub if sub else ''} in {namespace or '-A'}"
            assert answer == ("yes" if allowed else "no"), (question, asked.stdout, asked.stderr)
            assert (asked.returncode == 0) == allowed, (question, asked.returncode, asked.stderr)

        pods = steps.run("attendee-pods", [*as_att01, "get", "pods", "-o", "json"]).stdout
        assert names_of(pods) == {"server", "client", "intruder"}, names_of(pods)

        manifest = tmp_path / "attendee-policy.yaml"
        manifest.write_text(yaml.safe_dump(attendee_policy(), sort_keys=False))
        apply = [*as_att01, "apply", "-f", str(manifest)]
        mine = steps.run("apply-own", [*apply, "-n", own])
        assert f"networkpolicy.networking.k8s.io/{POLICY} created" in mine.stdout, mine.stdout
        theirs = steps.run("apply-other", [*apply, "-n", other], check=False)
        assert theirs.returncode != 0, theirs.stdout
        assert "forbidden" in theirs.stderr.lower(), theirs.stderr
        in_other = [*as_admin, "get", "networkpolicies", "-n", other, "-o", "json"]
        assert POLICY not in names_of(steps.run("other-untouched", in_other).stdout)

        # --- 4. status: both ready, and the dashboard ----------------------------------------
        html = report_dir / "fleet-status.html"
        status_argv = invoke("fleet", "status", *fleet, "--json", "--html", str(html))
        status_out = steps.run("status", status_argv).stdout
        (report_dir / "status-fleet.json").write_text(status_out)
        status = json.loads(status_out)
        summary = status["summary"]
        assert (summary["attendees"], summary["ready"]) == (2, 2), summary
        assert summary["failed"] == summary["not_up"] == 0, summary
        for row in status["attendees"]:
            assert row["state"] == "ready", row
            assert row["pods"] == row["pods_ready"] == 4, row
        assert html.is_file(), html
        assert html.read_text().lstrip().lower().startswith("<!doctype html")

        # --- 5. reset att01: their policy goes, their access stays ------------------------------
        reset_argv = invoke("fleet", "reset", *fleet, "--attendee", "att01", "--json")
        reset = json.loads(steps.run("reset", reset_argv).stdout)
        assert reset["ok"] is True, reset
        (row,) = reset["attendees"]
        assert row["id"] == "att01" and row["ok"] is True, row
        assert row["detail"] != "at its baseline", row  # it removed the attendee's policy
        after = [*as_att01, "get", "networkpolicies", "-o", "json"]
        left = names_of(steps.run("policies-after-reset", after).stdout)
        assert POLICY not in left, left
    finally:
        # --- 6. down, whatever happened above; the last resort only for the fleet's cluster ---
        down_argv = invoke("fleet", "down", *fleet, "--yes", "--json")
        try:
            try:
                down = steps.run("down", down_argv, check=False)
            finally:
                leftover = remove_if_the_fleets(steps, fleet_id, tmp_path)
        finally:
            steps.write_summary()
    assert down.returncode == 0, f"fleet down exited {down.returncode}:\n{down.stderr}"
    gone = json.loads(down.stdout)
    assert gone["ok"] is True and f"kind cluster {fleet_id}" in gone["removed"], gone
    assert leftover is None, leftover  # `kind get clusters` no longer lists it
    quiet = steps.run("down-again", down_argv)
    assert "Nothing to remove" in quiet.stderr, quiet.stderr
    token = steps.run(
        "token-after-down", [*as_att01, "get", "pods", "--request-timeout=20s"], check=False
    )
    assert token.returncode != 0, token.stdout
    assert not never_used.exists(), "something wrote $KUBECONFIG instead of its own kubeconfig"
    steps.write_summary()
