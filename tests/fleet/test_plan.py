"""``invoke fleet plan``: attendees, names, access, subnets, capacity and cost, offline.

The plan runs through the real Invoke program (``tasks.py``) and the real modules; only the
host's capacity is injected where a test must not depend on this machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provisioning.errors import UsageError
from provisioning.fleet import capacity as capacity_module
from provisioning.fleet.capacity import Capacity
from provisioning.fleet.plan import (
    FLEET_LABEL,
    FleetSpec,
    check_expiry,
    check_fleet_id,
    choose_mode,
    plan_document,
)
from provisioning.fleet.rbac import authorize
from provisioning.fleet.roster import Attendee, load_roster, numbered
from provisioning.spec import LABEL_LAB, LabSpec
from tests.existing.test_cli import Cli

ROOMY = Capacity(64 * 2**30, 32, 1048576, 8192)
TINY = Capacity(2 * 2**30, 2, 8192, 128)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("NETPOL_LAB_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("CI", "true")
    monkeypatch.chdir(tmp_path)
    return Cli(capsys)


def fleet(count: int = 30, mode: str = "namespaces", **base: Any) -> FleetSpec:
    return FleetSpec("ws1", mode, numbered(count), 6 * 3600, LabSpec(name="ws1", **base))


# --- the roster ---------------------------------------------------------------------------------


def test_numbered_attendees_are_zero_padded_and_bounded() -> None:
    assert [a.id for a in numbered(3)] == ["att01", "att02", "att03"]
    assert numbered(100)[-1].id == "att100"
    for bad in (0, -1, 201, "many", True, 2.5):
        with pytest.raises(UsageError, match="--attendees"):
            numbered(bad)


def test_a_plain_roster_with_names_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "room.txt"
    path.write_text("# the Tuesday room\nalice, Alice A.\n\nbob\ncarol,   Carol C.  # late\n")
    assert load_roster(path) == (
        Attendee("alice", "Alice A."),
        Attendee("bob", ""),
        Attendee("carol", "Carol C."),
    )


@pytest.mark.parametrize(
    ("text", "suffix", "fragment"),
    [
        ("alice\nalice\n", ".txt", "attendee id 'alice' is listed twice"),
        ("Alice\n", ".txt", "line 1: id 'Alice' must be lower-case"),
        ("a" * 21 + "\n", ".txt", "at most 20 characters"),
        ("", ".txt", "no attendees"),
        ("{a: 1}", ".yaml", "expected a list of attendee ids"),
        ("- {id: bob, email: x}", ".yaml", "[0]: unknown key 'email'"),
        ("- {name: Bob}", ".yaml", "[0]: id is missing"),
        ("- [1, 2]", ".yaml", "[0]: expected an id or {id, name}, got list"),
        ('- {id: bob, name: "a\\nb"}', ".yaml", "name must be one printable line"),
    ],
)
def test_a_broken_roster_is_one_line_naming_the_entry(
    tmp_path: Path, text: str, suffix: str, fragment: str
) -> None:
    path = tmp_path / f"room{suffix}"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_roster(path)
    assert fragment in str(caught.value)
    assert str(path) in str(caught.value)


# --- the fleet's settings -----------------------------------------------------------------------


def test_fleet_id_mode_and_expiry_rules() -> None:
    assert check_fleet_id("ws-1") == "ws-1"
    for bad in ("WS", "-ws", "a" * 21, "ws_1", ""):
        with pytest.raises(UsageError, match="--fleet"):
            check_fleet_id(bad)
    assert choose_mode(None, numbered(9), True) == "clusters"
    assert choose_mode(None, numbered(10), True) == "namespaces"
    assert choose_mode(None, numbered(2), False) == "namespaces"  # a cluster you already have
    with pytest.raises(UsageError, match="a cluster you already have is one cluster"):
        choose_mode("clusters", numbered(2), False)
    with pytest.raises(UsageError, match="unknown mode"):
        choose_mode("vms", numbered(2), True)
    assert check_expiry(600) == 600
    for bad in (599, 8 * 24 * 3600):
        with pytest.raises(UsageError, match="--expires"):
            check_expiry(bad)


# --- mode namespaces ----------------------------------------------------------------------------


def test_namespaces_mode_gives_each_attendee_their_own_namespaces_and_access() -> None:
    spec = fleet(30)
    doc = plan_document(spec)
    rows = doc["attendees"]
    assert len(rows) == 30 and doc["clusters"] == 1
    every = [n for row in rows for n in row["namespaces"]]
    assert len(every) == len(set(every)) == 90
    assert all(len(n) <= 63 for n in every)
    assert rows[0]["namespaces"] == ["canary-ws1-att01", "demo-ws1-att01", "other-ws1-att01"]
    # Access in demo and other only (a policy in the canary's namespace would break the check).
    assert rows[0]["access"] == [
        "ServiceAccount/demo-ws1-att01/attendee",
        "Role/demo-ws1-att01/netpol-lab-attendee",
        "RoleBinding/demo-ws1-att01/netpol-lab-attendee",
        "Role/other-ws1-att01/netpol-lab-attendee",
        "RoleBinding/other-ws1-att01/netpol-lab-attendee",
    ]
    assert doc["labels"] == {FLEET_LABEL: "ws1"}
    assert doc["expires"] > doc["created"]
    assert {"networkpolicies"} <= {r for rule in doc["attendee_access"] for r in rule["resources"]}


def test_one_attendee_cannot_touch_anothers_lab() -> None:
    from provisioning.fleet.plan import attendee_access_namespaces
    from provisioning.fleet.rbac import attendee_rbac

    spec = fleet(2)
    alice, bob = spec.attendees
    objects = []
    for who in (alice, bob):
        lab = spec.lab_name(who)
        objects += attendee_rbac(
            lab, attendee_access_namespaces(spec, who), labels={LABEL_LAB: lab}
        )
    as_alice = ("demo-ws1-att01", "attendee")
    assert authorize(
        objects, as_alice, "create", "networking.k8s.io", "networkpolicies", "demo-ws1-att01"
    )
    for namespace in ("demo-ws1-att02", "other-ws1-att02", "canary-ws1-att01", "kube-system"):
        assert not authorize(
            objects, as_alice, "list", "networking.k8s.io", "networkpolicies", namespace
        ), namespace
    assert not authorize(objects, as_alice, "list", "", "namespaces", "")


# --- mode clusters ------------------------------------------------------------------------------


def test_clusters_mode_on_kind_has_disjoint_subnets_and_a_capacity_verdict() -> None:
    import ipaddress

    doc = plan_document(fleet(30, "clusters"), capacity=ROOMY)
    nets = [
        ipaddress.ip_network(r[k])
        for r in doc["attendees"]
        for k in ("pod_subnet", "service_subnet")
    ]
    assert len(nets) == 60
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    assert doc["capacity"]["wanted"] == 30
    tight = plan_document(fleet(30, "clusters"), capacity=TINY)
    assert tight["capacity"]["ok"] is False


def test_aks_plans_carry_a_labelled_estimate() -> None:
    clusters = plan_document(fleet(30, "clusters", provider="aks", engine="azure"))
    shared = plan_document(fleet(30, "namespaces", provider="aks", engine="azure"))
    assert clusters["cost"]["total_usd"] == 41.4  # 30 x 2 x Standard_D2s_v5 x 6 h x $0.115
    assert shared["cost"]["total_usd"] == 1.38
    assert any("estimate" in line for line in clusters["cost"]["lines"])


# --- through invoke -----------------------------------------------------------------------------


def test_invoke_fleet_plan_json_for_30_attendees(cli: Cli) -> None:
    ran = cli("fleet", "plan", "--attendees", "30", "--mode", "namespaces", "--json")
    assert ran.code == 0, ran.err
    doc = ran.json()
    assert doc["mode"] == "namespaces" and len(doc["attendees"]) == 30


def test_invoke_fleet_plan_clusters_blocks_when_the_host_is_too_small(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capacity_module, "host_capacity", lambda: TINY)
    ran = cli("fleet", "plan", "--attendees", "30", "--mode", "clusters")
    assert ran.code == 2
    assert "Capacity: 30 kind clusters wanted" in ran.out
    [line] = ran.err.strip().splitlines()
    assert line.startswith("✗ ") and "use --mode namespaces" in line
    monkeypatch.setattr(capacity_module, "host_capacity", lambda: ROOMY)
    assert cli("fleet", "plan", "--attendees", "30", "--mode", "clusters").code == 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("plan",), "give one of --attendees N and --roster FILE"),
        (("plan", "--attendees", "3", "--roster", "x"), "give one of --attendees N and --roster"),
        (("launch", "--attendees", "3"), "invoke fleet"),
        (("plan", "--attendees", "3", "--expires", "5m"), "--expires"),
        (("plan", "--attendees", "3", "--fleet", "Bad"), "--fleet"),
        (("plan", "--attendees", "3", "--provider", "existing", "--mode", "clusters"), "--mode"),
    ],
)
def test_bad_fleet_plans_are_one_line_exit_2(
    cli: Cli, args: tuple[str, ...], fragment: str
) -> None:
    ran = cli("fleet", *args)
    assert ran.code == 2, ran.out + ran.err
    [line] = ran.err.strip().splitlines()
    assert fragment in line


def test_aks_names_that_aks_would_refuse_are_refused_before_anything_is_made() -> None:
    from provisioning.fleet.plan import check_names

    people = (Attendee("a-very-long-attendee"),)  # 20 characters, as is the fleet id below
    aks = LabSpec(provider="aks")
    check_names(FleetSpec("workshop-2026-berlin", "clusters", numbered(3), 3600, aks))
    long = FleetSpec("workshop-2026-berlin", "clusters", people, 3600, aks)
    with pytest.raises(UsageError, match=r"node resource group .* characters, at most 80"):
        check_names(long)
    # On one shared cluster only the fleet's own cluster is named in Azure.
    check_names(FleetSpec("workshop-2026-berlin", "namespaces", people, 3600, aks))
    check_names(FleetSpec("workshop-2026-berlin", "clusters", people, 3600, LabSpec()))
