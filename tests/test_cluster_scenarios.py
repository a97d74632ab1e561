"""Scenarios with cluster-wide policies (issue 13): cluster-guardrails on the simulated machine.

kind with calico (Calico 3.32 ships and enforces ClusterNetworkPolicy) and cilium (1.20 with
``k8sClusterNetworkPolicy.enabled`` and the network-policy-api CRD) run it end to end: the
ClusterNetworkPolicies are applied as the lab's own (named ``<lab>-...``, labelled, their subject
confined to the lab's namespaces), validated on a dataplane that enforces them, kept by a second
``up``, restored by ``reset``, and deleted by ``down --keep-cluster``, leaving a user's own
ClusterNetworkPolicy alone. Engines that do not enforce them refuse the scenario with one line.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from provisioning.errors import UsageError
from provisioning.lab import pipeline
from provisioning.lab.engine import EngineSettings
from provisioning.lab.reset import reset
from provisioning.lab.status import lab_status
from provisioning.lab.teardown import down
from provisioning.progress import Progress
from provisioning.spec import LABEL_LAB, LabSpec
from provisioning.validation.validate import exit_code
from tests.fake_network import PolicyNetwork
from tests.fake_world import World
from tests.test_exercise_live import COREDNS
from tests.test_pipeline import ClusterOf, make

CNP = ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy")
LAB = "lab1"
LAB_CNPS = {f"{LAB}-deny-metadata", f"{LAB}-isolate-demo", f"{LAB}-isolate-other"}


def cnps(cluster: Any) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in cluster.list(*CNP)}


def users_own_cnp() -> dict[str, Any]:
    """A ClusterNetworkPolicy the user made: not the lab's (no labels, another name)."""
    return {
        "apiVersion": CNP[0],
        "kind": CNP[1],
        "metadata": {"name": "platform-guardrail"},
        "spec": {
            "tier": "Admin",
            "priority": 900,
            "subject": {"namespaces": {"matchLabels": {"team": "platform"}}},
            "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}],
        },
    }


def context(
    world: World, tmp_path: Path, engine: str, scenario: str = "cluster-guardrails"
) -> pipeline.Context:
    ctx = make(world, tmp_path, engine=engine, name=LAB, scenario=scenario)
    ctx.probe_executor = PolicyNetwork(ClusterOf(world, LAB), enforcing=True, engine=engine)
    return ctx


@pytest.mark.parametrize("engine", ["calico", "cilium"])
def test_cluster_guardrails_up_validate_reset_down(tmp_path: Path, engine: str) -> None:
    world = World()
    assert pipeline.up(context(world, tmp_path, engine), yes=True).executed
    cluster = world.clusters[LAB]
    # The cluster DNS, as kind runs it: the Admin policy has egress rules, so DNS is checked.
    cluster.apply([COREDNS])
    ctx = context(world, tmp_path, engine)
    pipeline.up(ctx, yes=True, validate=True)
    assert ctx.validation is not None and exit_code(ctx.validation) == 0, ctx.validation
    assert ctx.validation.dns, "DNS checked: the lab has cluster-wide egress rules"
    found = cnps(cluster)
    assert set(found) == LAB_CNPS
    for obj in found.values():
        assert obj["metadata"]["labels"][LABEL_LAB] == LAB
        subject = obj["spec"]["subject"]["namespaces"]["matchLabels"]
        assert subject[LABEL_LAB] == LAB  # confined to the lab's namespaces
    assert found[f"{LAB}-deny-metadata"]["spec"]["tier"] == "Admin"

    # status shows them among the lab's objects; a second up changes nothing.
    doc = lab_status(ctx.spec, context(world, tmp_path, engine).provider).document()
    assert {f"ClusterNetworkPolicy/{n}" for n in LAB_CNPS} <= set(doc["objects"])
    assert doc["scenario"] == "cluster-guardrails"
    assert pipeline.up(context(world, tmp_path, engine), yes=True).plan.changes == ()

    # reset: an edited one restored, a deleted one recreated; the user's own never touched.
    cluster.seed(users_own_cnp())
    edited = dict(found[f"{LAB}-isolate-demo"])
    edited["spec"] = {**edited["spec"], "priority": 999}
    cluster.apply([edited])
    cluster.delete(*CNP, f"{LAB}-deny-metadata")
    report = reset(context(world, tmp_path, engine))
    assert f"created ClusterNetworkPolicy {LAB}-deny-metadata" in report.changes
    assert any(
        c.startswith(f"restored ClusterNetworkPolicy {LAB}-isolate-demo (spec edited")
        for c in report.changes
    ), report.changes
    assert cnps(cluster)[f"{LAB}-isolate-demo"]["spec"]["priority"] == 50
    assert "platform-guardrail" in cnps(cluster)
    assert reset(context(world, tmp_path, engine), validate=False).changes == ()

    # down --keep-cluster: the lab's cluster-wide policies go first, the user's stays.
    removed = down(
        ctx.spec,
        context(world, tmp_path, engine).provider,
        Progress(io.StringIO(), spinner=False),
        keep_cluster=True,
        poll_interval=0,
    )
    assert {f"ClusterNetworkPolicy {n}" for n in LAB_CNPS} <= set(removed.removed)
    assert set(cnps(cluster)) == {"platform-guardrail"}


def test_the_baseline_isolation_is_enforced_where_no_networkpolicy_selects(
    tmp_path: Path,
) -> None:
    """The dataplane really applies the Baseline tier: once the namespaced policy that opens the
    server is gone, other/client no longer reaches demo/server, and validation says why."""
    world = World()
    ctx = context(world, tmp_path, "calico")
    pipeline.up(ctx, yes=True, validate=False)
    network = PolicyNetwork(ClusterOf(world, LAB), enforcing=True, engine="calico")
    from provisioning.validation.probe import PodRef, Probe

    cluster = world.clusters[LAB]
    server = cluster.get("v1", "Pod", "server", "demo")
    client = cluster.get("v1", "Pod", "client", "other")
    container = client["spec"]["containers"][0]["name"]
    source = PodRef("other", "client", client["status"]["podIP"], container)
    probe = Probe(source, PodRef("demo", "server", server["status"]["podIP"]), 80)
    [before] = network.run([probe], 1.0)
    cluster.delete("networking.k8s.io/v1", "NetworkPolicy", "open-server-to-other-client", "demo")
    [after] = network.run([probe], 1.0)
    assert before.outcome.value == "connected"
    assert after.outcome.value == "blocked"


@pytest.mark.parametrize("engine", ["none"])
def test_engines_that_do_not_enforce_it_refuse_the_scenario(tmp_path: Path, engine: str) -> None:
    with pytest.raises(UsageError) as caught:
        make(World(), tmp_path, engine=engine, name=LAB, scenario="cluster-guardrails")
    assert "scenario cluster-guardrails uses ClusterNetworkPolicy" in str(caught.value)


def test_refusal_and_warning_follow_what_the_engine_says() -> None:
    spec = LabSpec(name=LAB, scenario="cluster-guardrails")
    _, policies = pipeline.desired_objects(spec)
    base = EngineSettings("azure", "Azure NPM", True, {}, (), (), cluster_network_policy=False)
    with pytest.raises(UsageError) as caught:
        pipeline.check_cluster_wide(spec, base, policies)
    assert str(caught.value).startswith(
        "scenario cluster-guardrails uses ClusterNetworkPolicy, which engine azure on kind "
        "does not enforce"
    ) or "does not enforce" in str(caught.value)
    from dataclasses import replace

    unknown = pipeline.check_cluster_wide(
        spec, replace(base, cluster_network_policy=None), policies
    )
    assert any("cannot be told" in w for w in unknown.warnings)
    known = replace(base, cluster_network_policy=True)
    assert pipeline.check_cluster_wide(spec, known, policies) == known


@pytest.mark.parametrize("engine", ["azure", "calico", "cilium"])
def test_aks_engines_refuse_the_scenario(engine: str) -> None:
    """Azure NPM implements networking.k8s.io/v1 only; AKS's managed Calico and Cilium are not
    documented to enable ClusterNetworkPolicy (docs/cluster-policy-engines.md)."""
    from provisioning.providers.aks.provider import aks_engine

    spec = LabSpec(name=LAB, provider="aks", engine=engine, scenario="cluster-guardrails")
    _, policies = pipeline.desired_objects(spec)
    with pytest.raises(UsageError) as caught:
        pipeline.check_cluster_wide(spec, aks_engine(spec), policies)
    assert f"which engine {engine} on aks does not enforce" in str(caught.value)


GNP = ("projectcalico.org/v3", "GlobalNetworkPolicy")


def test_calico_global_dns_on_kind_calico(tmp_path: Path) -> None:
    """The GlobalNetworkPolicy is applied once the Calico API server serves projectcalico.org/v3,
    validated on a dataplane that evaluates Calico's tiers (the NetworkPolicies at order 1000
    open client -> server:80 before the global deny at 2000; DNS stays open), and removed."""
    world = World()
    make_ctx = lambda: context(world, tmp_path, "calico", "calico-global-dns")  # noqa: E731
    assert pipeline.up(make_ctx(), yes=True).executed
    cluster = world.clusters[LAB]
    cluster.apply([COREDNS])
    ctx = make_ctx()
    pipeline.up(ctx, yes=True, validate=True)
    assert ctx.validation is not None and exit_code(ctx.validation) == 0, ctx.validation
    assert ctx.validation.dns
    [gnp] = cluster.list(*GNP)
    assert gnp["metadata"]["name"] == f"{LAB}-default-deny-with-dns"
    assert gnp["metadata"]["labels"][LABEL_LAB] == LAB

    removed = down(
        ctx.spec,
        make_ctx().provider,
        Progress(io.StringIO(), spinner=False),
        keep_cluster=True,
        poll_interval=0,
    )
    assert f"GlobalNetworkPolicy {LAB}-default-deny-with-dns" in removed.removed
    assert cluster.list(*GNP) == []


@pytest.mark.parametrize("engine", ["cilium", "none"])
def test_calico_global_dns_needs_calico(tmp_path: Path, engine: str) -> None:
    with pytest.raises(UsageError) as caught:
        make(World(), tmp_path, engine=engine, name=LAB, scenario="calico-global-dns")
    assert "scenario calico-global-dns uses GlobalNetworkPolicy" in str(caught.value)
    assert "--engine calico" in (caught.value.hint or "")


def test_validation_says_which_cluster_wide_policies_the_engine_leaves_out() -> None:
    """A ClusterNetworkPolicy in a cluster whose engine does not enforce it (Azure NPM): the
    expectations leave it out, and the report's notes say so."""
    from provisioning.validation.live import LiveLab, left_out_notes

    lab = LiveLab({"demo": {}}, (), (users_own_cnp(),))
    [note] = left_out_notes(lab, "azure")
    assert "engine azure does not enforce ClusterNetworkPolicy" in note
    assert "platform-guardrail" in note
    assert left_out_notes(lab, "calico") == ()


# --- regressions from the hostile review ---------------------------------------------------------


def test_reset_restores_an_edited_and_recreates_a_deleted_global_network_policy(
    tmp_path: Path,
) -> None:
    world = World()
    assert pipeline.up(context(world, tmp_path, "calico", "calico-global-dns"), yes=True).executed
    cluster = world.clusters[LAB]
    name = f"{LAB}-default-deny-with-dns"
    [gnp] = cluster.list(*GNP)
    opened = dict(gnp)
    opened["spec"] = {**gnp["spec"], "order": 1, "ingress": [{"action": "Allow"}]}
    cluster.apply([opened])
    report = reset(context(world, tmp_path, "calico", "calico-global-dns"), validate=False)
    assert any(
        c.startswith(f"restored GlobalNetworkPolicy {name} (spec edited") for c in report.changes
    )
    assert cluster.list(*GNP)[0]["spec"]["order"] == 2000
    cluster.delete(*GNP, name)
    report = reset(context(world, tmp_path, "calico", "calico-global-dns"), validate=False)
    assert report.changes == (f"created GlobalNetworkPolicy {name}",)
    assert (
        reset(context(world, tmp_path, "calico", "calico-global-dns"), validate=False).changes == ()
    )


def test_a_users_own_calico_policies_are_noted_not_fed_to_the_analyzer(tmp_path: Path) -> None:
    """A host-endpoint policy (preDNAT) or one in a tier the analysis is not given would stop
    validation; the cluster's own GlobalNetworkPolicies are counted in a note instead."""
    from provisioning.validation import live

    world = World()
    assert pipeline.up(context(world, tmp_path, "calico", "calico-global-dns"), yes=True).executed
    cluster = world.clusters[LAB]
    cluster.seed(
        {
            "apiVersion": GNP[0],
            "kind": GNP[1],
            "metadata": {"name": "host-firewall"},
            "spec": {"preDNAT": True, "applyOnForward": True, "selector": "has(host)"},
        }
    )
    lab = live.observe(cluster, context(world, tmp_path, "calico", "calico-global-dns").spec)
    kinds = sorted(
        (p["kind"], p["metadata"]["name"]) for p in lab.policies if "namespace" not in p["metadata"]
    )
    assert kinds == [("GlobalNetworkPolicy", f"{LAB}-default-deny-with-dns")]
    assert any("host-firewall" in n and "not modelled" in n for n in lab.notes)


def test_down_removes_the_namespaces_and_says_so_when_calicos_api_is_down(tmp_path: Path) -> None:
    from provisioning.errors import OperationError
    from provisioning.kube import KubeError

    world = World()
    ctx = context(world, tmp_path, "calico", "calico-global-dns")
    assert pipeline.up(ctx, yes=True).executed
    cluster = world.clusters[LAB]
    cluster.fail_on(
        "list",
        kind="GlobalNetworkPolicy",
        error=KubeError("service unavailable", status=503, reason="ServiceUnavailable"),
    )
    with pytest.raises(OperationError) as caught:
        down(
            ctx.spec,
            context(world, tmp_path, "calico").provider,
            Progress(io.StringIO(), spinner=False),
            keep_cluster=True,
            poll_interval=0,
        )
    message = str(caught.value)
    assert message.startswith("removed namespace canary, namespace demo, namespace other; ")
    assert "could not list the lab's GlobalNetworkPolicy objects: their API answered 503" in (
        message
    )
    assert cluster.get("v1", "Namespace", "demo") is None


def test_cluster_wide_templates_must_pin_the_lab_namespaces_by_name() -> None:
    from provisioning.workload import policies

    rendered = policies.render_scenario("cluster-guardrails", LAB)
    loose = [dict(o) for o in rendered.objects]
    subject = loose[0]["spec"]["subject"]["namespaces"]
    loose[0] = {
        **loose[0],
        "spec": {
            **loose[0]["spec"],
            "subject": {"namespaces": {"matchLabels": subject["matchLabels"]}},
        },
    }
    with pytest.raises(UsageError) as caught:
        policies.validate_rendered(
            policies.RenderedScenario(rendered.scenario, LAB, tuple(loose), rendered.templates)
        )
    assert "pin kubernetes.io/metadata.name to names among demo, other" in str(caught.value)


def test_the_admin_policy_spares_a_namespace_that_copies_the_labs_labels() -> None:
    from provisioning.analysis import ClusterModel, Probe, analyze
    from provisioning.spec import lab_labels
    from provisioning.workload import policies

    objects = list(policies.render_scenario("cluster-guardrails", LAB).objects)
    model = ClusterModel.from_dict(
        {
            "namespaces": {
                "demo": {"labels": lab_labels(LAB)},
                "team-x": {"labels": lab_labels(LAB)},
            },
            "pods": [
                {
                    "namespace": "demo",
                    "name": "client",
                    "labels": {"app": "client"},
                    "ip": "10.0.0.2",
                },
                {"namespace": "team-x", "name": "app", "labels": {"app": "x"}, "ip": "10.0.0.3"},
            ],
        }
    )
    probes = [
        Probe(f"{ns}/{pod}", "169.254.169.254", 80, "TCP")
        for ns, pod in (("demo", "client"), ("team-x", "app"))
    ]
    lab_pod, copier = analyze(model, objects, probes).results()
    assert lab_pod.verdict == "deny" and copier.verdict == "allow"


def test_existing_engines_that_never_enforce_cnp_refuse_it() -> None:
    from provisioning.providers.existing.detect import Detection
    from provisioning.providers.existing.provider import _enforces_cnp

    enforcing = Detection((), "yes", "")
    assert _enforces_cnp("azure", enforcing) is False
    assert _enforces_cnp("none", Detection((), "no", "")) is False
    assert _enforces_cnp("calico", enforcing) is None
    assert _enforces_cnp("reference", Detection((), "unknown", "")) is None


def test_dns_checks_follow_calico_egress_types_and_zones_are_not_cidrs() -> None:
    from provisioning.analysis.validate import parse_cidr
    from provisioning.validation.live import LiveLab, needs_dns_checks

    deny_all = {
        "apiVersion": GNP[0],
        "kind": GNP[1],
        "metadata": {"name": "x"},
        "spec": {"types": ["Ingress", "Egress"]},
    }
    assert needs_dns_checks(LiveLab({"demo": {}}, (), (deny_all,)))
    assert parse_cidr("fe80::1%eth0/128") is None and parse_cidr("fe80::1/128") is not None
