"""Upstream-style fixtures: namespaces x, y, z; pods a, b, c; ports 80 and 81 over TCP and UDP.

Mirrors the model of kubernetes/kubernetes ``test/e2e/network/netpol/`` (``model.go``: pods
labelled ``pod: <name>``, namespaces labelled with ``kubernetes.io/metadata.name``, container
ports named ``serve-<port>-<protocol>``) and its ``Reachability`` helpers (``reachability.go``:
start from all-allowed, then ``ExpectPeer``/``ExpectAllIngress``/``Expect``), written here from
scratch in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from provisioning.analysis.analyzer import analyze
from provisioning.analysis.model import ClusterModel, Probe

from . import reference

NAMESPACES = ("x", "y", "z")
PODS = ("a", "b", "c")
PORTS = ((80, "TCP"), (81, "TCP"), (80, "UDP"), (81, "UDP"))


def pod_ip(ns: str, pod: str) -> str:
    return f"10.0.{NAMESPACES.index(ns) + 1}.{PODS.index(pod) + 10}"


def cluster_dict(**overrides: Any) -> dict[str, Any]:
    """The 3x3 cluster; ``overrides`` maps ``"x/b"`` to replacement fields for that pod."""
    pods = []
    for ns in NAMESPACES:
        for name in PODS:
            pod = {
                "namespace": ns,
                "name": name,
                "labels": {"pod": name},
                "ip": pod_ip(ns, name),
                "ports": [
                    {"name": f"serve-{port}-{proto.lower()}", "port": port, "protocol": proto}
                    for port, proto in PORTS
                ],
            }
            pod.update(overrides.get(f"{ns}/{name}", {}))
            pods.append(pod)
    return {"namespaces": {ns: {"labels": {"ns": ns}} for ns in NAMESPACES}, "pods": pods}


def netpol(name: str, namespace: str = "x", **spec: Any) -> dict[str, Any]:
    spec.setdefault("podSelector", {})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def pod_sel(**labels: str) -> dict[str, Any]:
    return {"matchLabels": labels}


ALL = [f"{ns}/{p}" for ns in NAMESPACES for p in PODS]
Table = dict[tuple[str, str], bool]
Match = Callable[[str], bool]


class Reachability:
    """Expected truth table: every pair allowed until told otherwise."""

    def __init__(self, endpoints: Sequence[str] = ALL, default: bool = True) -> None:
        self.endpoints = list(endpoints)
        self.table: Table = {(s, d): default for s in self.endpoints for d in self.endpoints}

    def expect_peer(self, src: Match, dst: Match, allowed: bool) -> Reachability:
        for s, d in self.table:
            if src(s) and dst(d):
                self.table[s, d] = allowed
        return self

    def expect_all_ingress(self, dst: str, allowed: bool) -> Reachability:
        return self.expect_peer(lambda s: True, lambda d: d == dst, allowed)

    def expect_all_egress(self, src: str, allowed: bool) -> Reachability:
        return self.expect_peer(lambda s: s == src, lambda d: True, allowed)

    def expect(self, src: str, dst: str, allowed: bool) -> Reachability:
        self.table[src, dst] = allowed
        return self


def in_ns(ns: str) -> Match:
    return lambda p: p.split("/")[0] == ns


def anything(_: str) -> bool:
    return True


def render(table: Mapping[tuple[str, str], bool], endpoints: Sequence[str]) -> str:
    """Upstream's layout: sources down, destinations across, ``.`` allowed, ``X`` denied."""
    lines = ["-\t" + "\t".join(endpoints)]
    for s in endpoints:
        lines.append(s + "\t" + "\t".join(_cell(table.get((s, d))) for d in endpoints))
    return "\n".join(lines)


def _cell(value: bool | None) -> str:
    return "-" if value is None else "." if value else "X"


def observe(
    cluster: Mapping[str, Any],
    policies: Sequence[Mapping[str, Any]],
    endpoints: Sequence[str],
    port: int | str,
    protocol: str,
    engine: str,
) -> tuple[Table, Table]:
    """(fast engine table, reference evaluator table) for every ordered pair of endpoints."""
    model = ClusterModel.from_dict(cluster)
    probes = [
        Probe(s, d, port, protocol) for s in endpoints for d in endpoints if "/" in s or "/" in d
    ]
    analysis = analyze(model, policies, probes, engine)
    results = list(analysis.results())
    assert len(results) == len(probes)
    fast = {(p.source, p.destination): r.allowed for p, r in zip(probes, results, strict=True)}
    slow = {}
    for probe in probes:
        number = port
        if isinstance(port, str):
            number = model.pod(probe.destination).resolve_port(port, protocol)  # type: ignore[union-attr]
        slow[probe.source, probe.destination] = reference.allowed(
            cluster, policies, probe.source, probe.destination, number, protocol, engine
        )
    return fast, slow


def check(
    policies: Sequence[Mapping[str, Any]],
    expected: Reachability,
    *,
    port: int | str = 80,
    protocol: str = "TCP",
    engine: str = "reference",
    cluster: Mapping[str, Any] | None = None,
) -> None:
    """Assert the fast engine and the reference evaluator both give the expected table.

    Also checks the pair-free counting path: the full default matrix's allowed count equals
    the reference evaluator's count over every pair and declared port.
    """
    cluster = cluster or cluster_dict()
    fast, slow = observe(cluster, policies, expected.endpoints, port, protocol, engine)
    want = {k: v for k, v in expected.table.items() if k in fast}
    eps = expected.endpoints
    assert fast == want, (
        f"fast engine differs on {port}/{protocol}\nexpected:\n{render(want, eps)}\n"
        f"got:\n{render(fast, eps)}"
    )
    assert slow == want, (
        f"reference differs\nexpected:\n{render(want, eps)}\ngot:\n{render(slow, eps)}"
    )
    assert_counts_match(cluster, policies, engine)


def assert_counts_match(
    cluster: Mapping[str, Any], policies: Sequence[Mapping[str, Any]], engine: str
) -> None:
    model = ClusterModel.from_dict(cluster)
    analysis = analyze(model, policies, None, engine)
    expected_total = expected_allowed = 0
    for dst in cluster["pods"]:
        for declared in dst.get("ports") or []:
            proto = declared.get("protocol") or "TCP"
            for src in cluster["pods"]:
                expected_total += 1
                expected_allowed += reference.allowed(
                    cluster,
                    policies,
                    f"{src['namespace']}/{src['name']}",
                    f"{dst['namespace']}/{dst['name']}",
                    declared["port"],
                    proto,
                    engine,
                )
    assert (analysis.probes, analysis.allowed) == (expected_total, expected_allowed)
