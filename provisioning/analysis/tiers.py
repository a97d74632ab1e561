"""The cluster-wide tiers around the NetworkPolicy tier: ClusterNetworkPolicy Admin and Baseline.

Semantics, from kubernetes-sigs/network-policy-api@v0.2.0 ``apis/v1alpha2/
clusternetworkpolicy_types.go`` (the doc comments of ``Tier``, ``Priority``, ``Ingress``/
``Egress`` and ``ClusterNetworkPolicyRuleAction``):

1. "Policy tiers are evaluated in the following order: Admin tier, NetworkPolicy tier, Baseline
   tier." Each direction (the source's egress, the destination's ingress) is evaluated on its
   own; a connection needs both.
2. "Policies with lower priority values have higher precedence, and are checked before policies
   with higher priority values in the same tier." Equal priorities that could both match are
   the implementation's choice ("no way for the user to reliably determine which one it will
   choose"); here they are taken by name, and ``lint`` says so.
3. "The relative precedence of ingress rules within a single CNP object ... will be determined
   by the order in which the rule is written."
4. Accept and Deny: "No further ClusterNetworkPolicy or NetworkPolicy rules will be processed."
   Pass: "Skips all further ClusterNetworkPolicy rules in the current tier for the selected
   traffic, and passes evaluation to the next tier."
5. "v1.NetworkPolicy always makes a final decision for selected pods. Further evaluation only
   happens for Pods not selected by a v1.NetworkPolicy."
6. "If a given connection wasn't allowed or denied by any of the tiers, the default kubernetes
   policy is applied, which says that all pods can communicate with each other."
7. ``networks`` peers: "cluster-internal traffic will be checked against the rule as well", so
   a CIDR matches pod IPs it contains -- except on an engine whose CIDR rules never match pod
   IPs (``EngineProfile.ipblock_selects_pods`` false: Cilium).

All of it works on the same pod bitsets as ``engine.CompiledPolicies``: for one subject class
and port, walking a tier's rules in order splits the peers into accepted, denied and
continuing (passed or unmatched) sets with a few big-int operations per rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .cluster_policy import ACCEPT, ADMIN, BASELINE, DENY, ClusterPolicy, CnpRule
from .model import IPAddress
from .policy import EGRESS, INGRESS, IPBlock

if TYPE_CHECKING:
    from .engine import CompiledPolicies, PortKey


@dataclass(frozen=True)
class CompiledTierRule:
    id: int
    policy: ClusterPolicy
    rule: CnpRule
    peers: int  # pods the rule's peers match
    networks: tuple[IPBlock, ...]  # its CIDRs, for endpoints outside the cluster

    def matches_external(self, ip: IPAddress) -> bool:
        return any(b.contains(ip) for b in self.networks)

    def ports_cover_number(self, number: int, protocol: str) -> bool:
        ports = self.rule.ports
        return ports is None or any(p.matches_number(number, protocol) for p in ports)


@dataclass(frozen=True)
class TierSplit:
    """How one tier splits the peers of one subject class on one port."""

    accept: int
    deny: int
    go_on: int  # passed on, or matched by no rule of the tier: the next tier decides


@dataclass(frozen=True)
class TierDecision:
    """Which rule of a tier decided one connection's direction (``rule`` None: none did)."""

    rule: CompiledTierRule | None
    passed: bool = False  # the rule's action was Pass: on to the next tier


class Tiers:
    """The ClusterNetworkPolicies of an analysis, compiled against ``CompiledPolicies``."""

    def __init__(self, c: CompiledPolicies, policies: Sequence[ClusterPolicy]) -> None:
        self.c = c
        ordered = sorted(policies, key=lambda p: (p.priority, p.name))
        self.by_tier: dict[str, tuple[ClusterPolicy, ...]] = {
            tier: tuple(p for p in ordered if p.tier == tier) for tier in (ADMIN, BASELINE)
        }
        self.selected: dict[str, int] = {p.name: self._select(p) for p in ordered}
        self.rules: dict[tuple[str, str], tuple[CompiledTierRule, ...]] = {}
        count = 0
        for policy in ordered:
            for direction in (INGRESS, EGRESS):
                compiled = []
                for rule in policy.rules(direction):
                    peers, networks = self._peers(rule)
                    compiled.append(CompiledTierRule(count, policy, rule, peers, networks))
                    count += 1
                self.rules[policy.name, direction] = tuple(compiled)
        self._ports: dict[tuple[int, PortKey], int] = {}
        self.any_selected = 0
        for bits in self.selected.values():
            self.any_selected |= bits

    def __bool__(self) -> bool:
        return any(self.by_tier.values())

    # -- compiling ----------------------------------------------------------------------------

    def _select(self, policy: ClusterPolicy) -> int:
        return self.c.namespaces_bits(policy.subject_namespaces) & self.c.select_pods(
            policy.subject_pods
        )

    def _peers(self, rule: CnpRule) -> tuple[int, tuple[IPBlock, ...]]:
        bits = 0
        networks: list[IPBlock] = []
        for peer in rule.peers:
            if peer.kind == "namespaces":
                assert peer.namespaces is not None
                bits |= self.c.namespaces_bits(peer.namespaces)
            elif peer.kind == "pods":
                assert peer.namespaces is not None and peer.pods is not None
                bits |= self.c.namespaces_bits(peer.namespaces) & self.c.select_pods(peer.pods)
            elif peer.kind == "networks":
                for block in peer.networks:
                    if self.c.engine.ipblock_selects_pods:
                        bits |= self.c.ip_block_pods(block)
                    networks.append(block)
            # nodes, domainNames: no nodes in the model, no names resolved (a warning says so)
        return bits, tuple(networks)

    def ports_ok(self, rule: CompiledTierRule, key: PortKey) -> int:
        """Destination pods on which the rule's protocols cover ``key``."""
        cached = self._ports.get((rule.id, key))
        if cached is None:
            number, protocol = key
            if rule.ports_cover_number(number, protocol):
                cached = self.c.all
            else:
                cached = 0
                for port in rule.rule.ports or ():
                    if port.name is not None:
                        cached |= self.c.named_port_pods(port.name, protocol, number)
            self._ports[rule.id, key] = cached
        return cached

    # -- bitsets for a whole class ------------------------------------------------------------

    def selects(self, bit: int) -> bool:
        return bool((self.any_selected >> bit) & 1)

    def split(self, tier: str, direction: str, subject_bit: int, key: PortKey) -> TierSplit:
        """Walk ``tier`` for the subject at ``subject_bit``: which peers each action takes."""
        undecided = self.c.all  # peers no rule of this tier has matched yet
        accept = deny = passed = 0
        for policy in self.by_tier[tier]:
            if not (self.selected[policy.name] >> subject_bit) & 1:
                continue
            for rule in self.rules[policy.name, direction]:
                ports = self.ports_ok(rule, key)
                if direction == INGRESS:
                    matched = rule.peers if (ports >> subject_bit) & 1 else 0
                else:
                    matched = rule.peers & ports
                matched &= undecided
                if not matched:
                    continue
                if rule.rule.action == ACCEPT:
                    accept |= matched
                elif rule.rule.action == DENY:
                    deny |= matched
                else:  # Pass: the rest of this tier is skipped, a later tier decides
                    passed |= matched
                undecided &= ~matched
                if not undecided:
                    return TierSplit(accept, deny, passed)
        return TierSplit(accept, deny, passed | undecided)

    def allowed(
        self, direction: str, subject_bit: int, key: PortKey, networkpolicy: int | None
    ) -> int:
        """The peers allowed in ``direction`` for the subject: Admin, then the NetworkPolicy
        tier (``networkpolicy``: the peers it admits, None when it does not select the pod),
        then Baseline, then the default allow."""
        admin = self.split(ADMIN, direction, subject_bit, key)
        if networkpolicy is not None:
            return admin.accept | (admin.go_on & networkpolicy)
        baseline = self.split(BASELINE, direction, subject_bit, key)
        return admin.accept | (admin.go_on & (baseline.accept | baseline.go_on))

    # -- one connection -----------------------------------------------------------------------

    def decide(
        self,
        tier: str,
        direction: str,
        subject_bit: int,
        peer_bit: int | None,
        peer_ip: IPAddress | None,
        key: PortKey,
    ) -> TierDecision:
        """The rule of ``tier`` that decides one direction of one connection, if any."""
        for policy in self.by_tier[tier]:
            if not (self.selected[policy.name] >> subject_bit) & 1:
                continue
            for rule in self.rules[policy.name, direction]:
                if self._matches(rule, direction, subject_bit, peer_bit, peer_ip, key):
                    return TierDecision(rule, passed=rule.rule.action not in (ACCEPT, DENY))
        return TierDecision(None)

    def _matches(
        self,
        rule: CompiledTierRule,
        direction: str,
        subject_bit: int,
        peer_bit: int | None,
        peer_ip: IPAddress | None,
        key: PortKey,
    ) -> bool:
        if peer_bit is None:  # outside the cluster: networks only, numeric ports only
            assert peer_ip is not None
            return rule.matches_external(peer_ip) and rule.ports_cover_number(*key)
        if not (rule.peers >> peer_bit) & 1:
            return False
        destination = subject_bit if direction == INGRESS else peer_bit
        return bool((self.ports_ok(rule, key) >> destination) & 1)

    # -- lint ---------------------------------------------------------------------------------

    def ambiguities(self) -> list[str]:
        """Equal priorities in one tier whose subjects overlap with rules in one direction."""
        found = []
        for tier, policies in self.by_tier.items():
            for i, first in enumerate(policies):
                for second in policies[i + 1 :]:
                    if second.priority != first.priority:
                        break
                    shared = self.selected[first.name] & self.selected[second.name]
                    both = [d for d in (INGRESS, EGRESS) if first.rules(d) and second.rules(d)]
                    if not shared or not both:
                        continue
                    example = self.c.pods[(shared & -shared).bit_length() - 1].key
                    found.append(
                        f"ClusterNetworkPolicy {first.name} and {second.name} ({tier}) share "
                        f"priority {first.priority} and both have {' and '.join(both)} rules "
                        f"for the same pods (e.g. {example}): which applies first is up to the "
                        "implementation (spec.priority), the analysis takes them by name; give "
                        "them different priorities"
                    )
        return found
