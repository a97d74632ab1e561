"""`reset` on the simulated machine: a lab an attendee changed goes back to its baseline.

The lab is brought up by the real pipeline on tests/fake_world.World (kind) or on the AKS
harness of tests/test_aks_lab.py; then an attendee's changes are made by hand, as kubectl would
make them, and ``reset`` must undo exactly those, touch nothing outside the lab's namespaces,
and leave a lab whose validation passes on the simulated network (tests/fake_network.py).

``ServerSideApply`` adds to the fake API server what server-side apply does with field
ownership, for labels and top-level spec fields, since that is what decides whether an apply
can undo a hand edit: a field set by hand (``kubectl label``, ``kubectl edit``) belongs to
another manager, and our apply removes it only if it owns the field alone.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from provisioning.errors import OperationError, UsageError
from provisioning.lab import pipeline
from provisioning.lab.objects import HASH_ANNOTATION, ref
from provisioning.lab.reset import (
    ResetReport,
    ResetValidationError,
    normalized_policy_spec,
    reset,
    reset_document,
    service_drift,
)
from provisioning.lab.state import load_record
from provisioning.progress import Progress
from provisioning.providers.kind.provider import KindProvider
from provisioning.spec import LABEL_LAB, LabSpec
from provisioning.validation.validate import exit_code
from tests.fake_network import PolicyNetwork
from tests.fake_world import World

POLICY = ("networking.k8s.io/v1", "NetworkPolicy")
LAB_NAMESPACES = {"canary", "demo", "other"}


# --- the simulated lab -----------------------------------------------------------------------


class ServerSideApply:
    """Server-side apply's field ownership over a FakeKube, for labels and top-level spec fields.

    What our manager applies it owns. A field someone sets by hand (``by_hand``: kubectl label,
    edit, create) belongs to them, and to us no longer. A forced apply of a field another
    manager owns with a different value takes it over; with the same value, both own it. A field
    our apply no longer sends is removed only when no other manager owns it; fields we never
    sent stay (https://kubernetes.io/docs/reference/using-api/server-side-apply/).
    """

    def __init__(self, kube: Any) -> None:
        self.kube = kube
        self.ours: dict[str, set[tuple[str, str]]] = {}
        self.theirs: dict[str, set[tuple[str, str]]] = {}
        for obj in kube.objects():
            owner = self.ours if HASH_ANNOTATION in _annotations(obj) else self.theirs
            owner[ref(obj)] = set(_fields(obj))
        self._apply, self._delete = kube.apply, kube.delete
        kube.apply, kube.delete = self.apply, self.delete

    def by_hand(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as another client's update would (kubectl label/edit/create)."""
        key = ref(obj)
        before = _fields(self._stored(obj) or {})
        after = _fields(obj)
        changed = {f for f in after if before.get(f) != after[f]}
        removed = set(before) - set(after)
        self.theirs[key] = (self.theirs.get(key, set()) | changed) - removed
        self.ours[key] = self.ours.get(key, set()) - changed - removed
        stored = copy.deepcopy(obj)
        stored["metadata"].pop("resourceVersion", None)  # a write: a new version
        return self.kube.seed(stored)

    def apply(self, objects: Any, *, dry_run: bool = False) -> list[dict[str, Any]]:
        answers = []
        for obj in objects:
            key = ref(obj)
            existing = _fields(self._stored(obj) or {})
            applied = _fields(obj)
            theirs = set(self.theirs.get(key, set()))
            theirs -= {f for f in applied if f in theirs and existing.get(f) != applied[f]}
            ours = self.ours.get(key, set())
            # Kept: fields we do not send that another manager owns, or that we never owned.
            kept = {
                f: v
                for f, v in existing.items()
                if f not in applied and (f in theirs or f not in ours)
            }
            (answer,) = self._apply([obj], dry_run=dry_run)
            if not dry_run:
                self.ours[key], self.theirs[key] = set(applied), theirs
                stored = self._stored(obj)
                assert stored is not None
                for (where, name), value in kept.items():
                    _put(stored, where, name, value)
                answer = copy.deepcopy(stored)
            answers.append(answer)
        return answers

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        key = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
        self.ours.pop(key, None)
        self.theirs.pop(key, None)
        return self._delete(api_version, kind, name, namespace)

    def _stored(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        return self.kube._objects.get(self.kube._key_of(obj))  # no call recorded


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return obj.get("metadata", {}).get("annotations") or {}


def _fields(obj: dict[str, Any]) -> dict[tuple[str, str], Any]:
    labels = obj.get("metadata", {}).get("labels") or {}
    spec = obj.get("spec") or {}
    return {
        **{("label", k): v for k, v in labels.items()},
        **{("spec", k): v for k, v in spec.items()},
    }


def _put(obj: dict[str, Any], where: str, name: str, value: Any) -> None:
    if where == "label":
        obj["metadata"].setdefault("labels", {})[name] = value
    else:
        obj.setdefault("spec", {})[name] = value


class SlowPodDeletes:
    """Deleted pods terminate gracefully: ``deletionTimestamp`` set, still listed, gone only
    after ``reads`` more reads; applying a pod while it terminates is refused, as the API
    server answers 409 ``object is being deleted: pods "x" already exists``."""

    def __init__(self, kube: Any, reads: int = 3) -> None:
        self.kube, self.reads = kube, reads
        self.terminating: dict[tuple[str, str], int] = {}
        self._delete, self._apply = kube.delete, kube.apply
        self._list, self._get = kube.list, kube.get
        kube.delete, kube.apply, kube.list, kube.get = self.delete, self.apply, self.list, self.get

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        if kind != "Pod":
            return self._delete(api_version, kind, name, namespace)
        stored = self.kube._objects.get(self.kube._key(api_version, kind, namespace, name))
        if stored is None:
            return False
        stored["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        self.terminating.setdefault((namespace or "", name), self.reads)
        return True

    def apply(self, objects: Any, *, dry_run: bool = False) -> list[dict[str, Any]]:
        from provisioning.kube import KubeError, ObjectRef

        for obj in objects:
            meta = obj["metadata"]
            if obj["kind"] == "Pod" and (meta.get("namespace"), meta["name"]) in self.terminating:
                raise KubeError(
                    f'object is being deleted: pods "{meta["name"]}" already exists',
                    status=409,
                    reason="AlreadyExists",
                    ref=ObjectRef.of(obj),
                    verb="apply",
                )
        return self._apply(objects, dry_run=dry_run)

    def list(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        self._tick()
        return self._list(*args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        self._tick()
        return self._get(*args, **kwargs)

    def _tick(self) -> None:
        for (namespace, name), left in list(self.terminating.items()):
            if left <= 1:
                del self.terminating[(namespace, name)]
                self._delete("v1", "Pod", name, namespace)
            else:
                self.terminating[(namespace, name)] = left - 1


def make(world: World, tmp_path: Path, **spec_fields: Any) -> pipeline.Context:
    """A context as `invoke up` or `invoke reset` builds it, with simulated time and the
    simulated network as probe executor."""
    spec = LabSpec(state_root=tmp_path / "state", **spec_fields)
    provider = KindProvider(world, kube_factory=world.kube_factory())
    ctx = pipeline.build_context(spec, world, Progress(io.StringIO(), spinner=False), provider)
    now = [0.0]
    ctx.clock = lambda: now[0]
    ctx.sleep = lambda s: now.__setitem__(0, now[0] + max(s, 0.25))
    ctx.deadline = 0  # the simulated network has no lag: a mismatch is final
    if spec.name in world.clusters:
        ctx.probe_executor = PolicyNetwork(world.clusters[spec.name], enforcing=True)
    return ctx


def lab_up(world: World, tmp_path: Path, **spec_fields: Any) -> tuple[Any, ServerSideApply]:
    pipeline.up(make(world, tmp_path, **spec_fields))
    cluster = world.clusters[spec_fields.get("name", "netpol-lab")]
    return cluster, ServerSideApply(cluster)


def output(ctx: pipeline.Context) -> str:
    return ctx.progress.stream.getvalue()  # type: ignore[attr-defined]


def policy(name: str, namespace: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec if spec is not None else {"podSelector": {}, "ingress": [{}]},
    }


def pod(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    from provisioning import versions

    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {"containers": [{"name": "main", "image": versions.AGNHOST_IMAGE}]},
    }


def names(cluster: Any, api: tuple[str, str], namespace: str) -> set[str]:
    return {o["metadata"]["name"] for o in cluster.list(*api, namespace)}


def assert_at_baseline(cluster: Any, ctx: pipeline.Context) -> None:
    """Every lab namespace holds exactly the baseline's policies, services and pods, each as
    desired."""
    desired = {ref(o): o for o in [*ctx.workload, *ctx.policies]}
    for ns in LAB_NAMESPACES:
        for api in (POLICY, ("v1", "Service"), ("v1", "Pod")):
            for obj in cluster.list(*api, ns):
                want = desired.get(ref(obj))
                assert want is not None, f"{ref(obj)} is not in the baseline"
                assert obj["metadata"]["labels"] == want["metadata"]["labels"], ref(obj)
                assert obj["spec"] == want["spec"], ref(obj)
    there = {ref(o) for ns in LAB_NAMESPACES for o in cluster.objects() if _in(o, ns)}
    assert {r for r in desired if not r.startswith("Namespace/")} <= there


def _in(obj: dict[str, Any], namespace: str) -> bool:
    return obj["metadata"].get("namespace") == namespace and obj["kind"] in (
        "Pod",
        "Service",
        "NetworkPolicy",
    )


def passed(ctx: pipeline.Context) -> bool:
    return ctx.validation is not None and exit_code(ctx.validation) == 0


# --- policies --------------------------------------------------------------------------------


def test_a_hand_made_policy_is_deleted_and_an_edited_baseline_policy_restored(
    tmp_path: Path,
) -> None:
    world = World()
    cluster, ssa = lab_up(world, tmp_path, scenario="aks-demo")
    ssa.by_hand(policy("allow-all", "demo"))
    edited = cluster.get(*POLICY, "demo-policy", "demo")
    edited["spec"]["ingress"] = [{}]  # `kubectl edit`: the hash annotation stays as it was
    ssa.by_hand(edited)
    before = make(world, tmp_path)
    before.deadline = 0
    with pytest.raises(OperationError, match="validation failed"):
        pipeline.validate_lab(before, pipeline.VALIDATE_STEP)  # the drift is real

    ctx = make(world, tmp_path)
    report = reset(ctx)

    assert report.changes == (
        "deleted NetworkPolicy demo/allow-all (not in the baseline)",
        "restored NetworkPolicy demo/demo-policy (spec edited)",
    )
    assert names(cluster, POLICY, "demo") == {"demo-policy"}
    assert_at_baseline(cluster, ctx)
    assert report.validated and passed(ctx)
    text = output(ctx)
    assert "  deleted NetworkPolicy demo/allow-all (not in the baseline)" in text
    assert "✓ Validate" in text


def test_fields_added_to_a_baseline_policy_that_an_apply_cannot_remove_are_recreated(
    tmp_path: Path,
) -> None:
    """`kubectl edit` added an egress rule: another manager owns it, so our apply leaves it."""
    world = World()
    cluster, ssa = lab_up(world, tmp_path, scenario="aks-demo")
    edited = cluster.get(*POLICY, "demo-policy", "demo")
    edited["spec"]["egress"] = [{}]
    edited["spec"]["policyTypes"] = ["Ingress", "Egress"]
    ssa.by_hand(edited)

    ctx = make(world, tmp_path)
    report = reset(ctx)

    (change,) = report.changes
    assert change.startswith("recreated NetworkPolicy demo/demo-policy (spec edited; ")
    assert "egress" not in cluster.get(*POLICY, "demo-policy", "demo")["spec"]
    assert_at_baseline(cluster, ctx)
    assert passed(ctx)


def test_a_user_object_outside_the_lab_is_never_read_or_touched(tmp_path: Path) -> None:
    world = World()
    cluster, ssa = lab_up(world, tmp_path)
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "users-own"}}])
    for ns in ("users-own", "kube-system"):
        ssa.by_hand(policy("mine", ns))
        ssa.by_hand(pod("mine", ns))
    ssa.by_hand(policy("allow-all", "demo"))
    cluster.reconcile()  # the simulated kubelet starts the user's pods
    outside = [o for o in cluster.objects() if o["metadata"].get("namespace") not in LAB_NAMESPACES]
    cluster.calls.clear()

    ctx = make(world, tmp_path)
    report = reset(ctx, validate=False)

    assert report.changes == ("deleted NetworkPolicy demo/allow-all (not in the baseline)",)
    for call in cluster.calls:  # only the lab's namespaces, the Namespace objects, and a list
        # of cluster-wide policies by the lab's labels
        assert (
            call.namespace in LAB_NAMESPACES
            or call.kind == "Namespace"
            or (
                call.kind in ("ClusterNetworkPolicy", "GlobalNetworkPolicy") and call.verb == "list"
            )
        ), call
    after = [o for o in cluster.objects() if o["metadata"].get("namespace") not in LAB_NAMESPACES]
    assert after == outside

    reset(make(world, tmp_path))  # validation too leaves them alone
    for ns in ("users-own", "kube-system"):
        assert "mine" in names(cluster, POLICY, ns) and "mine" in names(cluster, ("v1", "Pod"), ns)


# --- pods ------------------------------------------------------------------------------------


def test_a_relabelled_pod_is_recreated_with_its_labels_an_added_one_removed(
    tmp_path: Path,
) -> None:
    world = World()
    cluster, ssa = lab_up(world, tmp_path, scenario="aks-demo")
    intruder = cluster.get("v1", "Pod", "intruder", "demo")
    uid = intruder["metadata"]["uid"]
    intruder["metadata"]["labels"]["app"] = "client"  # kubectl label --overwrite
    intruder["metadata"]["labels"]["team"] = "red"  # kubectl label
    ssa.by_hand(intruder)
    cluster.calls.clear()

    ctx = make(world, tmp_path)
    report = reset(ctx)

    assert report.changes == (
        "recreated Pod demo/intruder (labels app=client,team=red -> app=intruder)",
    )
    now = cluster.get("v1", "Pod", "intruder", "demo")
    assert now["metadata"]["uid"] != uid
    assert now["metadata"]["labels"] == {
        "app": "intruder",
        "app.kubernetes.io/managed-by": "netpol-lab",
        LABEL_LAB: "netpol-lab",
    }
    writes = [(c.verb, c.name) for c in cluster.calls if c.verb in ("delete", "apply")]
    assert writes.index(("delete", "intruder")) < writes.index(("apply", "intruder"))
    assert_at_baseline(cluster, ctx)
    assert passed(ctx)


def test_a_deleted_pod_is_created_and_extra_pods_and_services_are_removed(
    tmp_path: Path,
) -> None:
    world = World()
    cluster, ssa = lab_up(world, tmp_path)
    cluster.delete("v1", "Pod", "client", "demo")
    ssa.by_hand(pod("mine", "demo"))
    ssa.by_hand(pod("stray", "canary"))  # e.g. left behind by an interrupted canary
    service = cluster.get("v1", "Service", "server", "demo")
    ssa.by_hand({**service, "metadata": {"name": "mine", "namespace": "demo"}})
    edited = cluster.get("v1", "Service", "server", "demo")
    edited["spec"]["selector"] = {"app": "intruder"}
    ssa.by_hand(edited)

    ctx = make(world, tmp_path)
    report = reset(ctx)

    assert report.changes == (
        "deleted Pod canary/stray (not in the baseline)",
        "deleted Service demo/mine (not in the baseline)",
        "restored Service demo/server (spec edited)",
        "created Pod demo/client",
        "deleted Pod demo/mine (not in the baseline)",
    )
    assert names(cluster, ("v1", "Pod"), "demo") == {"server", "client", "intruder"}
    assert names(cluster, ("v1", "Pod"), "canary") == set()
    assert_at_baseline(cluster, ctx)
    assert passed(ctx)


def test_deleted_pods_are_waited_for_before_they_are_created_again(tmp_path: Path) -> None:
    world = World()
    cluster, ssa = lab_up(world, tmp_path)
    intruder = cluster.get("v1", "Pod", "intruder", "demo")
    intruder["metadata"]["labels"]["app"] = "client"
    ssa.by_hand(intruder)
    ssa.by_hand(pod("leaving", "other"))
    slow = SlowPodDeletes(cluster, reads=4)
    cluster.delete("v1", "Pod", "leaving", "other")  # the attendee deleted it: still going

    ctx = make(world, tmp_path)
    report = reset(ctx)

    assert report.changes == ("recreated Pod demo/intruder (labels app=client -> app=intruder)",)
    assert not slow.terminating
    assert "leaving" not in names(cluster, ("v1", "Pod"), "other")
    assert report.api_calls["list"] > 10  # it polled until both were gone
    assert_at_baseline(cluster, ctx)
    assert passed(ctx)


def test_a_controllers_pod_is_left_with_a_warning(tmp_path: Path) -> None:
    world = World()
    cluster, ssa = lab_up(world, tmp_path)
    web = pod("web-5d8f-abcde", "demo")
    web["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f", "controller": True}
    ]
    ssa.by_hand(web)

    ctx = make(world, tmp_path)
    report = reset(ctx, validate=False)

    assert report.changes == ()
    (warning,) = report.warnings
    assert "ReplicaSet web-5d8f manages it" in warning and "not deleted" in warning
    assert "web-5d8f-abcde" in names(cluster, ("v1", "Pod"), "demo")
    assert "! warning: Pod demo/web-5d8f-abcde" in output(ctx)


def test_switching_exercise_removes_the_other_exercises_pods(tmp_path: Path) -> None:
    world = World()
    cluster, _ = lab_up(world, tmp_path, scenario="open", exercise="bookstore-api-allow")
    assert {"apiserver", "frontend"} <= names(cluster, ("v1", "Pod"), "demo")

    ctx = make(world, tmp_path, scenario="open", exercise="db-from-backend")
    report = reset(ctx)

    assert report.changes == (
        "deleted Pod demo/apiserver (not in the baseline)",
        "created Pod demo/backend",
        "created Pod demo/db",
        "deleted Pod demo/frontend (not in the baseline)",
    )
    assert names(cluster, ("v1", "Pod"), "demo") == {
        "server",
        "client",
        "intruder",
        "backend",
        "db",
    }
    assert_at_baseline(cluster, ctx)
    assert passed(ctx)
    assert load_record(ctx.spec).exercise == "db-from-backend"  # the lab carries it now
    assert report.as_dict()["baseline"] == {"scenario": "open", "exercise": "db-from-backend"}


# --- namespaces ------------------------------------------------------------------------------


def test_a_namespace_label_added_by_hand_is_taken_over_then_removed(tmp_path: Path) -> None:
    world = World()
    cluster, ssa = lab_up(world, tmp_path)
    other = cluster.get("v1", "Namespace", "other")
    wanted = dict(other["metadata"]["labels"])
    other["metadata"]["labels"]["team"] = "blue"
    other["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "baseline"  # not drift
    ssa.by_hand(other)

    ctx = make(world, tmp_path)
    report = reset(ctx, validate=False)

    assert report.changes == ("restored Namespace other (labels team=blue -> (none))",)
    labels = cluster.get("v1", "Namespace", "other")["metadata"]["labels"]
    assert labels == {**wanted, "pod-security.kubernetes.io/enforce": "baseline"}
    assert reset(make(world, tmp_path), validate=False).changes == ()


# --- what reset says and how many requests it sends -----------------------------------------


def test_a_second_reset_changes_nothing_and_says_so(tmp_path: Path) -> None:
    world = World()
    cluster, ssa = lab_up(world, tmp_path)
    ssa.by_hand(policy("allow-all", "demo"))
    ssa.by_hand(pod("mine", "other"))
    assert reset(make(world, tmp_path)).changed
    cluster.calls.clear()

    ctx = make(world, tmp_path)
    report = reset(ctx, validate=False)

    assert report.changes == ()
    assert "nothing to change: the lab is at its baseline" in output(ctx)
    assert [c for c in cluster.calls if c.verb not in ("list",)] == []
    # One list of the lab's namespaces, then policies, services and pods in each of the three,
    # and one per kind of the lab's cluster-wide policies (by its labels).
    assert report.api_calls == {
        "list": 12,
        "get": 0,
        "apply": 0,
        "delete": 0,
        "create": 0,
        "total": 12,
    }
    doc = json.loads(json.dumps(report.as_dict()))
    assert doc["changed"] is False and doc["changes"] == [] and doc["api_calls"]["total"] == 12
    assert doc["validated"] is False and doc["validation_api_calls"] is None


def _drift(world: World, tmp_path: Path, count: int) -> ResetReport:
    _, ssa = lab_up(world, tmp_path)
    for i in range(count):
        ssa.by_hand(policy(f"mine-{i}", "demo"))
        ssa.by_hand(pod(f"mine-{i}", "demo"))
        ssa.by_hand(pod(f"mine-{i}", "other"))
    return reset(make(world, tmp_path), validate=False)


def test_list_calls_do_not_grow_with_the_number_of_objects(tmp_path: Path) -> None:
    few = _drift(World(), tmp_path / "few", 1)
    many = _drift(World(), tmp_path / "many", 12)
    assert len(few.changes) == 3 and len(many.changes) == 36
    assert many.api_calls["delete"] == 36 and few.api_calls["delete"] == 3
    assert many.api_calls["list"] == few.api_calls["list"]
    assert many.api_calls["get"] == few.api_calls["get"] == 0  # no pod was created: no wait


def test_validation_calls_are_counted_apart_and_in_the_json_document(tmp_path: Path) -> None:
    world = World()
    _, ssa = lab_up(world, tmp_path)
    ssa.by_hand(policy("allow-all", "demo"))

    ctx = make(world, tmp_path)
    report = reset(ctx)
    doc = json.loads(json.dumps(report.as_dict()))

    assert doc["api_calls"]["delete"] == 1 and doc["api_calls"]["apply"] == 0
    assert doc["validated"] is True
    assert doc["validation_api_calls"]["apply"] >= 1  # the canary's deny policy, its pods
    assert doc["validation"]["ok"] is True and doc["canary"]["enforced"] == "yes"
    assert doc["steps"][0]["step"].startswith("Reset lab netpol-lab")


def test_a_failed_validation_still_reports_what_the_reset_changed(tmp_path: Path) -> None:
    world = World()
    cluster, ssa = lab_up(world, tmp_path)
    ssa.by_hand(policy("allow-all", "demo"))
    ctx = make(world, tmp_path)
    ctx.probe_executor = PolicyNetwork(cluster, enforcing=False)  # calico enforcing nothing

    with pytest.raises(ResetValidationError, match="policies are not enforced here") as err:
        reset(ctx)

    assert err.value.report.changes == (
        "deleted NetworkPolicy demo/allow-all (not in the baseline)",
    )
    doc = reset_document(ctx, err.value.report)
    assert doc["canary"]["enforced"] == "no" and doc["changed"] is True
    assert reset_document(ctx, None)["changes"] == []  # a reset that failed before a report


# --- a lab that is not up --------------------------------------------------------------------


def test_a_lab_that_is_not_up_says_to_run_up_first_and_changes_nothing(tmp_path: Path) -> None:
    world = World()
    cluster, ssa = lab_up(world, tmp_path)
    ssa.by_hand(policy("allow-all", "demo"))
    cluster.delete("v1", "Namespace", "other")
    cluster.calls.clear()

    with pytest.raises(UsageError) as err:
        reset(make(world, tmp_path))
    message = str(err.value)
    assert "namespace other not found" in message and "run `invoke up` first" in message
    assert "\n" not in message
    assert [c for c in cluster.calls if c.verb in ("apply", "delete", "create")] == []

    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}])
    with pytest.raises(UsageError, match="namespace other is not this lab's"):
        reset(make(world, tmp_path))
    with pytest.raises(UsageError, match="invoke exercise start db-from-backend"):
        reset(make(world, tmp_path, scenario="open", exercise="db-from-backend"))
    assert "allow-all" in names(cluster, POLICY, "demo")  # nothing was deleted


# --- the comparisons -------------------------------------------------------------------------


def test_policies_compare_as_the_api_server_stores_them() -> None:
    applied = {
        "podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                     "ports": [{"port": 80}]}],
    }  # fmt: skip
    stored = copy.deepcopy(applied)
    stored["policyTypes"] = ["Ingress"]
    stored["ingress"][0]["ports"][0]["protocol"] = "TCP"
    assert normalized_policy_spec(applied) == normalized_policy_spec(stored)
    own_namespace = {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}
    all_namespaces = {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}
    assert normalized_policy_spec(own_namespace) != normalized_policy_spec(all_namespaces)
    with_egress = {"podSelector": {}, "egress": [{}]}
    assert normalized_policy_spec(with_egress)["policyTypes"] == ["Egress", "Ingress"]


def test_services_ignore_what_the_server_fills_in_but_not_a_changed_selector() -> None:
    desired = {"selector": {"app": "server"}, "ports": [{"name": "main", "port": 80}]}
    stored = {
        "selector": {"app": "server"},
        "ports": [{"name": "main", "port": 80, "protocol": "TCP", "targetPort": 80}],
        "clusterIP": "10.96.0.12",
        "type": "ClusterIP",
        "sessionAffinity": "None",
    }
    assert not service_drift(desired, stored)
    assert service_drift(desired, {**stored, "selector": {"app": "server", "x": "y"}})
    assert service_drift(desired, {**stored, "type": "NodePort"})


# --- AKS -------------------------------------------------------------------------------------


def test_reset_on_an_aks_lab(tmp_path: Path) -> None:
    from tests.test_aks_lab import Azure, NoCommands, provider, workshop
    from tests.test_aks_lab import up as aks_up

    azure = Azure()
    spec = dataclasses.replace(workshop(tmp_path, "calico"), scenario="aks-demo")
    aks_up(azure, spec)
    kube = azure.kube
    ssa = ServerSideApply(kube)
    ssa.by_hand(policy("allow-all", "demo"))
    intruder = kube.get("v1", "Pod", "intruder", "demo")
    intruder["metadata"]["labels"]["app"] = "client"
    ssa.by_hand(intruder)
    ssa.by_hand(pod("mine", "demo"))

    def context() -> pipeline.Context:
        now = [0.0]
        return pipeline.build_context(
            spec,
            NoCommands(),
            Progress(io.StringIO(), spinner=False),
            provider(azure.gateway_factory, azure.kube_factory),
            clock=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + max(s, 0.25)),
            poll_interval=0,
            deadline=0,
            probe_executor=PolicyNetwork(kube, enforcing=True),
        )

    ctx = context()
    report = reset(ctx)

    assert report.provider == "aks"
    assert report.changes == (
        "deleted NetworkPolicy demo/allow-all (not in the baseline)",
        "recreated Pod demo/intruder (labels app=client -> app=intruder)",
        "deleted Pod demo/mine (not in the baseline)",
    )
    assert passed(ctx)
    again = reset(context(), validate=False)
    assert again.changes == () and again.api_calls["apply"] == again.api_calls["delete"] == 0
