"""Provider ``existing`` through the shared pipeline: plan, up, status, validate, down.

Each engine fixture (tests/existing/fixtures, the engine's objects as its upstream manifest
installs them) is seeded into a simulated cluster the user already runs (``SimCluster.running``:
its kubelets start pods, Running and Ready with an IP, once they are written), next to the
user's own namespaces, pods and policies. The real pipeline, provider, detection, canary and
validation run; probes go through ``PolicyNetwork``, which decides every connection from the
objects in the cluster with the analyzer, enforcing only when the fixture's engine really
enforces NetworkPolicy (``REAL`` below, written from docs/engine-detection.md, not from the
detection code: a wrong detection makes the lab expect the wrong thing and fail here).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.errors import UsageError
from provisioning.lab import pipeline
from provisioning.lab.observe import lab_namespaces
from provisioning.lab.plan import SAME, VALIDATE_STEP
from provisioning.lab.state import load_record
from provisioning.lab.status import lab_status
from provisioning.lab.teardown import down
from provisioning.profiles import resolve
from provisioning.progress import Progress
from provisioning.providers.existing.access import required_access
from provisioning.providers.existing.provider import ExistingProvider
from provisioning.spec import LABEL_LAB, LABEL_MANAGED_BY, TOOL, LabSpec, lab_labels
from provisioning.validation.validate import exit_code
from tests.fake_kube import Call
from tests.fake_network import PolicyNetwork
from tests.fake_world import SimCluster

FIXTURES = Path(__file__).parent / "fixtures"
LAB = "mylab"
OTHER_LAB = "otherlab"


@dataclass(frozen=True)
class Engine:
    """What a fixture's engine is and really does (docs/engine-detection.md)."""

    name: str  # as the detection names it
    enforced: str  # yes / no / unknown: what the detection can tell from these objects
    model: str  # the analyzer model the lab should pick for it
    dataplane: str = "reference"  # the analyzer profile that behaves as its dataplane does


REAL: dict[str, Engine] = {
    "antrea.yaml": Engine("antrea", "yes", "reference"),
    "aws-vpc-cni-network-policy.yaml": Engine("aws-vpc-cni", "yes", "reference"),
    "aws-vpc-cni.yaml": Engine("aws-vpc-cni", "no", "none"),
    "azure-npm.yaml": Engine("azure-npm", "yes", "azure", "azure"),
    "calico-manifest.yaml": Engine("calico", "yes", "calico", "calico"),
    "calico-operator.yaml": Engine("calico", "yes", "calico", "calico"),
    "canal.yaml": Engine("canal", "yes", "calico", "calico"),
    "cilium-never.yaml": Engine("cilium", "no", "none"),
    "cilium.yaml": Engine("cilium", "yes", "cilium", "cilium"),
    "eks-auto-mode.yaml": Engine("aws-vpc-cni", "unknown", "reference"),
    "flannel.yaml": Engine("flannel", "unknown", "reference"),
    "gke-anetd.yaml": Engine("gke-dataplane-v2", "yes", "cilium", "cilium"),
    "k3s-no-netpol.yaml": Engine("k3s", "no", "none"),
    "k3s.yaml": Engine("k3s", "yes", "reference"),
    "kindnet-old.yaml": Engine("kindnet", "no", "none"),
    "kindnet.yaml": Engine("kindnet", "yes", "reference"),
    "kube-network-policies.yaml": Engine("kube-network-policies", "yes", "reference"),
    "kube-router.yaml": Engine("kube-router", "yes", "reference"),
    "terway-policy.yaml": Engine("terway", "yes", "reference"),
    "terway.yaml": Engine("terway", "no", "none"),
}


def runs() -> list[Any]:
    """(fixture, enforcing): an engine that says yes or no does what it says; where the
    objects cannot tell (unknown), both are real possibilities and the canary must find out."""
    cases = []
    for fixture, engine in sorted(REAL.items()):
        for enforcing in {"yes": [True], "no": [False], "unknown": [True, False]}[engine.enforced]:
            label = "enforcing" if enforcing else "not-enforcing"
            cases.append(pytest.param(fixture, enforcing, id=f"{fixture[:-5]}-{label}"))
    return cases


def test_every_fixture_has_its_real_behaviour_written_down() -> None:
    assert {p.name for p in FIXTURES.glob("*.yaml")} == set(REAL)


# --- the user's cluster ------------------------------------------------------------------------


def load(fixture: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((FIXTURES / fixture).read_text()) if d]


def namespace(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def running_pod(ns: str, name: str, ip: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """A pod of the user's, already running (its status as kubelet reported it)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "nginx:1.29",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                }
            ]
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def deny_all(ns: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny-all", "namespace": ns, "labels": dict(labels or {})},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def users_own() -> list[dict[str, Any]]:
    """What the user already runs: a namespace called like the lab's without the suffix, one
    labelled as another lab's (the same tool, another --name), and a pod in default."""
    other = lab_labels(OTHER_LAB)
    return [
        namespace("demo"),
        running_pod("demo", "server", "10.99.0.1", {"app": "server"}),
        deny_all("demo"),
        namespace(f"demo-{OTHER_LAB}", other),
        running_pod(f"demo-{OTHER_LAB}", "client", "10.99.0.2", {**other, "app": "client"}),
        deny_all(f"demo-{OTHER_LAB}", other),
        running_pod("default", "web", "10.99.0.3", {"app": "web"}),
    ]


def user_cluster(fixture: str, *extra: dict[str, Any]) -> SimCluster:
    return SimCluster.running("users-cluster", [*load(fixture), *users_own(), *extra])


def snapshot(cluster: SimCluster) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """Every object, by (apiVersion, kind, namespace, name), exactly as stored."""
    return {
        (o["apiVersion"], o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for o in cluster.objects()
    }


def is_labs(obj: Mapping[str, Any]) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return labels.get(LABEL_MANAGED_BY) == TOOL and labels.get(LABEL_LAB) == LAB


def not_labs(cluster: SimCluster) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    return {k: v for k, v in snapshot(cluster).items() if not is_labs(v)}


# --- the seams ---------------------------------------------------------------------------------


class Clock:
    """Simulated time: waits, the canary's deadline and probe timeouts pass without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.01)


class NoCommands:
    """The Runner seam: the provider needs no local program (probes go through the network)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def run(self, argv: Any, **_: Any) -> Any:
        self.calls.append(tuple(argv))
        raise AssertionError(f"no command should run: {argv}")

    def which(self, program: str) -> str | None:
        return None


class Dataplane:
    """The cluster as the network sees it. The network is not an API client: its reads are
    not recorded among the calls the tool made."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster

    def list(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        before = len(self.cluster.calls)
        try:
            return self.cluster.list(*args, **kwargs)
        finally:
            del self.cluster.calls[before:]


@dataclass
class Lab:
    """One lab on one user cluster: the spec, the provider and what the test observes."""

    spec: LabSpec
    cluster: SimCluster
    network: PolicyNetwork
    clock: Clock
    runner: NoCommands
    factory_args: list[tuple[Path, str | None]]
    out: io.StringIO

    def provider(self) -> ExistingProvider:
        def factory(path: Path, context: str | None) -> SimCluster:
            self.factory_args.append((path, context))
            return self.cluster

        return ExistingProvider(kube_factory=factory)

    def context(self) -> pipeline.Context:
        """A fresh run (as each `invoke` is): a new provider, so detection is read again."""
        return pipeline.build_context(
            self.spec,
            self.runner,
            Progress(self.out, spinner=False),
            self.provider(),
            clock=self.clock,
            sleep=self.clock.sleep,
            poll_interval=1.0,
            probe_executor=self.network,
        )

    def down(self) -> Any:
        return down(
            self.spec, self.provider(), Progress(self.out, spinner=False), sleep=self.clock.sleep
        )

    @property
    def text(self) -> str:
        return self.out.getvalue()


def make_lab(
    tmp_path: Path,
    cluster: SimCluster,
    *,
    enforcing: bool,
    dataplane: str = "reference",
    context: str | None = None,
) -> Lab:
    kubeconfig = tmp_path / "users-kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")  # the provider reads the file's name
    flags = {"provider": "existing", "name": LAB, "kubeconfig": str(kubeconfig)}
    if context:
        flags["context"] = context
    spec = replace(resolve(flags=flags), state_root=tmp_path / "state")
    clock = Clock()
    network = PolicyNetwork(Dataplane(cluster), enforcing, engine=dataplane, advance=clock.sleep)
    return Lab(spec, cluster, network, clock, NoCommands(), [], io.StringIO())


RBAC_RESOURCES = {
    "Namespace": ("", "namespaces"),
    "Pod": ("", "pods"),
    "Service": ("", "services"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "ClusterNetworkPolicy": ("policy.networking.k8s.io", "clusternetworkpolicies"),
    "GlobalNetworkPolicy": ("projectcalico.org", "globalnetworkpolicies"),
    "ConfigMap": ("", "configmaps"),
    "DaemonSet": ("apps", "daemonsets"),
    "Deployment": ("apps", "deployments"),
    "Node": ("", "nodes"),
    "ClusterRole": ("rbac.authorization.k8s.io", "clusterroles"),
}
# Server-side apply is a PATCH, and the API server also checks "create" when it creates.
RBAC_VERBS = {
    "apply": ("patch", "create"),
    "get": ("get",),
    "list": ("list",),
    "delete": ("delete",),
    "create": ("create",),
}


def not_covered(spec: LabSpec, calls: list[Call]) -> list[Call]:
    """The calls no permission of ``required_access`` allows (``/version`` needs none)."""
    needs = required_access(spec)
    missing = []
    for call in calls:
        if call.verb == "server_version":
            continue
        group, resource = RBAC_RESOURCES[call.kind]
        for verb in RBAC_VERBS[call.verb]:
            if not any(
                (n.verb, n.group, n.resource, n.subresource) == (verb, group, resource, "")
                and n.namespace == call.namespace
                and n.name in ("", call.name)
                for n in needs
            ):
                missing.append(call)
    return missing


def writes(cluster: SimCluster) -> list[Call]:
    return [c for c in cluster.calls if c.verb in ("apply", "create", "delete")]


# --- every engine, the whole life of a lab -----------------------------------------------------


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETPOL_LAB_HOME", str(tmp_path / "state"))


@pytest.mark.parametrize(("fixture", "enforcing"), runs())
def test_plan_up_status_validate_down_on_each_engine(
    tmp_path: Path, fixture: str, enforcing: bool
) -> None:
    engine = REAL[fixture]
    cluster = user_cluster(fixture)
    lab = make_lab(tmp_path, cluster, enforcing=enforcing, dataplane=engine.dataplane)
    namespaces = [f"canary-{LAB}", f"demo-{LAB}", f"other-{LAB}"]
    assert sorted(lab_namespaces(lab.spec)) == namespaces
    before = snapshot(cluster)
    assert not [o for o in before.values() if is_labs(o)]

    # plan: the cluster and its engine are kept as they are, the engine named as detected.
    ctx = lab.context()
    assert ctx.spec.engine == engine.model
    plan = pipeline.plan_for(ctx, validate=True)
    assert plan.blocked is None
    provider_steps = [s for s in plan.steps if s.action not in pipeline.SHARED_ACTIONS]
    assert [(s.marker, s.action) for s in provider_steps] == [
        (SAME, "keep-cluster"),
        (SAME, "keep-engine"),
    ]
    assert provider_steps[1].title == f"engine {engine.model}"
    assert f"{engine.name} found in the cluster" in provider_steps[1].detail
    assert f"NetworkPolicy enforced: {engine.enforced}" in provider_steps[1].detail
    assert not any(s.destructive for s in plan.steps)
    assert writes(cluster) == [] and snapshot(cluster) == before

    # up: the lab's namespaces and objects, nothing else; validated through the canary.
    up_ctx = lab.context()
    result = pipeline.up(up_ctx, yes=True, validate=True)
    assert result.executed
    after_up = snapshot(cluster)
    assert not_labs(cluster) == before  # every object not the lab's, untouched
    for key in set(after_up) - set(before):  # what is new is the lab's, in the lab's namespaces
        assert is_labs(after_up[key]), key
        assert key[2] in namespaces or (key[1] == "Namespace" and key[3] in namespaces), key
    for name in namespaces:
        found = after_up[("v1", "Namespace", "", name)]
        assert lab_labels(LAB).items() <= found["metadata"]["labels"].items()
    pods = {
        f"{ns}/{name}"
        for (_, kind, ns, name), o in after_up.items()
        if kind == "Pod" and is_labs(o)
    }
    # The demo's pods; the canary's are gone again.
    assert pods == {
        f"demo-{LAB}/server",
        f"demo-{LAB}/client",
        f"demo-{LAB}/intruder",
        f"other-{LAB}/client",
    }
    record = load_record(lab.spec)
    assert record is not None and record.provider == "existing" and not record.cluster_created
    assert lab.runner.calls == []
    assert set(lab.factory_args) == {(lab.spec.existing.kubeconfig, None)}
    # The canary told the truth about the dataplane, and validation then matched it.
    assert up_ctx.canary.enforced == ("yes" if enforcing else "no")
    assert exit_code(up_ctx.validation) == 0
    assert lab.network.rounds > 0

    # status: the detected engine, with the evidence.
    found = lab_status(lab.spec, lab.provider())
    doc = found.document()
    assert doc["provider"] == "existing"
    assert doc["existing"]["detected_engine"] == engine.model
    assert sorted(doc["existing"]["namespaces"]) == namespaces
    detection = doc["existing"]["detection"]
    assert detection["enforced"] == engine.enforced
    assert [e["name"] for e in detection["engines"]] == [engine.name]
    assert all(e["evidence"] for e in detection["engines"])
    assert doc["observed"] and doc["scenario"] == "aks-demo"
    assert sum(k.startswith("Pod/") for k in doc["objects"]) == 4
    assert all(doc["pods_ready"].values())
    assert f"{engine.name} found" in found.text()

    # validate, as `invoke validate` does: canary, then every probe.
    ctx = lab.context()
    pipeline.validate_lab(ctx, VALIDATE_STEP)
    assert ctx.canary.enforced == ("yes" if enforcing else "no")
    assert exit_code(ctx.validation) == 0
    # The canary's verdict, said in words; validation then expects what the dataplane does.
    said = "policies are not enforced here (engine "
    if not enforcing:
        assert ctx.spec.engine == ctx.validation.engine == "none"
        assert said in lab.text
    else:
        assert ctx.validation.engine == engine.model
        assert said not in lab.text
    assert snapshot(cluster) == after_up  # the canary cleaned up after itself

    # Every call the tool made is allowed by what doctor asks for, and no list spans
    # namespaces that are not the lab's.
    assert not_covered(lab.spec, cluster.calls) == []

    # down: the lab's namespaces only; the user's cluster is as it was before up.
    cluster.calls.clear()
    removed = lab.down()
    assert sorted(removed.removed) == [f"namespace {n}" for n in namespaces]
    assert snapshot(cluster) == before
    assert load_record(lab.spec) is None
    deleted = writes(cluster)
    assert {(c.verb, c.kind, c.name) for c in deleted} == {
        ("delete", "Namespace", n) for n in namespaces
    }
    assert not_covered(lab.spec, cluster.calls) == []

    # A second down finds nothing and changes nothing.
    cluster.calls.clear()
    again = lab.down()
    assert again.removed == ()
    assert writes(cluster) == []
    assert snapshot(cluster) == before


# --- a namespace of the lab's name that the lab did not create ---------------------------------


@pytest.mark.parametrize("logical", ["demo", "other", "canary"])
@pytest.mark.parametrize("labels", [{}, lab_labels(OTHER_LAB)], ids=["unlabelled", "other-lab"])
def test_a_namespace_the_lab_did_not_create_blocks_up(
    tmp_path: Path, logical: str, labels: dict[str, str]
) -> None:
    taken = f"{logical}-{LAB}"
    cluster = user_cluster(
        "calico-operator.yaml",
        namespace(taken, {**labels, "team": "payments"}),
        running_pod(taken, "ledger", "10.99.0.9", {"app": "ledger"}),
    )
    lab = make_lab(tmp_path, cluster, enforcing=True, dataplane="calico")
    before = snapshot(cluster)

    with pytest.raises(UsageError) as err:
        pipeline.up(lab.context(), yes=True, validate=True)
    message = str(err.value)
    assert "\n" not in message
    assert f"namespace {taken} exists" in message and f"not created by lab {LAB!r}" in message
    assert "choose another --name" in message
    assert writes(cluster) == []
    assert snapshot(cluster) == before
    assert load_record(lab.spec) is None

    # plan shows the same refusal, and down has nothing of the lab's to remove.
    assert pipeline.plan_for(lab.context(), validate=True).blocked == message
    assert lab.down().removed == ()
    assert snapshot(cluster) == before


def test_the_context_given_reaches_the_cluster(tmp_path: Path) -> None:
    lab = make_lab(
        tmp_path, user_cluster("cilium.yaml"), enforcing=True, dataplane="cilium", context="team-a"
    )
    result = pipeline.up(lab.context(), yes=True, validate=False)
    assert result.executed
    assert set(lab.factory_args) == {(lab.spec.existing.kubeconfig, "team-a")}
    assert lab.provider().kubectl_args(lab.spec) == (
        "--kubeconfig",
        str(lab.spec.existing.kubeconfig),
        "--context",
        "team-a",
    )


def test_a_second_up_changes_nothing(tmp_path: Path) -> None:
    cluster = user_cluster("kindnet.yaml")
    lab = make_lab(tmp_path, cluster, enforcing=True)
    pipeline.up(lab.context(), yes=True, validate=False)
    after = snapshot(cluster)
    cluster.calls.clear()

    result = pipeline.up(lab.context(), yes=True, validate=False)
    assert result.plan.changes == ()
    assert writes(cluster) == []
    assert snapshot(cluster) == after


def test_an_unreachable_cluster_is_one_line_and_nothing_is_done(tmp_path: Path) -> None:
    from provisioning.errors import OperationError

    cluster = user_cluster("calico-operator.yaml")
    cluster.unreachable = True
    lab = make_lab(tmp_path, cluster, enforcing=True)

    plan = pipeline.plan_for(lab.context(), validate=True)
    assert not plan.observed.observed
    with pytest.raises(OperationError) as err:
        pipeline.up(lab.context(), yes=True)
    assert "could not reach the cluster of" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(OperationError, match="cannot reach the cluster"):
        lab.down()
    assert load_record(lab.spec) is None
