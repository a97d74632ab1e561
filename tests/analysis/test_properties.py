"""Property tests: the fast engine agrees with the per-pair reference evaluator.

Random small clusters (labels drawn from a tiny alphabet so selectors often match) and random
valid policies using every feature: both policy types and their defaulting, absent vs. empty
lists, pod/namespace/combined selectors with all operators, ipBlocks with excepts, numeric,
ranged and named ports over TCP/UDP/SCTP. Every pair on every probed port is compared, for
engines that differ, plus the pair-free count.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.analysis.analyzer import analyze
from provisioning.analysis.engine import CompiledPolicies
from provisioning.analysis.engines import ENGINES
from provisioning.analysis.model import ClusterModel, Probe
from provisioning.analysis.policy import parse_policy
from provisioning.analysis.selectors import LabelIndex, Selector
from provisioning.analysis.validate import validate_networkpolicy

from . import reference
from .truthtable import assert_counts_match

KEYS = ("app", "tier")
VALUES = ("a", "b")
NS_NAMES = ("x", "y", "z")
PORT_CHOICES = ((80, "TCP", "http"), (81, "TCP", "alt"), (80, "UDP", "dns-ish"), (53, "SCTP", "sc"))
PROBE_KEYS = ((80, "TCP"), (81, "TCP"), (80, "UDP"), (53, "SCTP"), (82, "TCP"))
EXTERNAL = ("192.0.2.7", "198.51.100.1")
IP_BLOCKS = (
    {"cidr": "10.0.0.0/16"},
    {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]},
    {"cidr": "10.0.1.0/24", "except": ["10.0.1.0/30", "10.0.1.8/29"]},
    {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]},
    {"cidr": "192.0.2.0/24"},
    {"cidr": "10.0.2.3/32"},
)

labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), min_size=1, max_size=2)


def weighted(draw: st.DrawFn, **weights: int) -> str:
    """Pick a shape name with the given relative weights (keeps examples meaningful)."""
    return draw(st.sampled_from([name for name, w in weights.items() for _ in range(w)]))


@st.composite
def clusters(draw: st.DrawFn) -> dict[str, Any]:
    namespaces = draw(st.lists(st.sampled_from(NS_NAMES), min_size=2, max_size=3, unique=True))
    pods = []
    for i in range(draw(st.integers(3, 6))):
        ports = draw(st.lists(st.sampled_from(PORT_CHOICES), max_size=3, unique=True))
        pods.append(
            {
                "namespace": draw(st.sampled_from(namespaces)),
                "name": f"p{i}",
                "labels": draw(labels),
                "ip": f"10.0.{i % 3}.{i + 1}",
                "ports": [
                    {
                        "port": n,
                        "protocol": proto,
                        **({"name": name} if draw(st.booleans()) else {}),
                    }
                    for n, proto, name in ports
                ],
            }
        )
    ns_labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2)
    return {"namespaces": {ns: {"labels": draw(ns_labels)} for ns in namespaces}, "pods": pods}


@st.composite
def selectors(draw: st.DrawFn) -> dict[str, Any]:
    shape = weighted(draw, empty=2, labels=5, expression=3, both=1)
    selector: dict[str, Any] = {}
    if shape in ("labels", "both"):
        selector["matchLabels"] = dict([draw(labels).popitem()])
    if shape in ("expression", "both"):
        op = draw(st.sampled_from(("In", "NotIn", "Exists", "DoesNotExist")))
        expr: dict[str, Any] = {"key": draw(st.sampled_from(KEYS)), "operator": op}
        if op in ("In", "NotIn"):
            expr["values"] = draw(st.lists(st.sampled_from(VALUES), min_size=1, unique=True))
        selector["matchExpressions"] = [expr]
    return selector


@st.composite
def peers(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(("pod", "ns", "both", "ip")))
    if kind == "ip":
        return {"ipBlock": draw(st.sampled_from(IP_BLOCKS))}
    peer = {}
    if kind in ("pod", "both"):
        peer["podSelector"] = draw(selectors())
    if kind in ("ns", "both"):
        peer["namespaceSelector"] = draw(selectors())
    return peer


@st.composite
def ports(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if draw(st.booleans()):
        entry["protocol"] = draw(st.sampled_from(("TCP", "UDP", "SCTP")))
    shape = draw(st.sampled_from(("number", "range", "name", "none")))
    if shape == "number":
        entry["port"] = draw(st.sampled_from((53, 80, 81)))
    elif shape == "range":
        entry["port"] = draw(st.sampled_from((53, 79, 80)))
        entry["endPort"] = entry["port"] + draw(st.integers(0, 2))
    elif shape == "name":
        entry["port"] = draw(st.sampled_from([name for _, _, name in PORT_CHOICES]))
    return entry


@st.composite
def rules(draw: st.DrawFn, peers_key: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    shape = weighted(draw, absent=1, empty=1, some=18)
    if shape != "absent":
        rule[peers_key] = (
            [] if shape == "empty" else draw(st.lists(peers(), min_size=1, max_size=2))
        )
    shape = weighted(draw, absent=10, empty=1, some=9)
    if shape != "absent":
        rule["ports"] = [] if shape == "empty" else draw(st.lists(ports(), min_size=1, max_size=2))
    return rule


def rule_lists(peers_key: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.just([]), st.lists(rules(peers_key), min_size=1, max_size=2))


@st.composite
def policies(draw: st.DrawFn, namespaces: list[str]) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(1, 3))):
        spec: dict[str, Any] = {"podSelector": draw(selectors())}
        for direction, key in (("ingress", "from"), ("egress", "to")):
            rules = draw(rule_lists(key))
            if rules is not None:
                spec[direction] = rules
        types = draw(
            st.sampled_from(
                (None, ["Ingress"], ["Egress"], ["Ingress", "Egress"], ["Egress", "Ingress"])
            )
        )
        if types is not None:
            spec["policyTypes"] = types
        out.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"np{i}", "namespace": draw(st.sampled_from(namespaces))},
                "spec": spec,
            }
        )
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    cluster = draw(clusters())
    return cluster, draw(policies(list(cluster["namespaces"])))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from(("reference", "cilium")))
def test_fast_engine_matches_reference(scenario: Any, engine: str) -> None:
    cluster, pols = scenario
    for policy in pols:
        assert validate_networkpolicy(policy) == []
    model = ClusterModel.from_dict(cluster)
    names = [f"{p['namespace']}/{p['name']}" for p in cluster["pods"]]
    endpoints = names + list(EXTERNAL)
    probes = [
        Probe(s, d, port, proto)
        for s in endpoints
        for d in endpoints
        if "/" in s or "/" in d
        for port, proto in PROBE_KEYS
    ]
    results = list(analyze(model, pols, probes, engine).results())
    for probe, result in zip(probes, results, strict=True):
        expected = reference.allowed(
            cluster, pols, probe.source, probe.destination, int(probe.port), probe.protocol, engine
        )
        assert result.allowed == expected, (probe, result.ingress, result.egress)
        # The explanation is consistent with the verdict.
        assert result.allowed == (result.ingress.verdict == result.egress.verdict == "allow")
    assert_counts_match(cluster, pols, engine)


@settings(max_examples=30, deadline=None)
@given(scenarios())
def test_materialized_matrix_matches_counts(scenario: Any) -> None:
    """The lazily produced default matrix agrees with the pair-free counts."""
    cluster, pols = scenario
    analysis = analyze(ClusterModel.from_dict(cluster), pols, None, "reference")
    results = list(analysis.results())
    assert len(results) == analysis.probes
    assert sum(r.allowed for r in results) == analysis.allowed
    assert all(r.loopback == (r.source == r.destination) for r in results)


@settings(max_examples=300, deadline=None)
@given(selectors(), st.lists(st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES))))
def test_selector_bitsets_match_reference(selector: dict[str, Any], label_sets: list[Any]) -> None:
    """The inverted-index selector evaluation equals matching each label set on its own."""
    index = LabelIndex(label_sets)
    bits = index.select(Selector.from_obj(selector))
    for i, labels_ in enumerate(label_sets):
        assert bool((bits >> i) & 1) == reference.selector_matches(selector, labels_), labels_


@settings(max_examples=100, deadline=None)
@given(clusters(), st.sampled_from(IP_BLOCKS))
def test_ip_block_bitsets_match_reference(cluster: dict[str, Any], block: dict[str, Any]) -> None:
    """ipBlock (with except) selects exactly the pods whose IP it contains."""
    model = ClusterModel.from_dict(cluster)
    compiled = CompiledPolicies(model, [], ENGINES["reference"])
    peer = (
        parse_policy(
            {"metadata": {"name": "p"}, "spec": {"ingress": [{"from": [{"ipBlock": block}]}]}}
        )
        .ingress[0]
        .peers
    )
    assert peer is not None and peer[0].ip_block is not None
    bits = compiled.ip_block_pods(peer[0].ip_block)
    for i, pod in enumerate(cluster["pods"]):
        inside = reference.peer_matches(cluster, {}, {"ipBlock": block}, pod, "", True)
        assert bool((bits >> compiled.bit_of[i]) & 1) == inside, pod["ip"]
