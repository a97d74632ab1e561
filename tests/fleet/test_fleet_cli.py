"""``invoke fleet up|status|check|kubeconfigs|reset|down`` as an instructor runs them.

The real tasks (tasks.py through Invoke's ``Program``), the real ``ClientKube`` and the real lab
pipeline talk HTTP to the API emulator (tests/kube_emulator.py) standing in for a cluster the
instructor already has (mode namespaces on provider ``existing``): seeded with the Tigera
operator's Calico and a user's own objects, its kubelet mode starting pods, its namespace
controller deleting what is in a deleted namespace, its TokenRequest answering as the API server
does. Only the probes are a ``PolicyNetwork`` reading the emulator with its own credentials.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.fleet.plan import EXPIRES_ANNOTATION, FLEET_LABEL, parse_time
from provisioning.fleet.rbac import BINDING_NAME, ROLE_NAME, SERVICE_ACCOUNT
from provisioning.spec import LABEL_LAB, LABEL_MANAGED_BY, TOOL
from tests.existing import test_cli as existing
from tests.existing.test_cli import Cli, Cluster, load, seed, users_own

# The emulator, the Invoke program and the probes, as the existing-cluster CLI tests set them up.
cli = existing.cli
cluster = existing.cluster
probes = existing.probes

IDS = ("att01", "att02", "att03")


def labs_of_fleet(cluster: Cluster) -> dict[Any, Any]:
    return {
        k: v
        for k, v in cluster.emu.objects.items()
        if (v.get("metadata", {}).get("labels") or {}).get(FLEET_LABEL) == "ws"
    }


def on(cluster: Cluster, *more: str) -> list[str]:
    return [
        "--provider",
        "existing",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--context",
        "users",
        *more,
    ]


def not_fleets(cluster: Cluster) -> dict[str, Any]:
    """Every object that is not a fleet lab's (the user's own, the engine's)."""
    return json.loads(
        json.dumps(
            {
                str(k): v
                for k, v in cluster.emu.objects.items()
                if (v.get("metadata", {}).get("labels") or {}).get(LABEL_MANAGED_BY) != TOOL
            }
        )
    )


@pytest.fixture
def room(cli: Cli, cluster: Cluster, probes: Any) -> Cluster:
    seed(cluster.emu, [*load("calico-operator.yaml"), *users_own()])
    probes(cluster.network(enforcing=True, engine="calico"))
    return cluster


def test_a_room_on_a_cluster_you_already_have(cli: Cli, room: Cluster, tmp_path: Path) -> None:
    before = not_fleets(room)

    ran = cli("fleet", "up", *on(room), "--attendees", "3", "--expires", "2h", "--json")
    assert ran.code == 0, ran.err
    doc = ran.json()
    assert doc["ok"] and [a["id"] for a in doc["attendees"]] == list(IDS)
    assert all(a["detail"] == "validated" for a in doc["attendees"])
    assert "✓ Fleet ws: 3 of 3 labs validated" in ran.err
    for i in IDS:
        lab = f"ws-{i}"
        for logical in ("demo", "other", "canary"):
            ns = room.emu.objects[("v1", "", "namespaces", f"{logical}-{lab}")]
            assert ns["metadata"]["labels"][FLEET_LABEL] == "ws"
            assert ns["metadata"]["labels"][LABEL_LAB] == lab
            assert parse_time(ns["metadata"]["annotations"][EXPIRES_ANNOTATION]) is not None
        keys = {k for k in room.emu.objects if k[1] in (f"demo-{lab}", f"other-{lab}")}
        assert ("v1", f"demo-{lab}", "serviceaccounts", SERVICE_ACCOUNT) in keys
        for logical in ("demo", "other"):
            rbac = "rbac.authorization.k8s.io/v1"
            assert (rbac, f"{logical}-{lab}", "roles", ROLE_NAME) in keys
            assert (rbac, f"{logical}-{lab}", "rolebindings", BINDING_NAME) in keys
        canary = {k for k in room.emu.objects if k[1] == f"canary-{lab}"}
        assert not [k for k in canary if k[2] in ("roles", "rolebindings")]
    assert not_fleets(room) == before  # the user's namespaces, pod and policy untouched

    # Again: every lab is as desired; nothing new is created.
    ran = cli("fleet", "up", *on(room), "--json")
    assert ran.code == 0, ran.err
    assert ran.json()["ok"]

    # Status, with the dashboard.
    page = tmp_path / "room.html"
    ran = cli("fleet", "status", *on(room), "--json", "--html", str(page))
    assert ran.code == 0, ran.err
    status = ran.json()
    assert [r["state"] for r in status["attendees"]] == ["ready"] * 3
    assert status["summary"]["attendees"] == 3 and not status["expired"]
    assert "att02" in page.read_text()

    # Kubeconfigs: one per attendee, 0600, a token the API server knows for their account.
    out = tmp_path / "kubeconfigs"
    ran = cli("fleet", "kubeconfigs", *on(room), "--out", str(out))
    assert ran.code == 0, ran.err
    for i in IDS:
        path = out / f"ws-{i}.kubeconfig"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        config = yaml.safe_load(path.read_text())
        (context,) = config["contexts"]
        assert context["context"]["namespace"] == f"demo-ws-{i}"
        token = config["users"][0]["user"]["token"]
        subject = room.emu.token_subject(token)
        assert subject == f"system:serviceaccount:demo-ws-{i}:{SERVICE_ACCOUNT}"
        assert config["clusters"][0]["cluster"]["server"] == room.emu.url
    # A lost kubeconfig is issued again; a file that is not the tool's is never replaced.
    (out / "ws-att01.kubeconfig").unlink()
    assert (
        cli("fleet", "kubeconfigs", *on(room), "--out", str(out), "--attendee", "att01").code == 0
    )
    assert (out / "ws-att01.kubeconfig").is_file()
    (out / "ws-att02.kubeconfig").write_text("my notes\n")
    ran = cli("fleet", "kubeconfigs", *on(room), "--out", str(out))
    assert ran.code == 2
    [line] = ran.err.strip().splitlines()
    assert "ws-att02.kubeconfig exists and is not att02's kubeconfig" in line
    assert (out / "ws-att02.kubeconfig").read_text() == "my notes\n"

    # An attendee's own policy; reset of another attendee leaves it; reset of theirs removes it.
    mine = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "mine", "namespace": "demo-ws-att02"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    room.emu.seed(mine)
    key = ("networking.k8s.io/v1", "demo-ws-att02", "networkpolicies", "mine")
    assert cli("fleet", "reset", *on(room), "--attendee", "att01").code == 0
    assert key in room.emu.objects
    ran = cli("fleet", "reset", *on(room), "--attendee", "att02", "--json")
    assert ran.code == 0, ran.err
    assert ran.json()["attendees"][0]["detail"] == "1 change"
    assert key not in room.emu.objects
    assert ("v1", "demo-ws-att02", "serviceaccounts", SERVICE_ACCOUNT) in room.emu.objects

    # A late joiner: the same room with one more.
    ran = cli("fleet", "up", *on(room), "--attendees", "4", "--json")
    assert ran.code == 0, ran.err
    assert [a["id"] for a in ran.json()["attendees"]] == [*IDS, "att04"]

    # Down: every fleet namespace goes, the user's objects stay, the record goes; twice is quiet.
    ran = cli("fleet", "down", *on(room), "--yes")
    assert ran.code == 0, ran.err
    assert not labs_of_fleet(room)
    assert not_fleets(room) == before
    state = tmp_path / "state"
    assert not [p for p in state.rglob("*") if p.is_file()] if state.exists() else True
    ran = cli("fleet", "down", *on(room), "--yes")
    assert ran.code == 0, ran.err
    assert "Nothing to remove: no fleet 'ws' here." in ran.err


def test_status_before_up_and_a_changed_setting_are_one_line_exit_2(
    cli: Cli, room: Cluster
) -> None:
    ran = cli("fleet", "status", *on(room))
    assert ran.code == 2
    [line] = ran.err.strip().splitlines()
    assert "no fleet 'ws' here; start it with `invoke fleet up --fleet ws" in line

    assert cli("fleet", "up", *on(room), "--attendees", "2", "--no-validate").code == 0
    for extra, fragment in (
        (("--mode", "clusters"), "--mode"),
        (("--expires", "3h"), "--expires"),
        (("--exercise", "client-only"), "--exercise"),
    ):
        ran = cli("fleet", "up", *on(room), *extra)
        assert ran.code == 2, (extra, ran.err)
        [line] = ran.err.strip().splitlines()
        assert fragment in line
    ran = cli("fleet", "reset", *on(room))
    assert ran.code == 2 and "--attendee ID" in ran.err
    ran = cli("fleet", "check", *on(room))
    assert ran.code == 2 and "not an exercise: there is nothing to grade" in ran.err
    ran = cli("fleet", "reset", *on(room), "--attendee", "nobody")
    assert ran.code == 2 and "no attendee 'nobody' in fleet ws" in ran.err
    ran = cli("fleet", "kubeconfigs", *on(room))
    assert ran.code == 2 and "--out" in ran.err
    ran = cli("fleet", "up", *on(room), "--workers", "0")
    assert ran.code == 2 and "--workers" in ran.err
    assert cli("fleet", "down", *on(room), "--yes").code == 0


def test_check_grades_every_attendee_and_exits_1_until_all_are_done(
    cli: Cli, room: Cluster
) -> None:
    ran = cli("fleet", "up", *on(room), "--attendees", "2", "--exercise", "client-only")
    assert ran.code == 0, ran.err
    ran = cli("fleet", "check", *on(room), "--json")
    assert ran.code == 1
    doc = ran.json()
    for row in doc["attendees"]:
        assert row["state"] == "working"
        assert row["check"]["exercise"] == "client-only" and not row["check"]["done"]
        assert row["check"]["failing"]
    ran = cli("fleet", "status", *on(room))
    assert ran.code == 0 and "0 done, 2 working" in ran.out
    assert cli("fleet", "down", *on(room), "--yes").code == 0


def test_the_shared_client_keeps_a_connection_per_attendee_at_once(cluster: Cluster) -> None:
    """urllib3 warns ("Connection pool is full, discarding connection") when more threads than
    the pool's maxsize use one client; the fleet's client is sized for its workers."""
    from provisioning.fleet.cli import seams_for
    from provisioning.kube import ClientKube

    big = ClientKube(cluster.kubeconfig, "users", pool_size=64)
    assert big._api_client().rest_client.pool_manager.connection_pool_kw["maxsize"] == 64
    assert (
        ClientKube(cluster.kubeconfig, "users", pool_size=2)
        ._api_client()
        .rest_client.pool_manager.connection_pool_kw["maxsize"]
        >= 2
    )
    seams = seams_for(None, "40")
    assert seams.workers == 40


def test_the_fleets_runner_runs_at_most_its_limit_of_commands_at_once() -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from provisioning.fleet.run import BoundedRunner

    running, peak, lock = [0], [0], threading.Lock()

    class Slow:
        def run(self, argv: Any, **_: Any) -> str:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.02)
            with lock:
                running[0] -= 1
            return " ".join(argv)

        def which(self, program: str) -> str:
            return f"/bin/{program}"

    runner = BoundedRunner(Slow(), limit=3)
    with ThreadPoolExecutor(max_workers=12) as pool:
        done = list(pool.map(lambda i: runner.run(["kubectl", str(i)]), range(24)))
    assert done == [f"kubectl {i}" for i in range(24)]
    assert peak[0] == 3
    assert runner.which("kubectl") == "/bin/kubectl"
