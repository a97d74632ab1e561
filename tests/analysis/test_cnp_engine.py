"""ClusterNetworkPolicy inside the analyzer: the two ways it answers agree, files and engines.

The analyzer answers twice: counts from per-class bitsets (``CompiledPolicies.count`` through
``tiers.Tiers.allowed``) and per-connection explanations (``Explainer`` through
``tiers.Tiers.decide``). The semantics themselves are checked against the network-policy-api
v0.2.0 text in ``test_cnp_truth_tables.py`` and ``test_cnp_properties.py``; here the two paths
must give the same verdict for every pair of generated clusters with both kinds of policy.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.analyze_bench import generate, generate_cnps
from provisioning.analysis import ClusterModel, Probe, analyze
from provisioning.analysis.cli import run
from provisioning.errors import UsageError

DATA = Path(__file__).parent / "data"
CNP_API = "policy.networking.k8s.io/v1alpha2"


def cnp(name: str, tier: str, priority: int, subject: dict | None = None, **rules: Any) -> dict:
    return {
        "apiVersion": CNP_API,
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": {
            "tier": tier,
            "priority": priority,
            "subject": subject or {"namespaces": {}},
            **rules,
        },
    }


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_counts_and_explanations_agree_on_every_pair(seed: int) -> None:
    cluster, nps = generate(60, 6, 12, seed)
    names = [n for n in cluster["namespaces"] if n != "kube-system"]
    cnps = generate_cnps(12, names, seed)
    random.Random(seed).shuffle(cnps)
    model = ClusterModel.from_dict(cluster)
    analysis = analyze(model, [*nps, *cnps])
    results = list(analysis.results())
    assert len(results) == analysis.probes
    assert sum(r.allowed for r in results) == analysis.allowed
    # And the tiers changed something: without them the count differs.
    assert analyze(model, nps).allowed != analysis.allowed


def test_metadata_and_namespace_isolation_explained() -> None:
    model = ClusterModel.from_dict(json.loads((DATA / "demo-cluster.json").read_text()))
    policies = [
        cnp(
            "deny-metadata",
            "Admin",
            10,
            egress=[
                {
                    "name": "no-imds",
                    "action": "Deny",
                    "to": [{"networks": ["169.254.169.254/32"]}],
                }
            ],
        ),
        cnp(
            "pass-lab",
            "Admin",
            20,
            ingress=[{"action": "Pass", "from": [{"namespaces": {}}]}],
        ),
        cnp(
            "isolate",
            "Baseline",
            5,
            ingress=[{"name": "others", "action": "Deny", "from": [{"namespaces": {}}]}],
        ),
    ]
    probes = [
        Probe("demo/client", "169.254.169.254", 80, "TCP"),
        Probe("demo/client", "demo/server", 80, "TCP"),
    ]
    imds, inside = analyze(model, policies, probes).results()
    assert imds.verdict == "deny"
    assert imds.egress.tier == "Admin"
    assert imds.egress.sentence() == (
        "expected deny: egress denied by ClusterNetworkPolicy deny-metadata (Admin, priority "
        "10), spec.egress[0] 'no-imds' (demo/client -> 169.254.169.254 on TCP/80)"
    )
    assert imds.egress.to_dict()["decided_by"] == {
        "policy": "deny-metadata",
        "rule": "spec.egress[0]",
        "kind": "ClusterNetworkPolicy",
        "tier": "Admin",
        "priority": 10,
        "action": "Deny",
        "name": "no-imds",
    }
    assert inside.verdict == "deny"
    assert inside.ingress.tier == "Baseline"
    assert inside.ingress.sentence().startswith(
        "expected deny: passed on by ClusterNetworkPolicy pass-lab (Admin, priority 20), "
        "spec.ingress[0]; then ingress denied by ClusterNetworkPolicy isolate (Baseline, "
        "priority 5), spec.ingress[0] 'others'"
    )


def test_equal_priorities_with_overlapping_subjects_are_linted() -> None:
    model = ClusterModel.from_dict(json.loads((DATA / "demo-cluster.json").read_text()))
    deny = {"action": "Deny", "from": [{"namespaces": {}}]}
    accept = {"action": "Accept", "from": [{"namespaces": {}}]}
    analysis = analyze(
        model,
        [cnp("b-deny", "Admin", 7, ingress=[deny]), cnp("a-accept", "Admin", 7, ingress=[accept])],
    )
    [warning] = [w for w in analysis.warnings if "share priority" in w]
    assert "a-accept and b-deny (Admin) share priority 7" in warning
    assert "up to the implementation" in warning
    # Different priorities, or subjects that do not overlap: no warning.
    other = {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
    demo = {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "demo"}}}
    calm = analyze(
        model,
        [
            cnp("b-deny", "Admin", 7, demo, ingress=[deny]),
            cnp("a-accept", "Admin", 7, other, ingress=[accept]),
        ],
    )
    assert not [w for w in calm.warnings if "share priority" in w]


def test_engines_that_do_not_enforce_cnp_leave_it_out_and_say_so() -> None:
    model = ClusterModel.from_dict(json.loads((DATA / "demo-cluster.json").read_text()))
    deny = cnp("deny-all", "Admin", 1, ingress=[{"action": "Deny", "from": [{"namespaces": {}}]}])
    probe = [Probe("demo/client", "demo/server", 80, "TCP")]
    [on_azure] = analyze(model, [deny], probe, engine="azure").results()
    assert on_azure.verdict == "allow"
    warnings = analyze(model, [deny], probe, engine="azure").warnings
    assert any("engine azure does not enforce ClusterNetworkPolicy" in w for w in warnings)
    assert any("deny-all" in w for w in warnings)
    [on_calico] = analyze(model, [deny], probe, engine="calico").results()
    assert on_calico.verdict == "deny"


def test_invoke_analyze_reads_both_kinds_from_one_file(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all((DATA / "demo-policies.yaml").read_text()))
    docs.append(
        cnp(
            "deny-intruder",
            "Admin",
            3,
            {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "server"}}}},
            ingress=[
                {
                    "name": "intruder",
                    "action": "Deny",
                    "from": [
                        {
                            "pods": {
                                "namespaceSelector": {},
                                "podSelector": {"matchLabels": {"app": "intruder"}},
                            }
                        }
                    ],
                }
            ],
        )
    )
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(yaml.safe_dump_all(docs))
    out = io.StringIO()
    run(str(DATA / "demo-cluster.json"), str(mixed), None, "reference", "json", True, out)
    doc = json.loads(out.getvalue())
    [row] = [r for r in doc["results"] if (r["from"], r["to"]) == ("demo/intruder", "demo/server")]
    assert row["ingress"]["decided_by"]["policy"] == "deny-intruder"


def test_a_broken_cnp_in_a_file_names_file_policy_and_field(tmp_path: Path) -> None:
    bad = cnp("bad", "Admin", 1001, ingress=[{"action": "Deny", "from": [{"namespaces": {}}]}])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(UsageError) as caught:
        run(
            str(DATA / "demo-cluster.json"),
            str(path),
            None,
            "reference",
            "json",
            False,
            io.StringIO(),
        )
    assert str(caught.value).startswith(
        f"{path}: ClusterNetworkPolicy bad: spec.priority: 1001 must be between 0 and 1000"
    )


def test_summary_says_on_stderr_what_the_engine_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deny = cnp("deny-all", "Admin", 1, ingress=[{"action": "Deny", "from": [{"namespaces": {}}]}])
    path = tmp_path / "cnp.yaml"
    path.write_text(yaml.safe_dump(deny))
    out = io.StringIO()
    run(str(DATA / "demo-cluster.json"), str(path), None, "azure", "summary", False, out)
    assert set(json.loads(out.getvalue())) == {"engine", "probes", "allowed", "denied", "seconds"}
    assert "engine azure does not enforce ClusterNetworkPolicy" in capsys.readouterr().err
