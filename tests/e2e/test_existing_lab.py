"""``--provider existing`` on a kind cluster made by hand: the lab runs, and the cluster is left as
it was, through the same commands a user types.

Run it with its report folder: ``python -m tests.e2e.run --engines existing`` (``existing`` is a
pseudo-engine of the runner and the workflow). Bare: ``NETPOL_LAB_E2E=1 python -m pytest -m e2e
tests/e2e/test_existing_lab.py``. Each step is a subprocess with its own time budget
(``budget.EXISTING_STEPS``); the test's pytest-timeout marker is their sum plus a margin.

The test plays the user: it makes a kind cluster itself (``kind create cluster``, not ``invoke
up``; kind's default CNI, kindnet, which enforces NetworkPolicy since kind v0.24.0), puts its own
namespace, pod and NetworkPolicy there, then runs ``plan``, ``doctor``, ``status``, ``up``,
``validate``, ``down`` and ``down`` again with ``--provider existing --kubeconfig K``. What the
cluster holds (namespaces, nodes, DaemonSets, Deployments, NetworkPolicies, cluster RBAC, CRDs,
webhooks: name, uid, generation) is compared before the lab, after looking at it and after
``down``; the user's objects keep their uid and spec; the kubeconfig keeps its bytes. The cluster
is the test's own, so the test deletes it in ``finally``: after a failure and after Ctrl-C too.

What the test relies on from kind, read at the pinned tag (provisioning/versions.py KIND_VERSION,
kubernetes-sigs/kind @ v0.31.0):

- ``kind create cluster`` flags ``--name``, ``--image`` ("node docker image to use for booting
  the cluster") and ``--kubeconfig`` ("sets kubeconfig path instead of $KUBECONFIG or
  $HOME/.kube/config"): pkg/cmd/kind/create/cluster/createcluster.go. With ``--kubeconfig`` only
  that file is read or written (pkg/cluster/internal/kubeconfig/internal/kubeconfig/paths.go,
  ``paths``: "If the --kubeconfig flag is set, then only that file is loaded"), so the user's
  own kubeconfig is never touched; the test also points ``KUBECONFIG`` at a file that must never
  appear. No ``--wait``: on timeout kind's wait "logs WARNING: Timed out waiting for Ready" and
  returns nil (pkg/cluster/internal/create/actions/waitforready/waitforready.go), so the test
  waits with kubectl, which fails when it times out.
- A failed create deletes its nodes unless ``--retain`` (pkg/cluster/internal/create/create.go);
  names must match ``^[a-z0-9.-]+$`` (pkg/internal/apis/config/validate.go) and should stay
  within 50 characters (create.go ``clusterNameMax``).
- The context is ``kind-<name>`` (pkg/cluster/internal/kubeconfig/internal/kubeconfig/
  helpers.go ``KINDClusterKey``) and becomes the file's current context (read.go
  ``KINDFromRawKubeadm``: ``cfg.CurrentContext = key``), so ``plan`` without ``--context`` uses
  it too.
- The default CNI is the DaemonSet ``kindnet`` in ``kube-system`` with container ``kindnet-cni``,
  image ``docker.io/kindest/kindnetd:v20251212-...`` (pkg/build/nodeimage/const_cni.go), whose
  kindnetd runs kube-network-policies' ``networkpolicy.NewController``
  (images/kindnetd/cmd/kindnetd/main.go); dated after
  provisioning/providers/existing/detect.py ``KINDNET_POLICY_SINCE`` (kind PR #3612, v0.24.0;
  docs/engine-detection.md, "kindnet (kind) and kube-network-policies").
- ``kind delete cluster --name N --kubeconfig K`` is idempotent ("like rm -f",
  pkg/cmd/kind/delete/cluster/deletecluster.go); ``kind get clusters`` prints one name per line
  (pkg/cmd/kind/get/clusters/clusters.go).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning import versions
from provisioning.lab.pipeline import SHARED_ACTIONS
from tests.e2e import budget
from tests.e2e.steps import StepRunner

ROOT = Path(__file__).resolve().parents[2]
ENGINE = budget.EXISTING
NAME = budget.lab_name(ENGINE)  # the lab: e2e-existing
ALLOWANCES = budget.allowances_for(ENGINE)
BUDGETS = budget.step_budgets(ENGINE, ALLOWANCES)

# Provider `existing` names the lab's namespaces with the lab's name as a suffix (provider.py).
LAB_NAMESPACES = (f"demo-{NAME}", f"other-{NAME}")
LAB_SELECTOR = f"app.kubernetes.io/managed-by=netpol-lab,netpol-lab.io/lab={NAME}"
SCENARIO = "zero-trust"

# The user's own objects, there before the lab and untouched by it.
USER_NAMESPACE = "user-app"
USER_POD = "web"
USER_POLICY = "user-app-deny-ingress"
APPLY_ATTEMPTS = 10  # a new namespace's default ServiceAccount appears a moment after it
APPLY_PAUSE = 2.0

# What "the cluster" is for the before/after comparison: everything a lab could leave behind
# outside its namespaces, and the engine (a changed DaemonSet has a new generation).
CLUSTER_KINDS = ",".join(
    (
        "namespaces",
        "nodes",
        "daemonsets",
        "deployments",
        "networkpolicies",
        "clusterroles",
        "clusterrolebindings",
        "customresourcedefinitions",
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
    )
)

pytestmark = [
    pytest.mark.e2e,
    # method="signal": a timeout fails the test with pytest.fail(), so the `finally` below still
    # deletes the cluster (pytest-timeout README, "Timeout Methods"), as in test_kind_lab.py.
    pytest.mark.timeout(budget.whole_test_timeout(BUDGETS), method="signal"),
]


def invoke(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]


def user_objects() -> list[dict[str, Any]]:
    """The user's namespace, a pod (the lab's agnhost image: one pull for both) and a policy."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": USER_NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": USER_POD, "namespace": USER_NAMESPACE, "labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": versions.AGNHOST_IMAGE,
                        "command": ["/agnhost"],
                        "args": ["pause"],
                    }
                ],
                "terminationGracePeriodSeconds": 2,
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": USER_POLICY, "namespace": USER_NAMESPACE},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        },
    ]


def cluster_contents(kubectl_json: str) -> list[tuple[str, str, str, str, Any]]:
    """(kind, namespace, name, uid, generation) of every object of ``kubectl get -o json``."""
    rows = []
    for item in json.loads(kubectl_json)["items"]:
        meta = item["metadata"]
        rows.append(
            (
                item["kind"],
                meta.get("namespace", ""),
                meta["name"],
                meta["uid"],
                meta.get("generation"),
            )
        )
    return sorted(rows)


def user_state(kubectl_json: str) -> dict[str, Any]:
    """The user's objects as they must stay: uid, generation, labels, spec; the pod Ready."""
    doc = json.loads(kubectl_json)
    state = {}
    for item in doc.get("items", [doc]):
        meta = item["metadata"]
        state[f"{item['kind']}/{meta['name']}"] = {
            "uid": meta["uid"],
            "generation": meta.get("generation"),
            "labels": meta.get("labels", {}),
            "spec": item.get("spec"),
        }
        if item["kind"] == "Pod":
            conditions = (item.get("status") or {}).get("conditions") or []
            ready = [c["status"] for c in conditions if c.get("type") == "Ready"]
            state[f"{item['kind']}/{meta['name']}"]["ready"] = ready == ["True"]
    return state


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def outside_the_lab(plan_steps: list[Mapping[str, Any]]) -> list[str]:
    """The objects a plan's workload and policy steps touch that are outside the lab's
    namespaces (``Namespace/NAME``, ``Kind/NAMESPACE/NAME``); should be none."""
    outside = []
    for step in plan_steps:
        for item in step.get("items", []):
            parts = item["object"].split("/")
            namespace = parts[1] if len(parts) == 3 else parts[-1]
            if not namespace.endswith(f"-{NAME}"):
                outside.append(item["object"])
    return outside


def test_existing_provider_runs_the_lab_on_a_hand_made_kind_cluster_and_changes_nothing_else(
    require_kind, report_dir: Path, tmp_path: Path
) -> None:
    require_kind(ENGINE)
    cluster = budget.existing_cluster_prefix() + secrets.token_hex(3)
    kubeconfig = tmp_path / "kubeconfig"
    context = f"kind-{cluster}"
    never_used = tmp_path / "KUBECONFIG-never-used"
    env = {
        **os.environ,
        # The lab's own files (its record, lock) in the test's folder, not the user's state.
        "NETPOL_LAB_HOME": str(tmp_path / "state"),
        # Every command names --kubeconfig; one that fell back to $KUBECONFIG would create this.
        "KUBECONFIG": str(never_used),
    }
    steps = StepRunner(BUDGETS, cwd=ROOT, log_dir=report_dir / "steps" / ENGINE, env=env)
    on_cluster = ["--provider", "existing", "--kubeconfig", str(kubeconfig), "--name", NAME]
    lab = [*on_cluster, "--context", context]
    kubectl = ["kubectl", "--kubeconfig", str(kubeconfig), "--context", context]
    get_cluster = [*kubectl, "get", CLUSTER_KINDS, "--all-namespaces", "-o", "json"]
    get_user = [*kubectl, "get", "-n", USER_NAMESPACE, "-o", "json"]
    get_user += [f"namespace/{USER_NAMESPACE}", f"pod/{USER_POD}", f"networkpolicy/{USER_POLICY}"]
    print(budget.render_table([ENGINE]), end="")
    print(f"hand-made kind cluster: {cluster}, kubeconfig {kubeconfig}, context {context}")
    try:
        # --- the user's cluster, made by hand --------------------------------------------------
        create = ["kind", "create", "cluster", "--name", cluster]
        steps.run(
            "kind-create",
            [*create, "--image", versions.KIND_NODE_IMAGE, "--kubeconfig", str(kubeconfig)],
        )
        kindnet = [*kubectl, "-n", "kube-system", "rollout", "status", "daemonset/kindnet"]
        steps.run("kindnet-ready", [*kindnet, f"--timeout={ALLOWANCES.engine:.0f}s"])
        manifest = tmp_path / "user-objects.yaml"
        manifest.write_text(yaml.safe_dump_all(user_objects(), sort_keys=False))
        for attempt in range(1, APPLY_ATTEMPTS + 1):
            last = attempt == APPLY_ATTEMPTS
            apply = [*kubectl, "apply", "-f", str(manifest)]
            applied = steps.run("user-objects", apply, check=last)
            if applied.returncode == 0:
                break
            time.sleep(APPLY_PAUSE)  # "serviceaccount default not found" until it is made
        wait = [*kubectl, "-n", USER_NAMESPACE, "wait", "--for=condition=Ready", f"pod/{USER_POD}"]
        steps.run("user-pod-ready", [*wait, f"--timeout={ALLOWANCES.workload:.0f}s"])
        user_before = user_state(steps.run("user-objects-before", get_user).stdout)
        assert user_before[f"Pod/{USER_POD}"]["ready"]
        before = cluster_contents(steps.run("cluster-before", get_cluster).stdout)
        assert not [row for row in before if row[0] == "Namespace" and row[2] in LAB_NAMESPACES]
        kubeconfig_sha = sha256(kubeconfig)

        # --- looking: doctor, plan, status change nothing ---------------------------------------
        doctor_out = steps.run("doctor", invoke("doctor", *lab, "--json")).stdout
        (report_dir / f"doctor-{ENGINE}.json").write_text(doctor_out)
        doctor = json.loads(doctor_out)
        assert doctor["ready"] is True, doctor
        checks = {c["check"]: c["status"] for c in doctor["checks"]}
        assert checks.get("policy engine") == "ok", checks

        # Without --context: the kubeconfig's current context, which kind set to this cluster.
        plan_argv = invoke("plan", *on_cluster, "--scenario", SCENARIO, "--json")
        plan = json.loads(steps.run("plan", plan_argv).stdout)
        assert plan["provider"] == "existing" and plan["blocked"] is None
        assert plan["needs_confirmation"] is False
        # The provider's steps (every action but the pipeline's own, lab/pipeline.py): the
        # cluster and its engine, shown and kept; what the lab would do is in its namespaces.
        cluster_steps = [s for s in plan["steps"] if s["action"] not in SHARED_ACTIONS]
        assert cluster_steps, plan["steps"]
        assert {s["marker"] for s in cluster_steps} == {"="}, cluster_steps
        assert not outside_the_lab(plan["steps"]), plan["steps"]
        assert plan["existing"]["namespaces"] == list(LAB_NAMESPACES)
        assert plan["existing"]["context"] is None

        status_argv = invoke("status", *lab, "--json")
        status_before = json.loads(steps.run("status-before", status_argv).stdout)
        detection = status_before["existing"]["detection"]
        assert detection["enforced"] == "yes", detection
        assert ("kindnet", "yes") in [(e["name"], e["enforced"]) for e in detection["engines"]]
        assert status_before["existing"]["context"] == context
        node_version = "v{}.{}.{}".format(*versions.node_kubernetes_version())
        assert status_before["existing"]["server_version"] == node_version
        assert not status_before["objects"], status_before["objects"]

        after_looking = steps.run("cluster-after-looking", get_cluster).stdout
        assert cluster_contents(after_looking) == before, "doctor, plan or status changed it"

        # --- up: the lab's namespaces, validated (the enforcement canary first) -----------------
        up_out = steps.run("up", invoke("up", *lab, "--scenario", SCENARIO, "--json")).stdout
        up = json.loads(up_out)
        assert up["executed"] and all(step["ok"] for step in up["steps"]), up["steps"]
        up_cluster_steps = [s for s in up["plan"]["steps"] if s["action"] not in SHARED_ACTIONS]
        assert {s["marker"] for s in up_cluster_steps} == {"="}, up_cluster_steps
        assert up["validation"] is not None
        if up.get("canary") is not None:  # the enforcement check run before validation
            assert up["canary"]["enforced"] == "yes", up["canary"]
        pods = up["after"]["pods_ready"]
        assert len(pods) == 4 and all(pods.values()), pods

        status_out = steps.run("status", status_argv).stdout
        (report_dir / f"status-{ENGINE}.json").write_text(status_out)
        status = json.loads(status_out)
        assert status["scenario"] == SCENARIO
        assert len(status["pods_ready"]) == 4 and all(status["pods_ready"].values())

        html = report_dir / f"validation-{ENGINE}.html"
        steps.run(
            "validate-html", invoke("validate", *lab, "--format", "html", "--output", str(html))
        )
        assert html.read_text().lstrip().lower().startswith("<!doctype html")

        get_lab_ns = [*kubectl, "get", "namespaces", "-l", LAB_SELECTOR, "-o", "json"]
        found = json.loads(steps.run("lab-namespaces", get_lab_ns).stdout)["items"]
        lab_namespaces = {ns["metadata"]["name"]: ns["metadata"]["labels"] for ns in found}
        assert set(LAB_NAMESPACES) <= set(lab_namespaces), sorted(lab_namespaces)
        assert all(ns.endswith(f"-{NAME}") for ns in lab_namespaces), sorted(lab_namespaces)
        for namespace in LAB_NAMESPACES:
            assert lab_namespaces[namespace]["netpol-lab.io/role"] == namespace.split("-")[0]

        # --- down: only the lab's namespaces go -------------------------------------------------
        down = json.loads(steps.run("down", invoke("down", *lab, "--json")).stdout)
        removed = set(down["removed"])
        assert {f"namespace {n}" for n in LAB_NAMESPACES} <= removed, down
        assert removed <= {f"namespace {n}" for n in lab_namespaces}, down
        assert down["kept"], down  # the cluster

        after_down = steps.run("cluster-after-down", get_cluster).stdout
        assert cluster_contents(after_down) == before, "down left or removed something"
        user_after = user_state(steps.run("user-objects-after", get_user).stdout)
        assert user_after == user_before
        clusters = steps.run("kind-clusters", ["kind", "get", "clusters"]).stdout.split()
        assert cluster in clusters

        quiet = steps.run("down-again", invoke("down", *lab))
        assert "Nothing to remove" in quiet.stderr
        assert sha256(kubeconfig) == kubeconfig_sha, "the user's kubeconfig was written"
        assert not never_used.exists(), "something wrote $KUBECONFIG instead of --kubeconfig"
    finally:
        # The cluster is the test's own (not the lab's): delete it whatever happened above.
        try:
            deleted = steps.run(
                "kind-delete",
                ["kind", "delete", "cluster", "--name", cluster, "--kubeconfig", str(kubeconfig)],
                check=False,
            )
        finally:
            steps.write_summary()
    assert deleted.returncode == 0, deleted.stderr
    left = steps.run("kind-clusters-after", ["kind", "get", "clusters"]).stdout.split()
    assert cluster not in left
    steps.write_summary()
