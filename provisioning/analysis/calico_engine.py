"""Calico's tiered evaluation, for analyses on engine ``calico`` that include Calico's objects.

Sources (projectcalico/calico v3.32.1; line numbers in ``docs/calico-policies.md``):

* Tiers are taken in ``order`` (none last, then by name: ``felix/calc/policy_sorter.go``
  ``TierLess``); built in: ``kube-admin`` (1,000, default action Pass), ``default``
  (1,000,000, Deny), ``kube-baseline`` (10,000,000, Pass) (``api/pkg/apis/projectcalico/v3/
  tier.go``, ``clientv3/client.go``).
* In a tier, policies by ``order`` (absent: last), then ``"<name>/<namespace>/<kind>"``
  (``PolKVLess``). Kubernetes NetworkPolicies are policies of the ``default`` tier at order
  1000 whose rules Allow ("We insert all the NetworkPolicy Policies at order 1000.0",
  ``libcalico-go/lib/backend/k8s/conversion/conversion.go``); ClusterNetworkPolicies go to
  ``kube-admin`` (Admin) and ``kube-baseline`` (Baseline) with ``priority`` as their order,
  Accept as Allow (``.../conversion/clusternetworkpolicy.go``).
* Per endpoint and direction: a tier none of whose policies selects the endpoint for that
  direction is skipped. Otherwise the first rule that matches decides: Allow and Deny end the
  evaluation, Pass goes to the next tier, Log goes on to the next rule. When a policy of the
  tier selected the endpoint and no rule decided, the tier's ``defaultAction`` applies (Deny,
  or Pass). After the last tier the namespace's profile allows (``felix/rules/endpoints.go``,
  ``conversion.go`` ``NamespaceToProfile``).

Like ``tiers.py`` it answers twice: per connection (``decide``, for explanations) and as pod
bitsets per subject pod (``allowed``, for pair-free counts). A rule splits into a subject side
(the destination entity for ingress, the source entity for egress: checked once per subject
pod) and a peer side (checked once per pod and port for the whole analysis).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provisioning.errors import UsageError

from .calico import (
    ALLOW,
    BUILTIN_TIERS,
    CLUSTER_NETWORK_POLICY_TIERS,
    DEFAULT_TIER,
    DENY,
    KUBERNETES_CLUSTER_NETWORK_POLICY_KIND,
    KUBERNETES_NETWORK_POLICY_KIND,
    KUBERNETES_NETWORK_POLICY_ORDER,
    LOG,
    PASS,
    Endpoint,
    GlobalNetworkPolicy,
    GlobalNetworkSet,
    NetworkPolicy,
    Tier,
)
from .cluster_policy import ACCEPT, ClusterPolicy
from .model import IPAddress
from .policy import EGRESS, INGRESS, Policy

if TYPE_CHECKING:
    from .engine import CompiledPolicies, PortKey
    from .tiers import CompiledTierRule

CalicoPolicy = GlobalNetworkPolicy | NetworkPolicy


@dataclass(frozen=True)
class CalicoItem:
    """A Calico object read from the input, with the warnings its reading produced."""

    obj: Any
    warnings: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        namespace = getattr(self.obj, "namespace", None)
        return f"{self.obj.kind}/{namespace + '/' if namespace else ''}{self.obj.name}"


def read_calico(raw: Any, *, source: str = "") -> CalicoItem:
    from .calico import parse_calico_object

    if not source:  # named after the object, as an API object is
        meta = raw.get("metadata") if isinstance(raw, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        kind = raw.get("kind") if isinstance(raw, dict) else None
        source = f"{kind} {name}" if isinstance(kind, str) and isinstance(name, str) else ""
    obj, warnings = parse_calico_object(raw, source=source or "<policies>")
    return CalicoItem(obj, tuple(warnings))


@dataclass(frozen=True)
class Peer:
    """The other end of one connection: a pod (its bit) or an address outside the cluster."""

    bit: int | None
    ip: IPAddress | None


@dataclass(frozen=True)
class EntryRule:
    """One rule of one policy as the tier walk needs it."""

    id: int
    action: str  # Allow, Deny, Pass, Log
    path: str
    name: str
    subject_ok: Callable[[int, PortKey], bool]  # subject bit, port
    peers: Callable[[PortKey], int]  # pods on the other end it matches, per port
    matches: Callable[[int, Peer, PortKey], bool]  # one connection


@dataclass(frozen=True)
class Entry:
    """A policy inside a tier: what it selects, which directions it governs, its rules."""

    kind: str  # as explanations name it
    name: str  # ns/name or name
    tier: str
    order: float
    sort_name: str
    selected: int  # pods it selects
    rules: dict[str, tuple[EntryRule, ...]]  # per direction, only governed directions

    @property
    def rank(self) -> str:
        order = "none" if math.isinf(self.order) else f"{self.order:g}"
        return f"tier {self.tier}, order {order}"


@dataclass(frozen=True)
class CalicoDecision:
    """What decided one direction: a rule (``entry``/``rule``), a tier's default action
    (``rule`` None, ``entry`` None, ``tier`` set), or the profile's allow (all None)."""

    action: str  # Allow or Deny
    tier: str = ""
    entry: Entry | None = None
    rule: EntryRule | None = None
    passed: tuple[tuple[Entry, EntryRule], ...] = ()  # Pass rules on the way


class CalicoTiers:
    """Every policy of an analysis in Calico's tiers, compiled against ``CompiledPolicies``."""

    def __init__(
        self,
        c: CompiledPolicies,
        calico: Sequence[Any],
        networkpolicies: Sequence[Policy],
        cluster_policies: Sequence[ClusterPolicy],
    ) -> None:
        self.c = c
        self.sets = tuple(o for o in calico if isinstance(o, GlobalNetworkSet))
        tiers = dict(BUILTIN_TIERS)
        for tier in (o for o in calico if isinstance(o, Tier)):
            tiers[tier.name] = tier
        self.tiers: list[Tier] = sorted(tiers.values(), key=Tier.sort_key)
        self.endpoints = [self._endpoint(pod) for pod in c.pods]
        self._ids = 0
        self._peer_cache: dict[tuple[int, PortKey], int] = {}
        self._np_ports: dict[tuple[int, PortKey], int] = {}
        entries: list[Entry] = []
        for obj in calico:
            if isinstance(obj, GlobalNetworkPolicy | NetworkPolicy):
                if obj.tier not in tiers:
                    raise UsageError(
                        f"{obj.source or obj.name}: spec.tier: tier {obj.tier!r} is not given; "
                        "add its projectcalico.org/v3 Tier object to the policies"
                    )
                entries.append(self._calico_entry(obj))
        entries += [self._networkpolicy_entry(i, p) for i, p in enumerate(networkpolicies)]
        entries += [self._cluster_entry(p) for p in cluster_policies]
        self.by_tier: dict[str, list[Entry]] = {t.name: [] for t in self.tiers}
        for entry in sorted(entries, key=lambda e: (e.order, e.sort_name)):
            self.by_tier[entry.tier].append(entry)

    # -- endpoints ----------------------------------------------------------------------------

    def _endpoint(self, pod: Any) -> Endpoint:
        return Endpoint.for_pod(pod, self.c.cluster.namespaces[pod.namespace], self.sets)

    def external(self, ip: IPAddress) -> Endpoint:
        return Endpoint.for_address(ip, self.sets)

    # -- entries ------------------------------------------------------------------------------

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _calico_entry(self, policy: CalicoPolicy) -> Entry:
        selected = 0
        for bit, endpoint in enumerate(self.endpoints):
            if policy.selects(endpoint):
                selected |= 1 << bit
        rules: dict[str, tuple[EntryRule, ...]] = {}
        for direction in (INGRESS, EGRESS):
            if policy.governs(direction):
                rules[direction] = tuple(
                    self._calico_rule(r, direction) for r in policy.rules(direction)
                )
        namespace = getattr(policy, "namespace", None)
        return Entry(
            kind=f"Calico {policy.kind}",
            name=f"{namespace}/{policy.name}" if namespace else policy.name,
            tier=policy.tier,
            order=math.inf if policy.order is None else policy.order,
            sort_name=policy.sort_key()[1],
            selected=selected,
            rules=rules,
        )

    def _calico_rule(self, rule: Any, direction: str) -> EntryRule:
        """Subject side: the destination entity (ingress) or the source entity (egress)."""
        endpoints = self.endpoints
        if direction == INGRESS:

            def subject_ok(bit: int, key: PortKey) -> bool:
                return rule.matches_protocol(key[1]) and rule.destination.matches(
                    endpoints[bit], key[0], key[1]
                )

            def peer_ok(peer: Endpoint, key: PortKey) -> bool:
                return rule.source.matches(peer)

            def one(subject: int, peer: Peer, key: PortKey) -> bool:
                source = endpoints[peer.bit] if peer.bit is not None else self.external(peer.ip)
                return rule.matches(source, endpoints[subject], key[0], key[1])

        else:

            def subject_ok(bit: int, key: PortKey) -> bool:
                return rule.matches_protocol(key[1]) and rule.source.matches(endpoints[bit])

            def peer_ok(peer: Endpoint, key: PortKey) -> bool:
                return rule.destination.matches(peer, key[0], key[1])

            def one(subject: int, peer: Peer, key: PortKey) -> bool:
                target = endpoints[peer.bit] if peer.bit is not None else self.external(peer.ip)
                return rule.matches(endpoints[subject], target, key[0], key[1])

        rid = self._next_id()

        def peers(key: PortKey) -> int:
            cached = self._peer_cache.get((rid, key))
            if cached is None:
                cached = 0
                for bit, endpoint in enumerate(endpoints):
                    if peer_ok(endpoint, key):
                        cached |= 1 << bit
                self._peer_cache[rid, key] = cached
            return cached

        return EntryRule(rid, rule.action, rule.path, "", subject_ok, peers, one)

    def _networkpolicy_entry(self, index: int, policy: Policy) -> Entry:
        """A Kubernetes NetworkPolicy: rules that Allow, compiled by ``CompiledPolicies``."""
        c = self.c
        rules: dict[str, tuple[EntryRule, ...]] = {}
        for direction, isolating in (
            (INGRESS, policy.ingress_isolating),
            (EGRESS, policy.egress_isolating),
        ):
            if not isolating:
                continue
            compiled = []
            for rid in c.rules_of[index][direction]:
                compiled.append(self._np_rule(c.rules[rid], direction))
            rules[direction] = tuple(compiled)
        return Entry(
            kind="NetworkPolicy",
            name=policy.key,
            tier=DEFAULT_TIER,
            order=KUBERNETES_NETWORK_POLICY_ORDER,
            sort_name=f"knp.default.{policy.name}/{policy.namespace}/{KUBERNETES_NETWORK_POLICY_KIND}",
            selected=c.selected[index],
            rules=rules,
        )

    def _np_rule(self, rule: Any, direction: str) -> EntryRule:
        c = self.c

        def ports(key: PortKey) -> int:
            cached = self._np_ports.get((rule.id, key))
            if cached is None:
                cached = self._np_ports[rule.id, key] = c.ports_ok(rule, key)
            return cached

        subject_ok, peers = _sides(rule.peers, ports, direction)

        def one(subject: int, peer: Peer, key: PortKey) -> bool:
            if not subject_ok(subject, key):
                return False
            if peer.bit is None:
                assert peer.ip is not None
                if not rule.matches_external(peer.ip):
                    return False
                return direction == INGRESS or rule.ports_cover_number(*key)
            return bool((peers(key) >> peer.bit) & 1)

        return EntryRule(self._next_id(), ALLOW, rule.rule.path, "", subject_ok, peers, one)

    def _cluster_entry(self, policy: ClusterPolicy) -> Entry:
        tiers = self.c.tiers
        rules: dict[str, tuple[EntryRule, ...]] = {}
        for direction in (INGRESS, EGRESS):
            compiled = tiers.rules[policy.name, direction]
            if compiled:
                rules[direction] = tuple(self._cnp_rule(r, direction) for r in compiled)
        return Entry(
            kind="ClusterNetworkPolicy",
            name=policy.name,
            tier=CLUSTER_NETWORK_POLICY_TIERS[policy.tier],
            order=float(policy.priority),
            sort_name=f"{policy.name}//{KUBERNETES_CLUSTER_NETWORK_POLICY_KIND}",
            selected=tiers.selected[policy.name],
            rules=rules,
        )

    def _cnp_rule(self, rule: CompiledTierRule, direction: str) -> EntryRule:
        tiers = self.c.tiers
        subject_ok, peers = _sides(rule.peers, lambda key: tiers.ports_ok(rule, key), direction)

        def one(subject: int, peer: Peer, key: PortKey) -> bool:
            return tiers._matches(rule, direction, subject, peer.bit, peer.ip, key)

        action = ALLOW if rule.rule.action == ACCEPT else rule.rule.action
        return EntryRule(
            self._next_id(), action, rule.rule.path, rule.rule.name, subject_ok, peers, one
        )

    # -- bitsets per subject ------------------------------------------------------------------

    def allowed(self, direction: str, subject_bit: int, key: PortKey) -> int:
        """The peers allowed in ``direction`` for the pod at ``subject_bit`` on ``key``."""
        go_on = self.c.all
        allow = 0
        for tier in self.tiers:
            undecided, passed, selected = go_on, 0, False
            for entry in self.by_tier[tier.name]:
                rules = entry.rules.get(direction)
                if rules is None or not (entry.selected >> subject_bit) & 1:
                    continue
                selected = True
                for rule in rules:
                    if rule.action == LOG or not undecided:
                        continue
                    if not rule.subject_ok(subject_bit, key):
                        continue
                    matched = rule.peers(key) & undecided
                    if not matched:
                        continue
                    if rule.action == ALLOW:
                        allow |= matched
                    elif rule.action == PASS:
                        passed |= matched
                    undecided &= ~matched  # Deny: neither allowed nor going on
            if not selected:
                continue
            go_on = passed | (undecided if tier.default_action == PASS else 0)
            if not go_on:
                break
        return allow | go_on

    # -- one connection -----------------------------------------------------------------------

    def decide(self, direction: str, subject_bit: int, peer: Peer, key: PortKey) -> CalicoDecision:
        passed: list[tuple[Entry, EntryRule]] = []
        for tier in self.tiers:
            selected = False
            decision: CalicoDecision | None = None
            for entry in self.by_tier[tier.name]:
                rules = entry.rules.get(direction)
                if rules is None or not (entry.selected >> subject_bit) & 1:
                    continue
                selected = True
                for rule in rules:
                    if rule.action == LOG or not rule.matches(subject_bit, peer, key):
                        continue
                    if rule.action == PASS:
                        passed.append((entry, rule))
                        decision = CalicoDecision(PASS)
                    else:
                        return CalicoDecision(rule.action, tier.name, entry, rule, tuple(passed))
                    break
                if decision is not None:
                    break
            if decision is None and selected and tier.default_action == DENY:
                return CalicoDecision(DENY, tier.name, passed=tuple(passed))
        return CalicoDecision(ALLOW, passed=tuple(passed))


def _sides(
    peer_bits: int, ports: Callable[[PortKey], int], direction: str
) -> tuple[Callable[[int, PortKey], bool], Callable[[PortKey], int]]:
    """A NetworkPolicy or ClusterNetworkPolicy rule's two sides: its ports are the destination's,
    so on ingress they are checked on the subject, on egress on the peers."""
    if direction == INGRESS:
        return (lambda bit, key: bool((ports(key) >> bit) & 1)), (lambda key: peer_bits)
    return (lambda bit, key: True), (lambda key: peer_bits & ports(key))
