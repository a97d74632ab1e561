"""``cli.run``: every format, the JSON contract from issue 3, and bad input (UsageError, exit 2).

The demo files in ``tests/analysis/data`` follow the AKS walkthrough (MicrosoftDocs/azure-aks-docs
``articles/aks/use-network-policies.md``, "Verify network policy setup" and "Test connectivity with
network policies": namespace ``demo``, an agnhost ``server`` labelled ``app=server`` on TCP 80, and
``demo-policy`` letting only ``app=client`` in on TCP 80). Added here: the server's port is named
``serve-80-tcp`` and the policy uses that name, plus an intruder pod, CoreDNS and a client egress
policy.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from provisioning.analysis.cli import run
from provisioning.errors import EXIT_USAGE, UsageError

DATA = Path(__file__).parent / "data"
CLUSTER = str(DATA / "demo-cluster.json")
POLICIES = str(DATA / "demo-policies.yaml")
PROBES = str(DATA / "demo-probes.json")


def invoke(
    *,
    cluster: str = CLUSTER,
    policies: str = POLICIES,
    probes: str | None = None,
    engine: str = "reference",
    fmt: str = "json",
    explain: bool = False,
) -> str:
    out = io.StringIO()
    assert run(cluster, policies, probes, engine, fmt, explain, out) == 0
    return out.getvalue()


def test_json_contract_with_probes() -> None:
    doc = json.loads(invoke(probes=PROBES))
    assert set(doc) == {"engine", "results", "warnings"}
    assert doc["engine"] == "reference"
    first = doc["results"][0]
    assert {"from", "to", "port", "protocol", "verdict", "loopback", "ingress", "egress"} <= set(
        first
    )
    assert (first["from"], first["to"], first["port"], first["protocol"]) == (
        "demo/client",
        "demo/server",
        80,
        "TCP",
    )
    assert [r["verdict"] for r in doc["results"]] == ["allow", "deny", "deny", "deny"]
    explanation = doc["results"][1]["ingress"]
    assert explanation == {
        "verdict": "deny",
        "reason": "no-rule-matched",
        "isolated": True,
        "isolated_by": ["demo/demo-policy"],
        "allowed_by": [],
        "sentence": "expected deny: demo/server is isolated for ingress by demo/demo-policy and "
        "no ingress rule admits demo/intruder on TCP/80",
    }
    assert doc["results"][1]["port"] == "serve-80-tcp"
    assert doc["results"][1]["port_number"] == 80
    assert doc["results"][0]["ingress"]["allowed_by"] == [
        {"policy": "demo/demo-policy", "rule": "spec.ingress[0]"}
    ]
    assert doc["results"][3]["egress"]["reason"] == "external"
    assert any("DNS" in w for w in doc["warnings"])


def test_json_default_probe_set_is_every_pair_on_declared_ports() -> None:
    doc = json.loads(invoke())
    # 4 pods; server declares TCP/80, coredns UDP/53 and TCP/53: 4 sources x 3 services.
    assert len(doc["results"]) == 12
    loopbacks = [r for r in doc["results"] if r["loopback"]]
    assert {(r["from"], r["port"], r["protocol"]) for r in loopbacks} == {
        ("demo/server", 80, "TCP"),
        ("kube-system/coredns", 53, "UDP"),
        ("kube-system/coredns", 53, "TCP"),
    }


def test_summary_contract() -> None:
    doc = json.loads(invoke(fmt="summary"))
    assert set(doc) == {"engine", "probes", "allowed", "denied", "seconds"}
    assert (doc["probes"], doc["allowed"], doc["denied"]) == (12, 7, 5)
    assert 0 <= doc["seconds"] < 5
    assert json.loads(invoke(fmt="summary", engine="none"))["allowed"] == 12


def test_table_is_an_upstream_style_truth_table() -> None:
    text = invoke(fmt="table")
    assert text.startswith("engine reference: 12 probes, 7 allowed, 5 denied\n")
    block = text.split("TCP/80:")[1].split("\n\n")[0].splitlines()
    assert block[1].split() == ["-", "demo/server"]
    rows = {line.split()[0]: line.split()[1] for line in block[2:]}
    assert rows == {
        "demo/server": "X",
        "demo/client": ".",
        "demo/intruder": "X",
        "kube-system/coredns": "X",
    }
    assert "warnings:" in text
    assert "explanations:" not in text


def test_table_explain_prints_one_sentence_per_direction() -> None:
    text = invoke(fmt="table", probes=PROBES, explain=True)
    explanations = text.split("explanations:\n")[1]
    assert "  demo/intruder -> demo/server TCP/80 (serve-80-tcp): deny\n" in explanations
    assert (
        "    expected deny: demo/server is isolated for ingress by demo/demo-policy and no "
        "ingress rule admits demo/intruder on TCP/80\n" in explanations
    )
    assert "203.0.113.9 is outside the cluster" in explanations


def test_engines_differ_on_ip_blocks(tmp_path: Path) -> None:
    """Cilium: ipBlock does not select pod IPs (engines.py cites the Cilium docs)."""
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "cidr", "namespace": "demo"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "server"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.244.1.0/24"}}]}],
        },
    }
    path = tmp_path / "cidr.json"
    path.write_text(json.dumps(policy))
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps([{"from": "demo/client", "to": "demo/server", "port": 80}]))
    verdicts = {
        engine: json.loads(invoke(policies=str(path), probes=str(probes), engine=engine))[
            "results"
        ][0]["verdict"]
        for engine in ("reference", "calico", "azure", "cilium", "none")
    }
    assert verdicts == {
        "reference": "allow",
        "calico": "allow",
        "azure": "allow",
        "cilium": "deny",
        "none": "allow",
    }


def test_policy_directory_with_lists_arrays_and_streams(tmp_path: Path) -> None:
    def np(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "demo"},
            "spec": {"podSelector": {"matchLabels": {"app": name}}, "ingress": []},
        }

    (tmp_path / "a.json").write_text(json.dumps([np("server"), np("client")]))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [np("intruder")]})
        + "\n---\n"
        + json.dumps(np("coredns"))
    )
    (tmp_path / "notes.txt").write_text("ignored")
    doc = json.loads(invoke(policies=str(tmp_path), fmt="json"))
    # Every pod isolated for ingress (except coredns, whose policy is in the wrong namespace).
    assert sum(r["verdict"] == "allow" for r in doc["results"]) == 8
    assert any("demo/coredns selects no pod" in w for w in doc["warnings"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "weave"}, "--engine: unknown engine 'weave'; choose one of: azure, calico"),
        ({"fmt": "yaml"}, "--format: unknown format 'yaml'; choose one of: json, summary, table"),
        ({"cluster": "/nonexistent.json"}, "--cluster /nonexistent.json: no such file"),
        ({"policies": "/nonexistent"}, "--policies /nonexistent: no such file"),
        ({"probes": "/nonexistent.json"}, "--probes /nonexistent.json: no such file"),
    ],
)
def test_bad_choices_and_paths(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as info:
        invoke(**kwargs)
    assert message in str(info.value)
    assert info.value.exit_code == EXIT_USAGE
    assert "\n" not in str(info.value)


def test_invalid_policy_names_file_policy_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p1, namespace: demo}
spec:
  podSelector: {}
  ingress:
    - from:
        - podSelector: {}
        - ipBlock: {cidr: 10.0.0.0/8}
          namespaceSelector: {}
"""
    )
    with pytest.raises(UsageError) as info:
        invoke(policies=str(bad))
    assert str(info.value) == (
        f"{bad}: policy demo/p1: spec.ingress[0].from[1]: ipBlock cannot be combined with "
        "podSelector or namespaceSelector"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("kind: Deployment\nmetadata: {name: x}\n", "a Deployment is not a NetworkPolicy"),
        ("a: [1, 2\n", ":2: not valid YAML"),
        (
            "metadata: {name: p, namespace: demo}\nspec:\n  ingress:\n  - ports:\n    - port: 90\n"
            "      endPort: 80\n",
            "policy demo/p: spec.ingress[0].ports[0].endPort: 80 must be greater than or equal",
        ),
        (
            "metadata: {name: p}\nspec:\n  podSelector:\n    matchExpressions:\n"
            "    - {key: app, operator: Equals, values: [a]}\n",
            "policy default/p: spec.podSelector.matchExpressions[0].operator: Unsupported value",
        ),
    ],
)
def test_bad_policy_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(content)
    with pytest.raises(UsageError) as info:
        invoke(policies=str(path))
    assert message in str(info.value)


def test_duplicate_policies_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("metadata: {name: p}\n---\nmetadata: {name: p}\n")
    with pytest.raises(UsageError, match="policy default/p is given twice"):
        invoke(policies=str(path))


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        ({"pods": [{"namespace": "x", "name": "a"}]}, "namespace 'x' is not declared"),
        ({"namespaces": {"x": {}}, "pods": [{"namespace": "x"}]}, "needs a string 'namespace'"),
        (
            {"namespaces": {"x": {}}, "pods": [{"namespace": "x", "name": "a", "ip": "1.2.3"}]},
            "pods[0] (x/a).ip: '1.2.3' is not an IP address",
        ),
        (
            {
                "namespaces": {"x": {}},
                "pods": [
                    {"namespace": "x", "name": "a", "ports": [{"port": 80, "protocol": "ICMP"}]}
                ],
            },
            "ports[0].protocol: unknown protocol 'ICMP'",
        ),
        ({"namespaces": {"x": {"labels": {"a": 1}}}}, "label values must be strings"),
        ({"nodes": []}, "unknown field 'nodes'"),
        (
            {
                "namespaces": {"x": {}},
                "pods": [{"namespace": "x", "name": "a"}, {"namespace": "x", "name": "a"}],
            },
            "pod x/a is listed twice",
        ),
    ],
)
def test_bad_cluster_files(tmp_path: Path, cluster: dict[str, Any], message: str) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(cluster))
    with pytest.raises(UsageError) as info:
        invoke(cluster=str(path))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("probes", "message"),
    [
        ({"from": "demo/client"}, "must be a list of probes"),
        ([{"from": "demo/client", "to": "demo/server"}], "probes[0]: missing port"),
        ([{"from": "demo/nobody", "to": "demo/server", "port": 80}], "is neither a pod"),
        ([{"from": "1.2.3.4", "to": "5.6.7.8", "port": 80}], "at least one end must be a pod"),
        (
            [{"from": "demo/client", "to": "demo/server", "port": "http"}],
            "demo/server declares no TCP port named 'http'",
        ),
        (
            [{"from": "demo/client", "to": "8.8.8.8", "port": "http"}],
            "cannot be resolved on an IP outside the cluster",
        ),
        ([{"from": "demo/client", "to": "demo/server", "port": 0}], "between 1 and 65535"),
        (
            [{"from": "demo/client", "to": "demo/server", "port": 80, "protocol": "tcp"}],
            "unknown protocol 'tcp'",
        ),
    ],
)
def test_bad_probe_files(tmp_path: Path, probes: Any, message: str) -> None:
    path = tmp_path / "probes.json"
    path.write_text(json.dumps(probes))
    with pytest.raises(UsageError) as info:
        invoke(probes=str(path))
    assert message in str(info.value)
