"""DNS checks: when they are planned, what the analyzer expects, how agnhost's answers are read,
re-probing, the four reports, and a whole lab end to end with a real DNS server and drop rules."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

import pytest

from provisioning.report import render
from provisioning.runner import Result
from provisioning.spec import LabSpec, lab_labels
from provisioning.validation.live import (
    dns_expectations,
    needs_dns_checks,
    observe,
    plan_dns_probes,
    plan_probes,
)
from provisioning.validation.probe import (
    CLUSTER_DNS_NAME,
    Outcome,
    Probe,
    ProbeResult,
    classify_dns,
    dns_probe,
)
from provisioning.validation.probe_kubectl import KubectlExecutor
from provisioning.validation.validate import (
    Attempt,
    Expectation,
    PlannedProbe,
    ProbeCheck,
    Status,
    ValidationReport,
    run_validation,
)
from provisioning.workload import policies
from tests.fake_kube import FakeKube
from tests.validation.conftest import pod, probe
from tests.validation.demo_cluster import POD_IPS, fake_demo_kube, wire_dataplane
from tests.validation.netlab import NetnsLab
from tests.validation.runners import LocalKubectl, ReplayRunner
from tests.validation.test_validation_runner import FakeClock, Scripted, _run

SPEC = LabSpec(name="lab1", engine="calico", scenario="zero-trust")
KUBECONFIG = SPEC.kubeconfig
CLIENTS = ["demo/client", "demo/intruder", "demo/server", "other/client"]


def scenario_kube(name: str, *, without: Sequence[str] = ()) -> FakeKube:
    """The demo workload plus the scenario's real rendered policies (``without`` some names)."""
    kube = fake_demo_kube(SPEC, policies=False)
    for obj in policies.prepare_scenario(name, SPEC.name).objects:
        if obj["metadata"]["name"] not in without:
            kube.seed(obj)
    return kube


def expectations(kube: FakeKube, engine: str = "calico") -> dict[str, Expectation]:
    lab = observe(kube, SPEC)
    probes = plan_dns_probes(lab)
    found = dns_expectations(lab, probes, engine)
    return {p.source.key: e for p, e in zip(probes, found, strict=True)}


# --- when DNS is checked, and what is expected ---------------------------------------------


@pytest.mark.parametrize("scenario", ["open", "aks-demo", "one-port", "namespace-isolation"])
def test_no_dns_checks_without_egress_policies(scenario: str) -> None:
    assert plan_dns_probes(observe(scenario_kube(scenario), SPEC)) == []


def test_zero_trust_every_client_resolves_through_allow_dns_egress() -> None:
    found = expectations(scenario_kube("zero-trust"))
    assert list(found) == CLIENTS
    assert all(e.allowed for e in found.values())
    assert found["demo/intruder"].explanation == (
        "expected DNS to resolve: demo/intruder is isolated for egress by demo/allow-dns-egress "
        "and demo/default-deny-egress, and demo/allow-dns-egress spec.egress[0] allows UDP/53 to "
        "kube-system/kube-dns"
    )
    assert "other/allow-dns-egress spec.egress[0]" in found["other/client"].explanation


def test_zero_trust_without_its_dns_policy_expects_every_lookup_to_fail() -> None:
    found = expectations(scenario_kube("zero-trust", without=["allow-dns-egress"]))
    assert not any(e.allowed for e in found.values())
    assert found["demo/intruder"].explanation == (
        "expected DNS to fail: demo/intruder is isolated for egress by demo/default-deny-egress "
        "and no egress rule allows UDP/53 to kube-system/kube-dns"
    )
    # The client's egress rule to the server on TCP/80 does not help DNS either.
    assert "demo/allow-client-egress-to-server" in found["demo/client"].explanation
    assert all(e.allowed for e in expectations(scenario_kube("zero-trust",
               without=["allow-dns-egress"]), "none").values())  # fmt: skip


def test_egress_ipblock_resolves_and_the_engine_decides_which_rule_allows_it() -> None:
    kube = scenario_kube("egress-ipblock")
    calico, cilium = expectations(kube, "calico"), expectations(kube, "cilium")
    assert all(e.allowed for e in (*calico.values(), *cilium.values()))
    # Calico matches the DNS pod's IP against 0.0.0.0/0; Cilium only the selector rule.
    assert "spec.egress[0] and demo/deny-metadata-egress spec.egress[1] allow" in (
        calico["demo/client"].explanation
    )
    assert "demo/deny-metadata-egress spec.egress[1] allows UDP/53" in (
        cilium["demo/client"].explanation
    )
    assert "demo/intruder is not isolated for egress" in calico["demo/intruder"].explanation


def _policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "demo", "labels": lab_labels(SPEC.name)},
            "spec": spec}  # fmt: skip


def test_egress_type_is_read_with_the_apis_defaulting() -> None:
    def lab_with(spec: dict[str, Any]) -> Any:
        kube = fake_demo_kube(SPEC, policies=False)
        kube.seed(_policy("p", spec))
        return observe(kube, SPEC)

    egress_rule = [{"to": [{"podSelector": {}}]}]
    # No policyTypes: Egress only when egress rules exist.
    assert needs_dns_checks(lab_with({"podSelector": {}, "egress": egress_rule}))
    assert not needs_dns_checks(lab_with({"podSelector": {}}))
    # Listed types win: egress rules of an Ingress-only policy have no effect.
    assert not needs_dns_checks(
        lab_with({"podSelector": {}, "policyTypes": ["Ingress"], "egress": egress_rule})
    )
    assert needs_dns_checks(lab_with({"podSelector": {}, "policyTypes": ["Egress"]}))


def test_udp_only_dns_rule_resolves_with_a_note_about_tcp() -> None:
    kube = fake_demo_kube(SPEC, policies=False)
    udp_only = [{"ports": [{"protocol": "UDP", "port": 53}]}]
    kube.seed(
        _policy("udp-dns", {"podSelector": {}, "policyTypes": ["Egress"], "egress": udp_only})
    )
    found = expectations(kube)
    assert found["demo/client"].allowed
    assert found["demo/client"].explanation.endswith("(TCP/53 is not allowed: answers too large "
                                                     "for UDP will fail)")  # fmt: skip


def test_real_dns_pods_are_used_when_kube_system_can_be_read() -> None:
    kube = scenario_kube("zero-trust")
    kube.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}})
    for name, labels, phase in (
        ("coredns-a", {"k8s-app": "kube-dns"}, "Running"),
        ("coredns-b", {"k8s-app": "kube-dns"}, "Pending"),
        ("metrics", {"k8s-app": "metrics-server"}, "Running"),
    ):
        kube.seed(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "coredns",
                            "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"}],
                        }
                    ]
                },
            }
        )
        kube.set_status("v1", "Pod", name, "kube-system", {"phase": phase, "podIP": "10.244.0.3"})
    lab = observe(kube, SPEC)
    assert [p.key for p in lab.dns_pods] == ["kube-system/coredns-a"]
    assert all(e.allowed for e in expectations(kube).values())


# --- running a DNS check in the pod ----------------------------------------------------------

# What agnhost `connect NAME:443` prints (test/images/agnhost/connect/connect.go: `DNS: %v` of
# Go's resolver error when net.ResolveTCPAddr fails, then the dial's TIMEOUT/REFUSED/OTHER), with
# kubectl's own line when the remote command fails.
TERMINATED = "\ncommand terminated with exit code 1"
LOOKUP = "lookup kubernetes.default.svc.cluster.local. on 10.96.0.10:53"
AGNHOST_REPLIES = [
    (1, f"DNS: {LOOKUP}: read udp 10.244.1.4:41234->10.96.0.10:53: i/o timeout{TERMINATED}",
     Outcome.DNS_FAILED),
    (1, f"DNS: {LOOKUP}: no such host{TERMINATED}", Outcome.DNS_FAILED),
    (0, "", Outcome.RESOLVED),
    (1, f"TIMEOUT{TERMINATED}", Outcome.RESOLVED),
    (1, f"REFUSED{TERMINATED}", Outcome.RESOLVED),
    (1, f"OTHER: dial tcp 10.96.0.1:443: connect: no route to host{TERMINATED}", Outcome.RESOLVED),
    (1, f"UNKNOWN: address kubernetes: missing port in address{TERMINATED}", Outcome.ERROR),
    (0, "Defaulted container \"main\" out of: main, admin", Outcome.ERROR),
    (1, 'Error from server (NotFound): pods "client" not found', Outcome.ERROR),
    (126, "OCI runtime exec failed: exec failed: unable to start container process", Outcome.ERROR),
]  # fmt: skip


@pytest.mark.parametrize(("code", "output", "outcome"), AGNHOST_REPLIES)
def test_classifying_agnhosts_real_answers(code: int, output: str, outcome: Outcome) -> None:
    assert classify_dns(code, output)[0] is outcome


def test_an_error_is_never_a_failed_lookup() -> None:
    assert Outcome.ERROR.allowed is None
    assert Outcome.DNS_FAILED.allowed is False and Outcome.RESOLVED.allowed is True


def test_dns_check_command_is_agnhost_connect_to_the_absolute_name() -> None:
    p = dns_probe(pod("demo/client"))
    assert p.key == "demo/client resolves kubernetes.default.svc.cluster.local."
    argv = KubectlExecutor(ReplayRunner(lambda a: Result(tuple(a), 0, "")), KUBECONFIG,
                           mode="pool").connect_argv(p, 2.0)  # fmt: skip
    assert argv == [
        "kubectl", "--kubeconfig", str(KUBECONFIG), "exec", "-n", "demo", "client", "-c",
        "agnhost", "--", "/agnhost", "connect", "kubernetes.default.svc.cluster.local.:443",
        "--timeout=2s", "--protocol=tcp",
    ]  # fmt: skip


def test_dns_checks_ride_in_the_source_pods_single_exec() -> None:
    def reply(argv: list[str]) -> Result:
        lines = ["@@probe 0 1 1000 TIMEOUT", f"@@probe 1 1 10 DNS: {LOOKUP}: no such host"]
        return Result(tuple(argv), 0, "\n".join(lines) + "\n")

    runner = ReplayRunner(reply)
    probes = [probe("demo/intruder", "demo/server", 80, dst_ip="10.0.0.9"),
              dns_probe(pod("demo/intruder"))]  # fmt: skip
    results = KubectlExecutor(runner, KUBECONFIG).run(probes, 1.0)
    (argv,) = runner.calls
    assert argv[-6:] == ["0", "10.0.0.9:80", "tcp", "1", f"{CLUSTER_DNS_NAME}:443", "tcp"]
    # The same TIMEOUT line means blocked for a connection, resolved for a DNS check.
    assert [r.outcome for r in results] == [Outcome.BLOCKED, Outcome.DNS_FAILED]


# --- re-probing and reports ------------------------------------------------------------------

RESOLVE, FAIL = (
    Expectation(True, "expected DNS to resolve: ..."),
    Expectation(
        False,
        "expected DNS to fail: demo/intruder is isolated for egress by demo/default-deny-egress "
        "and no egress rule allows UDP/53 to kube-system/kube-dns",
    ),
)


def test_dns_mismatches_are_re_probed_until_enforcement_arrives() -> None:
    clock = FakeClock()
    conn, ok, late = (probe("demo/client", "demo/server", 80), dns_probe(pod("demo/client")),
                      dns_probe(pod("demo/intruder")))  # fmt: skip
    ex = Scripted(clock, {conn.key: [Outcome.CONNECTED], ok.key: [Outcome.RESOLVED],
                          late.key: [Outcome.RESOLVED, Outcome.RESOLVED, Outcome.DNS_FAILED]},
                  cost=0.5)  # fmt: skip
    planned = [PlannedProbe(conn, Expectation(True)), PlannedProbe(ok, RESOLVE),
               PlannedProbe(late, FAIL)]  # fmt: skip
    report = _run(planned, ex, clock, deadline=60)
    assert ex.rounds == [[conn.key, ok.key, late.key], [late.key], [late.key]]
    assert [c.probe.key for c in report.checks] == [conn.key]
    assert [c.probe.key for c in report.dns] == [ok.key, late.key]
    assert report.ok and report.dns[1].matched_at == 2.5 == report.converged_after


def test_dns_errors_and_mismatches_fail_validation() -> None:
    clock = FakeClock()
    broken, wrong = dns_probe(pod("demo/client")), dns_probe(pod("demo/intruder"))
    ex = Scripted(clock, {broken.key: [Outcome.ERROR], wrong.key: [Outcome.RESOLVED]}, cost=0.1)
    report = _run([PlannedProbe(broken, FAIL), PlannedProbe(wrong, FAIL)], ex, clock, deadline=3)
    assert [c.status for c in report.dns] == [Status.ERROR, Status.MISMATCH]
    # An error is retried; it is reported as an error, never as "DNS failed" (it says nothing
    # about the network), and like any probe error it fails validation.
    assert len(report.dns[0].attempts) > 1
    assert report.dns[0].observed is Outcome.ERROR
    assert report.failures == report.dns and report.exit_code == 1


def _dns_check(src: str, allowed: bool, *outcomes: Outcome) -> ProbeCheck:
    attempts = tuple(Attempt(o, o.value, i * 1.0, 0.25) for i, o in enumerate(outcomes))
    last_ok = outcomes[-1].allowed == allowed
    expected = FAIL if not allowed else RESOLVE
    return ProbeCheck(dns_probe(pod(src)), expected, attempts, len(outcomes) if last_ok else None)


def dns_report() -> ValidationReport:
    conn = ProbeCheck(probe("demo/client", "demo/server", 80), Expectation(True),
                      (Attempt(Outcome.CONNECTED, "", 0.0, 0.5),), 0.5)  # fmt: skip
    dns = (
        _dns_check("demo/client", True, Outcome.RESOLVED),
        _dns_check("demo/intruder", False, Outcome.RESOLVED, Outcome.RESOLVED),
        _dns_check("other/client", True, Outcome.ERROR),
    )
    return ValidationReport((conn,), dns=dns, lab="lab1", engine="calico", elapsed=2.0, rounds=2)


def test_table_has_a_dns_section_and_explains_each_difference() -> None:
    text = render(dns_report(), "table")
    assert text.startswith(
        "FAIL lab lab1 (engine calico): 1/1 probes as expected, DNS 1/3 clients as expected;"
    )
    assert "DNS: each client resolves kubernetes.default.svc.cluster.local." in text
    assert "demo/intruder | fail     | resolved !" in text
    assert "demo/client   | resolve  | resolved" in text
    assert (
        "✗ demo/intruder resolves kubernetes.default.svc.cluster.local.: expected fail, "
        "observed resolved after 2 attempt(s)\n    " + FAIL.explanation
    ) in text
    assert "other/client resolves kubernetes.default.svc.cluster.local.: expected resolve, " \
        "observed probe error (error)" in text  # fmt: skip


def test_json_lists_dns_checks_and_counts_them() -> None:
    doc = json.loads(render(dns_report(), "json"))
    assert doc["ok"] is False
    assert [d["from"] for d in doc["dns"]] == ["demo/client", "demo/intruder", "other/client"]
    wrong = doc["dns"][1]
    assert (wrong["expected"], wrong["observed"], wrong["outcome"], wrong["status"]) == (
        "fail", "resolve", "resolved", "mismatch",
    )  # fmt: skip
    assert wrong["needs"] == "UDP/53 to kube-system/kube-dns"
    assert wrong["explanation"] == FAIL.explanation and len(wrong["attempts"]) == 2
    assert doc["dns"][2]["observed"] is None
    summary = doc["summary"]
    assert (summary["dns_checks"], summary["dns_matched"], summary["dns_mismatched"],
            summary["dns_errors"]) == (3, 1, 1, 1)  # fmt: skip


def test_junit_has_a_dns_suite_with_one_case_per_client() -> None:
    root = ET.fromstring(render(dns_report(), "junit"))
    suite = root.find("testsuite[@name='DNS']")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    failure = suite.find("testcase/failure")
    assert failure is not None and FAIL.explanation in failure.get("message", "")


def test_html_has_a_dns_section_with_marked_differences() -> None:
    html = render(dns_report(), "html")
    assert "<h2>DNS: each client resolves" in html
    assert "≠ expected fail" in html and "check failed" in html
    assert "demo/intruder resolves kubernetes.default.svc.cluster.local.</b>: expected fail" in html


# --- a whole lab: real DNS server, real drop rules -------------------------------------------

DNS_IP = "127.0.53.53"
# The API server Service the name points at: nothing listens there, so the dial after a
# successful lookup is refused at once (a resolved name, whatever the dial does).
API_IP = "127.0.0.1"
LOCKDOWN = _policy("intruder-egress-lockdown", {
    "podSelector": {"matchLabels": {"app": "intruder"}}, "policyTypes": ["Egress"]})  # fmt: skip


def lockdown_lab(netns: NetnsLab, *, enforce_dns: bool = True) -> tuple[FakeKube, LocalKubectl]:
    """The demo lab plus a policy cutting demo/intruder's egress: its DNS must fail."""
    wire_dataplane(netns)
    netns.dns_server(DNS_IP, {CLUSTER_DNS_NAME: API_IP})
    if enforce_dns:
        netns.drop(POD_IPS["demo/intruder"], DNS_IP, 53, "UDP")
    kube = fake_demo_kube(SPEC)
    kube.seed(LOCKDOWN)
    return kube, LocalKubectl(POD_IPS, netns=netns.name, dns=DNS_IP, dns_timeout=0.5)


def test_a_lab_with_egress_rules_checks_dns_end_to_end(netns: NetnsLab) -> None:
    kube, local = lockdown_lab(netns)
    report = run_validation(kube, local, SPEC, executor=KubectlExecutor(local, KUBECONFIG),
                            probe_timeout=0.5, deadline=5)  # fmt: skip
    assert report.ok, [(c.probe.key, c.observed, c.detail) for c in report.failures]
    assert {c.probe.source.key: c.observed for c in report.dns} == {
        "demo/client": Outcome.RESOLVED, "demo/intruder": Outcome.DNS_FAILED,
        "demo/server": Outcome.RESOLVED, "other/client": Outcome.RESOLVED,
    }  # fmt: skip
    intruder = next(c for c in report.dns if c.probe.source.key == "demo/intruder")
    assert intruder.detail.startswith(f"DNS: lookup {CLUSTER_DNS_NAME} on {DNS_IP}:53: read udp")
    assert intruder.expected.explanation == (
        "expected DNS to fail: demo/intruder is isolated for egress by "
        "demo/intruder-egress-lockdown and no egress rule allows UDP/53 to kube-system/kube-dns"
    )
    # Connections and DNS checks share one exec per source pod.
    assert local.execs == 4
    assert len(plan_probes(observe(kube, SPEC))) == len(report.checks)


def test_missing_dns_enforcement_is_a_mismatch_after_re_probing(netns: NetnsLab) -> None:
    kube, local = lockdown_lab(netns, enforce_dns=False)
    report = run_validation(kube, local, SPEC, executor=KubectlExecutor(local, KUBECONFIG),
                            probe_timeout=0.3, deadline=2)  # fmt: skip
    assert report.exit_code == 1
    (failure,) = report.failures
    assert failure.probe.key == f"demo/intruder resolves {CLUSTER_DNS_NAME}"
    assert failure.observed is Outcome.RESOLVED and len(failure.attempts) >= 2
    assert "no egress rule allows UDP/53" in render(report, "table")


class DropAfterFirstRound:
    """Adds the DNS drop rule after the first round: enforcement arriving late, for real."""

    def __init__(self, inner: KubectlExecutor, netns: NetnsLab) -> None:
        self.inner, self.netns, self.rounds = inner, netns, 0

    def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
        if self.rounds == 1:
            self.netns.drop(POD_IPS["demo/intruder"], DNS_IP, 53, "UDP")
        self.rounds += 1
        return self.inner.run(probes, timeout)


def test_late_dns_enforcement_converges(netns: NetnsLab) -> None:
    kube, local = lockdown_lab(netns, enforce_dns=False)
    executor = DropAfterFirstRound(KubectlExecutor(local, KUBECONFIG), netns)
    report = run_validation(kube, local, SPEC, executor=executor, probe_timeout=0.3,
                            deadline=10)  # fmt: skip
    assert report.ok
    intruder = next(c for c in report.dns if c.probe.source.key == "demo/intruder")
    assert [a.outcome for a in intruder.attempts] == [Outcome.RESOLVED, Outcome.DNS_FAILED]
    assert report.rounds == 2
