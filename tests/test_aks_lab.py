"""The AKS lab end to end: plan, up, status and down on the fake ARM and an in-memory cluster.

The real Azure SDK runs against ``tests/aks/fake_arm.py`` (serialization, polling, error mapping)
and the real pipeline actions run against a ``FakeKube`` whose nodes and pods turn Ready the way
AKS's controllers would. The cluster is reachable only through the kubeconfig ``up`` wrote from
the cluster's user credentials, as with a real client.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import itertools
import json
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from provisioning.errors import OperationError, UsageError
from provisioning.lab import pipeline
from provisioning.lab.objects import HASH_ANNOTATION
from provisioning.lab.observe import SCENARIO_LABEL
from provisioning.lab.state import load_record
from provisioning.lab.status import lab_status as shared_status
from provisioning.lab.teardown import down as shared_down
from provisioning.profiles import profile_names, resolve
from provisioning.progress import Progress
from provisioning.providers.aks.gateway import AksGateway
from provisioning.providers.aks.provider import AksProvider, make
from provisioning.providers.aks.tags import tool_tags
from provisioning.spec import LABEL_LAB, LABEL_MANAGED_BY, AksSettings, LabSpec, Timeouts
from tests.aks.conftest import load
from tests.aks.fake_arm import FakeArm, FakeCredential
from tests.fake_kube import FakeKube
from tests.fake_network import PolicyNetwork

NAME, GROUP = "workshop-1", "workshop-1-rg"


# --- the shared pipeline with the AKS provider (what `invoke up/plan/status/down` run) ---------


class NoCommands:
    """An AKS lab runs no local programs (probes are injected): any use is a bug."""

    def run(self, argv: Any, **_: Any) -> Any:
        raise AssertionError(f"the AKS lab ran a local command: {list(argv)}")

    def which(self, program: str) -> None:
        return None


def provider(gateway_factory: Any = None, kube_factory: Any = None, **seams: Any) -> AksProvider:
    return make(None, gateway_factory=gateway_factory, kube_factory=kube_factory, **seams)  # type: ignore[arg-type]


def lab_plan(
    spec: LabSpec, *, gateway_factory: Any = None, kube_factory: Any = None, validate: bool = True
) -> Any:
    quiet = Progress(io.StringIO(), spinner=False)
    ctx = pipeline.build_context(spec, NoCommands(), quiet, provider(gateway_factory, kube_factory))
    return pipeline.plan_for(ctx, validate=validate)


def lab_up(
    spec: LabSpec,
    progress: Progress,
    *,
    yes: bool,
    confirm: Any,
    gateway_factory: Any = None,
    kube_factory: Any = None,
    poll_interval: float = 5.0,
    validate: bool = True,
    probe_timeout: float = 2.0,
    deadline: float = 60.0,
    probe_executor: Any = None,
) -> dict[str, Any]:
    now = [0.0]  # simulated time: the canary's deadline passes without real sleeping
    ctx = pipeline.build_context(
        spec,
        NoCommands(),
        progress,
        provider(gateway_factory, kube_factory),
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + max(s, 0.25)),
        poll_interval=poll_interval,
        probe_timeout=probe_timeout,
        deadline=deadline,
        probe_executor=probe_executor,
    )
    result = None
    try:
        result = pipeline.up(ctx, yes=yes, confirm=confirm, validate=validate)
    finally:
        doc = pipeline.up_document(ctx, result)
        doc["resourceGroupCreated"] = bool(
            doc["record"] and doc["record"]["resource_group_created"]
        )
        lab_up.last = doc  # type: ignore[attr-defined]
    return lab_up.last  # type: ignore[attr-defined]


class StatusDoc(dict):  # type: ignore[type-arg]
    text = ""


def lab_status(spec: LabSpec, *, gateway_factory: Any = None, kube_factory: Any = None) -> Any:
    found = shared_status(spec, provider(gateway_factory, kube_factory))
    doc = StatusDoc(found.document())
    doc.text = found.text()
    return doc


def render_status_text(doc: Any) -> str:
    return doc.text


def lab_down(
    spec: LabSpec,
    progress: Progress,
    *,
    yes: bool,
    confirm: Any,
    no_wait: bool = False,
    keep_cluster: bool = False,
    gateway_factory: Any = None,
    kube_factory: Any = None,
    poll_interval: float = 5.0,
) -> Any:
    return shared_down(
        spec,
        provider(gateway_factory, kube_factory),
        progress,
        keep_cluster=keep_cluster,
        yes=yes,
        confirm=confirm,
        no_wait=no_wait,
        poll_interval=poll_interval,
        sleep=lambda _s: None,
    )


ENGINES = ("azure", "calico", "cilium", "none")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything goes through the fakes: opening a socket fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)


class AksNodes(FakeKube):
    """An AKS cluster's API: nodes Ready after ``lag`` reads, pods Ready once scheduled.

    On AKS the network is up when the nodes are (AKS installs the CNI and the engine), so a pod
    gets an IP and turns Ready on the next read after it is created.
    """

    def __init__(self, nodes: int, lag: int = 1) -> None:
        super().__init__()
        self.lag = lag
        self._reads = 0
        self._ips = itertools.count(10)
        self.arm: FakeArm | None = None  # whose cluster's network profile decides the agents
        for i in range(nodes):
            self.seed(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": f"aks-system-{i}-vmss000000"},
                    "status": {"conditions": [{"type": "Ready", "status": "False"}]},
                }
            )
        for ns in ("default", "kube-system"):
            self.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    def get(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        self._reconcile()
        return super().get(*args, **kwargs)

    def list(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        self._reconcile()
        return super().list(*args, **kwargs)

    def _reconcile(self) -> None:
        self._reads += 1
        if self._reads <= self.lag:
            return
        self._run_engine_agents()
        for key, obj in self._objects.items():
            if key[1] == "Node":
                obj["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
            if key[1] == "Pod" and "status" not in obj:
                obj["status"] = {
                    "phase": "Running",
                    "podIP": f"10.244.0.{next(self._ips)}",
                    "conditions": [{"type": "Ready", "status": "True"}],
                }

    def _run_engine_agents(self) -> None:
        """What AKS runs for the cluster's networkPolicy, as its add-on manager would."""
        if self.arm is None:
            return
        clusters = list(self.arm.clusters.values())
        policy = (
            clusters[0]["properties"]["networkProfile"].get("networkPolicy", "none")
            if clusters
            else "none"
        )
        store = self._objects
        for key in [k for k in store if k[1] in ("DaemonSet", "TigeraStatus")]:
            del store[key]  # an engine change replaces the agents
        if policy in ("azure", "cilium"):
            name = "azure-npm" if policy == "azure" else "cilium"
            super().seed(
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "metadata": {"name": name, "namespace": "kube-system"},
                    "status": {
                        "desiredNumberScheduled": 3,
                        "updatedNumberScheduled": 3,
                        "numberAvailable": 3,
                        "observedGeneration": 1,
                    },
                }
            )
        elif policy == "calico":
            super().seed(
                {
                    "apiVersion": "operator.tigera.io/v1",
                    "kind": "TigeraStatus",
                    "metadata": {"name": "calico"},
                    "status": {"conditions": [{"type": "Available", "status": "True"}]},
                }
            )


class Azure:
    """The fake ARM plus the cluster its user kubeconfig leads to."""

    def __init__(self, nodes: int = 3) -> None:
        self.arm = FakeArm(
            versions={"westeurope": load("kubernetes_versions.json")},
            kubeconfig=f"apiVersion: v1\nkind: Config\n# aks {NAME} user\n".encode(),
        )
        self.credential = FakeCredential()
        self.kube = AksNodes(nodes)
        self.kube.arm = self.arm
        self.gateways: list[str] = []

    def gateway_factory(self, subscription: str) -> AksGateway:
        self.gateways.append(subscription)
        return AksGateway(subscription, self.credential, transport=self.arm, polling_interval=0)

    def kube_factory(self, path: Path) -> FakeKube:
        # Like a real client: only the kubeconfig from the cluster's credentials reaches it
        # (for an Entra ID cluster, the kubelogin one the fake ARM hands out).
        data = Path(path).read_bytes() if Path(path).exists() else b""
        if data == self.arm.kubeconfig or b"command: kubelogin" in data:
            return self.kube
        gone = FakeKube()
        gone.unreachable = True
        return gone

    def puts(self, contains: str = "/managedClusters/") -> list[Any]:
        return self.arm.calls("PUT", contains)


def workshop(tmp_path: Path, engine: str, **aks: Any) -> LabSpec:
    """The spec of the golden create bodies in tests/aks/fixtures/body_<engine>.json."""
    settings: dict[str, Any] = {
        "subscription_id": "00000000-0000-0000-0000-000000000001",
        "location": "westeurope",
        "node_count": 3,
        "vm_size": "Standard_D4s_v5",
        "tags": {"team": "blue", "managed-by": "someone-else"},
        **aks,
    }
    return LabSpec(
        name=NAME,
        provider="aks",
        engine=engine,
        aks=AksSettings(**settings),
        # The fakes settle within a few reads; a short wait makes a broken step fail fast.
        timeouts=Timeouts(cluster=2, engine=2, workload=2),
        state_root=tmp_path / "state",
    )


def progress() -> Progress:
    return Progress(io.StringIO(), spinner=False)


def output(p: Progress) -> str:
    return p.stream.getvalue()  # type: ignore[attr-defined]


def up(
    azure: Azure,
    spec: LabSpec,
    *,
    yes: bool = False,
    confirm: Any = None,
    p: Progress | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    kwargs.setdefault("validate", False)  # validation has its own tests, with a probe executor
    return lab_up(
        spec,
        p or progress(),
        yes=yes,
        confirm=confirm,
        gateway_factory=azure.gateway_factory,
        kube_factory=azure.kube_factory,
        poll_interval=0,
        **kwargs,
    )


def down(azure: Azure, spec: LabSpec, p: Progress | None = None, **kwargs: Any) -> Any:
    kwargs.setdefault("yes", True)
    kwargs.setdefault("confirm", None)
    return lab_down(
        spec,
        p or progress(),
        gateway_factory=azure.gateway_factory,
        kube_factory=azure.kube_factory,
        poll_interval=0,
        **kwargs,
    )


# --- plan ------------------------------------------------------------------------------------


def test_plan_without_subscription_is_offline_and_never_probes_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_credential(self: AksGateway) -> None:
        raise AssertionError("a credential was looked for")

    monkeypatch.setattr(AksGateway, "credential", property(no_credential))

    def no_gateway(subscription: str) -> AksGateway:
        raise AssertionError("a gateway was built without a subscription")

    spec = workshop(tmp_path, "cilium", subscription_id=None)
    plan = lab_plan(spec, gateway_factory=no_gateway)

    data = json.loads(json.dumps(plan.as_dict()))
    assert data["provider"] == "aks" and data["subscription"] is None
    assert data["observed"]["observed"] is False
    assert any("Azure not consulted" in n and "AZURE_SUBSCRIPTION_ID" in n for n in data["notes"])
    group_put, cluster_put = data["cluster"]["requests"]
    assert group_put["path"] == f"/subscriptions/{{subscription}}/resourcegroups/{GROUP}"
    assert cluster_put["headers"] == {"If-None-Match": "*"}
    net = cluster_put["body"]["properties"]["networkProfile"]
    assert net["networkDataplane"] == "cilium" and net["networkPluginMode"] == "overlay"
    assert net["networkPolicy"] == "cilium"
    assert [(s["marker"], s["action"]) for s in data["steps"]] == [
        ("+", "create-cluster"),
        ("+", "deploy-workload"),
        ("+", "apply-policies"),
        ("+", "validate"),
    ]
    assert "demo-policy" in data["artifacts"]["policies (scenario aks-demo)"]
    text = plan.render_text()
    assert '"networkDataplane": "cilium"' in text and "If-None-Match: *" in text
    assert "Azure not consulted" in text


def test_plan_with_a_subscription_but_no_credential_falls_back_with_the_login_advice(
    tmp_path: Path,
) -> None:
    from azure.identity import CredentialUnavailableError

    azure = Azure()
    azure.credential = FakeCredential(CredentialUnavailableError("no login\nmore detail"))
    plan = lab_plan(workshop(tmp_path, "calico"), gateway_factory=azure.gateway_factory)

    assert plan.provider_plan.observed is False and plan.observed.observed is False
    (note,) = plan.notes
    assert "az login" in note and "AZURE_CLIENT_ID" in note and "\n" not in note
    assert plan.provider_plan.requests[-1].body["properties"]["networkProfile"][
        "networkPolicy"
    ] == ("calico")
    assert azure.arm.requests == []  # the token is refused before anything is sent


def test_plan_with_credentials_uses_the_regions_default_version(tmp_path: Path) -> None:
    azure = Azure()
    plan = lab_plan(workshop(tmp_path, "azure"), gateway_factory=azure.gateway_factory)
    assert plan.provider_plan.observed and not plan.notes
    body = plan.provider_plan.requests[-1].body
    assert body["properties"]["kubernetesVersion"] == "1.33"  # isDefault, not the 1.35 preview
    assert any("2028-09-30" in w for w in plan.warnings)  # Azure NPM on Linux retires
    assert azure.puts("") == []  # planning changes nothing


# --- up --------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_up_creates_the_cluster_and_deploys_the_lab(tmp_path: Path, engine: str) -> None:
    azure = Azure()
    spec = workshop(tmp_path, engine)
    p = progress()
    doc = lab_up(
        spec,
        p,
        yes=False,
        confirm=None,  # a create reimages nothing, so nobody is asked
        gateway_factory=azure.gateway_factory,
        kube_factory=azure.kube_factory,
        poll_interval=0,
        validate=False,
    )

    group_put, cluster_put = azure.puts("")
    assert group_put.path.lower().endswith(f"/resourcegroups/{GROUP}")
    assert group_put.body["tags"] == {**tool_tags(NAME), "team": "blue"}
    assert cluster_put.body == load(f"body_{engine}.json")
    assert cluster_put.headers["if-none-match"] == "*" and "if-match" not in cluster_put.headers

    assert stat.S_IMODE(spec.kubeconfig.stat().st_mode) == 0o600
    assert spec.kubeconfig.read_bytes() == azure.arm.kubeconfig
    record = load_record(spec)
    assert record is not None
    assert (record.provider, record.engine, record.phase) == ("aks", engine, "ready")
    assert record.resource_group_created is True

    kube = azure.kube
    pods = kube.list("v1", "Pod", label_selector=f"{LABEL_LAB}={NAME}")
    assert {f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods} == {
        "demo/server",
        "demo/client",
        "demo/intruder",
        "other/client",
    }
    for ns in kube.list("v1", "Namespace", label_selector=f"{LABEL_LAB}={NAME}"):
        assert ns["metadata"]["labels"][LABEL_MANAGED_BY] == "netpol-lab"
    policy = kube.get("networking.k8s.io/v1", "NetworkPolicy", "demo-policy", "demo")
    assert policy["metadata"]["labels"][LABEL_LAB] == NAME
    assert policy["metadata"]["labels"][SCENARIO_LABEL] == "aks-demo"
    assert HASH_ANNOTATION in policy["metadata"]["annotations"]

    create = next(r for r in p.records if r.title.startswith("Create AKS cluster"))
    assert create.detail.startswith("provisioningState Succeeded (")  # last poll, with elapsed
    text = output(p)
    assert "your current kubectl context is unchanged" in text
    assert "provisioningState Succeeded, engine " + engine in text
    assert "nodes: 3/3 ready" in text
    assert json.loads(json.dumps(doc))["after"]["scenario"] == "aks-demo"
    assert doc["after"]["owned"] is True and doc["after"]["engine"] == engine
    assert doc["resourceGroupCreated"] is True


def test_second_up_sends_no_change_and_plan_is_all_unchanged(tmp_path: Path) -> None:
    azure = Azure()
    spec = workshop(tmp_path, "calico")
    up(azure, spec)
    azure.arm.requests.clear()
    azure.kube.calls.clear()

    plan = lab_plan(spec, gateway_factory=azure.gateway_factory, kube_factory=azure.kube_factory)
    assert [s.marker for s in plan.steps] == ["=", "=", "=", "+"]
    assert plan.changes == ()  # nothing to change; validation still ends every up
    assert plan.steps[-1].action == "validate"
    up(azure, spec)

    assert azure.puts("") == [] and azure.arm.calls("DELETE") == []
    assert [c for c in azure.kube.calls if c.verb in ("apply", "delete")] == []
    # An existing group found by this run does not erase that an earlier run created it.
    assert load_record(spec).resource_group_created is True


def test_engine_change_azure_to_calico_asks_then_goes_through_none_with_etags(
    tmp_path: Path,
) -> None:
    azure = Azure()
    up(azure, workshop(tmp_path, "azure"))
    azure.arm.requests.clear()
    spec = workshop(tmp_path, "calico")

    with pytest.raises(UsageError, match="re-run with --yes") as err:
        up(azure, spec)
    assert "reimaged" in str(err.value) and "nothing was changed" in str(err.value)
    with pytest.raises(UsageError, match="cancelled"):
        up(azure, spec, confirm=lambda _q: False)
    assert azure.puts("") == []

    plan = lab_plan(spec, gateway_factory=azure.gateway_factory)
    assert plan.needs_confirmation
    (step, *_) = plan.steps
    assert step.items == (
        ("-", "networkPolicy: azure -> none"),
        ("+", "networkPolicy: none -> calico"),
    )
    etag = plan.provider_plan.current.etag
    text = plan.render_text(artifacts=False)
    assert (
        "1. - networkPolicy: azure -> none" in text and "2. + networkPolicy: none -> calico" in text
    )

    # Reimaging replaces the nodes, and the lab's bare pods with them.
    azure.kube.set_status(
        "v1",
        "Pod",
        "server",
        "demo",
        {"phase": "Failed", "conditions": [{"type": "Ready", "status": "False"}]},
    )
    azure.kube.calls.clear()
    asked: list[str] = []
    up(azure, spec, confirm=lambda q: asked.append(q) or True)

    assert "engine azure to calico" in asked[0] and "reimaged" in asked[0]
    first, second = azure.puts()
    assert first.headers["if-match"] == f'"{etag}"'
    assert second.headers["if-match"] not in (f'"{etag}"', "")
    assert first.body["properties"]["networkProfile"]["networkPolicy"] == "none"
    assert second.body["properties"]["networkProfile"]["networkPolicy"] == "calico"
    assert "if-none-match" not in first.headers
    cluster = azure.arm.clusters[(GROUP.lower(), NAME)]
    assert cluster["properties"]["networkProfile"]["networkPolicy"] == "calico"
    deleted = [(c.kind, c.name) for c in azure.kube.calls if c.verb == "delete"]
    assert deleted == [("Pod", "server")]  # only the pod the reimage left behind
    assert azure.kube.get("v1", "Pod", "server", "demo")["status"]["phase"] == "Running"
    assert load_record(spec).engine == "calico"


def test_away_from_cilium_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    azure = Azure()
    up(azure, workshop(tmp_path, "cilium"))
    azure.arm.requests.clear()
    with pytest.raises(UsageError, match="no migration path off the Cilium data plane"):
        up(azure, workshop(tmp_path, "calico"), yes=True)
    assert azure.puts("") == []


def test_a_cluster_without_the_tools_tags_is_never_used_or_deleted(tmp_path: Path) -> None:
    azure = Azure()
    raw = copy.deepcopy(load("cluster_get_azure.json"))
    raw["name"], raw["tags"] = NAME, {"owner": "platform-team"}
    azure.arm.seed_cluster(GROUP, raw)
    spec = workshop(tmp_path, "azure")  # same engine: no transition to refuse

    plan = lab_plan(spec, gateway_factory=azure.gateway_factory)
    assert plan.blocked and "not tagged managed-by=netpol-lab" in plan.blocked
    with pytest.raises(UsageError, match="not tagged managed-by=netpol-lab"):
        up(azure, spec, yes=True)
    with pytest.raises(UsageError, match="deletes only what it created"):
        down(azure, spec)
    assert azure.puts("") == [] and azure.arm.calls("DELETE") == []
    assert azure.arm.calls("POST") == []  # not even its credentials were fetched
    assert not spec.kubeconfig.exists()


def test_a_cluster_still_being_created_blocks_up_until_it_finishes(tmp_path: Path) -> None:
    azure = Azure()
    raw = copy.deepcopy(load("cluster_get_azure.json"))
    raw["name"], raw["tags"] = NAME, tool_tags(NAME)
    azure.arm.seed_cluster(GROUP, raw, provisioningState="Creating")
    spec = workshop(tmp_path, "azure")
    with pytest.raises(UsageError, match="is Creating; wait until that operation finishes"):
        up(azure, spec, yes=True)
    assert azure.puts("") == [] and azure.arm.calls("POST") == []


def stop(azure: Azure) -> None:
    """``az aks stop``: the cluster stays Succeeded, its power state turns Stopped."""
    azure.arm.clusters[(GROUP.lower(), NAME)]["properties"]["powerState"] = {"code": "Stopped"}


@pytest.mark.parametrize("engine", ["calico", "azure"])
def test_up_on_a_stopped_cluster_says_how_to_start_it_and_sends_nothing(
    tmp_path: Path, engine: str
) -> None:
    # start-stop-cluster.md: "You can only perform start or delete operations on a stopped AKS
    # cluster." Same engine (no-op) or another one: neither waits for nodes nor PUTs.
    azure = Azure()
    up(azure, workshop(tmp_path, "calico"))
    stop(azure)
    azure.arm.requests.clear()
    with pytest.raises(UsageError) as err:
        up(azure, workshop(tmp_path, engine), yes=True)
    assert str(err.value) == (
        f"cluster {NAME!r} in resource group {GROUP!r} is stopped; start it with "
        f"`az aks start -g {GROUP} -n {NAME}` and re-run (a stopped AKS cluster accepts only "
        "start or delete)"
    )
    assert err.value.exit_code == 2  # refused before anything ran: the user must act
    assert azure.puts("") == [] and azure.arm.calls("POST") == []
    plan = lab_plan(workshop(tmp_path, engine), gateway_factory=azure.gateway_factory)
    assert plan.blocked == str(err.value)


def test_down_still_deletes_a_stopped_cluster(tmp_path: Path) -> None:
    azure = Azure()
    spec = workshop(tmp_path, "none")
    up(azure, spec)
    stop(azure)
    with pytest.raises(UsageError, match="is stopped; start it with `az aks start"):
        down(azure, spec, keep_cluster=True)  # needs the API server, which is deallocated
    result = down(azure, spec)
    assert result.removed == (f"AKS cluster {NAME}", f"resource group {GROUP}")
    assert azure.arm.clusters == {}
    doc = lab_status(spec, gateway_factory=azure.gateway_factory)
    assert doc["aks"]["cluster"] is None


def test_status_shows_a_stopped_cluster(tmp_path: Path) -> None:
    azure = Azure()
    spec = workshop(tmp_path, "none")
    up(azure, spec)
    stop(azure)
    doc = lab_status(spec, gateway_factory=azure.gateway_factory, kube_factory=azure.kube_factory)
    assert doc["aks"]["cluster"]["powerState"] == "Stopped"
    assert "provisioningState Succeeded, stopped, Kubernetes" in render_status_text(doc)


def entra(azure: Azure, **props: Any) -> None:
    azure.arm.clusters[(GROUP.lower(), NAME)]["properties"].update(props)


def no_kubelogin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, with_it: bool) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if with_it:
        tool = bin_dir / "kubelogin"
        tool.write_text("#!/bin/sh\nexit 0\n")
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


@pytest.mark.parametrize(
    "props",
    [
        {"aadProfile": {"managed": True, "enableAzureRBAC": True}},
        {"aadProfile": {"managed": True}, "disableLocalAccounts": True},
    ],
)
def test_an_entra_id_cluster_without_kubelogin_says_to_install_it_before_any_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, props: dict[str, Any]
) -> None:
    azure = Azure()
    up(azure, workshop(tmp_path, "none"))
    entra(azure, **props)
    no_kubelogin(monkeypatch, tmp_path, with_it=False)
    azure.arm.requests.clear()
    message = (
        f"cluster {NAME!r} in resource group {GROUP!r} uses Microsoft Entra ID, so its "
        "kubeconfig runs kubelogin, which is not on PATH; install it with `az aks install-cli` "
        "(or from https://github.com/Azure/kubelogin) and re-run"
    )
    with pytest.raises(UsageError) as err:
        up(azure, workshop(tmp_path, "calico"), yes=True)
    assert str(err.value) == message
    assert azure.puts("") == [] and azure.arm.calls("POST") == []
    with pytest.raises(UsageError, match="az aks install-cli"):
        down(azure, workshop(tmp_path, "none"), keep_cluster=True)


def test_an_entra_id_kubeconfig_is_checked_when_it_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The observed cluster said nothing, but the credentials are a kubelogin exec plugin.
    from provisioning.providers.aks import provider as aks_lab
    from tests.aks.fake_arm import _entra_kubeconfig

    azure = Azure()
    up(azure, workshop(tmp_path, "none"))
    plain = azure.arm.kubeconfig
    azure.arm.kubeconfig = _entra_kubeconfig(NAME, "workshop-1.hcp.westeurope.azmk8s.io")
    no_kubelogin(monkeypatch, tmp_path, with_it=False)
    with pytest.raises(UsageError, match="gave an Entra ID kubeconfig, so its kubeconfig runs"):
        up(azure, workshop(tmp_path, "none"))
    assert aks_lab.kubelogin_mode(azure.arm.kubeconfig) == "devicecode"
    assert aks_lab.kubelogin_mode(plain) is None


def test_an_entra_id_cluster_with_kubelogin_works_and_says_how_it_signs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    azure = Azure()
    spec = workshop(tmp_path, "none")
    up(azure, spec)
    entra(azure, aadProfile={"managed": True}, disableLocalAccounts=True)
    no_kubelogin(monkeypatch, tmp_path, with_it=True)
    p = progress()
    up(azure, spec, p=p)
    assert b"command: kubelogin" in spec.kubeconfig.read_bytes()
    assert f"kubelogin convert-kubeconfig -l azurecli --kubeconfig {spec.kubeconfig}" in output(p)


def test_plan_warns_when_azure_npm_would_run_more_than_20000_pods(tmp_path: Path) -> None:
    # use-network-policies.md: "Scaling beyond _250 nodes_ and _20,000 pods_ isn't supported."
    azure = Azure()
    spec = workshop(tmp_path, "none")
    up(azure, spec)
    azure.kube.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "busy"}})
    for i in range(20_001):
        azure.kube.seed(
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "busy"}}
        )
    plan = lab_plan(
        workshop(tmp_path, "azure"),
        gateway_factory=azure.gateway_factory,
        kube_factory=azure.kube_factory,
    )
    assert any("has 20005 pods" in w and "20,000 pods" in w for w in plan.warnings)
    calico = lab_plan(
        workshop(tmp_path, "calico"),
        gateway_factory=azure.gateway_factory,
        kube_factory=azure.kube_factory,
    )
    assert not any("20,000 pods" in w for w in calico.warnings)


def test_credential_failure_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    azure = Azure()
    azure.credential = FakeCredential(ClientAuthenticationError("token expired\ntrace"))
    spec = workshop(tmp_path, "none")
    with pytest.raises(UsageError) as err:
        up(azure, spec, yes=True)
    message = str(err.value)
    assert "\n" not in message and "az login" in message
    for var in (
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_SUBSCRIPTION_ID",
    ):
        assert var in message
    assert azure.arm.requests == [] and not spec.kubeconfig.exists()
    assert err.value.exit_code == 2


def test_up_without_a_subscription_names_the_env_var_and_profile_key(tmp_path: Path) -> None:
    azure = Azure()
    with pytest.raises(UsageError, match=r"AZURE_SUBSCRIPTION_ID or aks\.subscription_id"):
        up(azure, workshop(tmp_path, "none", subscription_id=None))
    assert azure.gateways == []


def test_subscription_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    azure = Azure()
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", azure.arm.subscription)
    up(azure, workshop(tmp_path, "none", subscription_id=None))
    assert azure.gateways and set(azure.gateways) == {azure.arm.subscription}


# --- status ----------------------------------------------------------------------------------


def test_status_reports_the_cluster_and_the_lab(tmp_path: Path) -> None:
    azure = Azure()
    spec = workshop(tmp_path, "cilium")
    absent = lab_status(spec, gateway_factory=azure.gateway_factory)
    assert absent["observed"] and not absent["cluster_exists"]
    assert "cluster:    none" in render_status_text(absent)

    up(azure, spec)
    doc = lab_status(spec, gateway_factory=azure.gateway_factory, kube_factory=azure.kube_factory)
    text = render_status_text(doc)
    doc = json.loads(json.dumps(doc))
    assert doc["owned"] and doc["engine"] == "cilium" and doc["scenario"] == "aks-demo"
    assert doc["aks"]["cluster"]["networkDataplane"] == "cilium"
    assert doc["aks"]["cluster"]["nodePools"][0]["count"] == 3
    assert sum(doc["pods_ready"].values()) == 4
    assert "created by netpol-lab" in text and "dataplane cilium" in text
    assert "4 pods (4 ready), 1 NetworkPolicies" in text

    offline = lab_status(workshop(tmp_path, "cilium", subscription_id=None))
    assert offline["observed"] is False and "AZURE_SUBSCRIPTION_ID" in offline["reason"]


# --- down ------------------------------------------------------------------------------------


def test_down_deletes_cluster_and_tool_group_then_is_a_quiet_no_op(tmp_path: Path) -> None:
    azure = Azure()
    spec = workshop(tmp_path, "calico")
    up(azure, spec)
    node_group = azure.arm.clusters[(GROUP.lower(), NAME)]["properties"]["nodeResourceGroup"]

    with pytest.raises(UsageError, match="re-run with --yes"):
        down(azure, spec, yes=False)
    assert azure.arm.calls("DELETE") == []

    result = down(azure, spec)
    assert result.removed == (f"AKS cluster {NAME}", f"resource group {GROUP}")
    assert result.kept == ()
    assert azure.arm.clusters == {} and azure.arm.groups == {}
    assert azure.arm.calls("HEAD", node_group)  # the node resource group was confirmed gone
    assert not spec.state_dir.exists()

    azure.arm.requests.clear()
    quiet = progress()
    again = down(azure, spec, quiet)
    assert again.removed == () and again.kept == ()
    assert azure.arm.calls("DELETE") == [] and output(quiet) == ""


def test_down_keeps_a_group_the_tool_did_not_create(tmp_path: Path) -> None:
    azure = Azure()
    azure.arm.seed_group(GROUP, tags={"owner": "platform-team"})
    spec = workshop(tmp_path, "none")
    doc = up(azure, spec)
    assert doc["resourceGroupCreated"] is False and not load_record(spec).resource_group_created
    assert azure.arm.groups[GROUP.lower()]["tags"] == {"owner": "platform-team"}  # untouched

    result = down(azure, spec)
    assert result.removed == (f"AKS cluster {NAME}",)
    assert result.kept == (f"resource group {GROUP}",)
    assert GROUP.lower() in azure.arm.groups
    (delete,) = azure.arm.calls("DELETE")
    assert delete.path.endswith(f"/managedClusters/{NAME}")

    again = down(azure, spec)
    assert again.removed == () and len(azure.arm.calls("DELETE")) == 1


def test_down_no_wait_starts_only_the_cluster_deletion_and_a_later_down_removes_the_group(
    tmp_path: Path,
) -> None:
    azure = Azure()
    spec = workshop(tmp_path, "none")
    up(azure, spec)
    p = progress()
    result = down(azure, spec, p, no_wait=True)
    assert result.removed == (f"AKS cluster {NAME} (deletion started)",)
    assert result.kept == (
        f"resource group {GROUP} (until the next down, once the cluster is gone)",
    )
    (delete,) = azure.arm.calls("DELETE")
    assert delete.path.endswith(f"/managedClusters/{NAME}")
    assert "run `invoke down --provider aks` again once the cluster is gone" in output(p)
    assert load_record(spec) is not None  # the lab is not gone yet

    with pytest.raises(OperationError, match="still being deleted"):
        down(azure, spec)  # the cluster deletion is still running
    azure.arm.finish_operations()
    again = down(azure, spec)
    assert again.removed == (f"resource group {GROUP}",)
    assert azure.arm.calls("DELETE")[-1].path.lower().endswith(f"/resourcegroups/{GROUP}")
    assert azure.arm.groups == {} and load_record(spec) is None


def test_down_keep_cluster_removes_only_the_lab_namespaces(tmp_path: Path) -> None:
    azure = Azure()
    spec = workshop(tmp_path, "azure")
    up(azure, spec)
    azure.kube.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mine"}}])
    azure.arm.requests.clear()

    result = down(azure, spec, keep_cluster=True)
    assert set(result.removed) == {"namespace canary", "namespace demo", "namespace other"}
    assert result.kept == (f"AKS cluster {NAME}",)
    names = {n["metadata"]["name"] for n in azure.kube.list("v1", "Namespace")}
    assert names == {"default", "kube-system", "mine"}
    assert azure.arm.calls("DELETE") == [] and azure.arm.clusters


# --- profiles --------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_has_a_valid_aks_profile(engine: str) -> None:
    spec = resolve(profile=f"aks-{engine}")
    assert (spec.provider, spec.engine) == ("aks", engine)
    assert spec.profile and spec.profile.endswith(f"aks-{engine}.yaml")
    plan = lab_plan(spec, gateway_factory=lambda _s: pytest.fail("no subscription is set"))
    net = plan.provider_plan.requests[-1].body["properties"]["networkProfile"]
    assert net["networkPolicy"] == engine
    assert f"aks-{engine}" in profile_names()


def test_aks_profiles_point_only_to_documents_that_exist() -> None:
    import re

    root = Path(__file__).resolve().parent.parent
    profiles = sorted((root / "profiles").glob("aks-*.yaml"))
    assert profiles
    for profile in profiles:
        text = profile.read_text()
        for doc in re.findall(r"[\w./-]+\.md", text):
            assert (root / doc).is_file(), f"{profile.name} points to missing {doc}"
        for section in re.findall(r'section "([^"]+)"', text):
            assert re.search(rf"^#+ {re.escape(section)}", (root / "README.md").read_text(), re.M)


# --- resuming: timeouts and failed operations ------------------------------------------------


def test_a_create_past_the_timeout_says_how_to_resume_and_up_resumes_it(tmp_path: Path) -> None:
    azure = Azure()
    spec = workshop(tmp_path, "calico", tags={})
    impatient = dataclasses.replace(spec, timeouts=Timeouts(cluster=0.05, engine=2, workload=2))
    azure.arm.hold = True  # AKS is still creating when the timeout runs out ...
    azure.arm.fail_next()  # ... and the create fails in the end
    try:
        with pytest.raises(OperationError, match=r"still running after 0\.05s; run `invoke up"):
            up(azure, impatient)
    finally:
        azure.arm.release()
    record = load_record(spec)
    assert record is not None and record.phase == "creating" and record.resource_group_created
    cluster = azure.arm.clusters[(GROUP.lower(), NAME)]
    assert cluster["properties"]["provisioningState"] == "Failed"
    azure.arm.requests.clear()
    doc = up(azure, spec)

    (put,) = azure.puts()
    assert put.headers["if-match"] == f'"{cluster["eTag"]}"' and "if-none-match" not in put.headers
    assert doc["plan"]["cluster"]["action"] == "repair"
    assert doc["resourceGroupCreated"] is True  # the first, interrupted run created it
    assert azure.arm.clusters[(GROUP.lower(), NAME)]["properties"]["provisioningState"] == (
        "Succeeded"
    )
    assert load_record(spec).phase == "ready" and doc["after"]["scenario"] == "aks-demo"


def test_a_failed_create_is_repaired_by_the_next_up(tmp_path: Path) -> None:
    azure = Azure()
    spec = workshop(tmp_path, "azure")
    azure.arm.fail_next()
    with pytest.raises(OperationError, match="ReconcileVMSSAgentPoolFailed"):
        up(azure, spec)
    failed = azure.arm.clusters[(GROUP.lower(), NAME)]
    assert failed["properties"]["provisioningState"] == "Failed"

    plan = lab_plan(spec, gateway_factory=azure.gateway_factory, validate=False)
    assert plan.steps[0].action == "repair-cluster" and not plan.needs_confirmation
    assert "re-send its configuration to repair it" in plan.render_text(artifacts=False)
    body = plan.provider_plan.requests[0].body
    azure.arm.requests.clear()

    up(azure, spec)  # no --yes needed: repairing reimages nothing

    (put,) = azure.puts()
    assert put.body == body and put.headers["if-match"] == f'"{failed["eTag"]}"'
    repaired = azure.arm.clusters[(GROUP.lower(), NAME)]
    assert repaired["properties"]["provisioningState"] == "Succeeded"
    assert azure.kube.get("networking.k8s.io/v1", "NetworkPolicy", "demo-policy", "demo")


# --- one resource group check, one confirmation rule, one ownership message ------------------


def test_up_ensures_the_group_once_and_records_who_created_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = AksGateway.ensure_group

    def counted(self: AksGateway, group: str, *args: Any) -> bool:
        calls.append(group)
        return real(self, group, *args)

    monkeypatch.setattr(AksGateway, "ensure_group", counted)
    azure = Azure()
    spec = workshop(tmp_path, "none")
    doc = up(azure, spec)
    assert calls == [GROUP]
    group_puts = [r for r in azure.puts("") if r.path.endswith(f"/resourcegroups/{GROUP}")]
    assert len(group_puts) == 1
    assert doc["resourceGroupCreated"] is True and load_record(spec).resource_group_created


def test_up_and_down_ask_through_the_one_confirmation_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import provisioning.lab.confirm as confirm_rule

    asked: list[tuple[str, bool]] = []
    monkeypatch.setattr(
        confirm_rule, "require_confirmation", lambda q, *, yes, confirm: asked.append((q, yes))
    )
    monkeypatch.setattr(pipeline, "require_confirmation", confirm_rule.require_confirmation)
    azure = Azure()
    up(azure, workshop(tmp_path, "azure"))
    assert asked == []  # a create reimages nothing
    up(azure, workshop(tmp_path, "calico"))
    (question, yes), *_ = asked
    assert question.startswith("This run would change AKS cluster 'workshop-1' from engine azure")
    assert question.endswith("until the last node is back. Continue") and yes is False

    down(azure, workshop(tmp_path, "calico"), yes=False)
    assert asked[-1] == (
        f"Delete AKS cluster {NAME!r} and resource group {GROUP!r} (created by netpol-lab)",
        False,
    )


def test_the_question_without_a_terminal_says_to_pass_yes(tmp_path: Path) -> None:
    azure = Azure()
    up(azure, workshop(tmp_path, "azure"))
    with pytest.raises(UsageError) as err:
        up(azure, workshop(tmp_path, "calico"))
    assert str(err.value).startswith("This run would change AKS cluster 'workshop-1'")
    assert str(err.value).endswith("Continue: re-run with --yes to confirm (nothing was changed)")
    with pytest.raises(UsageError) as err:
        down(azure, workshop(tmp_path, "calico"), yes=False)
    assert str(err.value) == (
        f"Delete AKS cluster {NAME!r} and resource group {GROUP!r} (created by netpol-lab): "
        "re-run with --yes to confirm (nothing was changed)"
    )


def test_down_and_teardown_refuse_a_foreign_cluster_with_the_same_message(tmp_path: Path) -> None:
    from provisioning.providers.aks.teardown import not_owned_error, teardown

    azure = Azure()
    raw = copy.deepcopy(load("cluster_get_azure.json"))
    raw["name"], raw["tags"] = NAME, {"owner": "platform-team"}
    azure.arm.seed_cluster(GROUP, raw)
    spec = workshop(tmp_path, "azure")
    expected = str(not_owned_error(GROUP, NAME, NAME))
    assert "not tagged managed-by=netpol-lab for lab 'workshop-1'" in expected

    for keep_cluster in (False, True):
        with pytest.raises(UsageError) as err:
            down(azure, spec, keep_cluster=keep_cluster)
        assert str(err.value) == expected
    with pytest.raises(UsageError) as err:
        teardown(azure.gateway_factory(azure.arm.subscription), GROUP, NAME, lab=NAME)
    assert str(err.value) == expected
    assert azure.arm.calls("DELETE") == []


# --- validation and the scenario record ------------------------------------------------------


def test_up_validates_the_lab_and_reports_it(tmp_path: Path) -> None:
    azure = Azure()
    spec = dataclasses.replace(workshop(tmp_path, "calico"), scenario="open")
    executor = PolicyNetwork(azure.kube, enforcing=True)
    p = progress()
    doc = up(azure, spec, p=p, validate=True, probe_executor=executor, deadline=0)

    assert executor.rounds >= 2 and doc["canary"]["enforced"] == "yes"
    validation = json.loads(json.dumps(doc))["validation"]
    assert validation["ok"] is True and validation["scenario"] == "open"
    assert p.records[-1].title.startswith("Validate")
    assert [s["action"] for s in doc["plan"]["steps"]][-1] == "validate"

    assert up(azure, spec)["validation"] is None  # validate=False: no probing, no report
    plan = lab_plan(spec, gateway_factory=azure.gateway_factory, validate=False)
    assert "validate" not in [s.action for s in plan.steps]


def test_up_fails_when_the_engine_does_not_enforce_the_policies(tmp_path: Path) -> None:
    azure = Azure()
    spec = workshop(tmp_path, "calico")  # scenario aks-demo: demo-policy must block
    p = progress()
    with pytest.raises(
        OperationError, match="policies are not enforced here: engine calico"
    ) as err:
        up(
            azure,
            spec,
            p=p,
            validate=True,
            probe_executor=PolicyNetwork(azure.kube, enforcing=False),
            deadline=0,
        )
    assert "✗ Canary" in output(p) and "still connected" in str(err.value)


def test_up_records_the_scenario_the_lab_carries(tmp_path: Path) -> None:
    azure = Azure()
    spec = workshop(tmp_path, "calico")
    up(azure, spec)
    assert load_record(spec).scenario == "aks-demo"

    up(azure, spec)  # nothing to apply: the lab still carries aks-demo
    assert load_record(spec).scenario == "aks-demo"

    up(azure, dataclasses.replace(spec, scenario="open"))
    assert load_record(spec).scenario == "open"
