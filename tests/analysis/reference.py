"""A deliberately simple per-pair evaluator: the oracle for tests and the naive benchmark.

It reads the raw dicts (the ``--cluster`` shape and NetworkPolicy objects) itself and follows
the Kubernetes API reference for NetworkPolicy sentence by sentence, one connection at a time,
every policy every time. No caching, no bitsets, nothing shared with the fast engine, so that
the two agreeing means something. Policies are assumed valid (the tests validate them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

Obj = Mapping[str, Any]


def allowed(
    cluster: Obj,
    policies: Sequence[Obj],
    source: str,
    destination: str,
    port: int,
    protocol: str = "TCP",
    engine: str = "reference",
) -> bool:
    """Whether ``source`` may open a connection to ``destination`` on ``port``/``protocol``.

    ``source``/``destination`` are ``ns/name`` of a pod or a bare IP outside the cluster.
    """
    src = find_pod(cluster, source)
    dst = find_pod(cluster, destination)
    return allowed_between(cluster, policies, src, dst, source, destination, port, protocol, engine)


def allowed_between(
    cluster: Obj,
    policies: Sequence[Obj],
    src: Obj | None,
    dst: Obj | None,
    source: str,
    destination: str,
    port: int,
    protocol: str = "TCP",
    engine: str = "reference",
) -> bool:
    """``allowed`` with the pods already looked up (``None`` for an IP outside the cluster)."""
    if engine == "none":
        return True
    ipblock_sees_pods = engine != "cilium"
    egress_ok = src is None or direction_allows(
        cluster, policies, src, dst, destination, port, protocol, "egress", ipblock_sees_pods
    )
    ingress_ok = dst is None or direction_allows(
        cluster, policies, dst, src, source, port, protocol, "ingress", ipblock_sees_pods
    )
    return egress_ok and ingress_ok


def find_pod(cluster: Obj, name: str) -> Obj | None:
    for pod in cluster["pods"]:
        if f"{pod['namespace']}/{pod['name']}" == name or pod.get("ip") == name:
            return pod
    return None


def direction_allows(
    cluster: Obj,
    policies: Sequence[Obj],
    subject: Obj,
    peer: Obj | None,
    peer_name: str,
    port: int,
    protocol: str,
    direction: str,
    ipblock_sees_pods: bool,
) -> bool:
    """Is traffic allowed for ``subject`` in ``direction`` with ``peer`` on the other end?"""
    isolated = False
    for policy in policies:
        if not applies(policy, subject, direction):
            continue
        isolated = True
        peers_key = "from" if direction == "ingress" else "to"
        for rule in policy["spec"].get(direction) or []:
            rule = rule or {}
            # The destination pod is where named ports are looked up, in both directions.
            destination = subject if direction == "ingress" else peer
            if not ports_match(rule.get("ports"), port, protocol, destination):
                continue
            peers = rule.get(peers_key)
            if not peers:  # absent or empty: every source/destination
                return True
            for p in peers:
                if peer_matches(cluster, policy, p, peer, peer_name, ipblock_sees_pods):
                    return True
    return not isolated


def applies(policy: Obj, pod: Obj, direction: str) -> bool:
    """The policy selects ``pod`` and has ``direction`` among its (defaulted) policy types."""
    meta = policy["metadata"]
    if (meta.get("namespace") or "default") != pod["namespace"]:
        return False
    spec = policy.get("spec") or {}
    if not selector_matches(spec.get("podSelector") or {}, pod.get("labels") or {}):
        return False
    types = spec.get("policyTypes")
    if not types:
        types = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    return direction.capitalize() in types


def ports_match(ports: Any, port: int, protocol: str, destination: Obj | None) -> bool:
    if not ports:
        return True
    for entry in ports:
        entry = entry or {}
        if (entry.get("protocol") or "TCP") != protocol:
            continue
        value = entry.get("port")
        if value is None:
            return True
        if isinstance(value, int):
            if value <= port <= (entry.get("endPort") or value):
                return True
        elif destination is not None:
            for declared in destination.get("ports") or []:
                if (
                    declared.get("name") == value
                    and (declared.get("protocol") or "TCP") == protocol
                    and declared["port"] == port
                ):
                    return True
    return False


def peer_matches(
    cluster: Obj,
    policy: Obj,
    peer_rule: Obj,
    peer: Obj | None,
    peer_name: str,
    ipblock_sees_pods: bool,
) -> bool:
    block = peer_rule.get("ipBlock")
    if block is not None:
        if peer is not None and not ipblock_sees_pods:
            return False
        ip_text = peer.get("ip") if peer is not None else peer_name
        if not ip_text:
            return False
        ip = ipaddress.ip_address(ip_text)
        cidr = ipaddress.ip_network(block["cidr"], strict=False)
        if ip.version != cidr.version or ip not in cidr:
            return False
        for excluded in block.get("except") or []:
            if ip in ipaddress.ip_network(excluded, strict=False):
                return False
        return True
    if peer is None:  # selectors only ever select pods
        return False
    ns_selector = peer_rule.get("namespaceSelector")
    pod_selector = peer_rule.get("podSelector")
    if ns_selector is None:
        policy_ns = policy["metadata"].get("namespace") or "default"
        if peer["namespace"] != policy_ns:
            return False
    else:
        ns_labels = dict(cluster["namespaces"][peer["namespace"]].get("labels") or {})
        ns_labels["kubernetes.io/metadata.name"] = peer["namespace"]
        if not selector_matches(ns_selector, ns_labels):
            return False
    return pod_selector is None or selector_matches(pod_selector, peer.get("labels") or {})


def selector_matches(selector: Obj, labels: Mapping[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and not (key in labels and labels[key] in values):
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
