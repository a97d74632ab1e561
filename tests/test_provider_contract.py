"""The provider contract: one scenario, run through the shared pipeline on every provider.

kind, AKS and a cluster the user already has each come with their own simulated machine and
their own tests (tests/test_pipeline.py, tests/test_aks_lab.py, tests/existing/test_provider.py).
This module holds what must be true on all three alike, by running the SAME steps through
``provisioning.lab`` (plan, up, status, reset, down) with each provider behind the ``Provider``
seam. Each harness is built by a small factory from those modules' own helpers; the dataplane
is ``tests.fake_network.PolicyNetwork`` over the provider's simulated cluster, enforcing, and
time is simulated, so the whole module runs in a few seconds.

What differs between providers is said here once, in each ``Harness``: whether the cluster is
the tool's to delete, what ``down`` reports, the provider's status details, how a lab that is
not the tool's is set up. Everything else is asserted the same way for all of them.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from provisioning.errors import UsageError
from provisioning.lab import pipeline
from provisioning.lab.observe import lab_namespaces
from provisioning.lab.plan import CREATE, VALIDATE_STEP, PlanStep
from provisioning.lab.reset import reset
from provisioning.lab.state import MANIFEST, load_record
from provisioning.lab.status import lab_status
from provisioning.lab.teardown import down
from provisioning.progress import Progress
from provisioning.spec import LAB_FILES, LabSpec
from provisioning.validation.validate import exit_code
from tests.existing import test_provider as existing_lab
from tests.fake_network import PolicyNetwork
from tests.fake_world import World
from tests.test_aks_lab import (  # noqa: F401  (no_network: autouse, no socket opens here)
    GROUP,
    NAME,
    Azure,
    NoCommands,
    load,
    no_network,
    provider,
    workshop,
)
from tests.test_pipeline import make as kind_context
from tests.test_pipeline import network as kind_network
from tests.test_reset import policy

PROVIDERS = ("kind", "aks", "existing")
LAB_STEPS = ("deploy-workload", "apply-policies")
WRITES = ("apply", "create", "delete")


@dataclass
class Harness:
    """One provider and its simulated cluster, as the contract sees them."""

    provider: str
    spec: LabSpec
    context: Callable[[], pipeline.Context]  # a fresh run, as each `invoke` is
    kube: Callable[[], Any]  # the simulated cluster's API, for the hand-made changes
    writes: Callable[[], list[Any]]  # every change sent to the cloud, the tools or the API
    cluster_intact: Callable[[], bool]  # the cluster (and everything in it not the lab's) is there
    down_removes: Callable[[], tuple[str, ...]]  # what a first `down` reports removed
    keeps_cluster: bool
    details: Callable[[dict[str, Any]], Any] | None  # the provider's status details, projected
    expected_details: Any = None
    sleep: Callable[[float], None] = lambda _s: None

    def down(self) -> Any:
        return down(
            self.spec,
            self.context().provider,
            Progress(io.StringIO(), spinner=False),
            yes=True,
            poll_interval=0,
            sleep=self.sleep,
        )


# --- one factory per provider, from that provider's own harness ------------------------------


def kind_harness(tmp_path: Path, *, foreign: bool = False) -> Harness:
    world = World()
    name = "netpol-lab"
    if foreign:
        world.user_cluster(name)  # a kind cluster of the same name the user made by hand

    def context() -> pipeline.Context:
        ctx = kind_context(world, tmp_path, name=name)
        ctx.probe_executor = kind_network(world, name=name)
        return ctx

    def writes() -> list[Any]:
        tools = [
            c
            for c in world.calls
            if c[:2] in (("kind", "create"), ("kind", "delete")) or c[0] in ("kubectl", "helm")
        ]
        kube = [c for cl in world.clusters.values() for c in cl.calls if c.verb in WRITES]
        return tools + kube

    return Harness(
        provider="kind",
        spec=context().spec,
        context=context,
        kube=lambda: world.clusters[name],
        writes=writes,
        cluster_intact=lambda: name in world.clusters,
        down_removes=lambda: (f"kind cluster {name}",),
        keeps_cluster=False,
        details=None,  # kind has no details of its own in status
    )


def aks_harness(tmp_path: Path, *, foreign: bool = False) -> Harness:
    azure = Azure()
    if foreign:  # a cluster of the lab's name and group that lacks the tool's tags
        raw = copy.deepcopy(load("cluster_get_azure.json"))
        raw["name"], raw["tags"] = NAME, {"owner": "platform-team"}
        azure.arm.seed_cluster(GROUP, raw)
        engine = "azure"  # the seeded cluster's engine: no engine transition to refuse instead
    else:
        engine = "calico"
    spec = workshop(tmp_path, engine)
    now = [0.0]

    def context() -> pipeline.Context:
        return pipeline.build_context(
            spec,
            NoCommands(),
            Progress(io.StringIO(), spinner=False),
            provider(azure.gateway_factory, azure.kube_factory),
            clock=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + max(s, 0.25)),
            poll_interval=0,
            probe_executor=PolicyNetwork(azure.kube, enforcing=True),
        )

    def writes() -> list[Any]:
        arm = [r for r in azure.arm.requests if r.method in ("PUT", "PATCH", "POST", "DELETE")]
        arm = [r for r in arm if not r.path.lower().endswith("/listclusterusercredential")]
        return arm + [c for c in azure.kube.calls if c.verb in WRITES]

    return Harness(
        provider="aks",
        spec=spec,
        context=context,
        kube=lambda: azure.kube,
        writes=writes,
        cluster_intact=lambda: bool(azure.arm.clusters),
        down_removes=lambda: (f"AKS cluster {NAME}", f"resource group {GROUP}"),
        keeps_cluster=False,
        details=lambda d: (d["resourceGroup"], d["cluster"]["name"], d["cluster"]["networkPolicy"]),
        expected_details=(GROUP, NAME, "calico"),
    )


def existing_harness(tmp_path: Path, *, foreign: bool = False) -> Harness:
    extra = []
    if foreign:  # the user's own namespace, named as the lab's demo namespace, without labels
        taken = f"demo-{existing_lab.LAB}"
        extra = [
            existing_lab.namespace(taken),
            existing_lab.running_pod(taken, "ledger", "10.99.0.9", {"app": "ledger"}),
        ]
    cluster = existing_lab.user_cluster("kindnet.yaml", *extra)  # kindnet: enforces policies
    lab = existing_lab.make_lab(tmp_path, cluster, enforcing=True)
    before = existing_lab.snapshot(cluster)
    namespaces = sorted(lab_namespaces(lab.spec))

    return Harness(
        provider="existing",
        spec=lab.spec,
        context=lab.context,
        kube=lambda: cluster,
        writes=lambda: existing_lab.writes(cluster),
        # Nothing of the user's is ever changed: every object not the lab's is as before up.
        cluster_intact=lambda: bool(before) and existing_lab.not_labs(cluster) == before,
        down_removes=lambda: tuple(f"namespace {n}" for n in namespaces),
        keeps_cluster=True,
        details=lambda d: (sorted(d["namespaces"]), d["detected_engine"]),
        expected_details=(namespaces, "reference"),
        sleep=lab.clock.sleep,
    )


FACTORIES: dict[str, Callable[..., Harness]] = {
    "kind": kind_harness,
    "aks": aks_harness,
    "existing": existing_harness,
}


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing reads or writes the real state folder of whoever runs the tests."""
    monkeypatch.setenv("NETPOL_LAB_HOME", str(tmp_path / "state"))


@pytest.fixture(params=PROVIDERS)
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return FACTORIES[request.param](tmp_path)


# --- what is compared -------------------------------------------------------------------------


def neutral(spec: LabSpec, key: str) -> str:
    """An object ref with the lab's namespace suffix stripped (``Pod/demo-mylab/x`` ->
    ``Pod/demo/x``); the namespace must carry the suffix."""
    parts = key.split("/")
    at = 1 if parts[0] == "Namespace" or len(parts) == 3 else None
    if at is not None:
        assert parts[at].endswith(spec.namespace_suffix), key
        parts[at] = parts[at][: len(parts[at]) - len(spec.namespace_suffix)]
    return "/".join(parts)


def lab_steps(spec: LabSpec, steps: tuple[PlanStep, ...]) -> list[PlanStep]:
    return [
        replace(s, items=tuple((m, neutral(spec, k)) for m, k in s.items))
        for s in steps
        if s.action in LAB_STEPS
    ]


def state_files(spec: LabSpec) -> list[str]:
    """What is in the lab's state folder. The tests put nothing of their own there, so all of
    it is the tool's: its lab files (``LAB_FILES``), its manifest of them, temporary files."""
    if not spec.state_dir.exists():
        return []
    return sorted(p.name for p in spec.state_dir.iterdir())


# --- the contract -----------------------------------------------------------------------------


def test_plan_has_the_same_lab_steps_on_every_provider(tmp_path: Path) -> None:
    plans = {}
    for name in PROVIDERS:
        (tmp_path / name).mkdir()
        harness = FACTORIES[name](tmp_path / name)
        plan = pipeline.plan_for(harness.context(), validate=True)
        assert plan.blocked is None, name
        assert plan.steps[-1] == VALIDATE_STEP, name
        assert plan.observed.observed, name
        plans[name] = lab_steps(harness.spec, plan.steps)
        assert [s.action for s in plans[name]] == list(LAB_STEPS), name
        assert harness.writes() == [], name  # planning changes nothing

    assert plans["aks"] == plans["kind"]
    assert plans["existing"] == plans["kind"]
    workload, policies = plans["kind"]
    assert {m for m, _ in workload.items + policies.items} == {CREATE}  # a lab from nothing
    assert {k for _, k in workload.items if k.startswith("Pod/")} == {
        "Pod/demo/server",
        "Pod/demo/client",
        "Pod/demo/intruder",
        "Pod/other/client",
    }
    assert [k for _, k in policies.items] == ["NetworkPolicy/demo/demo-policy"]


def test_plan_up_status_reset_down(lab: Harness) -> None:
    spec = lab.spec
    demo = spec.namespace("demo")

    # plan: nothing in the way; the lab's steps, then validation last.
    plan = pipeline.plan_for(lab.context(), validate=True)
    assert plan.blocked is None
    assert plan.steps[-1].action == VALIDATE_STEP.action
    assert [s.action for s in plan.steps if s.action in LAB_STEPS] == list(LAB_STEPS)
    assert lab.writes() == []

    # up, validated on an enforcing network.
    ctx = lab.context()
    result = pipeline.up(ctx, yes=True, validate=True)
    assert result.executed
    assert ctx.canary is not None and ctx.canary.enforced == "yes"
    assert ctx.validation is not None and exit_code(ctx.validation) == 0
    assert ctx.probe_executor.rounds > 0
    record = load_record(spec)
    assert record is not None and record.provider == lab.provider and record.phase == "ready"
    assert pipeline.up_document(ctx, result)["validation"]["ok"] is True
    assert {"state.json", MANIFEST} <= set(state_files(spec)) <= {*LAB_FILES, MANIFEST}

    # A second up changes nothing.
    written = len(lab.writes())
    again = pipeline.up(lab.context(), yes=True, validate=False)
    assert again.plan.changes == ()
    assert len(lab.writes()) == written

    # status: the shared document, and the provider's own details under its name.
    status = lab_status(spec, lab.context().provider)
    doc = status.document()
    assert doc["provider"] == lab.provider
    assert doc["observed"] is True and doc["owned"] is True
    assert doc["scenario"] == spec.scenario == "aks-demo"
    assert sum(k.startswith("Pod/") for k in doc["objects"]) == 4
    assert sorted(doc["pods_ready"].values()) == [True] * 4
    if lab.details is None:
        assert lab.provider not in doc
    else:
        assert lab.details(doc[lab.provider]) == lab.expected_details

    # reset: a policy made by hand in the lab's demo namespace is reported and undone.
    lab.kube().apply([policy("allow-all", demo)])
    ctx = lab.context()
    report = reset(ctx)
    assert report.provider == lab.provider
    assert report.changes == (f"deleted NetworkPolicy {demo}/allow-all (not in the baseline)",)
    assert lab.kube().get("networking.k8s.io/v1", "NetworkPolicy", "allow-all", demo) is None
    assert report.validated and exit_code(ctx.validation) == 0
    assert reset(lab.context(), validate=False).changes == ()

    # down: the tool's cluster goes; a cluster the user has stays, less the lab's namespaces.
    removed = lab.down()
    assert removed.removed == lab.down_removes()
    assert lab.cluster_intact() is lab.keeps_cluster
    if lab.keeps_cluster:
        assert removed.kept  # and says which cluster it kept
    assert load_record(spec) is None
    assert state_files(spec) == []
    written = len(lab.writes())
    assert lab.down().removed == ()
    assert len(lab.writes()) == written
    assert state_files(spec) == []


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_cluster_or_namespace_that_is_not_the_labs_blocks_the_plan(
    tmp_path: Path, name: str
) -> None:
    harness = FACTORIES[name](tmp_path, foreign=True)
    plan = pipeline.plan_for(harness.context(), validate=True)
    assert plan.blocked
    assert "\n" not in plan.blocked
    assert plan.steps == ()
    with pytest.raises(UsageError) as err:
        pipeline.up(harness.context(), yes=True, validate=True)
    assert str(err.value) == plan.blocked
    assert harness.writes() == []
    assert load_record(harness.spec) is None
