"""``invoke fleet ACTION`` on kind and AKS: the glue between the task and the fleet library.

``tests/fleet/test_fleet_cli.py`` runs the task end to end on a cluster you already have
(provider ``existing``, over HTTP). Here the same task body (``tasks.fleet``, unwrapped from
``user_errors`` so a user error is its exception) runs on the simulated kind machine of
``tests/fleet/test_fleet_kind.py``; only ``cli.seams_for`` is swapped for that machine's seams
(the real one would reach Docker and kind), sized by the real ``cli._workers``. So every
``cli`` function is called with exactly the arguments, in exactly the order, tasks.py passes,
and the fleet's lock is taken exactly where the task and the library take it. AKS (whose
settings come from a profile, not from the task's flags) calls ``cli.up``/``cli.down`` directly,
as tasks.py calls them, through the fake ARM of ``tests/fleet/test_aks_fleet.py``.

Every action is also checked for what it leaves behind: a document ``json.dumps`` takes as it
is (``--json``), and no file written anywhere but the state root and the ``--out``/``--html``
paths given (the working folder and ``$HOME`` stay as they were; the temporary folder holds at
most kind's private kubeconfigs, 0600, which the provider removes at exit).

kind's kubeconfig is the one kind writes (``tests.fake_world.kind_kubeconfig``: server and CA),
which ``cli.kubeconfigs`` reads in mode namespaces.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from invoke import Exit

import tasks
from provisioning.errors import UsageError
from provisioning.fleet import capacity as capacity_module
from provisioning.fleet import cli, run
from provisioning.fleet.capacity import HOST_RESERVE_MIB, Capacity, cluster_need
from provisioning.fleet.issue import cluster_endpoint
from provisioning.fleet.plan import FLEET_TAG, FleetSpec
from provisioning.fleet.rbac import SERVICE_ACCOUNT
from provisioning.fleet.record import RecordKeeper, host_spec, load_fleet, record_of
from provisioning.fleet.roster import Attendee, numbered
from provisioning.validation.exercise_check import apply_solution
from provisioning.workload.exercises import load_exercise
from tests.fake_world import FAKE_CA_DATA as CA_DATA
from tests.fake_world import World, kind_kubeconfig
from tests.fleet.test_aks_fleet import Cloud, fleet_of
from tests.fleet.test_fleet_kind import Machine, lab_folders, quiet
from tests.fleet.test_plan import ROOMY
from tests.test_aks_lab import no_network  # noqa: F401 (autouse: no socket is ever opened)

IDS = ["att01", "att02", "att03"]


# --- the sandbox: where an action may write ------------------------------------------------------


@dataclass
class Sandbox:
    """Everything an action could write to, under ``tmp_path``: the state root
    (``NETPOL_LAB_HOME``), ``$HOME``, the working folder and the temporary folder."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "m" / "state"

    def files(self) -> dict[Path, tuple[int, int]]:
        found = {}
        for path in self.root.rglob("*"):
            if path.is_file() or path.is_symlink():
                st = path.lstat()
                found[path] = (st.st_mtime_ns, st.st_size)
        return found


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    box = Sandbox(tmp_path)
    for folder in ("home", "cwd", "tmp"):
        (tmp_path / folder).mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("NETPOL_LAB_HOME", str(box.state))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.chdir(tmp_path / "cwd")
    for key in list(os.environ):
        if key.startswith("INVOKE_LAB_"):
            monkeypatch.delenv(key)
    return box


# --- kind's kubeconfig as kind writes it ---------------------------------------------------------


# --- the task, as the instructor runs it ---------------------------------------------------------


@dataclass
class Ran:
    code: int  # the task's exit code
    outcome: cli.Outcome | None  # what it emitted (None: it returned before, e.g. nothing to do)
    written: list[Path]  # files created, changed or removed (the temporary folder's left out)


class Instructor:
    """``invoke fleet ACTION --flags`` on the simulated machine: the task body of tasks.py with
    the machine's seams in place of ``cli.seams_for``'s. Checks, for every action, that its
    document is JSON as it is and that it wrote nowhere but where it may."""

    def __init__(self, m: Machine, box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
        self.m, self.box = m, box
        self.outcomes: list[cli.Outcome] = []
        self.seams_asked: list[tuple[str | None, Any]] = []
        real_emit = cli.emit

        def seams_for(fleet: Any, workers: Any) -> run.Seams:
            self.seams_asked.append((fleet.mode if fleet else None, workers))
            return run.Seams(
                m.runner,
                m.make_provider,
                m.settings,
                clock=m.clock,
                now=lambda: m.wall[0],
                workers=cli._workers(fleet, workers),
            )

        def emit(outcome: cli.Outcome, json_out: bool) -> None:
            self.outcomes.append(outcome)
            real_emit(outcome, json_out)

        monkeypatch.setattr(cli, "seams_for", seams_for)
        monkeypatch.setattr(cli, "emit", emit)
        monkeypatch.setattr(tasks, "_confirm", lambda: None)  # no terminal: --yes or refused

    def __call__(self, action: str, **flags: Any) -> Ran:
        tmp = self.box.root / "tmp"
        allowed = [self.box.state, tmp]
        allowed += [Path(flags[k]) for k in ("out", "html") if flags.get(k)]
        before = self.box.files()
        emitted = len(self.outcomes)
        code = 0
        try:
            tasks.fleet.body.__wrapped__(SimpleNamespace(config=SimpleNamespace()), action, **flags)
        except Exit as exc:
            code = exc.code
        finally:
            after = self.box.files()
            written = sorted(p for p in {*before, *after} if before.get(p) != after.get(p))
            outside = [p for p in written if not any(p.is_relative_to(a) for a in allowed)]
            assert outside == [], f"{action} wrote outside the state root and --out/--html"
            # The one temporary file: kind's private kubeconfig (sweep, read-only looks), 0600
            # and removed at exit (KindProvider._private_kubeconfig).
            for path in tmp.iterdir():
                assert path.name.startswith("netpol-lab-kubeconfig-"), path
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        written = [p for p in written if not p.is_relative_to(tmp)]
        outcome = self.outcomes[emitted] if len(self.outcomes) > emitted else None
        if outcome is not None and outcome.document is not None:
            json.dumps(outcome.document)  # --json without default=str
        return Ran(code, outcome, written)


@pytest.fixture
def kind(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Instructor:
    m = Machine(sandbox.root / "m", world=World())
    assert m.state_root == sandbox.state
    # The fleet is created now (tasks.py: no --created flag), so the machine's wall clock is now.
    m.wall[0] = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    monkeypatch.setattr(capacity_module, "host_capacity", lambda: ROOMY)
    return Instructor(m, sandbox, monkeypatch)


def fleet_record(fleet_id: str = "ws") -> Any:
    from provisioning.profiles import resolve

    return load_fleet(host_spec(resolve(flags={"name": fleet_id}), fleet_id))


def lock_file(m: Machine, fleet_id: str = "ws") -> Path:
    return m.state_root / fleet_id / "lock"


# --- 0. the fake's kind kubeconfig ---------------------------------------------------------------


def test_the_fake_kinds_kubeconfig_names_a_server_and_ca(sandbox: Sandbox) -> None:
    world = World()
    config = sandbox.root / "kind.yaml"
    config.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n")
    kubeconfig = sandbox.root / "kubeconfig"
    world.run(
        ["kind", "create", "cluster", "--name", "x", "--config", config, "--kubeconfig", kubeconfig]
    )
    _name, server, ca, _insecure = cluster_endpoint(kubeconfig, None)
    assert server.startswith("https://127.0.0.1:") and ca


def test_kind_kubeconfig_of_this_module_is_read_by_cluster_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(kind_kubeconfig("ws", 40001))
    assert cluster_endpoint(path, None) == ("kind-ws", "https://127.0.0.1:40001", CA_DATA, False)


# --- 1. kind, mode namespaces: one shared cluster, an exercise -----------------------------------


def test_a_room_of_three_on_one_kind_cluster_through_the_task(
    kind: Instructor, sandbox: Sandbox
) -> None:
    m = kind.m

    # Before up: status is one line naming `fleet up`; down is "nothing to remove".
    with pytest.raises(UsageError, match="no fleet 'ws' here; start it with"):
        kind("status")
    assert kind("down", yes=True) == Ran(0, cli.Outcome(), [])  # nothing found, nothing written

    first = kind("up", attendees=3, mode="namespaces", exercise="client-only")
    assert first.code == 0, first.outcome
    doc = first.outcome.document
    assert doc["ok"] and doc["mode"] == "namespaces" and doc["provider"] == "kind"
    assert [a["id"] for a in doc["attendees"]] == IDS
    assert {a["detail"] for a in doc["attendees"]} == {"validated"}
    assert doc["cluster"]["lab"] == "ws"
    assert sorted(m.world.clusters) == ["ws"]
    record = fleet_record()
    assert record is not None and record.exercise == "client-only" and record.phase == "ready"
    assert not lock_file(m).exists()
    assert kind.seams_asked[-1] == ("namespaces", None)

    # Again, without flags: the record's fleet, nothing created.
    creates = len([c for c in m.world.calls if c[:3] == ("kind", "create", "cluster")])
    again = kind("up")
    assert again.code == 0 and again.outcome.document["ok"]
    assert [a["id"] for a in again.outcome.document["attendees"]] == IDS
    assert len([c for c in m.world.calls if c[:3] == ("kind", "create", "cluster")]) == creates

    # A late joiner: the roster grows by one.
    late = kind("up", attendees=4)
    assert late.code == 0, late.outcome.message
    assert [a["id"] for a in late.outcome.document["attendees"]] == [*IDS, "att04"]
    assert [a.id for a in fleet_record().attendees] == [*IDS, "att04"]

    # Status with the dashboard; check exits 1 while anyone is not done.
    page = sandbox.root / "out" / "room.html"
    status = kind("status", html=str(page))
    assert status.code == 0
    rows = status.outcome.document["attendees"]
    assert [r["state"] for r in rows] == ["working"] * 4
    assert all(r["check"]["exercise"] == "client-only" for r in rows)
    assert page.is_file() and "att04" in page.read_text()
    assert f"dashboard: {page}" in status.outcome.text
    assert status.written == [page]

    check = kind("check")
    assert check.code == 1 and check.outcome.code == 1
    assert check.written == []

    # Every attendee solves it: check exits 0.
    fleet, _record = cli.known_fleet(m.base(), "ws")
    exercise = load_exercise("client-only")
    for i, attendee in enumerate(fleet.attendees):
        spec = run.attendee_spec(fleet, attendee, i)
        apply_solution(run.lab_context(fleet, spec, m.seams, quiet()), exercise)
    done = kind("check")
    assert done.code == 0
    assert [r["state"] for r in done.outcome.document["attendees"]] == ["done"] * 4

    # Reset one, then everyone: back at the baseline, so not done any more.
    one = kind("reset", attendee="att02")
    assert one.code == 0, one.outcome.message
    assert [a["id"] for a in one.outcome.document["attendees"]] == ["att02"]
    with pytest.raises(UsageError, match="--attendee ID"):
        kind("reset")
    everyone = kind("reset", all=True)
    assert everyone.code == 0, everyone.outcome.message
    assert [a["id"] for a in everyone.outcome.document["attendees"]] == [*IDS, "att04"]
    states = [r["state"] for r in kind("status").outcome.document["attendees"]]
    assert states == ["working"] * 4
    assert not lock_file(m).exists()

    # Kubeconfigs: the shared cluster's server and CA, a token of the attendee's account.
    out = sandbox.root / "out" / "kubeconfigs"
    issued = kind("kubeconfigs", out=str(out))
    assert issued.code == 0, issued.outcome.text
    cluster = m.world.clusters["ws"]
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"ws-{a}.kubeconfig" for a in [*IDS, "att04"]]
    for a in [*IDS, "att04"]:
        path = out / f"ws-{a}.kubeconfig"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        config = yaml.safe_load(path.read_text())
        (entry,) = config["clusters"]
        assert entry["cluster"] == {
            "server": f"https://127.0.0.1:{m.world.port('ws')}",
            "certificate-authority-data": CA_DATA,
        }
        (context,) = config["contexts"]
        assert context["context"]["namespace"] == f"demo-ws-{a}"
        token = config["users"][0]["user"]["token"]
        assert (
            cluster.token_subject(token) == f"system:serviceaccount:demo-ws-{a}:{SERVICE_ACCOUNT}"
        )
    rows = issued.outcome.document["kubeconfigs"]
    assert [r.get("note") for r in rows] == [None] * 4  # the token lives as long as the fleet
    assert set(issued.written) == {out / f"ws-{a}.kubeconfig" for a in [*IDS, "att04"]}
    again = kind("kubeconfigs", out=str(out), attendee="att03")
    assert again.code == 0 and [r["id"] for r in again.outcome.document["kubeconfigs"]] == ["att03"]

    # Down asks; --yes removes the shared cluster and every lab's folder; down again is quiet.
    with pytest.raises(UsageError, match="--yes"):
        kind("down")
    assert sorted(m.world.clusters) == ["ws"]
    gone = kind("down", yes=True)
    assert gone.code == 0, gone.outcome.message
    assert gone.outcome.document["removed"] == ["kind cluster ws"]
    assert m.world.clusters == {}
    assert lab_folders(m.state_root) == []
    assert kind("down", yes=True) == Ran(0, cli.Outcome(), [])  # nothing found, nothing written


# --- 2. kind, mode clusters: a cluster per attendee ----------------------------------------------


def test_three_kind_clusters_through_the_task(kind: Instructor, sandbox: Sandbox) -> None:
    m = kind.m

    up = kind("up", attendees=3, mode="clusters", no_validate=True, skip_canary=True)
    assert up.code == 0, up.outcome.message
    assert up.outcome.document["cluster"] is None
    assert sorted(m.world.clusters) == [f"ws-{a}" for a in IDS]
    assert kind.seams_asked[-1] == ("clusters", None)
    assert not lock_file(m).exists()

    status = kind("status")
    assert status.code == 0
    assert [r["state"] for r in status.outcome.document["attendees"]] == ["ready"] * 3

    out = sandbox.root / "out"
    issued = kind("kubeconfigs", out=str(out))
    assert issued.code == 0, issued.outcome.text
    for a in IDS:
        path = out / f"ws-{a}.kubeconfig"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        config = yaml.safe_load(path.read_text())
        assert config["current-context"] == f"ws-{a}-attendee@kind-ws-{a}"
        assert config["clusters"][0]["cluster"]["server"] == (
            f"https://127.0.0.1:{m.world.port(f'ws-{a}')}"
        )
    # Issued again over its own files.
    assert kind("kubeconfigs", out=str(out)).code == 0

    reset = kind("reset", attendee="att03", no_validate=True, skip_canary=True)
    assert reset.code == 0, reset.outcome.message
    assert [a["id"] for a in reset.outcome.document["attendees"]] == ["att03"]

    gone = kind("down", yes=True)
    assert gone.code == 0, gone.outcome.message
    assert sorted(gone.outcome.document["removed"]) == [f"ws-{a}" for a in IDS]
    assert m.world.clusters == {} and lab_folders(m.state_root) == []


# --- 3. AKS, mode clusters: the cost is confirmed before anything is created ----------------------


def priced_fleet(root: Path, count: int, mode: str = "clusters") -> Any:
    """``fleet_of``'s AKS fleet on the lab's default size, the one the shipped price table
    prices (``fleet_of`` uses Standard_D4s_v5, which the table leaves out)."""
    fleet = fleet_of(root, mode, count)
    aks = replace(fleet.base.aks, vm_size="Standard_D2s_v5")
    return replace(fleet, base=replace(fleet.base, aks=aks))


def aks_up(cloud: Cloud, fleet: Any, record: Any, *, yes: bool) -> cli.Outcome:
    return cli.up(
        fleet,
        record,
        cloud.seams(),
        quiet(),
        prices=None,
        yes=yes,
        confirm=None,
        validate=False,
        canary=False,
    )


@pytest.mark.parametrize(
    ("mode", "asked", "removed"),
    [
        ("clusters", "Create 3 AKS clusters for fleet ws (about $", [f"ws-{a}" for a in IDS]),
        ("namespaces", "Create 1 AKS cluster for fleet ws (about $", None),
    ],
)
def test_aks_clusters_are_created_only_with_yes(
    sandbox: Sandbox, mode: str, asked: str, removed: list[str] | None
) -> None:
    cloud = Cloud()
    fleet = priced_fleet(sandbox.root, 3, mode)
    before = sandbox.files()

    with pytest.raises(UsageError) as refused:
        aks_up(cloud, fleet, None, yes=False)
    line = str(refused.value)
    assert "\n" not in line
    assert line.startswith(asked), line
    assert "--yes" in line and "nothing was changed" in line
    assert cloud.arm.requests == [] and cloud.writes() == []
    assert not (sandbox.root / "state").exists()

    done = aks_up(cloud, fleet, None, yes=True)
    assert done.code == 0, done.message
    json.dumps(done.document)
    clusters = sorted(name for (_g, name) in cloud.arm.clusters)
    assert clusters == (removed or ["ws"])
    assert all(g["tags"].get(FLEET_TAG) == "ws" for g in cloud.arm.groups.values())
    assert not (sandbox.root / "state" / "ws" / "lock").exists()

    with pytest.raises(UsageError, match="--yes"):
        cli.down(fleet, cloud.seams(), quiet(), yes=False, confirm=None, no_wait=False)
    assert len(cloud.arm.clusters) == len(clusters)
    gone = cli.down(fleet, cloud.seams(), quiet(), yes=True, confirm=None, no_wait=False)
    assert gone.code == 0, gone.message
    json.dumps(gone.document)
    if removed:
        assert sorted(gone.document["removed"]) == removed
    else:
        assert "AKS cluster ws" in gone.document["removed"]
    assert cloud.arm.clusters == {} and cloud.arm.groups == {}
    assert lab_folders(sandbox.root / "state") == []
    after = sandbox.files()
    written = [p for p in {*before, *after} if before.get(p) != after.get(p)]
    assert [p for p in written if not p.is_relative_to(sandbox.root / "state")] == []


def test_a_late_joiner_on_aks_clusters_is_a_new_cluster_and_asks_first(sandbox: Sandbox) -> None:
    cloud = Cloud()
    fleet = priced_fleet(sandbox.root, 3)
    assert aks_up(cloud, fleet, None, yes=True).code == 0
    before = len(cloud.writes())

    grown, record = cli.known_fleet(fleet.base, "ws", people=numbered(4))
    assert record is not None and len(grown.attendees) == 4
    try:
        with pytest.raises(UsageError, match="--yes"):
            aks_up(cloud, grown, record, yes=False)
        assert len(cloud.writes()) == before
    finally:
        cli.down(grown, cloud.seams(), quiet(), yes=True, confirm=None, no_wait=False)


# --- 4. sweep ------------------------------------------------------------------------------------


def test_sweep_through_the_task_removes_the_expired_fleets_only(kind: Instructor) -> None:
    m = kind.m
    assert kind("up", attendees=2, mode="namespaces", fleet="old", no_validate=True).code == 0
    assert kind("up", attendees=1, mode="clusters", fleet="small", no_validate=True).code == 0
    long = kind("up", attendees=1, mode="clusters", fleet="long", expires="48h", no_validate=True)
    assert long.code == 0
    assert sorted(m.world.clusters) == ["long-att01", "old", "small-att01"]
    folders = lab_folders(m.state_root)

    m.wall[0] += dt.timedelta(hours=7)  # old's and small's 6h have passed, not long's 48h
    long_expires = fleet_record("long").expires
    dry = kind("sweep", dry_run=True)
    assert dry.code == 0
    actions = {r["what"]: r["action"] for r in dry.outcome.document["swept"]}
    assert actions == {
        "fleet long (clusters on kind)": f"kept: expires {long_expires}",
        "fleet old (namespaces on kind)": "would remove",
        "fleet small (clusters on kind)": "would remove",
    }
    assert dry.written == [] and lab_folders(m.state_root) == folders
    assert sorted(m.world.clusters) == ["long-att01", "old", "small-att01"]

    swept = kind("sweep")
    assert swept.code == 0, swept.outcome.text
    actions = {r["what"]: r["action"] for r in swept.outcome.document["swept"]}
    assert actions == {
        "fleet long (clusters on kind)": f"kept: expires {long_expires}",
        "fleet old (namespaces on kind)": "removed",
        "fleet small (clusters on kind)": "removed",
    }
    assert sorted(m.world.clusters) == ["long-att01"]
    assert lab_folders(m.state_root) == ["long", "long-att01"]
    assert not any((m.state_root / lab / "lock").exists() for lab in ("long", "long-att01"))
    assert kind.seams_asked[-1] == (None, None)


def test_the_longest_expiry_the_help_names_is_accepted(kind: Instructor) -> None:
    planned = kind("plan", attendees=2, mode="namespaces", expires="7d")
    doc = planned.outcome.document
    created = dt.datetime.strptime(doc["created"], "%Y-%m-%dT%H:%M:%SZ")
    expires = dt.datetime.strptime(doc["expires"], "%Y-%m-%dT%H:%M:%SZ")
    assert expires - created == dt.timedelta(days=7)


# --- 5. Ctrl-C -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    ["kind create cluster --name ws", "kind create cluster --name ws-att02"],
    ids=["shared-cluster", "an-attendees-cluster"],
)
def test_ctrl_c_during_up_releases_the_fleets_lock(kind: Instructor, where: str) -> None:
    m = kind.m
    mode = "namespaces" if where.endswith(" ws") else "clusters"
    m.world.interrupt.add(where)
    with pytest.raises(KeyboardInterrupt):
        kind("up", attendees=3, mode=mode, no_validate=True, workers=1)
    assert m.world.interrupt == set()
    assert not lock_file(m).exists()
    assert not any((m.state_root / lab / "lock").exists() for lab in lab_folders(m.state_root))
    record = fleet_record()
    assert record is not None and record.phase == "creating"

    gone = kind("down", yes=True)  # the same process: the lock is free
    assert gone.code == 0, gone.outcome.message
    assert m.world.clusters == {} and lab_folders(m.state_root) == []


def test_a_fleet_being_changed_is_busy_for_another_run(kind: Instructor) -> None:
    """The lock is the fleet's: while one `fleet up` holds it, another action that changes the
    fleet is one line, and nothing of the fleet changes."""
    from provisioning.lab.state import lab_lock

    m = kind.m
    assert kind("up", attendees=2, mode="clusters", no_validate=True).code == 0
    fleet, _record = cli.known_fleet(m.base(), "ws")
    with lab_lock(host_spec(fleet.base, "ws"), "invoke fleet up"):
        for action, flags in (
            ("up", {}),
            ("reset", {"all": True}),
            ("down", {"yes": True}),
        ):
            with pytest.raises(UsageError, match="lab ws is busy"):
                kind(action, **flags)
    assert sorted(m.world.clusters) == ["ws-att01", "ws-att02"]
    assert kind("down", yes=True).code == 0


@pytest.mark.parametrize("mode", ["namespaces", "clusters"])
def test_ctrl_c_during_down_releases_the_fleets_lock(kind: Instructor, mode: str) -> None:
    m = kind.m
    assert kind("up", attendees=2, mode=mode, no_validate=True).code == 0
    victim = "ws" if mode == "namespaces" else "ws-att01"
    m.world.interrupt.add(f"kind delete cluster --name {victim}")
    with pytest.raises(KeyboardInterrupt):
        kind("down", yes=True, workers=1)
    assert m.world.interrupt == set()
    assert not any((m.state_root / lab / "lock").exists() for lab in lab_folders(m.state_root))
    assert fleet_record() is not None  # the fleet is still known: down again finishes it

    gone = kind("down", yes=True)
    assert gone.code == 0, gone.outcome.message
    assert m.world.clusters == {} and lab_folders(m.state_root) == []


# --- 6. what a second `fleet up` is checked against ----------------------------------------------


def shrinking_host(m: Machine, room_for: int) -> Callable[[], Capacity]:
    """A host with memory for ``room_for`` fleet clusters beside itself; every kind cluster
    running takes one cluster's share of MemAvailable, as on a real host."""
    base = m.base()
    mib, _millicpu = cluster_need(base.engine, 1 + base.kind.workers)  # as plan_document asks

    def capacity() -> Capacity:
        free = HOST_RESERVE_MIB + mib * (room_for - len(m.world.clusters))
        return replace(ROOMY, mem_available=max(free, 0) * 1024 * 1024)

    return capacity


def test_up_again_counts_only_the_clusters_it_still_has_to_create(
    kind: Instructor, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = kind.m
    monkeypatch.setattr(capacity_module, "host_capacity", shrinking_host(m, room_for=4))
    assert kind("up", attendees=3, mode="clusters", no_validate=True).code == 0
    assert len(m.world.clusters) == 3  # room for one more

    again = kind("up", no_validate=True)  # nothing to create
    assert again.code == 0, again.outcome
    late = kind("up", attendees=4, no_validate=True)  # one more cluster: it fits
    assert late.code == 0, late.outcome
    assert len(m.world.clusters) == 4


def test_a_new_fleet_too_big_for_the_host_is_refused_before_anything(
    kind: Instructor, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = kind.m
    monkeypatch.setattr(capacity_module, "host_capacity", shrinking_host(m, room_for=2))
    with pytest.raises(UsageError, match="2 of 3 kind clusters fit on this host"):
        kind("up", attendees=3, mode="clusters")
    assert m.world.calls == [] and lab_folders(m.state_root) == []


def test_a_late_joiner_by_count_past_99_is_one_more_attendee(kind: Instructor) -> None:
    m = kind.m
    base = m.base()
    room = FleetSpec("ws", "namespaces", numbered(99), 6 * 3600.0, base, m.wall[0])
    RecordKeeper(
        host_spec(base, "ws"), record_of(room, kubeconfig=None, context=None)
    ).save()  # the record a 99-attendee `fleet up` left

    people = cli.attendees_of(100, None)  # tasks.py: `invoke fleet up --attendees 100`
    grown, record = cli.known_fleet(base, "ws", people=people, renumber=True)  # as tasks.py
    assert record is not None
    assert len(grown.attendees) == 100
    assert grown.attendees[:99] == room.attendees
    assert grown.attendees[-1].id == "att100"
    # A roster's own ids are never renumbered: "att1" there is a person of its own.
    mixed, _ = cli.known_fleet(base, "ws", people=(Attendee("att1"),))
    assert [a.id for a in mixed.attendees][-1] == "att1" and len(mixed.attendees) == 100


# --- 7. status --watch ---------------------------------------------------------------------------


@pytest.fixture
def exercise_room(kind: Instructor, monkeypatch: pytest.MonkeyPatch) -> Instructor:
    """Two attendees working on client-only; the watch loop's sleep is where Ctrl-C lands."""
    up = kind("up", attendees=2, mode="namespaces", exercise="client-only", no_validate=True)
    assert up.code == 0, up.outcome

    def ctrl_c(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.time, "sleep", ctrl_c)
    return kind


def test_check_watch_stopped_with_ctrl_c_exits_with_its_verdict(exercise_room: Instructor) -> None:
    ran = exercise_room("check", watch="2s")
    assert ran.code == 1


def test_status_watch_with_json_prints_one_json_document(
    exercise_room: Instructor, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    ran = exercise_room("status", watch="2s", json=True)
    out = capsys.readouterr().out
    assert ran.code == 0
    assert "\x1b[" not in out
    assert json.loads(out)["fleet"] == "ws"


# --- 8. a fleet whose record is gone ---------------------------------------------------------


def damage(path: Path) -> None:
    """A record the tool wrote (same file, size and time) that no longer reads as a record."""
    st = path.stat()
    text = path.read_text()
    assert '"phase": "ready"' in text
    path.write_text(text.replace('"phase": "ready"', '"phase": "ruin!"'))  # the same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_down_with_a_damaged_record_still_removes_the_fleets_labelled_clusters(
    kind: Instructor,
) -> None:
    m = kind.m
    assert kind("up", attendees=2, mode="clusters", no_validate=True).code == 0
    damage(m.state_root / "ws" / "fleet.json")
    with pytest.raises(UsageError, match="fleet down --fleet ws` still removes the fleet"):
        kind("status")

    kind("down", yes=True)
    assert m.world.clusters == {}


def test_down_without_the_record_still_removes_the_fleets_labelled_clusters(
    kind: Instructor,
) -> None:
    m = kind.m
    assert kind("up", attendees=2, mode="clusters", no_validate=True).code == 0
    (m.state_root / "ws" / "fleet.json").rename(m.root / "fleet.json.moved")

    kind("down", yes=True)
    assert m.world.clusters == {}


def test_down_without_the_record_leaves_other_fleets_and_forgets_the_labs(
    kind: Instructor,
) -> None:
    m = kind.m
    assert kind("up", attendees=2, mode="namespaces", no_validate=True).code == 0
    assert kind("up", fleet="other", attendees=1, mode="clusters", no_validate=True).code == 0
    (m.state_root / "ws" / "fleet.json").unlink()

    gone = kind("down", yes=True)
    assert gone.code == 0 and gone.outcome is not None
    assert gone.outcome.document["removed"] == ["kind cluster ws"]
    assert sorted(m.world.clusters) == ["other-att01"]  # another fleet's is not touched
    assert sorted(lab_folders(m.state_root)) == ["other", "other-att01"]


def test_an_expired_fleet_is_not_brought_up_again(kind: Instructor) -> None:
    m = kind.m
    assert kind("up", attendees=1, mode="namespaces", no_validate=True).code == 0
    m.wall[0] += dt.timedelta(hours=7)
    with pytest.raises(UsageError, match=r"fleet ws expired at .*fleet down --fleet ws"):
        kind("up")


# --- 9. the attendees' tokens --------------------------------------------------------------------


def test_a_token_the_server_did_not_shorten_carries_no_note(
    kind: Instructor, sandbox: Sandbox
) -> None:
    m = kind.m
    assert kind("up", attendees=1, mode="namespaces", no_validate=True).code == 0
    # The API server's clock is the instructor's, half a second past a whole second.
    m.wall[0] += dt.timedelta(minutes=5, milliseconds=500)
    m.world.clusters["ws"].clock = lambda: m.wall[0].timestamp()
    assert m.world.clusters["ws"].max_token_expiration is None  # nothing shortens tokens

    out = sandbox.root / "out"
    issued = kind("kubeconfigs", out=str(out))
    assert issued.code == 0
    (row,) = issued.outcome.document["kubeconfigs"]
    assert row["token_expires"] <= fleet_record().expires
    assert "note" not in row, row["note"]
    assert "shortened" not in issued.outcome.text
