"""A slow, literal evaluator of ClusterNetworkPolicy tiers over NetworkPolicy: the test oracle.

Written from the doc comments of ``apis/v1alpha2/clusternetworkpolicy_types.go`` in
kubernetes-sigs/network-policy-api at tag v0.2.0, one connection at a time, every policy every
time, reading the raw dicts itself. Nothing is shared with ``provisioning.analysis``; the
NetworkPolicy tier reuses ``tests/analysis/reference.py``, which is itself written from the
NetworkPolicy API reference on raw dicts.

How one direction of one connection is decided (the source's egress and the destination's
ingress are decided separately; a connection needs both):

1. Admin tier. ClusterNetworkPolicies with ``tier: Admin`` whose ``subject`` selects the pod,
   lowest ``priority`` first, their rules of that direction in written order. The first rule
   whose peers and protocols match decides: ``Accept`` -> allow, ``Deny`` -> deny (both final),
   ``Pass`` -> the remaining Admin rules are skipped and evaluation goes on at step 2.
2. NetworkPolicy tier. If a NetworkPolicy selects the pod for this direction (isolation is per
   direction, as for NetworkPolicy itself), its verdict is final: allowed if a rule admits the
   peer, otherwise denied ("v1.NetworkPolicy always makes a final decision for selected pods").
3. Baseline tier: as step 1 with ``tier: Baseline``; ``Pass`` goes on at step 4.
4. Default: allowed.

An endpoint outside the cluster (a bare IP that is no pod's) has no policies of its own: its
direction is allowed.

Equal priorities: the API leaves it open which of two policies of the same tier and priority
applies ("the implementation can apply any of the matching policies"). This evaluator orders
them by ``metadata.name`` and additionally computes every verdict any order could give;
``Decision.ambiguous``/``Verdict.ambiguous`` say whether the verdict depends on that choice,
and ``Decision.tie`` whether the deciding rule does. Tests skip ambiguous verdicts.

Other readings, each a choice where the spec is silent:

* ``subject.pods.namespaceSelector`` and ``pods.namespaceSelector`` in peers are optional and
  not pointers in Go: absent is the empty selector, all namespaces.
* ``networks`` matches the peer's IP, a pod's as well as an outside address ("cluster-internal
  traffic will be checked against the rule as well"); a pod without an IP matches no CIDR.
* ``destinationNamedPort`` matches when the destination pod (the subject for ingress, the peer
  for egress) declares a container port of that name whose number and protocol are the
  connection's (the upstream conformance test maps the name ``dns`` to UDP/53); never on an
  outside IP.
* ``tcp``/``udp``/``sctp`` without ``destinationPort`` (refused by the CRD's MinProperties=1,
  but described by site-src/api-overview.md) matches every port of that protocol.
* ``nodes`` and ``domainNames`` peers match nothing: the cluster model has no nodes, and
  probes are IPs, not names.

Policies are assumed valid (the tests check validation separately).
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import reference

Obj = Mapping[str, Any]

ADMIN = "Admin"
NETWORKPOLICY = "NetworkPolicy"
BASELINE = "Baseline"
ALLOW = "allow"
DENY = "deny"
CNP_KIND = "ClusterNetworkPolicy"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Decision:
    """How one direction was decided.

    ``tier`` is ``Admin``, ``NetworkPolicy`` or ``Baseline``, or ``""`` when no tier decided
    (default allow, or an endpoint outside the cluster). ``policy`` is the CNP's name or the
    NetworkPolicy's ``ns/name`` (the first admitting one; ``""`` when an isolating
    NetworkPolicy admits nothing); ``rule`` its path like ``spec.egress[0]``; ``action`` is
    ``Accept``/``Deny`` for a CNP decision, ``""`` otherwise. ``passed`` lists the tiers whose
    ``Pass`` rule sent evaluation on.
    """

    verdict: str
    tier: str = ""
    policy: str = ""
    rule: str = ""
    action: str = ""
    priority: int | None = None
    rule_name: str = ""
    passed: tuple[str, ...] = ()
    tie: bool = False
    possible: frozenset[str] = field(default_factory=frozenset)

    @property
    def allowed(self) -> bool:
        return self.verdict == ALLOW

    @property
    def ambiguous(self) -> bool:
        """The verdict depends on the order of equal-priority policies."""
        return len(self.possible) > 1


@dataclass(frozen=True)
class Verdict:
    ingress: Decision
    egress: Decision

    @property
    def allowed(self) -> bool:
        return self.ingress.allowed and self.egress.allowed

    @property
    def verdict(self) -> str:
        return ALLOW if self.allowed else DENY

    @property
    def ambiguous(self) -> bool:
        """Some order of equal-priority policies gives the connection another verdict."""
        outcomes = {
            i == ALLOW and e == ALLOW for i in self.ingress.possible for e in self.egress.possible
        }
        return len(outcomes) > 1

    @property
    def tie(self) -> bool:
        return self.ingress.tie or self.egress.tie


# -- entry points ---------------------------------------------------------------------------------


def is_cnp(obj: Obj) -> bool:
    return obj.get("kind") == CNP_KIND


def evaluate(
    cluster: Obj,
    policies: Sequence[Obj],
    source: str,
    destination: str,
    port: int | str,
    protocol: str = "TCP",
) -> Verdict:
    """Both directions of ``source`` -> ``destination`` on ``port``/``protocol``.

    ``source``/``destination`` are ``ns/name`` of a pod, a pod's IP, or an outside IP. A named
    ``port`` is resolved on the destination pod.
    """
    src = reference.find_pod(cluster, source)
    dst = reference.find_pod(cluster, destination)
    if isinstance(port, str):
        if dst is None:
            raise ValueError(f"named port {port!r} on an outside IP")
        number = _declared_port(dst, port, protocol)
        if number is None:
            raise ValueError(f"{destination} declares no {protocol} port {port!r}")
        port = number
    egress = decide(cluster, policies, "egress", src, dst, destination, port, protocol)
    ingress = decide(cluster, policies, "ingress", dst, src, source, port, protocol)
    return Verdict(ingress=ingress, egress=egress)


def allowed(
    cluster: Obj,
    policies: Sequence[Obj],
    source: str,
    destination: str,
    port: int | str,
    protocol: str = "TCP",
) -> bool:
    return evaluate(cluster, policies, source, destination, port, protocol).allowed


def ambiguous(
    cluster: Obj,
    policies: Sequence[Obj],
    source: str,
    destination: str,
    port: int | str,
    protocol: str = "TCP",
) -> bool:
    """Whether the verdict depends on how policies of equal tier and priority are ordered."""
    return evaluate(cluster, policies, source, destination, port, protocol).ambiguous


def decide(
    cluster: Obj,
    policies: Sequence[Obj],
    direction: str,
    subject: Obj | None,
    peer: Obj | None,
    peer_name: str,
    port: int,
    protocol: str,
) -> Decision:
    """One direction: ``subject`` is the destination for ingress, the source for egress."""
    if subject is None:  # outside the cluster: nothing applies to it
        return Decision(ALLOW, possible=frozenset({ALLOW}))
    cnps = [p for p in policies if is_cnp(p)]
    nps = [p for p in policies if not is_cnp(p)]
    conn = _Connection(cluster, direction, subject, peer, peer_name, port, protocol)

    admin = _tier_options(conn, [p for p in cnps if p["spec"]["tier"] == ADMIN])
    np_decision = _networkpolicy_tier(conn, nps)
    baseline = _tier_options(conn, [p for p in cnps if p["spec"]["tier"] == BASELINE])

    # Every verdict some order of equal-priority policies could give.
    possible = set()
    for a, b in itertools.product(admin.options, baseline.options):
        possible.add(_combine(a, np_decision, b).verdict)
    chosen = _combine(admin.chosen, np_decision, baseline.chosen)
    admin_final = admin.chosen is not None and admin.chosen.action != "Pass"
    reached_baseline = not admin_final and np_decision is None
    tie = admin.tie or (reached_baseline and baseline.tie)
    return Decision(
        verdict=chosen.verdict,
        tier=chosen.tier,
        policy=chosen.policy,
        rule=chosen.rule,
        action=chosen.action,
        priority=chosen.priority,
        rule_name=chosen.rule_name,
        passed=chosen.passed,
        tie=tie,
        possible=frozenset(possible),
    )


# -- tiers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Connection:
    cluster: Obj
    direction: str
    subject: Obj
    peer: Obj | None
    peer_name: str
    port: int
    protocol: str

    @property
    def destination(self) -> Obj | None:
        """The pod that receives the connection: where named ports are looked up."""
        return self.subject if self.direction == "ingress" else self.peer


@dataclass(frozen=True)
class _Match:
    """The first matching rule of one CNP."""

    tier: str
    policy: str
    priority: int
    rule: str
    rule_name: str
    action: str


@dataclass(frozen=True)
class _TierOptions:
    chosen: _Match | None  # under the documented order (priority, then name)
    options: tuple[_Match | None, ...]  # every match an equal-priority order could pick
    tie: bool


def _tier_options(conn: _Connection, tier_policies: list[Obj]) -> _TierOptions:
    """Walk priorities from 0 up; the first priority with a matching rule decides the tier."""
    by_priority: dict[int, list[Obj]] = {}
    for p in tier_policies:
        if _subject_selects(conn.cluster, p["spec"]["subject"], conn.subject):
            by_priority.setdefault(int(p["spec"]["priority"]), []).append(p)
    for priority in sorted(by_priority):
        group = sorted(by_priority[priority], key=lambda p: p["metadata"]["name"])
        matches = [m for m in (_first_matching_rule(conn, p) for p in group) if m is not None]
        if matches:
            return _TierOptions(matches[0], tuple(matches), len(matches) > 1)
    return _TierOptions(None, (None,), False)


def _first_matching_rule(conn: _Connection, policy: Obj) -> _Match | None:
    spec = policy["spec"]
    for i, rule in enumerate(spec.get(conn.direction) or []):
        if _rule_matches(conn, rule):
            return _Match(
                tier=spec["tier"],
                policy=policy["metadata"]["name"],
                priority=int(spec["priority"]),
                rule=f"spec.{conn.direction}[{i}]",
                rule_name=rule.get("name") or "",
                action=rule["action"],
            )
    return None


def _networkpolicy_tier(conn: _Connection, nps: list[Obj]) -> Decision | None:
    """``None`` when no NetworkPolicy selects the pod for this direction."""
    if not any(reference.applies(p, conn.subject, conn.direction) for p in nps):
        return None
    ok = reference.direction_allows(
        conn.cluster,
        nps,
        conn.subject,
        conn.peer,
        conn.peer_name,
        conn.port,
        conn.protocol,
        conn.direction,
        True,
    )
    policy = rule = ""
    if ok:  # name the first admitting rule, for explanation tests
        policy, rule = _first_admitting_np_rule(conn, nps)
    return Decision(ALLOW if ok else DENY, tier=NETWORKPOLICY, policy=policy, rule=rule)


def _first_admitting_np_rule(conn: _Connection, nps: list[Obj]) -> tuple[str, str]:
    for p in nps:
        if not reference.applies(p, conn.subject, conn.direction):
            continue
        for i, rule in enumerate(p["spec"].get(conn.direction) or []):
            one = {**p, "spec": {**p["spec"], conn.direction: [rule]}}
            if reference.direction_allows(
                conn.cluster,
                [one],
                conn.subject,
                conn.peer,
                conn.peer_name,
                conn.port,
                conn.protocol,
                conn.direction,
                True,
            ):
                key = f"{p['metadata'].get('namespace') or 'default'}/{p['metadata']['name']}"
                return key, f"spec.{conn.direction}[{i}]"
    return "", ""


def _combine(admin: _Match | None, np_tier: Decision | None, baseline: _Match | None) -> Decision:
    passed: list[str] = []
    if admin is not None:
        if admin.action != "Pass":
            return _from_match(admin, ())
        passed.append(ADMIN)
    if np_tier is not None:
        return Decision(
            np_tier.verdict,
            tier=NETWORKPOLICY,
            policy=np_tier.policy,
            rule=np_tier.rule,
            passed=tuple(passed),
        )
    if baseline is not None:
        if baseline.action != "Pass":
            return _from_match(baseline, tuple(passed))
        passed.append(BASELINE)
    return Decision(ALLOW, passed=tuple(passed))


def _from_match(m: _Match, passed: tuple[str, ...]) -> Decision:
    return Decision(
        verdict=ALLOW if m.action == "Accept" else DENY,
        tier=m.tier,
        policy=m.policy,
        rule=m.rule,
        action=m.action,
        priority=m.priority,
        rule_name=m.rule_name,
        passed=passed,
    )


# -- matching -------------------------------------------------------------------------------------


def _subject_selects(cluster: Obj, subject: Obj, pod: Obj) -> bool:
    """``subject`` has exactly one of ``namespaces`` and ``pods``."""
    if "namespaces" in subject:
        return _namespace_matches(cluster, subject["namespaces"], pod)
    return _namespaced_pod_matches(cluster, subject["pods"], pod)


def _rule_matches(conn: _Connection, rule: Obj) -> bool:
    peers = rule["from"] if conn.direction == "ingress" else rule["to"]
    if not any(_peer_matches(conn, peer) for peer in peers):
        return False
    protocols = rule.get("protocols")
    if protocols is None:  # "If unspecified, protocol-specific attributes will not be used"
        return True
    return any(_protocol_matches(conn, entry) for entry in protocols)


def _peer_matches(conn: _Connection, peer: Obj) -> bool:
    pod = conn.peer
    if "namespaces" in peer:
        return pod is not None and _namespace_matches(conn.cluster, peer["namespaces"], pod)
    if "pods" in peer:
        return pod is not None and _namespaced_pod_matches(conn.cluster, peer["pods"], pod)
    if "networks" in peer:
        ip_text = pod.get("ip") if pod is not None else conn.peer_name
        if not ip_text:
            return False
        ip = ipaddress.ip_address(ip_text)
        for cidr in peer["networks"]:
            net = ipaddress.ip_network(cidr, strict=False)
            if net.version == ip.version and ip in net:
                return True
        return False
    # nodes, domainNames: nothing in the model can be one of them.
    return False


def _protocol_matches(conn: _Connection, entry: Obj) -> bool:
    if "destinationNamedPort" in entry:
        dst = conn.destination
        if dst is None:
            return False
        return _declared_port(dst, entry["destinationNamedPort"], conn.protocol) == conn.port
    for key, proto in (("tcp", "TCP"), ("udp", "UDP"), ("sctp", "SCTP")):
        if key in entry:
            if conn.protocol != proto:
                return False
            port = (entry[key] or {}).get("destinationPort")
            if port is None:
                return True
            if "number" in port:
                return port["number"] == conn.port
            return port["range"]["start"] <= conn.port <= port["range"]["end"]
    return False


def _namespace_matches(cluster: Obj, selector: Obj | None, pod: Obj) -> bool:
    labels = dict(cluster["namespaces"][pod["namespace"]].get("labels") or {})
    labels[NAMESPACE_NAME_LABEL] = pod["namespace"]
    return reference.selector_matches(selector or {}, labels)


def _namespaced_pod_matches(cluster: Obj, sel: Obj, pod: Obj) -> bool:
    return _namespace_matches(cluster, sel.get("namespaceSelector"), pod) and (
        reference.selector_matches(sel.get("podSelector") or {}, pod.get("labels") or {})
    )


def _declared_port(pod: Obj, name: str, protocol: str) -> int | None:
    for declared in pod.get("ports") or []:
        if declared.get("name") == name and (declared.get("protocol") or "TCP") == protocol:
            return int(declared.get("port", declared.get("containerPort")))
    return None
