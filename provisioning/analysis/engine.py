"""The fast evaluator: policies compiled to int bitsets over pods, combined per pod class.

Why it is fast. A connection s -> d on port p is allowed when d's ingress admits s and s's
egress admits d. Both sides are unions of rules:

* ``IN(d)``  = every pod, if no policy isolates d for ingress; else the union of the peer sets
  of the ingress rules (of policies selecting d) whose ports cover p on d;
* ``OUT(s)`` = every pod, if no policy isolates s for egress; else the union of
  ``peers(rule) & ports_ok(rule, p)`` over the egress rules of policies selecting s.

Peer sets and selections are Python ints with one bit per pod, built from an inverted label
index (``selectors.LabelIndex``), so a selector costs a few big-int operations however many
pods match. Which rules apply to a pod depends only on its namespace, labels and declared ports,
so pods are grouped into classes by exactly that; ``IN``/``OUT`` are computed once per distinct
set of applicable rules, not per pod, and never per pair.

Counting the allowed pairs (``count``) never looks at pairs either: pods are stored ordered by
namespace, so a class is a contiguous bit range; for a source group ``e`` and destination group
``c`` the allowed pairs number ``|members(e) & IN(c)| * |members(c) & OUT(e)|``, computed on
namespace-sized slices. Verdicts for single pairs are two bit tests.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .calico_engine import CalicoTiers
from .cluster_policy import ClusterPolicy
from .engines import EngineProfile
from .model import ClusterModel, IPAddress, Pod
from .policy import EGRESS, INGRESS, IPBlock, Policy, Rule
from .selectors import LabelIndex, Selector
from .tiers import Tiers

PortKey = tuple[int, str]  # (port number, protocol)


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its peer set as a pod bitset (in internal order)."""

    id: int
    policy_index: int
    policy: Policy
    rule: Rule
    peers: int
    """Pods matched by the rule's peers (every pod when ``from``/``to`` is absent or empty)."""
    ip_blocks: tuple[IPBlock, ...]
    """The rule's ipBlock peers, for endpoints outside the cluster."""

    def matches_external(self, ip: IPAddress) -> bool:
        """Whether the peers admit an IP outside the cluster (selectors never match one)."""
        return self.rule.peers is None or any(b.contains(ip) for b in self.ip_blocks)

    def ports_cover_number(self, number: int, protocol: str) -> bool:
        """Whether a numeric entry (or no ``ports`` at all) covers the port; names aside."""
        ports = self.rule.ports
        return ports is None or any(m.matches_number(number, protocol) for m in ports)


@dataclass(frozen=True)
class PodClass:
    """Pods indistinguishable to every rule: same namespace, labels and declared ports."""

    id: int
    namespace: int
    start: int
    count: int
    ingress_policies: tuple[int, ...]
    egress_policies: tuple[int, ...]

    @property
    def members(self) -> int:
        return ((1 << self.count) - 1) << self.start


@dataclass
class PortView:
    """Per (port, protocol): the rules that apply to each class, and IN/OUT per class."""

    key: PortKey
    ingress_rules: list[tuple[int, ...]] = field(default_factory=list)
    egress_rules: list[tuple[int, ...]] = field(default_factory=list)
    inbound: list[int | None] = field(default_factory=list)
    """``IN`` per class; ``None`` when the class is not isolated for ingress."""
    outbound: list[int | None] = field(default_factory=list)
    """``OUT`` per class; ``None`` when the class is not isolated for egress."""
    ports_ok: list[int] = field(default_factory=list)
    """Per rule id: destination pods on which the rule's ports cover this port."""


class CompiledPolicies:
    """Policies compiled against one cluster for one engine; answers verdicts and counts."""

    def __init__(
        self,
        cluster: ClusterModel,
        policies: Sequence[Policy],
        engine: EngineProfile,
        cluster_policies: Sequence[ClusterPolicy] = (),
        calico: Sequence[Any] = (),
    ):
        self.cluster = cluster
        self.policies = tuple(policies)
        self.engine = engine
        # Calico's rules may match a subject pod by its own address (nets, network sets): each
        # pod is then its own class.
        self._per_pod = bool(calico)
        self._order_pods()
        self.all = (1 << len(self.pods)) - 1
        self._labels = LabelIndex(p.labels for p in self.pods)
        self._ns_labels = LabelIndex(cluster.namespaces[n].labels for n in self.namespaces)
        self._ns_select_cache: dict[Selector, int] = {}
        self._ip_cache: dict[IPBlock, int] = {}
        self._named = self._index_named_ports()
        self.selected = [self._select_policy(p) for p in self.policies]
        self.rules: list[CompiledRule] = []
        self.rules_of: list[dict[str, tuple[int, ...]]] = []
        for pi, policy in enumerate(self.policies):
            ids = {}
            for direction in (INGRESS, EGRESS):
                ids[direction] = tuple(
                    self._compile_rule(pi, policy, r) for r in policy.rules(direction)
                )
            self.rules_of.append(ids)
        self.classes = self._build_classes()
        self._views: dict[PortKey, PortView] = {}
        # The Admin and Baseline tiers around this NetworkPolicy tier (tiers.py).
        self.tiers = Tiers(self, cluster_policies)
        # With Calico's own objects (engine calico): everything in Calico's tiers instead.
        self.calico = CalicoTiers(self, calico, self.policies, cluster_policies) if calico else None

    # -- layout -------------------------------------------------------------------------------

    def _order_pods(self) -> None:
        """Store pods by namespace, then class, so namespaces and classes are bit ranges."""
        self.namespaces = list(self.cluster.namespaces)
        ns_index = {n: i for i, n in enumerate(self.namespaces)}
        class_ids: dict[tuple[object, ...], int] = {}
        keyed = []
        for i, pod in enumerate(self.cluster.pods):
            key = (pod.namespace, frozenset(pod.labels.items()), frozenset(pod.ports))
            if self._per_pod:
                key += (pod.name,)
            cid = class_ids.setdefault(key, len(class_ids))
            keyed.append((ns_index[pod.namespace], cid, i))
        keyed.sort()
        self.pods: list[Pod] = [self.cluster.pods[i] for _, _, i in keyed]
        self.bit_of = [0] * len(keyed)  # cluster index -> internal bit
        self._class_key: list[tuple[int, int]] = []
        for bit, (ns, cid, i) in enumerate(keyed):
            self.bit_of[i] = bit
            self._class_key.append((ns, cid))
        self.ns_start = [0] * (len(self.namespaces) + 1)
        for ns, _, _ in keyed:
            self.ns_start[ns + 1] += 1
        for n in range(len(self.namespaces)):
            self.ns_start[n + 1] += self.ns_start[n]
        self.ns_bits = [
            ((1 << (self.ns_start[n + 1] - self.ns_start[n])) - 1) << self.ns_start[n]
            for n in range(len(self.namespaces))
        ]
        self.ns_index = ns_index
        by_ip = sorted(
            (p.ip.version, int(p.ip), bit) for bit, p in enumerate(self.pods) if p.ip is not None
        )
        self._ip_keys = [(v, n) for v, n, _ in by_ip]
        self._ip_bits = [b for _, _, b in by_ip]

    def _build_classes(self) -> list[PodClass]:
        classes: list[PodClass] = []
        self.class_of_bit = [0] * len(self.pods)
        bit = 0
        by_ns: dict[int, list[int]] = {}
        for pi, policy in enumerate(self.policies):
            if policy.namespace in self.ns_index:
                by_ns.setdefault(self.ns_index[policy.namespace], []).append(pi)
        while bit < len(self.pods):
            key = self._class_key[bit]
            end = bit
            while end < len(self.pods) and self._class_key[end] == key:
                self.class_of_bit[end] = len(classes)
                end += 1
            ns = key[0]
            ingress, egress = [], []
            for pi in by_ns.get(ns, ()):
                if not (self.selected[pi] >> bit) & 1:
                    continue
                if self.policies[pi].ingress_isolating:
                    ingress.append(pi)
                if self.policies[pi].egress_isolating:
                    egress.append(pi)
            classes.append(
                PodClass(len(classes), ns, bit, end - bit, tuple(ingress), tuple(egress))
            )
            bit = end
        return classes

    # -- selectors and peers ------------------------------------------------------------------

    def _select_policy(self, policy: Policy) -> int:
        ns = self.ns_index.get(policy.namespace)
        if ns is None:
            return 0
        return self._labels.select(policy.pod_selector) & self.ns_bits[ns]

    def _namespaces(self, selector: Selector) -> int:
        cached = self._ns_select_cache.get(selector)
        if cached is None:
            chosen = self._ns_labels.select(selector)
            cached = 0
            for n in range(len(self.namespaces)):
                if (chosen >> n) & 1:
                    cached |= self.ns_bits[n]
            self._ns_select_cache[selector] = cached
        return cached

    def namespaces_bits(self, selector: Selector) -> int:
        """Pods in the namespaces ``selector`` chooses."""
        return self._namespaces(selector)

    def select_pods(self, selector: Selector) -> int:
        """Pods whose labels ``selector`` matches, in any namespace."""
        return self._labels.select(selector)

    def named_port_pods(self, name: str, protocol: str, number: int) -> int:
        """Pods declaring a ``protocol`` port ``number`` called ``name``."""
        return self._named.get((name, protocol, number), 0)

    def ip_block_pods(self, block: IPBlock) -> int:
        """Pods whose IP the block contains (bisect on sorted IPs; cost ~ pods matched)."""
        cached = self._ip_cache.get(block)
        if cached is None:
            cached = self._ip_range(block.cidr)
            for excluded in block.excepts:
                cached &= ~self._ip_range(excluded)
            self._ip_cache[block] = cached
        return cached

    def _ip_range(self, network: object) -> int:
        version = network.version  # type: ignore[attr-defined]
        lo = (version, int(network.network_address))  # type: ignore[attr-defined]
        hi = (version, int(network.broadcast_address))  # type: ignore[attr-defined]
        bits = 0
        for k in range(
            bisect.bisect_left(self._ip_keys, lo), bisect.bisect_right(self._ip_keys, hi)
        ):
            bits |= 1 << self._ip_bits[k]
        return bits

    def _compile_rule(self, pi: int, policy: Policy, rule: Rule) -> int:
        if rule.peers is None:
            peers = self.all
        else:
            peers = 0
            own_ns = self.ns_index.get(policy.namespace)
            for peer in rule.peers:
                if peer.ip_block is not None:
                    if self.engine.ipblock_selects_pods:
                        peers |= self.ip_block_pods(peer.ip_block)
                    continue
                if peer.namespace_selector is not None:
                    chosen = self._namespaces(peer.namespace_selector)
                else:  # a podSelector-only peer stays in the policy's namespace
                    chosen = self.ns_bits[own_ns] if own_ns is not None else 0
                if peer.pod_selector is not None:
                    chosen &= self._labels.select(peer.pod_selector)
                peers |= chosen
        blocks = tuple(p.ip_block for p in rule.peers or () if p.ip_block is not None)
        compiled = CompiledRule(len(self.rules), pi, policy, rule, peers, blocks)
        self.rules.append(compiled)
        return compiled.id

    # -- ports --------------------------------------------------------------------------------

    def _index_named_ports(self) -> dict[tuple[str, str, int], int]:
        named: dict[tuple[str, str, int], int] = {}
        for bit, pod in enumerate(self.pods):
            for p in pod.ports:
                if p.name:
                    key = (p.name, p.protocol, p.port)
                    named[key] = named.get(key, 0) | (1 << bit)
        return named

    def ports_ok(self, rule: CompiledRule, key: PortKey) -> int:
        """Destination pods on which the rule's ports cover ``key`` (named ports resolved there)."""
        number, protocol = key
        if rule.ports_cover_number(number, protocol):
            return self.all
        bits = 0
        for m in rule.rule.ports or ():
            if isinstance(m.port, str) and m.protocol == protocol:
                bits |= self._named.get((m.port, protocol, number), 0)
        return bits

    def declaring(self, key: PortKey) -> int:
        number, protocol = key
        bits = 0
        for bit, pod in enumerate(self.pods):
            if any(p.port == number and p.protocol == protocol for p in pod.ports):
                bits |= 1 << bit
        return bits

    # -- per port views -----------------------------------------------------------------------

    def view(self, key: PortKey) -> PortView:
        cached = self._views.get(key)
        if cached is None:
            cached = self._views[key] = self._build_view(key)
        return cached

    def _build_view(self, key: PortKey) -> PortView:
        ports_ok = [self.ports_ok(r, key) for r in self.rules]
        view = PortView(key, ports_ok=ports_ok)
        in_cache: dict[tuple[int, ...], int] = {}
        out_cache: dict[tuple[int, ...], int] = {}
        for cls in self.classes:
            bit = cls.start
            in_ids = tuple(
                rid
                for pi in cls.ingress_policies
                for rid in self.rules_of[pi][INGRESS]
                if (ports_ok[rid] >> bit) & 1
            )
            out_ids = tuple(rid for pi in cls.egress_policies for rid in self.rules_of[pi][EGRESS])
            view.ingress_rules.append(in_ids)
            view.egress_rules.append(out_ids)
            if cls.ingress_policies:
                inbound = in_cache.get(in_ids)
                if inbound is None:
                    inbound = 0
                    for rid in in_ids:
                        inbound |= self.rules[rid].peers
                    in_cache[in_ids] = inbound
                view.inbound.append(inbound)
            else:
                view.inbound.append(None)
            if cls.egress_policies:
                outbound = out_cache.get(out_ids)
                if outbound is None:
                    outbound = 0
                    for rid in out_ids:
                        outbound |= self.rules[rid].peers & ports_ok[rid]
                    out_cache[out_ids] = outbound
                view.outbound.append(outbound)
            else:
                view.outbound.append(None)
            if self.calico is not None:
                view.inbound[-1] = self.calico.allowed(INGRESS, bit, key)
                view.outbound[-1] = self.calico.allowed(EGRESS, bit, key)
            elif self.tiers and self.tiers.selects(bit):
                # Admin first, the NetworkPolicy tier's answer in the middle, then Baseline:
                # the peers allowed per direction are still one bitset per class.
                view.inbound[-1] = self.tiers.allowed(INGRESS, bit, key, view.inbound[-1])
                view.outbound[-1] = self.tiers.allowed(EGRESS, bit, key, view.outbound[-1])
        return view

    # -- answers ------------------------------------------------------------------------------

    def allowed(self, src_bit: int, dst_bit: int, key: PortKey) -> bool:
        """Verdict for pod -> pod (internal bits), ignoring whether the port is declared."""
        if not self.engine.enforces:
            return True
        view = self.view(key)
        inbound = view.inbound[self.class_of_bit[dst_bit]]
        if inbound is not None and not (inbound >> src_bit) & 1:
            return False
        outbound = view.outbound[self.class_of_bit[src_bit]]
        return outbound is None or bool((outbound >> dst_bit) & 1)

    def count(self, key: PortKey, destinations: int | None = None) -> int:
        """How many (source pod, destination pod) pairs are allowed on ``key``.

        ``destinations`` restricts the destinations (default: every pod). Cost follows the
        number of distinct IN/OUT groups, never the number of pairs.
        """
        dests = self.all if destinations is None else destinations
        if not self.engine.enforces:
            return len(self.pods) * dests.bit_count()
        view = self.view(key)
        src_free, dst_free = 0, 0
        src_groups: dict[tuple[int, int], int] = {}  # (namespace, OUT) -> members
        dst_groups: dict[tuple[int, int], int] = {}  # (namespace, IN) -> members
        for cls in self.classes:
            outbound = view.outbound[cls.id]
            if outbound is None:
                src_free |= cls.members
            else:
                k = (cls.namespace, outbound)
                src_groups[k] = src_groups.get(k, 0) | cls.members
            members = cls.members & dests
            if not members:
                continue
            inbound = view.inbound[cls.id]
            if inbound is None:
                dst_free |= members
            else:
                k = (cls.namespace, inbound)
                dst_groups[k] = dst_groups.get(k, 0) | members
        total = src_free.bit_count() * dst_free.bit_count()
        for (_, inbound), members in dst_groups.items():
            total += (inbound & src_free).bit_count() * members.bit_count()
        for (_, outbound), members in src_groups.items():
            total += members.bit_count() * (outbound & dst_free).bit_count()
        total += self._count_isolated_pairs(src_groups, dst_groups)
        return total

    def _count_isolated_pairs(
        self, src_groups: dict[tuple[int, int], int], dst_groups: dict[tuple[int, int], int]
    ) -> int:
        """Pairs where both ends are isolated, on namespace-local slices of the bitsets."""
        starts, n_ns = self.ns_start, len(self.namespaces)
        masks = [(1 << (starts[n + 1] - starts[n])) - 1 for n in range(n_ns)]
        src_ns = sorted({ns for ns, _ in src_groups})
        dst_ns = sorted({ns for ns, _ in dst_groups})
        # Group members and the other side's bitsets, cut to the namespace they meet in.
        srcs = [
            (ns, members >> starts[ns], {b: (outbound >> starts[b]) & masks[b] for b in dst_ns})
            for (ns, outbound), members in src_groups.items()
        ]
        dsts = [
            (ns, members >> starts[ns], {a: (inbound >> starts[a]) & masks[a] for a in src_ns})
            for (ns, inbound), members in dst_groups.items()
        ]
        total = 0
        for a, s_members, out_slices in srcs:
            for b, d_members, in_slices in dsts:
                reached = (out_slices[b] & d_members).bit_count()
                if reached:
                    total += (in_slices[a] & s_members).bit_count() * reached
        return total
