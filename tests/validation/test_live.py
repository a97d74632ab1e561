"""The live lab read through the Kubernetes seam, and validation of a whole demo lab."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import pytest

from provisioning.errors import OperationError, UsageError
from provisioning.report import FORMATS, render
from provisioning.spec import LabSpec
from provisioning.validation.live import analyzer_expectations, observe, plan_probes
from provisioning.validation.probe import Outcome, Probe, ProbeResult
from provisioning.validation.probe_kubectl import KubectlExecutor
from provisioning.validation.validate import (
    NOTHING_PROBED,
    Expectation,
    LeftOut,
    Status,
    run_validation,
)
from tests.fake_kube import FakeKube
from tests.validation.demo_cluster import POD_IPS, fake_demo_kube, wire_dataplane
from tests.validation.netlab import NetnsLab
from tests.validation.runners import LocalKubectl

SPEC = LabSpec(name="lab1", engine="calico", scenario="aks-demo")


def test_observe_reads_namespaces_pods_ports_and_policies() -> None:
    lab = observe(fake_demo_kube(SPEC), SPEC)
    assert set(lab.namespaces) == {"demo", "other"}
    assert [p.key for p in lab.pods] == ["demo/client", "demo/intruder", "demo/server",
                                         "other/client"]  # fmt: skip
    server = next(p for p in lab.pods if p.key == "demo/server")
    assert server.ip == POD_IPS["demo/server"]
    assert [(q.name, q.port, q.protocol) for q in server.ports] == [
        ("main", 80, "TCP"),
        ("admin", 8080, "TCP"),
    ]
    assert server.containers[0] == "main"
    assert [p["metadata"]["name"] for p in lab.policies] == ["demo-policy"]
    assert "managedFields" not in lab.policies[0]["metadata"]


def test_pods_that_cannot_be_probed_are_noted_not_guessed() -> None:
    kube = fake_demo_kube(SPEC)
    kube.set_status("v1", "Pod", "intruder", "demo", {"phase": "Pending"})
    lab = observe(kube, SPEC)
    assert "demo/intruder" not in [p.key for p in lab.pods]
    assert lab.left_out == (LeftOut("demo/intruder", "phase Pending, no IP yet"),)
    assert lab.left_out[0].message == "demo/intruder was not probed: phase Pending, no IP yet"


def test_a_pending_server_fails_validation_and_every_format_says_why() -> None:
    """The server Pending leaves nothing to probe: that must fail, not pass with 0 probes."""
    kube = fake_demo_kube(SPEC)
    kube.set_status("v1", "Pod", "server", "demo", {"phase": "Pending"})
    local = LocalKubectl(POD_IPS)
    stated = [{"from": "demo/client", "to": "demo/server", "port": 80, "expect": "allow"}]
    report = run_validation(kube, local, SPEC, executor=KubectlExecutor(local, SPEC.kubeconfig),
                            probe_timeout=0.5, deadline=2, stated_expectations=stated)  # fmt: skip
    why = "demo/server was not probed: phase Pending, no IP yet"
    assert report.all_checks == () and local.execs == 0
    assert not report.ok and report.exit_code == 1
    assert report.problems == (why, NOTHING_PROBED)
    assert report.stated[0].message == f"stated demo/client -> demo/server:80/TCP allow: {why}"
    unstated = dataclasses.replace(report, stated=())  # so only the left-out pod can say it
    for fmt in FORMATS:
        assert why in render(unstated, fmt), fmt
    assert render(report, "table").startswith("FAIL lab lab1")
    doc = json.loads(render(report, "json"))
    assert doc["ok"] is False and doc["left_out"] == [
        {"pod": "demo/server", "reason": "phase Pending, no IP yet", "message": why}
    ]
    junit = ET.fromstring(render(report, "junit"))
    failures = [f.get("message") for f in junit.iter("failure")]
    assert why in failures and NOTHING_PROBED in failures


def test_one_client_left_out_fails_even_when_every_probe_matches() -> None:
    kube = fake_demo_kube(SPEC)
    kube.set_status("v1", "Pod", "intruder", "demo", {"phase": "Pending"})
    local = LocalKubectl(POD_IPS)

    class AsExpected:  # answers every probe as the analyzer expects: only left_out can fail
        def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
            allowed = {p.key: e.allowed for p, e in zip(probes, expected(probes), strict=True)}
            return [
                ProbeResult(p, Outcome.CONNECTED if allowed[p.key] else Outcome.BLOCKED)
                for p in probes
            ]

    lab = observe(kube, SPEC)

    def expected(probes: Sequence[Probe]) -> list[Expectation]:
        return analyzer_expectations(lab, probes, SPEC.engine)

    report = run_validation(kube, local, SPEC, executor=AsExpected(), probe_timeout=0.5,
                            deadline=2)  # fmt: skip
    assert report.checks and not report.failures
    assert report.problems == ("demo/intruder was not probed: phase Pending, no IP yet",)
    assert report.exit_code == 1


def test_a_pod_without_agnhost_is_a_destination_only_and_noted() -> None:
    kube = fake_demo_kube(SPEC)
    web = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
                                 "ports": [{"containerPort": 80}]}]},
    }  # fmt: skip
    kube.seed(web)
    kube.set_status("v1", "Pod", "web", "demo", {"phase": "Running", "podIP": "127.0.40.1"})
    lab = observe(kube, SPEC)
    probes = plan_probes(lab)
    assert "demo/web" not in {p.source.key for p in probes}
    assert {p.source.key for p in probes if p.destination.key == "demo/web"} == {
        "demo/client", "demo/intruder", "demo/server", "other/client"
    }  # fmt: skip
    assert any(n.startswith("demo/web is not a probe source (no agnhost container") for n in
               lab.notes)  # fmt: skip


def test_no_lab_is_an_operation_error() -> None:
    with pytest.raises(OperationError, match="invoke up"):
        observe(FakeKube(), SPEC)


@pytest.mark.parametrize("seconds", [0.0004, 0.05, 0.0999])
def test_a_probe_timeout_under_100ms_is_bad_usage_before_anything_is_read(seconds: float) -> None:
    # FakeKube() holds no lab: reading it would be an OperationError, so the check comes first.
    with pytest.raises(UsageError, match=r"--probe-timeout must be at least 100ms"):
        run_validation(FakeKube(), LocalKubectl({}), SPEC, probe_timeout=seconds)
    with pytest.raises(OperationError, match="no namespaces"):
        run_validation(FakeKube(), LocalKubectl({}), SPEC, probe_timeout=0.1)


def test_probe_plan_covers_every_pod_to_every_declared_port() -> None:
    probes = plan_probes(observe(fake_demo_kube(SPEC), SPEC))
    assert len(probes) == 4 * 2
    assert {p.destination.key for p in probes} == {"demo/server"}
    assert [p.loopback for p in probes].count(True) == 2


def test_analyzer_expectations_for_the_demo_policy() -> None:
    from provisioning.validation.live import analyzer_expectations

    lab = observe(fake_demo_kube(SPEC), SPEC)
    probes = plan_probes(lab)
    expected = {p.key: e for p, e in zip(probes, analyzer_expectations(lab, probes, "calico"),
                                         strict=True)}  # fmt: skip
    assert expected["demo/client -> demo/server:80/TCP"].allowed
    intruder = expected["demo/intruder -> demo/server:80/TCP"]
    assert not intruder.allowed
    assert "demo/demo-policy" in intruder.explanation
    none = analyzer_expectations(lab, probes, "none")
    assert all(e.allowed for e in none)


@pytest.mark.parametrize("mode", ["per-source", "pool"])
def test_validating_a_demo_lab_end_to_end(netns: NetnsLab, mode: str) -> None:
    """FakeKube for the objects, kubectl exec run locally in a netns, the real analyzer."""
    wire_dataplane(netns)
    kube = fake_demo_kube(SPEC)
    local = LocalKubectl(POD_IPS, netns=netns.name)
    executor = KubectlExecutor(local, SPEC.kubeconfig, mode=mode)
    stated = [{"from": "demo/client", "to": "demo/server", "port": 80, "expect": "allow"}]
    report = run_validation(kube, local, SPEC, executor=executor, probe_timeout=1.0,
                            deadline=10, stated_expectations=stated)  # fmt: skip
    assert report.ok, [(c.probe.key, c.observed, c.detail) for c in report.failures]
    assert report.rounds == 1
    by_key = {c.probe.key: c for c in report.checks}
    assert by_key["demo/client -> demo/server:80/TCP"].observed is Outcome.CONNECTED
    assert by_key["demo/intruder -> demo/server:80/TCP"].observed is Outcome.BLOCKED
    # The server reaching itself is allowed here though the policy reading says deny: reported.
    loop = by_key["demo/server -> demo/server:8080/TCP"]
    assert loop.status == Status.MISMATCH and not report.counts(loop)
    assert local.execs == (4 if mode == "per-source" else 8)


def test_missing_enforcement_is_a_mismatch_with_the_analyzers_reason(netns: NetnsLab) -> None:
    wire_dataplane(netns, missing=(("other/client", "demo/server", 80),))
    kube = fake_demo_kube(SPEC)
    local = LocalKubectl(POD_IPS, netns=netns.name)
    report = run_validation(kube, local, SPEC, executor=KubectlExecutor(local, SPEC.kubeconfig),
                            probe_timeout=0.3, deadline=4)  # fmt: skip
    assert report.exit_code == 1
    (failure,) = report.failures
    assert failure.probe.key == "other/client -> demo/server:80/TCP"
    assert failure.observed is Outcome.CONNECTED and not failure.expected.allowed
    assert "no ingress rule admits other/client" in failure.expected.explanation
    assert len(failure.attempts) >= 2
