"""A workshop fleet on AKS: ``fleet up``/``fleet down`` through the fake ARM, and the Azure sweep.

The real Azure SDK runs against ``tests/aks/fake_arm.py`` and the real lab pipeline runs each
attendee's lab against a cluster of its own (``ClusterKube``: an ``AksNodes`` whose engine is its
own cluster's), reachable only through the kubeconfig ``up`` wrote from that cluster's user
credentials. Time inside each lab is simulated; the dataplane is ``PolicyNetwork`` over that
cluster, enforcing. Attendees run in threads, as ``fleet up`` runs them.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from pathlib import Path
from typing import Any

import pytest

from provisioning.errors import OperationError, UsageError
from provisioning.fleet.plan import EXPIRES_TAG, FLEET_TAG, FleetSpec
from provisioning.fleet.roster import Attendee, numbered
from provisioning.fleet.run import Seams, attendee_spec, fleet_down, fleet_up, shared_cluster
from provisioning.lab.observe import lab_namespaces
from provisioning.lab.state import load_record
from provisioning.progress import Progress
from provisioning.providers.aks.gateway import AksGateway, _azure_errors
from provisioning.providers.aks.provider import make as make_aks
from provisioning.providers.aks.sweep import sweep_groups
from provisioning.providers.aks.tags import tool_tags
from provisioning.providers.existing.provider import ExistingProvider
from provisioning.spec import AksSettings, LabSpec, Timeouts
from tests.aks.conftest import load
from tests.aks.fake_arm import FakeArm, FakeCredential
from tests.fake_kube import FakeKube
from tests.fake_network import PolicyNetwork
from tests.test_aks_lab import AksNodes, NoCommands, no_network  # noqa: F401 (autouse)

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
CREATED = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
HOURS = 6
EXPIRES = "2026-12-01T15:00:00Z"  # CREATED + HOURS


# --- one cluster per lab, one fake ARM for the subscription ---------------------------------


class _OwnCluster:
    """What ``AksNodes`` reads of the ARM: only its own cluster (its engine decides agents)."""

    def __init__(self, arm: FakeArm, group: str, name: str) -> None:
        self._arm, self._key = arm, (group.lower(), name.lower())

    @property
    def clusters(self) -> dict[tuple[str, str], dict[str, Any]]:
        found = self._arm.clusters.get(self._key)
        return {self._key: found} if found else {}


class ClusterKube(AksNodes):
    """One AKS cluster's API; one call at a time, as the attendees of a shared cluster call it
    from many threads."""

    def __init__(self, nodes: int = 3) -> None:
        super().__init__(nodes)
        self._call = threading.RLock()

    def get(self, *args: Any, **kwargs: Any) -> Any:
        with self._call:
            return super().get(*args, **kwargs)

    def list(self, *args: Any, **kwargs: Any) -> Any:
        with self._call:
            return super().list(*args, **kwargs)

    def apply(self, *args: Any, **kwargs: Any) -> Any:
        with self._call:
            return super().apply(*args, **kwargs)

    def create(self, *args: Any, **kwargs: Any) -> Any:
        with self._call:
            return super().create(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        with self._call:
            return super().delete(*args, **kwargs)

    def request_token(self, *args: Any, **kwargs: Any) -> Any:
        with self._call:
            return super().request_token(*args, **kwargs)


class Cloud:
    """The fake ARM, a ``ClusterKube`` per cluster, and the fleet's seams over them."""

    def __init__(self, **arm: Any) -> None:
        self.arm = FakeArm(versions={"westeurope": load("kubernetes_versions.json")}, **arm)
        self.credential = FakeCredential()
        self.kubes: dict[str, ClusterKube] = {}
        self.polling_interval = 0.0  # the SDK's seconds between polls (the fake records them)
        self._lock = threading.Lock()

    def gateway_factory(self, subscription: str) -> AksGateway:
        return AksGateway(
            subscription,
            self.credential,
            transport=self.arm,
            polling_interval=self.polling_interval,
        )

    def gateway(self) -> AksGateway:
        return self.gateway_factory(SUBSCRIPTION)

    def kube(self, cluster: str) -> ClusterKube:
        """The API of cluster ``cluster`` (an AKS lab's name; its group is ``<name>-rg``)."""
        with self._lock:
            if cluster not in self.kubes:
                kube = ClusterKube()
                kube.arm = _OwnCluster(self.arm, f"{cluster}-rg", cluster)  # type: ignore[assignment]
                self.kubes[cluster] = kube
            return self.kubes[cluster]

    def kube_factory(self, path: Path) -> FakeKube:
        # Like a real client: only a kubeconfig from a cluster's credentials reaches a cluster,
        # the one whose lab folder holds it.
        path = Path(path)
        if path.is_file() and path.read_bytes() == self.arm.kubeconfig:
            return self.kube(path.parent.name)
        gone = FakeKube()
        gone.unreachable = True
        return gone

    def cluster_of(self, spec: LabSpec) -> str:
        if spec.provider == "existing":
            assert spec.existing.kubeconfig is not None
            return spec.existing.kubeconfig.parent.name
        return spec.name

    def make_provider(self, spec: LabSpec, read_only: bool) -> Any:
        if spec.provider == "existing":
            return ExistingProvider(kube_factory=lambda path, _context: self.kube_factory(path))
        return make_aks(spec, gateway_factory=self.gateway_factory, kube_factory=self.kube_factory)

    def context_settings(self, spec: LabSpec) -> dict[str, Any]:
        now = [0.0]  # each lab's own simulated time
        return {
            "clock": lambda: now[0],
            "sleep": lambda s: now.__setitem__(0, now[0] + max(s, 0.25)),
            "poll_interval": 0,
            "probe_executor": PolicyNetwork(self.kube(self.cluster_of(spec)), enforcing=True),
        }

    def seams(self, workers: int = 30) -> Seams:
        return Seams(
            runner=NoCommands(),
            make_provider=self.make_provider,
            context_settings=self.context_settings,
            now=lambda: CREATED,
            workers=workers,
        )

    def group(self, name: str) -> dict[str, Any] | None:
        return self.arm.groups.get(name.lower())

    def cluster(self, group: str, name: str) -> dict[str, Any] | None:
        return self.arm.clusters.get((group.lower(), name.lower()))

    def writes(self) -> list[Any]:
        """Every change sent to ARM (reading the user credentials is a POST that changes none)."""
        changes = [r for r in self.arm.requests if r.method in ("PUT", "PATCH", "POST", "DELETE")]
        return [r for r in changes if not r.path.lower().endswith("/listclusterusercredential")]


def base_spec(tmp_path: Path, engine: str = "calico") -> LabSpec:
    return LabSpec(
        name="ws",
        provider="aks",
        engine=engine,
        aks=AksSettings(
            subscription_id=SUBSCRIPTION,
            location="westeurope",
            node_count=3,
            vm_size="Standard_D4s_v5",
            tags={"team": "workshop"},
        ),
        # The fakes settle within a few reads (simulated time); the SDK's waits are real.
        timeouts=Timeouts(cluster=120, engine=30, workload=30),
        state_root=tmp_path / "state",
    )


def fleet_of(tmp_path: Path, mode: str, count: int, engine: str = "calico") -> FleetSpec:
    return FleetSpec(
        "ws", mode, numbered(count), HOURS * 3600.0, base_spec(tmp_path, engine), CREATED
    )


def quiet() -> Progress:
    return Progress(io.StringIO(), spinner=False)


def up(cloud: Cloud, fleet: FleetSpec, **kwargs: Any) -> Any:
    return fleet_up(fleet, cloud.seams(), quiet(), stream=io.StringIO(), live=False, **kwargs)


def down(cloud: Cloud, fleet: FleetSpec) -> Any:
    return fleet_down(fleet, cloud.seams(), quiet(), stream=io.StringIO(), live=False)


def fleet_tags(tags: dict[str, str] | None) -> dict[str, str]:
    tags = tags or {}
    return {k: tags[k] for k in (FLEET_TAG, EXPIRES_TAG) if k in tags}


# --- mode clusters: an AKS cluster per attendee, each in its own resource group ------------------


def test_thirty_attendees_get_a_cluster_each_in_a_group_of_their_own(tmp_path: Path) -> None:
    cloud = Cloud()
    fleet = fleet_of(tmp_path, "clusters", 30)

    result = up(cloud, fleet)

    assert [o.detail for o in result.failed] == []
    assert len(result.outcomes) == 30 and all(o.detail == "validated" for o in result.outcomes)
    labs = [f"ws-att{i:02d}" for i in range(1, 31)]
    assert sorted(name for (_g, name) in cloud.arm.clusters) == labs
    for lab in labs:
        group, cluster = cloud.group(f"{lab}-rg"), cloud.cluster(f"{lab}-rg", lab)
        assert group is not None and cluster is not None, lab
        expected = {FLEET_TAG: "ws", EXPIRES_TAG: EXPIRES}
        assert fleet_tags(group["tags"]) == expected and fleet_tags(cluster["tags"]) == expected
        assert group["tags"]["managed-by"] == "netpol-lab" == cluster["tags"]["managed-by"]
        assert group["tags"]["netpol-lab-lab"] == lab == cluster["tags"]["netpol-lab-lab"]
        assert cluster["properties"]["provisioningState"] == "Succeeded"
        record = load_record(attendee_spec(fleet, fleet.attendees[labs.index(lab)]))
        assert record is not None and record.provider == "aks"
        # Each lab's objects are in its own cluster, labelled with the fleet.
        ns = cloud.kubes[lab].get("v1", "Namespace", "demo")
        assert ns is not None and ns["metadata"]["labels"]["netpol-lab.io/fleet"] == "ws"
    # One group PUT and one cluster PUT per attendee, and nothing else written.
    writes = cloud.writes()
    assert len(writes) == 60 and {r.method for r in writes} == {"PUT"}

    gone = down(cloud, fleet)

    assert [o.detail for o in gone.failed] == []
    assert sorted(gone.removed) == labs
    assert cloud.arm.clusters == {}
    assert cloud.arm.groups == {}  # every lab's group, and AKS's node groups with the clusters
    before = len(cloud.arm.requests)

    again = down(cloud, fleet)

    assert again.removed == [] and not again.failed
    assert {o.detail for o in again.outcomes} == {"nothing to remove"}
    assert {r.method for r in cloud.arm.requests[before:]} <= {"GET", "HEAD"}


def test_one_attendees_failed_create_fails_alone_and_the_next_up_completes_it(
    tmp_path: Path,
) -> None:
    cloud = Cloud()
    fleet = fleet_of(tmp_path, "clusters", 30)
    cloud.arm.fail_cluster("ws-att07")

    first = up(cloud, fleet)

    assert [o.attendee.id for o in first.failed] == ["att07"]
    (failed,) = first.failed
    assert "ReconcileVMSSAgentPoolFailed" in failed.detail and "\n" not in failed.detail
    assert sum(o.ok for o in first.outcomes) == 29
    assert cloud.cluster("ws-att07-rg", "ws-att07")["properties"]["provisioningState"] == "Failed"
    others = [k for k in cloud.arm.clusters if k[1] != "ws-att07"]
    assert len(others) == 29
    assert all(
        cloud.arm.clusters[k]["properties"]["provisioningState"] == "Succeeded" for k in others
    )

    second = up(cloud, fleet)

    assert not second.failed and all(o.detail == "validated" for o in second.outcomes)
    assert (
        cloud.cluster("ws-att07-rg", "ws-att07")["properties"]["provisioningState"] == "Succeeded"
    )
    # The 29 that were up are left as they are: only att07's cluster was sent again.
    second_puts = [r for r in cloud.arm.calls("PUT", "/managedClusters/")][30:]
    assert [r.path.rsplit("/", 1)[-1] for r in second_puts] == ["ws-att07"]


def test_a_lab_name_too_long_for_aks_fails_that_attendee_alone(tmp_path: Path) -> None:
    # Ids the fleet accepts (20 characters each) make a lab name AKS cannot hold: its node
    # resource group "MC_<lab>-rg_<lab>_westeurope" would be 100 characters, over AKS's 80.
    cloud = Cloud()
    people = (Attendee("att01"), Attendee("participant-number-1"))
    fleet = FleetSpec(
        "workshop-2026-berlin", "clusters", people, HOURS * 3600.0, base_spec(tmp_path), CREATED
    )

    result = up(cloud, fleet)

    (failed,) = result.failed
    assert failed.lab == "workshop-2026-berlin-participant-number-1"
    assert "node resource group name is too long" in failed.detail and "80" in failed.detail
    assert [o.ok for o in result.outcomes] == [True, False]
    assert list(cloud.arm.clusters) == [
        ("workshop-2026-berlin-att01-rg", "workshop-2026-berlin-att01")
    ]


# --- mode namespaces: one shared AKS cluster, the attendees' labs on it --------------------------


def test_namespaces_mode_shares_one_tagged_aks_cluster(tmp_path: Path) -> None:
    cloud = Cloud()
    fleet = fleet_of(tmp_path, "namespaces", 4)

    result = up(cloud, fleet)

    assert [o.detail for o in result.failed] == []
    assert all(o.detail == "validated" for o in result.outcomes)
    assert result.cluster is not None and result.cluster["lab"] == "ws"
    assert list(cloud.arm.clusters) == [("ws-rg", "ws")]
    group, cluster = cloud.group("ws-rg"), cloud.cluster("ws-rg", "ws")
    expected = {FLEET_TAG: "ws", EXPIRES_TAG: EXPIRES}
    assert fleet_tags(group["tags"]) == expected and fleet_tags(cluster["tags"]) == expected
    assert group["tags"]["netpol-lab-lab"] == "ws"
    shared = cloud.kubes["ws"]
    assert set(cloud.kubes) == {"ws"}  # every lab went to the one cluster
    host = shared_cluster(fleet)
    for attendee in fleet.attendees:
        spec = attendee_spec(fleet, attendee)
        assert spec.provider == "existing" and spec.existing.kubeconfig == host.kubeconfig
        assert f"demo-ws-{attendee.id}" in lab_namespaces(spec)
        ns = shared.get("v1", "Namespace", f"demo-ws-{attendee.id}")
        assert ns is not None and ns["metadata"]["labels"]["netpol-lab.io/fleet"] == "ws"
        record = load_record(spec)
        assert record is not None and record.provider == "existing"

    gone = down(cloud, fleet)

    assert "AKS cluster ws" in gone.removed and "resource group ws-rg" in gone.removed
    assert cloud.arm.clusters == {} and cloud.arm.groups == {}


# --- the Azure sweep ---------------------------------------------------------------------------

NOW = dt.datetime(2026, 12, 1, 16, 0, tzinfo=dt.timezone.utc)  # past EXPIRES


def seeded_sweep_world(tmp_path: Path) -> tuple[Cloud, FleetSpec]:
    """An expired fleet of two AKS labs (up for real), and the groups the sweep must leave."""
    cloud = Cloud(page_size=2)  # the list comes in pages: the sweep must read them all
    fleet = fleet_of(tmp_path, "clusters", 2)
    assert not up(cloud, fleet, validate=False).failed
    arm = cloud.arm
    # A user's group that copies the fleet's tags but not the tool's ownership tag.
    arm.seed_group("users-rg", tags={FLEET_TAG: "ws", EXPIRES_TAG: "2026-01-01T00:00:00Z"})
    # A plain lab of the tool's (no fleet): `invoke down` removes it, never the sweep.
    arm.seed_group("plain-rg", tags=tool_tags("plain"))
    # A later fleet's group, not expired yet.
    later = {**tool_tags("late-att01"), FLEET_TAG: "late", EXPIRES_TAG: "2026-12-02T09:00:00Z"}
    arm.seed_group("late-att01-rg", tags=later)
    # An expiry that does not parse is never taken as expired.
    odd = {**tool_tags("odd-att01"), FLEET_TAG: "odd", EXPIRES_TAG: "tomorrow"}
    arm.seed_group("odd-att01-rg", tags=odd)
    return cloud, fleet


def test_sweep_removes_only_expired_fleet_groups(tmp_path: Path) -> None:
    cloud, _fleet = seeded_sweep_world(tmp_path)
    node_groups = [g["name"] for g in cloud.arm.groups.values() if g.get("managedBy")]
    assert len(node_groups) == 2  # AKS's node groups carry the cluster's tags, managedBy it

    rows = sweep_groups(cloud.gateway(), NOW)

    by_what = {r["what"]: r for r in rows}
    assert by_what == {
        "resource group late-att01-rg (AKS lab late-att01)": {
            "what": "resource group late-att01-rg (AKS lab late-att01)",
            "fleet": "late",
            "expires": "2026-12-02T09:00:00Z",
            "action": "kept: expires 2026-12-02T09:00:00Z",
        },
        "resource group odd-att01-rg (AKS lab odd-att01)": {
            "what": "resource group odd-att01-rg (AKS lab odd-att01)",
            "fleet": "odd",
            "expires": "tomorrow",
            "action": "kept: expiry tag 'tomorrow' is not a time (never taken as expired)",
        },
        "resource group ws-att01-rg (AKS lab ws-att01)": {
            "what": "resource group ws-att01-rg (AKS lab ws-att01)",
            "fleet": "ws",
            "expires": EXPIRES,
            "action": "removed",
        },
        "resource group ws-att02-rg (AKS lab ws-att02)": {
            "what": "resource group ws-att02-rg (AKS lab ws-att02)",
            "fleet": "ws",
            "expires": EXPIRES,
            "action": "removed",
        },
    }
    assert sorted(g["name"] for g in cloud.arm.groups.values()) == [
        "late-att01-rg",
        "odd-att01-rg",
        "plain-rg",
        "users-rg",
    ]
    assert cloud.arm.clusters == {}
    # The SDK followed every nextLink: 8 groups at the start, 2 a page.
    lists = [r.url for r in cloud.arm.requests if r.path.lower().endswith("/resourcegroups")]
    assert len(lists) == 4 and lists[-1].endswith("$skiptoken=6")
    # As `invoke down`: each cluster deleted first, then its group; nothing else deleted.
    deletes = [r.path for r in cloud.arm.requests if r.method == "DELETE"]
    assert [p.rsplit("/", 1)[-1] for p in deletes] == [
        "ws-att01",
        "ws-att01-rg",
        "ws-att02",
        "ws-att02-rg",
    ]


def test_sweep_dry_run_deletes_nothing(tmp_path: Path) -> None:
    cloud, _fleet = seeded_sweep_world(tmp_path)
    before = len(cloud.arm.requests)

    rows = sweep_groups(cloud.gateway(), NOW, dry_run=True)

    actions = {r["what"].split()[2]: r["action"] for r in rows}
    assert actions["ws-att01-rg"] == actions["ws-att02-rg"] == "would remove"
    assert actions["late-att01-rg"].startswith("kept: ")
    assert "users-rg" not in actions and "plain-rg" not in actions
    assert {r.method for r in cloud.arm.requests[before:]} == {"GET"}


def test_sweep_before_the_expiry_keeps_the_fleet(tmp_path: Path) -> None:
    cloud, _fleet = seeded_sweep_world(tmp_path)

    rows = sweep_groups(cloud.gateway(), CREATED + dt.timedelta(hours=1))

    ws = [r for r in rows if r["fleet"] == "ws"]
    assert [r["action"] for r in ws] == [f"kept: expires {EXPIRES}"] * 2
    assert len(cloud.arm.clusters) == 2 and not [
        r for r in cloud.arm.requests if r.method == "DELETE"
    ]


def test_sweep_reports_a_group_it_could_not_empty_and_goes_on(tmp_path: Path) -> None:
    cloud, _fleet = seeded_sweep_world(tmp_path)
    cloud.arm.add_foreign_resource("ws-att01-rg", "someones-storage")

    rows = {r["what"].split()[2]: r["action"] for r in sweep_groups(cloud.gateway(), NOW)}

    assert rows["ws-att01-rg"].startswith("failed: kept resource group 'ws-att01-rg'")
    assert "someones-storage" in rows["ws-att01-rg"]
    assert rows["ws-att02-rg"] == "removed"
    assert cloud.group("ws-att01-rg") is not None and cloud.group("ws-att02-rg") is None


@pytest.mark.parametrize("casing", [FLEET_TAG.upper(), FLEET_TAG.title()])
def test_sweep_reads_the_fleet_tag_whatever_its_casing(tmp_path: Path, casing: str) -> None:
    # Azure tag names are case-insensitive (tag-resources.md); the expiry still decides.
    cloud = Cloud()
    tags = {**tool_tags("x-att01"), casing: "x", EXPIRES_TAG: "2027-01-01T00:00:00Z"}
    cloud.arm.seed_group("x-att01-rg", tags=tags)

    (row,) = sweep_groups(cloud.gateway(), NOW)

    assert row["fleet"] == "x" and row["action"] == "kept: expires 2027-01-01T00:00:00Z"


def test_listing_the_groups_without_a_credential_is_one_line_with_the_login_advice() -> None:
    from azure.identity import CredentialUnavailableError

    cloud = Cloud()
    cloud.credential = FakeCredential(CredentialUnavailableError("no login\nmore"))

    with pytest.raises(UsageError) as err:
        sweep_groups(cloud.gateway(), NOW)

    assert "az login" in str(err.value) and "\n" not in str(err.value)
    assert cloud.arm.requests == []


def test_the_fake_refuses_a_list_filter_it_does_not_implement() -> None:
    cloud = Cloud()
    gateway = cloud.gateway()
    # A filter the fake does not implement answers 400, as ARM answers a bad request.
    with pytest.raises(OperationError) as err, _azure_errors("list", "resource groups"):
        list(gateway.resources.resource_groups.list(filter="tagName eq 'x'"))
    assert "InvalidRequest" in str(err.value)


def test_fleet_sweep_with_azure_removes_the_expired_fleet_once(tmp_path: Path) -> None:
    from dataclasses import replace

    from provisioning.fleet.sweep import sweep

    cloud, fleet = seeded_sweep_world(tmp_path)
    seams = replace(cloud.seams(), now=lambda: NOW)

    rows = sweep(fleet.base, seams, quiet(), kind=False, azure=cloud.gateway())

    actions = {r.what: r.action for r in rows}
    # The fleet's record is found first and `fleet down` removes its labs; the Azure listing
    # then finds only the groups that are not the expired fleet's.
    assert actions["fleet ws (clusters on aks)"] == "removed"
    assert not any("ws-att" in what for what in actions)
    assert actions["resource group late-att01-rg (AKS lab late-att01)"].startswith("kept: ")
    assert cloud.arm.clusters == {}
    assert sorted(g["name"] for g in cloud.arm.groups.values()) == [
        "late-att01-rg",
        "odd-att01-rg",
        "plain-rg",
        "users-rg",
    ]
