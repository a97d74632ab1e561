"""Workshop fleets end to end on the simulated kind machine (tests/fake_world.py).

The real fleet code (``provisioning/fleet``), lab pipeline, providers, engines, workload,
policies, reset and exercise grading run; only the subprocesses (docker, kind, kubectl, helm)
and the Kubernetes API are simulated behind their seams, and the dataplane that answers probes
is ``tests/fake_network.PolicyNetwork``, deciding from the cluster's own pods and policies.

Wiring, as ``provisioning/fleet/cli.py`` ``seams_for`` does it but on the simulated machine:
``KindProvider`` for kind labs (the shared cluster in mode namespaces, each attendee's cluster in
mode clusters) and ``ExistingProvider`` for the attendees' labs on the shared cluster, every API
client reaching the ``SimCluster`` its kubeconfig names. Time is simulated (each attendee's
thread has its own clock, so waits never sleep and never steal each other's deadlines), and
the wall clock (``Seams.now``) is a fixed moment, so expiry is decided by the test.

The simulated machine is shared by the attendees' threads; a real API server answers each
request atomically, so every call into the World and its clusters holds one lock
(``Serialized``). The dataplane's own reads are counted apart (``Machine.network_calls``): they
are the fake network looking, not API calls the tool makes.

The 30-attendee room gives each lab's dataplane a slice of the shared cluster (``LabSlice``):
the lab's own namespaces and every cluster-scoped policy. Every probe the tool makes (canary,
validation) goes between two pods of one lab, and a NetworkPolicy selects pods of its own
namespace only, so the verdicts are those of the whole cluster; the fake network re-reads and
re-analyses all it sees for every probe, which over 30 labs' pods is most of the run time. The
smaller fleets below probe through the whole shared cluster, so one attendee's policies are
seen not to leak into another's lab.
"""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.fleet import run
from provisioning.fleet.plan import EXPIRES_ANNOTATION, EXPIRES_LABEL, FLEET_LABEL, FleetSpec
from provisioning.fleet.rbac import BINDING_NAME, ROLE_NAME, SERVICE_ACCOUNT
from provisioning.fleet.record import FleetRecord, host_spec, load_fleet
from provisioning.fleet.roster import numbered
from provisioning.fleet.status import fleet_status
from provisioning.fleet.sweep import sweep
from provisioning.kube import KubeError, ObjectRef
from provisioning.lab import pipeline
from provisioning.lab.canary import CLIENT_NAME, POLICY_NAME, SERVER_NAME
from provisioning.lab.observe import lab_namespaces
from provisioning.lab.state import load_record
from provisioning.profiles import resolve
from provisioning.progress import Progress
from provisioning.providers.existing.provider import ExistingProvider
from provisioning.providers.kind.provider import NODE_LABEL_MANAGED_BY, KindProvider
from provisioning.spec import LABEL_ENGINE, LABEL_LAB, LABEL_MANAGED_BY, TOOL, LabSpec
from provisioning.validation.exercise_check import apply_solution
from provisioning.workload.exercises import load_exercise
from tests.fake_kube import Call
from tests.fake_network import PolicyNetwork
from tests.fake_world import SimCluster, World

CREATED = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)
LIFETIME = 6 * 3600.0
EXPIRES_RFC3339 = "2026-12-01T16:00:00Z"
EXPIRES_BASIC = "20261201T160000Z"  # the same moment as a label value (fleet/plan.py)
WRITES = ("apply", "create", "delete")
# The room runs one attendee at a time, so its count of API calls is exact: the attendees share
# one provider (``Seams.provider_for``), and several starting at once may each read the engine
# before the first reading is kept. Parallel attendees are run by the smaller fleets below.
ROOM_WORKERS = 1
CANARY_OBJECTS = {("Pod", SERVER_NAME), ("Pod", CLIENT_NAME), ("NetworkPolicy", POLICY_NAME)}


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing reads or writes the real state folder of whoever runs the tests."""
    monkeypatch.setenv("NETPOL_LAB_HOME", str(tmp_path / "home"))


# --- the simulated machine ----------------------------------------------------------------------


class ThreadClock:
    """Simulated monotonic time, one timeline per thread: an attendee's waits and deadlines
    move only its own clock, as if each lab ran alone."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self) -> float:
        return getattr(self._local, "now", 0.0)

    def sleep(self, seconds: float) -> None:
        self._local.now = self() + max(seconds, 0.25)


class Serialized:
    """Every call into ``inner`` under one lock, as an API server answers each request
    atomically. With ``tally``, the number of API calls each one made is appended to it."""

    def __init__(self, inner: Any, lock: Any, tally: list[int] | None = None) -> None:
        self._inner, self._lock, self._tally = inner, lock, tally

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                if self._tally is None:
                    return value(*args, **kwargs)
                before = len(self._inner.calls)
                try:
                    return value(*args, **kwargs)
                finally:
                    self._tally.append(len(self._inner.calls) - before)

        return call


class ClusterOf:
    """The cluster a lab's probes run in, looked up when used (it exists only once created):
    the shared cluster its kubeconfig names (provider existing), else its own kind cluster."""

    def __init__(self, world: World, spec: LabSpec) -> None:
        self.world, self.spec = world, spec

    def __getattr__(self, name: str) -> Any:
        if self.spec.provider == "existing":
            cluster = self.world._named_in(str(self.spec.existing.kubeconfig))
        else:
            cluster = self.spec.name
        return getattr(self.world.clusters[cluster], name)


class LabSlice:
    """The shared cluster as one lab's dataplane sees it: pods, policies and namespaces of the
    lab's own namespaces (and kube-system, where cluster DNS runs); cluster-scoped kinds whole."""

    def __init__(self, cluster: Any, spec: LabSpec) -> None:
        self.cluster = cluster
        self.namespaces = (*lab_namespaces(spec), "kube-system")

    def list(self, api_version: str, kind: str, namespace: str | None = None, **kw: Any) -> Any:
        if namespace is None and kind in ("Pod", "NetworkPolicy"):
            return [
                obj
                for ns in sorted(self.namespaces)
                for obj in self.cluster.list(api_version, kind, ns, **kw)
            ]
        found = self.cluster.list(api_version, kind, namespace, **kw)
        if kind == "Namespace":
            return [n for n in found if n["metadata"]["name"] in self.namespaces]
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cluster, name)


@dataclass
class Machine:
    root: Path
    workers: int = 4
    sliced_network: bool = False  # each lab on the shared cluster probes its own slice of it
    world: World = field(default_factory=World)
    clock: ThreadClock = field(default_factory=ThreadClock)
    wall: list[dt.datetime] = field(default_factory=lambda: [CREATED + dt.timedelta(minutes=1)])
    network_calls: list[int] = field(default_factory=list)
    # cluster name -> fail_on arguments, set on that cluster when the tool first reaches it
    faults: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.runner = Serialized(self.world, self.lock)
        self.seams = run.Seams(
            self.runner,
            self.make_provider,
            self.settings,
            clock=self.clock,
            now=lambda: self.wall[0],
            workers=self.workers,
        )

    @property
    def state_root(self) -> Path:
        return self.root / "state"

    def kube(self, path: Path) -> Any:
        cluster = self.world.kube_factory()(path)
        with self.lock:
            for args, kwargs in self.faults.pop(getattr(cluster, "name", ""), []):
                cluster.fail_on(*args, **kwargs)
        return Serialized(cluster, self.lock)

    def fail_on(self, cluster: str, *args: Any, **kwargs: Any) -> None:
        """``FakeKube.fail_on`` on ``cluster`` as soon as it exists and the tool reaches it."""
        self.faults.setdefault(cluster, []).append((args, kwargs))

    def make_provider(self, spec: LabSpec, read_only: bool) -> Any:
        if spec.provider == "kind":
            return KindProvider(self.runner, kube_factory=self.kube, read_only=read_only)
        return ExistingProvider(lambda path, context=None: self.kube(path))

    def settings(self, spec: LabSpec) -> dict[str, Any]:
        seen: Any = ClusterOf(self.world, spec)
        if self.sliced_network and spec.provider == "existing":
            seen = LabSlice(seen, spec)
        network = PolicyNetwork(Serialized(seen, self.lock, self.network_calls), enforcing=True)
        return {
            "clock": self.clock,
            "sleep": self.clock.sleep,
            "poll_interval": 0,
            "probe_executor": network,
        }

    def base(self, **flags: Any) -> LabSpec:
        """The lab settings as the CLI resolves them (``invoke fleet up --exercise ...``)."""
        return replace(resolve(flags={"name": "ws", **flags}), state_root=self.state_root)

    def fleet(
        self,
        count: int,
        mode: str = "namespaces",
        fleet_id: str = "ws",
        created: dt.datetime = CREATED,
        **flags: Any,
    ) -> FleetSpec:
        return FleetSpec(fleet_id, mode, numbered(count), LIFETIME, self.base(**flags), created)

    def up(self, fleet: FleetSpec, **kwargs: Any) -> run.FleetResult:
        return run.fleet_up(fleet, self.seams, quiet(), live=False, stream=io.StringIO(), **kwargs)

    def down(self, fleet: FleetSpec) -> run.DownResult:
        return run.fleet_down(fleet, self.seams, quiet(), live=False, stream=io.StringIO())

    def reset(self, fleet: FleetSpec, ids: list[str]) -> list[run.Outcome]:
        chosen = run.chosen(fleet, ids, where="--attendee")
        return run.fleet_reset(fleet, chosen, self.seams, quiet(), live=False, stream=io.StringIO())

    def status(self, fleet: FleetSpec) -> dict[str, Any]:
        return fleet_status(fleet, self.record(fleet), self.seams)

    def record(self, fleet: FleetSpec) -> FleetRecord | None:
        return load_fleet(host_spec(fleet.base, fleet.id))

    def production_calls(self, cluster: str) -> int:
        """API calls the tool made on ``cluster`` (the dataplane's reads left out)."""
        return len(self.world.clusters[cluster].calls) - sum(self.network_calls)

    def plain_lab(self, name: str, labels: dict[str, str] | None = None) -> None:
        """``invoke up --name NAME`` (a lab, not a fleet's), its kind nodes with ``labels``."""
        base = self.base()
        spec = replace(base, name=name, kind=replace(base.kind, labels=dict(labels or {})))
        ctx = pipeline.build_context(
            spec, self.runner, quiet(), self.make_provider(spec, False), **self.settings(spec)
        )
        pipeline.up(ctx, yes=True)


def quiet() -> Progress:
    return Progress(io.StringIO(), spinner=False)


def lab_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def writes(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.verb in WRITES]


def by_kind(cluster: SimCluster, kind: str, namespace: str | None = None) -> dict[str, Any]:
    return {
        o["metadata"]["name"]: o
        for o in cluster.objects()
        if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace") == namespace)
    }


def nodes_of(cluster: SimCluster) -> list[dict[str, Any]]:
    return list(by_kind(cluster, "Node").values())


def hand_made_policy(namespace: str, name: str = "my-policy") -> dict[str, Any]:
    """A policy an attendee wrote with kubectl: no lab labels, another field manager."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": {"matchLabels": {"app": "server"}}, "policyTypes": ["Ingress"]},
    }


def lasting(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as a reader sees it change: what server-side apply of the same fields leaves
    alone (a real API server does not even bump resourceVersion for such a no-op apply)."""
    bookkeeping = ("resourceVersion", "managedFields")
    meta = {k: v for k, v in obj["metadata"].items() if k not in bookkeeping}
    return {**obj, "metadata": meta}


# --- 1. mode namespaces, 30 attendees on one kind cluster ---------------------------------------


@dataclass
class Room:
    """One whole life of a 30-attendee fleet, with what was seen at each point."""

    machine: Machine
    fleet: FleetSpec
    first: run.FleetResult
    after_first: list[dict[str, Any]]  # every object of the shared cluster
    calls_first: int  # the tool's API calls during the first up
    second: run.FleetResult
    second_writes: list[Call]
    second_commands: list[tuple[str, ...]]
    after_second: list[dict[str, Any]]
    record_after_up: FleetRecord | None
    status: dict[str, Any]
    down: run.DownResult
    down_commands: list[tuple[str, ...]]
    folders_after_down: list[str]
    record_after_down: FleetRecord | None
    down_again: run.DownResult
    down_again_commands: list[tuple[str, ...]]
    folders_after_down_again: list[str]


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    root = tmp_path_factory.mktemp("room")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETPOL_LAB_HOME", str(root / "home"))
        m = Machine(root, workers=ROOM_WORKERS, sliced_network=True)
        fleet = m.fleet(30)
        first = m.up(fleet)
        cluster = m.world.clusters["ws"]
        after_first = cluster.objects()
        calls_first = m.production_calls("ws")

        api_mark, cmd_mark = len(cluster.calls), len(m.world.calls)
        second = m.up(fleet)
        second_writes = writes(cluster.calls[api_mark:])
        second_commands = m.world.calls[cmd_mark:]
        after_second = cluster.objects()
        record_after_up = m.record(fleet)
        status = m.status(fleet)

        cmd_mark = len(m.world.calls)
        down = m.down(fleet)
        down_commands = m.world.calls[cmd_mark:]
        folders_after_down = lab_folders(m.state_root)
        record_after_down = m.record(fleet)
        cmd_mark = len(m.world.calls)
        down_again = m.down(fleet)
        yield Room(
            m,
            fleet,
            first,
            after_first,
            calls_first,
            second,
            second_writes,
            second_commands,
            after_second,
            record_after_up,
            status,
            down,
            down_commands,
            folders_after_down,
            record_after_down,
            down_again,
            m.world.calls[cmd_mark:],
            lab_folders(m.state_root),
        )


def attendee_ids(count: int) -> list[str]:
    return [f"att{i:02d}" for i in range(1, count + 1)]


def test_thirty_attendees_come_up_on_one_kind_cluster(room: Room) -> None:
    assert [o.attendee.id for o in room.first.outcomes] == attendee_ids(30)
    assert all(o.ok for o in room.first.outcomes), [o.detail for o in room.first.failed]
    assert {o.detail for o in room.first.outcomes} == {"validated"}
    creates = [c for c in room.machine.world.calls if c[:3] == ("kind", "create", "cluster")]
    assert [c[c.index("--name") + 1] for c in creates] == ["ws"]
    record = room.record_after_up
    assert record is not None and record.phase == "ready"
    assert record.expires == EXPIRES_RFC3339
    phases = {k: s.phase for k, s in record.states.items()}
    assert phases == dict.fromkeys(attendee_ids(30), "ready")


def test_shared_cluster_nodes_carry_the_fleet_its_expiry_and_the_tools_ownership(
    room: Room,
) -> None:
    nodes = [o for o in room.after_first if o["kind"] == "Node"]
    assert [n["metadata"]["name"] for n in nodes] == ["ws-control-plane", "ws-worker"]
    for node in nodes:
        labels = node["metadata"]["labels"]
        assert labels[FLEET_LABEL] == "ws"
        assert labels[EXPIRES_LABEL] == EXPIRES_BASIC  # a label value may not hold ':'
        assert labels[NODE_LABEL_MANAGED_BY] == TOOL
        assert labels[LABEL_LAB] == "ws"
        assert labels[LABEL_ENGINE] == "calico"


def test_each_attendee_has_its_namespaces_marked_with_the_fleet_and_expiry(room: Room) -> None:
    namespaces = {o["metadata"]["name"]: o for o in room.after_first if o["kind"] == "Namespace"}
    for attendee in attendee_ids(30):
        lab = f"ws-{attendee}"
        for logical in ("demo", "other", "canary"):
            meta = namespaces[f"{logical}-{lab}"]["metadata"]
            assert meta["labels"][FLEET_LABEL] == "ws"
            assert meta["labels"][LABEL_LAB] == lab
            assert meta["labels"][LABEL_MANAGED_BY] == TOOL
            assert meta["annotations"][EXPIRES_ANNOTATION] == EXPIRES_RFC3339
    fleet_namespaces = [
        n for n, o in namespaces.items() if FLEET_LABEL in (o["metadata"].get("labels") or {})
    ]
    assert len(fleet_namespaces) == 90


def test_each_attendee_gets_a_service_account_and_roles_in_demo_and_other_only(
    room: Room,
) -> None:
    def names(kind: str, namespace: str) -> set[str]:
        return {
            o["metadata"]["name"]
            for o in room.after_first
            if o["kind"] == kind and o["metadata"].get("namespace") == namespace
        }

    for attendee in attendee_ids(30):
        demo, other, canary = (f"{ns}-ws-{attendee}" for ns in ("demo", "other", "canary"))
        assert names("ServiceAccount", demo) == {SERVICE_ACCOUNT}
        assert not names("ServiceAccount", other) and not names("ServiceAccount", canary)
        for ns in (demo, other):
            assert names("Role", ns) == {ROLE_NAME}
            assert names("RoleBinding", ns) == {BINDING_NAME}
        assert not names("Role", canary) and not names("RoleBinding", canary)
    binding = next(
        o
        for o in room.after_first
        if o["kind"] == "RoleBinding" and o["metadata"]["namespace"] == "other-ws-att07"
    )
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": "demo-ws-att07"}
    ]
    assert binding["roleRef"]["kind"] == "Role" and binding["roleRef"]["name"] == ROLE_NAME
    assert binding["metadata"]["labels"][FLEET_LABEL] == "ws"
    assert binding["metadata"]["annotations"][EXPIRES_ANNOTATION] == EXPIRES_RFC3339


def calls_for(attendees: int, tmp_path: Path) -> int:
    """The tool's API calls for a fresh fleet of ``attendees`` (shared cluster included)."""
    m = Machine(tmp_path / f"n{attendees}", workers=ROOM_WORKERS, sliced_network=True)
    result = m.up(m.fleet(attendees))
    assert all(o.ok for o in result.outcomes)
    return m.production_calls("ws")


def test_api_calls_grow_by_the_same_amount_per_attendee(room: Room, tmp_path: Path) -> None:
    one, two, ten = (calls_for(n, tmp_path) for n in (1, 2, 10))
    per_attendee = two - one
    assert per_attendee > 0
    assert ten - one == 9 * per_attendee
    assert room.calls_first - ten == 20 * per_attendee


def test_a_second_up_creates_deletes_and_changes_nothing_but_the_canarys_objects(
    room: Room,
) -> None:
    assert all(o.ok for o in room.second.outcomes)
    # No cluster commands beyond looking: no create, delete, engine install.
    changing = (("kind", "create"), ("kind", "delete"))
    assert not [c for c in room.second_commands if c[:2] in changing]
    assert not [c for c in room.second_commands if c[0] in ("kubectl", "helm", "cilium")]
    # The only Namespace, Pod and NetworkPolicy writes are the canary's, in canary namespaces.
    lab_kinds = [c for c in room.second_writes if c.kind in ("Namespace", "Pod", "NetworkPolicy")]
    assert lab_kinds, "the canary runs again (validation)"
    for call in lab_kinds:
        assert (call.kind, call.name) in CANARY_OBJECTS, call
        assert call.namespace is not None and call.namespace.startswith("canary-ws-att"), call
    # Beyond the canary, only the attendees' access is written (applied again, unchanged; see
    # test_a_second_up_writes_no_rbac).
    others = {(c.verb, c.kind) for c in room.second_writes if c not in lab_kinds}
    assert others <= {("apply", "ServiceAccount"), ("apply", "Role"), ("apply", "RoleBinding")}
    # Nothing lasting changed: every object is as it was (same uid, generation, content).
    assert [lasting(o) for o in room.after_second] == [lasting(o) for o in room.after_first]


def test_a_second_up_writes_no_rbac(room: Room) -> None:
    rbac = [c for c in room.second_writes if c.kind in ("ServiceAccount", "Role", "RoleBinding")]
    assert rbac == []


def test_status_of_a_room_without_exercise_is_ready_everywhere(room: Room) -> None:
    doc = room.status
    assert [r["id"] for r in doc["attendees"]] == attendee_ids(30)
    assert {r["state"] for r in doc["attendees"]} == {"ready"}
    assert all(r["pods"] == r["pods_ready"] == 4 for r in doc["attendees"])
    assert doc["summary"] == {
        "attendees": 30,
        "ready": 30,
        "done": 0,
        "working": 0,
        "failed": 0,
        "not_up": 0,
    }
    assert doc["expires"] == EXPIRES_RFC3339 and doc["expired"] is False


def test_down_deletes_the_kind_cluster_and_forgets_every_lab_and_the_record(room: Room) -> None:
    assert room.down.removed == ["kind cluster ws"] and not room.down.failed
    assert "ws" not in room.machine.world.clusters
    deletes = [c for c in room.down_commands if c[:3] == ("kind", "delete", "cluster")]
    assert [c[c.index("--name") + 1] for c in deletes] == ["ws"]
    assert room.folders_after_down == []  # ws and every ws-attNN folder
    assert room.record_after_down is None


def test_a_second_down_is_a_no_op(room: Room) -> None:
    assert room.down_again.removed == [] and not room.down_again.failed
    assert [c for c in room.down_again_commands if c[:2] != ("kind", "get")] == []
    assert room.folders_after_down_again == []


# --- 2. an exercise: status grades each attendee -------------------------------------------------


def test_status_grades_the_exercise_and_one_solved_attendee_is_done(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    fleet = m.fleet(4, exercise="client-only")
    assert fleet.base.exercise == "client-only"
    result = m.up(fleet)
    assert all(o.ok for o in result.outcomes)
    exercise = load_exercise("client-only")
    goals = len(exercise.goals)

    doc = m.status(fleet)
    assert {r["state"] for r in doc["attendees"]} == {"working"}
    for row in doc["attendees"]:
        met = re.fullmatch(rf"(\d+) of {goals} goals met", row["detail"])
        assert met is not None and int(met.group(1)) < goals, row["detail"]
        assert row["check"]["exercise"] == "client-only" and not row["check"]["done"]

    attendee = fleet.attendees[2]
    spec = run.attendee_spec(fleet, attendee, 2)
    ctx = run.lab_context(fleet, spec, m.seams, quiet())
    applied = apply_solution(ctx, exercise)
    assert applied == ["NetworkPolicy demo-ws-att03/server-allow-client"]

    doc = m.status(fleet)
    states = {r["id"]: r["state"] for r in doc["attendees"]}
    assert states == {"att01": "working", "att02": "working", "att03": "done", "att04": "working"}
    solved = doc["attendees"][2]
    assert solved["detail"] == f"{goals} of {goals} goals met"
    assert doc["summary"]["done"] == 1 and doc["summary"]["working"] == 3


# --- 3. reset one attendee -----------------------------------------------------------------------


def test_reset_removes_one_attendees_own_policy_only_and_keeps_their_access(
    tmp_path: Path,
) -> None:
    m = Machine(tmp_path)
    fleet = m.fleet(3)
    assert all(o.ok for o in m.up(fleet).outcomes)
    cluster = m.world.clusters["ws"]
    for ns in ("demo-ws-att01", "demo-ws-att02"):
        cluster.seed(hand_made_policy(ns))
    rbac_before = {
        (o["kind"], o["metadata"]["namespace"]): o["metadata"]["uid"]
        for o in cluster.objects()
        if o["kind"] in ("ServiceAccount", "Role", "RoleBinding")
        and o["metadata"]["namespace"].endswith("-ws-att01")
    }
    assert len(rbac_before) == 5

    outcomes = m.reset(fleet, ["att01"])
    assert [(o.attendee.id, o.ok) for o in outcomes] == [("att01", True)]
    assert "my-policy" not in by_kind(cluster, "NetworkPolicy", "demo-ws-att01")
    assert "demo-policy" in by_kind(cluster, "NetworkPolicy", "demo-ws-att01")  # the scenario's
    assert "my-policy" in by_kind(cluster, "NetworkPolicy", "demo-ws-att02")
    rbac_after = {
        (o["kind"], o["metadata"]["namespace"]): o["metadata"]["uid"]
        for o in cluster.objects()
        if o["kind"] in ("ServiceAccount", "Role", "RoleBinding")
        and o["metadata"]["namespace"].endswith("-ws-att01")
    }
    # The same objects (same uids): a ServiceAccount made again would void the tokens issued.
    assert rbac_after == rbac_before


# --- 4. one attendee fails; the others do not; up again completes it -----------------------------


def test_one_attendees_failure_is_theirs_alone_and_up_again_completes_it(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    fleet = m.fleet(4)
    # The API server refuses att03's namespace once, as the real client reports it (the verb and
    # object of the request, the status, the server's message).
    refused = KubeError(
        "etcdserver: request timed out",
        status=500,
        reason="InternalError",
        ref=ObjectRef("Namespace", "demo-ws-att03"),
        verb="apply",
    )
    m.fail_on("ws", "apply", "Namespace", "demo-ws-att03", error=refused, times=1)
    result = m.up(fleet)
    assert {o.attendee.id: o.ok for o in result.outcomes} == {
        "att01": True,
        "att02": True,
        "att03": False,
        "att04": True,
    }
    line = "apply Namespace/demo-ws-att03: HTTP 500 InternalError: etcdserver: request timed out"
    assert result.failed[0].detail == line

    record = m.record(fleet)
    assert record is not None and record.phase == "failed"
    assert record.states["att03"].phase == "failed" and record.states["att03"].error == line
    assert {k: s.phase for k, s in record.states.items() if k != "att03"} == dict.fromkeys(
        ["att01", "att02", "att04"], "ready"
    )

    doc = m.status(fleet)
    assert {r["id"]: r["state"] for r in doc["attendees"]} == {
        "att01": "ready",
        "att02": "ready",
        "att03": "failed",
        "att04": "ready",
    }
    assert doc["attendees"][2]["detail"] == line
    assert doc["summary"]["failed"] == 1

    again = m.up(fleet)
    assert all(o.ok for o in again.outcomes), [o.detail for o in again.failed]
    record = m.record(fleet)
    assert record is not None and record.phase == "ready"
    assert {s.phase for s in record.states.values()} == {"ready"}
    assert {r["state"] for r in m.status(fleet)["attendees"]} == {"ready"}


def test_a_transient_error_reading_the_engine_is_one_attendees_not_the_rooms(
    tmp_path: Path,
) -> None:
    m = Machine(tmp_path, workers=1)  # att01 reads the engine first
    fleet = m.fleet(3)
    m.fail_on("ws", "list", "DaemonSet", times=1)  # one failed request, the first engine read
    result = m.up(fleet)
    assert all(o.ok for o in result.outcomes)
    engines = {a.id: load_record(run.attendee_spec(fleet, a)).engine for a in fleet.attendees}
    assert engines["att02"] == engines["att03"] == "calico", engines


# --- 5. mode clusters: 30 kind clusters ---------------------------------------------------------


@dataclass
class Clusters:
    machine: Machine
    fleet: FleetSpec
    up: run.FleetResult
    creates: list[tuple[str, ...]]
    configs: dict[str, dict[str, Any]]  # lab -> the kind config it was created with
    node_labels: dict[str, list[dict[str, str]]]
    ip_pools: dict[str, str]  # lab -> the CIDR of Calico's IP pool in its cluster
    down: run.DownResult
    mine_calls: int
    mine_before: list[dict[str, Any]]
    down_again: run.DownResult
    down_again_commands: list[tuple[str, ...]]


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clusters]:
    root = tmp_path_factory.mktemp("clusters")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETPOL_LAB_HOME", str(root / "home"))
        m = Machine(root)
        mine = m.world.user_cluster("mine")
        mine_before = mine.objects()
        fleet = m.fleet(30, mode="clusters")
        up = m.up(fleet)
        creates = [c for c in m.world.calls if c[:3] == ("kind", "create", "cluster")]
        configs = {
            c[c.index("--name") + 1]: yaml.safe_load(Path(c[c.index("--config") + 1]).read_text())
            for c in creates
        }
        node_labels = {
            name: [n["metadata"]["labels"] for n in nodes_of(cluster)]
            for name, cluster in m.world.clusters.items()
        }
        ip_pools = {
            name: installation["spec"]["calicoNetwork"]["ipPools"][0]["cidr"]
            for name, cluster in m.world.clusters.items()
            if (installation := by_kind(cluster, "Installation").get("default"))
        }
        down = m.down(fleet)
        mark = len(m.world.calls)
        down_again = m.down(fleet)
        yield Clusters(
            m,
            fleet,
            up,
            creates,
            configs,
            node_labels,
            ip_pools,
            down,
            len(mine.calls),
            mine_before,
            down_again,
            m.world.calls[mark:],
        )


def test_thirty_kind_clusters_with_subnets_that_do_not_overlap(clusters: Clusters) -> None:
    assert all(o.ok for o in clusters.up.outcomes), [o.detail for o in clusters.up.failed]
    labs = [f"ws-{a}" for a in attendee_ids(30)]
    assert sorted(clusters.configs) == labs
    networks = []
    for lab in labs:
        config = clusters.configs[lab]
        assert config["name"] == lab
        networks += [
            ipaddress.ip_network(config["networking"]["podSubnet"]),
            ipaddress.ip_network(config["networking"]["serviceSubnet"]),
        ]
    assert len(set(networks)) == 60
    for i, a in enumerate(networks):
        for b in networks[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    for lab in labs:  # Calico's pods get addresses from the cluster's own pod subnet
        assert clusters.ip_pools[lab] == clusters.configs[lab]["networking"]["podSubnet"]
    for create in clusters.creates:  # the config passed is the one the lab keeps
        lab = create[create.index("--name") + 1]
        assert create[create.index("--config") + 1].endswith(f"/state/{lab}/kind-config.yaml")


def test_every_node_of_every_fleet_cluster_carries_the_fleet_and_expiry(
    clusters: Clusters,
) -> None:
    for lab in (f"ws-{a}" for a in attendee_ids(30)):
        labels = clusters.node_labels[lab]
        assert labels, lab
        for node in labels:
            assert node[FLEET_LABEL] == "ws" and node[EXPIRES_LABEL] == EXPIRES_BASIC
            assert node[NODE_LABEL_MANAGED_BY] == TOOL and node[LABEL_LAB] == lab
    assert FLEET_LABEL not in clusters.node_labels["mine"][0]


def test_down_deletes_all_thirty_and_never_the_users_cluster(clusters: Clusters) -> None:
    assert not clusters.down.failed
    assert sorted(clusters.down.removed) == [f"ws-{a}" for a in attendee_ids(30)]
    world = clusters.machine.world
    assert sorted(world.clusters) == ["mine"]
    assert clusters.mine_calls == 0  # the user's cluster's API was never even asked
    assert world.clusters["mine"].objects() == clusters.mine_before
    assert not [c for c in world.calls if "mine" in c]
    assert lab_folders(clusters.machine.state_root) == []


def test_a_second_down_of_thirty_clusters_is_a_no_op(clusters: Clusters) -> None:
    assert clusters.down_again.removed == [] and not clusters.down_again.failed
    assert {o.detail for o in clusters.down_again.outcomes} == {"nothing to remove"}
    assert [c for c in clusters.down_again_commands if c[:2] != ("kind", "get")] == []
    assert sorted(clusters.machine.world.clusters) == ["mine"]
    assert lab_folders(clusters.machine.state_root) == []


# --- 6. sweep -----------------------------------------------------------------------------------


def test_sweep_removes_expired_fleets_and_nothing_else(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    old = m.fleet(2, fleet_id="old")  # expires CREATED + 6h
    new = m.fleet(1, fleet_id="new", created=CREATED + dt.timedelta(hours=5))  # + 11h
    lost = m.fleet(2, mode="clusters", fleet_id="lost")  # expires CREATED + 6h
    for fleet in (old, new, lost):
        assert all(o.ok for o in m.up(fleet, validate=False).outcomes)
    for folder in ("lost", "lost-att01", "lost-att02"):  # its record is on another machine
        shutil.rmtree(m.state_root / folder)
    m.plain_lab("plain")
    m.plain_lab("odd", {FLEET_LABEL: "odd", EXPIRES_LABEL: "next-tuesday"})
    m.world.user_cluster("mine")
    everything = ["lost-att01", "lost-att02", "mine", "new", "odd", "old", "plain"]
    assert sorted(m.world.clusters) == everything
    folders = lab_folders(m.state_root)
    m.wall[0] = CREATED + dt.timedelta(hours=7)

    rows = sweep(m.base(), m.seams, quiet(), kind=True, dry_run=True)
    actions = {r.what: r.action for r in rows}
    assert actions == {
        "fleet old (namespaces on kind)": "would remove",
        "fleet new (namespaces on kind)": "kept: expires 2026-12-01T21:00:00Z",
        "kind cluster lost-att01": "would remove",
        "kind cluster lost-att02": "would remove",
        "kind cluster odd": "kept: expires next-tuesday",
    }
    assert sorted(m.world.clusters) == everything
    assert lab_folders(m.state_root) == folders

    rows = sweep(m.base(), m.seams, quiet(), kind=True)
    actions = {r.what: r.action for r in rows}
    assert actions == {
        "fleet old (namespaces on kind)": "removed",
        "fleet new (namespaces on kind)": "kept: expires 2026-12-01T21:00:00Z",
        "kind cluster lost-att01": "removed",
        "kind cluster lost-att02": "removed",
        "kind cluster odd": "kept: expires next-tuesday",
    }
    assert sorted(m.world.clusters) == ["mine", "new", "odd", "plain"]
    assert lab_folders(m.state_root) == ["new", "new-att01", "odd", "plain"]
    assert m.record(new) is not None and m.record(old) is None
    assert load_record(replace(m.base(), name="plain")) is not None


def test_sweep_of_a_shared_cluster_without_its_record_forgets_the_attendees_labs(
    tmp_path: Path,
) -> None:
    m = Machine(tmp_path)
    lost = m.fleet(2, fleet_id="lost")
    assert all(o.ok for o in m.up(lost, validate=False).outcomes)
    (m.state_root / "lost" / "fleet.json").unlink()  # lost, or moved away as its hint says
    m.wall[0] = CREATED + dt.timedelta(hours=7)
    rows = sweep(m.base(), m.seams, quiet(), kind=True)
    assert [(r.what, r.action) for r in rows] == [("kind cluster lost", "removed")]
    assert m.world.clusters == {}
    assert lab_folders(m.state_root) == []


# --- 7. interrupted ups ---------------------------------------------------------------------------


# Where the shared cluster's creation is interrupted: `kind create cluster` itself (nothing made
# yet), or the engine's install once the cluster exists (nodes up, no CNI).
SHARED_STEPS = ["kind-create", "engine-install"]


def interrupted_shared(m: Machine, step: str) -> FleetSpec:
    fleet = m.fleet(3)
    kubeconfig = m.state_root / "ws" / "kubeconfig"
    m.world.interrupt.add(
        "kind create cluster --name ws"
        if step == "kind-create"
        else f"kubectl --kubeconfig {kubeconfig} apply --server-side"
    )
    with pytest.raises(KeyboardInterrupt):
        m.up(fleet)
    assert m.world.interrupt == set()  # it did happen, where meant
    assert sorted(m.world.clusters) == ([] if step == "kind-create" else ["ws"])
    return fleet


@pytest.mark.parametrize("step", SHARED_STEPS)
def test_an_up_interrupted_creating_the_shared_cluster_is_resumed(
    tmp_path: Path, step: str
) -> None:
    m = Machine(tmp_path)
    fleet = interrupted_shared(m, step)
    record = m.record(fleet)
    assert record is not None and record.phase == "creating"
    assert [a.id for a in record.attendees] == attendee_ids(3) and record.states == {}

    result = m.up(fleet)
    assert all(o.ok for o in result.outcomes), [o.detail for o in result.failed]
    record = m.record(fleet)
    assert record is not None and record.phase == "ready"
    assert {r["state"] for r in m.status(fleet)["attendees"]} == {"ready"}
    creates = [c for c in m.world.calls if c[:3] == ("kind", "create", "cluster")]
    assert len(creates) == (2 if step == "kind-create" else 1)  # an existing one is kept


@pytest.mark.parametrize("step", SHARED_STEPS)
def test_down_after_an_interrupted_shared_cluster_removes_everything(
    tmp_path: Path, step: str
) -> None:
    m = Machine(tmp_path)
    fleet = interrupted_shared(m, step)
    assert "ws" in lab_folders(m.state_root)
    result = m.down(fleet)
    assert not result.failed
    assert result.removed == ([] if step == "kind-create" else ["kind cluster ws"])
    assert lab_folders(m.state_root) == [] and m.world.clusters == {}


def interrupted_clusters(m: Machine, workers: int = 1, who: str = "att02") -> FleetSpec:
    """A 4-attendee kind-clusters fleet, interrupted creating ``who``'s cluster (one attendee at
    a time: those before it are done, those after it not begun)."""
    m.seams.workers = workers
    fleet = m.fleet(4, mode="clusters")
    m.world.interrupt.add(f"kind create cluster --name ws-{who}")
    with pytest.raises(KeyboardInterrupt):
        m.up(fleet)
    return fleet


def test_an_up_interrupted_during_one_attendee_leaves_a_record_and_is_resumed(
    tmp_path: Path,
) -> None:
    m = Machine(tmp_path)
    fleet = interrupted_clusters(m)
    record = m.record(fleet)
    assert record is not None and record.phase == "creating"
    assert record.states["att01"].phase == "ready" and "att02" not in record.states
    assert sorted(m.world.clusters) == ["ws-att01"]

    result = m.up(fleet)
    assert all(o.ok for o in result.outcomes), [o.detail for o in result.failed]
    record = m.record(fleet)
    assert record is not None and record.phase == "ready"
    assert sorted(m.world.clusters) == [f"ws-{a}" for a in attendee_ids(4)]
    creates = [c for c in m.world.calls if c[:3] == ("kind", "create", "cluster")]
    assert sum(1 for c in creates if "ws-att01" in c) == 1  # kept, not made again


def test_down_after_an_interrupted_attendee_removes_everything(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    fleet = interrupted_clusters(m)
    result = m.down(fleet)
    assert not result.failed
    assert result.removed == ["ws-att01"]
    assert m.world.clusters == {}
    assert lab_folders(m.state_root) == []


def test_an_up_interrupted_while_attendees_run_in_parallel_is_resumed_then_removed(
    tmp_path: Path,
) -> None:
    """Ctrl-C while four attendees run at once: the others stop at their next step, wherever
    that is (a cluster created, its engine not yet installed); up again completes every lab and
    down removes every cluster."""
    m = Machine(tmp_path)
    fleet = interrupted_clusters(m, workers=4, who="att01")
    record = m.record(fleet)
    assert record is not None and record.phase == "creating"
    assert "att01" not in record.states
    for attendee in ("att02", "att03", "att04"):  # stopped where they were, or done
        state = record.states[attendee]
        assert state.phase == "ready" or (
            state.phase == "failed" and (state.error or "").startswith("interrupted before: ")
        ), state

    result = m.up(fleet)
    assert all(o.ok for o in result.outcomes), [o.detail for o in result.failed]
    assert sorted(m.world.clusters) == [f"ws-{a}" for a in attendee_ids(4)]
    record = m.record(fleet)
    assert record is not None and record.phase == "ready"
    assert {s.phase for s in record.states.values()} == {"ready"}

    down = m.down(fleet)
    assert not down.failed and sorted(down.removed) == [f"ws-{a}" for a in attendee_ids(4)]
    assert m.world.clusters == {} and lab_folders(m.state_root) == []


def test_the_tasks_hold_the_fleets_lock_around_up_and_down(tmp_path: Path) -> None:
    """``invoke fleet up/down`` hold the fleet's lock (the shared cluster's lab's) while they
    run; nothing inside takes it again (a second taking would be refused as busy)."""
    from provisioning.fleet import cli

    m = Machine(tmp_path)
    fleet = m.fleet(2)
    done = cli.up(
        fleet,
        None,
        m.seams,
        quiet(),
        prices=None,
        yes=True,
        confirm=None,
        validate=False,
        canary=False,
    )
    assert done.code == 0 and done.document["ok"]
    gone = cli.down(fleet, m.seams, quiet(), yes=True, confirm=None, no_wait=False)
    assert gone.code == 0, gone.message
    assert gone.document["removed"] == ["kind cluster ws"]
    assert m.world.clusters == {}
    assert lab_folders(m.state_root) == []
