"""A lab whose namespaces carry a suffix (``demo-mylab``, as on a cluster the lab shares) is
validated exactly like the same lab without one: the same probes, verdicts and stated checks,
reported under the physical names; and kubectl runs with the lab's kubeconfig context."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from provisioning.report import render
from provisioning.runner import Result
from provisioning.spec import ExistingSettings, LabSpec
from provisioning.validation import model
from provisioning.validation.live import (
    analyzer_expectations,
    dns_expectations,
    observe,
    plan_dns_probes,
    plan_probes,
)
from provisioning.validation.probe import Outcome, Probe, ProbeResult
from provisioning.validation.validate import (
    LeftOut,
    PlannedProbe,
    StatedExpectation,
    ValidationReport,
    run_validation,
    validate_planned,
)
from provisioning.workload import demo as workload
from provisioning.workload import policies
from tests.fake_kube import FakeKube
from tests.validation.demo_cluster import DEMO_DROPS, fake_demo_kube, pod_ips, wire_dataplane
from tests.validation.netlab import NetnsLab
from tests.validation.runners import LocalKubectl, ReplayRunner

SUFFIX = "-mylab"
PLAIN = LabSpec(name="mylab", engine="calico", scenario="aks-demo")
SUFFIXED = dataclasses.replace(PLAIN, provider="existing", namespace_suffix=SUFFIX)
AKS_DEMO_STATED = policies.load_scenario("aks-demo").expectations


def logical_ref(ref: str, suffix: str) -> str:
    """``demo-mylab/client`` -> ``demo/client``; the inverse of ``workload.physical_ref``."""
    for ns in workload.NAMESPACES:
        if suffix and ref.startswith(f"{ns}{suffix}/"):
            return f"{ns}/{ref.split('/', 1)[1]}"
    return ref


def logical_key(probe: Probe, suffix: str) -> str:
    source = logical_ref(probe.source.key, suffix)
    if probe.is_dns:
        return f"{source} resolves {probe.dns_name}"
    destination = logical_ref(probe.destination.key, suffix)
    return f"{source} -> {destination}:{probe.port}/{probe.protocol}"


class Dataplane:
    """Answers probes from a table keyed by LOGICAL probe keys: the same network whatever the
    namespaces are called. Connections not in ``allowed`` are allowed unless ``drops`` says."""

    def __init__(
        self,
        suffix: str,
        *,
        allowed: dict[str, bool] | None = None,
        drops: Sequence[tuple[str, str, int]] = (),
    ) -> None:
        self.suffix, self.allowed, self.drops = suffix, allowed or {}, set(drops)
        self.seen: list[str] = []

    def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
        results = []
        for p in probes:
            key = logical_key(p, self.suffix)
            self.seen.append(key)
            src = logical_ref(p.source.key, self.suffix)
            dst = logical_ref(p.destination.key, self.suffix)
            ok = self.allowed.get(key, (src, dst, p.port) not in self.drops)
            if p.is_dns:
                outcome = Outcome.RESOLVED if ok else Outcome.DNS_FAILED
            else:
                outcome = Outcome.CONNECTED if ok else Outcome.BLOCKED
            results.append(ProbeResult(p, outcome))
        return results


def summary(report: ValidationReport, suffix: str) -> dict[str, Any]:
    """Everything a verdict depends on, with the names made logical again to compare labs."""
    return {
        "checks": [
            (logical_key(c.probe, suffix), c.observed, c.expected.allowed, c.status)
            for c in report.all_checks
        ],
        "stated": [
            (
                logical_ref(s.stated.source, suffix),
                logical_ref(s.stated.destination, suffix),
                s.stated.port,
                s.agrees,
                None if s.analyzer is None else s.analyzer.allowed,
            )
            for s in report.stated
        ],
        "problems": report.problems,
        "ok": report.ok,
        "exit": report.exit_code,
    }


def validate(spec: LabSpec, kube: FakeKube, executor: Any, stated: Sequence[Any]):
    return run_validation(
        kube,
        ReplayRunner(lambda a: Result(tuple(a), 1, "", "no kubectl in these tests")),
        spec,
        executor=executor,
        probe_timeout=0.5,
        deadline=0,
        stated_expectations=stated,
    )


# --- stated expectations: logical in scenarios, physical against the live lab -------------


def test_stated_expectations_map_to_physical_refs() -> None:
    (first, *_) = AKS_DEMO_STATED
    stated = StatedExpectation.coerce(first)
    assert (stated.source, stated.destination) == ("demo/client", "demo/server")
    physical = stated.physical(SUFFIX)
    assert (physical.source, physical.destination) == ("demo-mylab/client", "demo-mylab/server")
    assert (physical.port, physical.protocol, physical.allowed) == (80, "TCP", True)
    assert physical.text == "demo-mylab/client -> demo-mylab/server:80/TCP allow"
    assert stated.physical("") is stated
    other = StatedExpectation("other/client", "kube-system/kube-dns", 53, "UDP", True)
    assert other.physical(SUFFIX).source == "other-mylab/client"
    assert other.physical(SUFFIX).destination == "kube-system/kube-dns"  # not the lab's


def test_without_the_mapping_a_stated_expectation_finds_no_probe() -> None:
    """The control: a suffixed lab's probes do not match logical refs; the suffix maps them."""
    lab = observe(fake_demo_kube(SUFFIXED), SUFFIXED)
    probes = plan_probes(lab)
    planned = [
        PlannedProbe(p, e)
        for p, e in zip(probes, analyzer_expectations(lab, probes, "calico"), strict=True)
    ]
    executor = Dataplane(SUFFIX, drops=DEMO_DROPS)
    unmapped = validate_planned(planned, executor, stated_expectations=AKS_DEMO_STATED)
    assert all(s.analyzer is None for s in unmapped.stated) and not unmapped.ok
    mapped = validate_planned(
        planned, executor, stated_expectations=AKS_DEMO_STATED, namespace_suffix=SUFFIX
    )
    assert mapped.stated and all(s.agrees for s in mapped.stated) and mapped.ok


# --- the live lab under its physical names --------------------------------------------------


def test_observe_finds_a_suffixed_lab_by_its_labels() -> None:
    lab = observe(fake_demo_kube(SUFFIXED), SUFFIXED)
    assert set(lab.namespaces) == {"demo-mylab", "other-mylab"}
    assert [p.key for p in lab.pods] == [
        "demo-mylab/client", "demo-mylab/intruder", "demo-mylab/server", "other-mylab/client"
    ]  # fmt: skip
    assert [p["metadata"]["namespace"] for p in lab.policies] == ["demo-mylab"]
    assert {lab.namespaces[n][workload.LABEL_ROLE] for n in lab.namespaces} == {"demo", "other"}


@pytest.mark.parametrize(
    "missing",
    [(), (("other/client", "demo/server", 80),)],
    ids=["enforced", "one-rule-missing"],
)
def test_a_suffixed_lab_validates_like_the_unsuffixed_one(
    missing: tuple[tuple[str, str, int], ...],
) -> None:
    """The demo policy and a hand-written dataplane (``DEMO_DROPS``), not the analyzer's."""
    drops = [d for d in DEMO_DROPS if d not in missing]
    reports = {}
    for spec in (PLAIN, SUFFIXED):
        executor = Dataplane(spec.namespace_suffix, drops=drops)
        reports[spec.namespace_suffix] = validate(
            spec, fake_demo_kube(spec), executor, AKS_DEMO_STATED
        )
    plain, suffixed = reports[""], reports[SUFFIX]
    assert summary(suffixed, SUFFIX) == summary(plain, "")
    assert len(plain.checks) == 8 and len(plain.stated) == len(AKS_DEMO_STATED)
    if missing:
        assert suffixed.exit_code == 1
        (failure,) = suffixed.failures
        assert failure.probe.key == "other-mylab/client -> demo-mylab/server:80/TCP"
        assert "demo-mylab/demo-policy" in failure.expected.explanation
    else:
        assert suffixed.ok and all(s.agrees for s in suffixed.stated)
    # Reports name the pods as the cluster does.
    table = render(suffixed, "table")
    assert "demo-mylab/client" in table and "other-mylab/client" in table
    assert all(s.stated.source.endswith(("-mylab/client", "-mylab/intruder"))
               for s in suffixed.stated)  # fmt: skip
    assert "stated demo-mylab/client -> demo-mylab/server:80/TCP allow" in "\n".join(
        s.message for s in suffixed.stated
    )


def _scenario_kube(spec: LabSpec, name: str) -> FakeKube:
    kube = fake_demo_kube(spec, policies=False)
    for obj in policies.prepare_scenario(name, spec.name, suffix=spec.namespace_suffix).objects:
        kube.seed(obj)
    return kube


def _unsuffixed_network(name: str) -> dict[str, bool]:
    """The verdict of every probe of the UNSUFFIXED lab, keyed logically: the dataplane both
    labs are then probed against."""
    spec = dataclasses.replace(PLAIN, scenario=name)
    lab = observe(_scenario_kube(spec, name), spec)
    probes, dns = plan_probes(lab), plan_dns_probes(lab)
    found = analyzer_expectations(lab, probes, spec.engine) + dns_expectations(
        lab, dns, spec.engine
    )
    return {logical_key(p, ""): e.allowed for p, e in zip(probes + dns, found, strict=True)}


@pytest.mark.parametrize("name", policies.scenario_names())
def test_every_scenario_validates_the_same_under_physical_names(name: str) -> None:
    """The scenario's real rendered policies, its stated expectations, DNS checks included."""
    network = _unsuffixed_network(name)
    stated = policies.load_scenario(name).expectations
    reports = {}
    for spec in (PLAIN, SUFFIXED):
        spec = dataclasses.replace(spec, scenario=name)
        executor = Dataplane(spec.namespace_suffix, allowed=network)
        reports[spec.namespace_suffix] = validate(
            spec, _scenario_kube(spec, name), executor, stated
        )
        # Every probe of this lab is one the unsuffixed lab has: nothing new, nothing missing.
        assert sorted(executor.seen) == sorted(network)
    assert summary(reports[SUFFIX], SUFFIX) == summary(reports[""], "")
    assert reports[SUFFIX].ok, [s.message for s in reports[SUFFIX].stated_disagreements]
    assert reports[SUFFIX].stated and all(
        s.stated.source.startswith(("demo-mylab/", "other-mylab/")) for s in reports[SUFFIX].stated
    )


def test_left_out_pods_and_their_stated_expectations_use_physical_names() -> None:
    kube = fake_demo_kube(SUFFIXED)
    kube.set_status("v1", "Pod", "server", "demo-mylab", {"phase": "Pending"})
    report = validate(SUFFIXED, kube, Dataplane(SUFFIX), AKS_DEMO_STATED[:1])
    why = "demo-mylab/server was not probed: phase Pending, no IP yet"
    assert report.left_out == (LeftOut("demo-mylab/server", "phase Pending, no IP yet"),)
    assert report.stated[0].message == (
        f"stated demo-mylab/client -> demo-mylab/server:80/TCP allow: {why}"
    )


def test_a_suffixed_lab_end_to_end_through_kubectl(netns: NetnsLab) -> None:
    """Real execs (run locally in a netns with the demo policy's drop rules) into the pods
    under their physical names, with the lab's kubeconfig context."""
    wire_dataplane(netns)
    spec = dataclasses.replace(
        SUFFIXED, existing=ExistingSettings(Path("/home/u/.kube/config"), "team-ctx")
    )
    local = LocalKubectl(pod_ips(SUFFIX), netns=netns.name)
    report = run_validation(
        fake_demo_kube(spec), local, spec, probe_timeout=1.0, deadline=10,
        stated_expectations=AKS_DEMO_STATED,
    )  # fmt: skip
    assert report.ok, [(c.probe.key, c.observed, c.detail) for c in report.failures]
    by_key = {c.probe.key: c for c in report.checks}
    assert by_key["demo-mylab/client -> demo-mylab/server:80/TCP"].observed is Outcome.CONNECTED
    assert by_key["other-mylab/client -> demo-mylab/server:80/TCP"].observed is Outcome.BLOCKED
    assert local.execs == 4


# --- kubectl with the lab's context ---------------------------------------------------------


def _argvs(spec: LabSpec) -> list[list[str]]:
    runner = ReplayRunner(lambda a: Result(tuple(a), 0, ""))
    run_validation(fake_demo_kube(spec), runner, spec, probe_timeout=0.5, deadline=0)
    assert runner.calls
    return runner.calls


def test_the_default_executor_runs_kubectl_with_the_lab_context() -> None:
    config = Path("/home/u/.kube/config")
    spec = dataclasses.replace(SUFFIXED, existing=ExistingSettings(config, "team-ctx"))
    for argv in _argvs(spec):
        assert argv[:6] == ["kubectl", "--kubeconfig", str(config), "--context", "team-ctx",
                            "exec"]  # fmt: skip
        assert argv[argv.index("-n") + 1] in ("demo-mylab", "other-mylab")


def test_without_a_context_kubectl_gets_no_context_flag() -> None:
    for argv in _argvs(PLAIN):
        assert "--context" not in argv
        assert argv[:4] == ["kubectl", "--kubeconfig", str(PLAIN.kubeconfig), "exec"]
        assert argv[argv.index("-n") + 1] in workload.NAMESPACES


# --- the modules: no import cycle between live and validate --------------------------------


def _imports_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout  # fmt: skip
    return set(out.split())


def test_live_and_model_do_not_import_validate() -> None:
    assert "provisioning.validation.validate" not in _imports_after(
        "import provisioning.validation.live"
    )
    loaded = _imports_after("import provisioning.validation.model")
    assert "provisioning.validation.validate" not in loaded
    assert "provisioning.validation.live" not in loaded


def test_the_shared_types_are_one_and_the_same_wherever_imported() -> None:
    from provisioning.validation import live, validate

    assert validate.LeftOut is model.LeftOut is live.LeftOut
    assert validate.Expectation is model.Expectation is live.Expectation
