"""``analyze``: cluster + policies (+ probes) -> verdicts, explanations, counts and warnings.

This is the entry point for the ``analyze`` task and for live validation. Without probes the
probe set is every ordered pod pair on every port the destination declares; its counts are
computed without enumerating pairs, and ``Analysis.results()`` yields the pairs lazily.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provisioning.errors import UsageError

from .calico import is_calico_object
from .calico_engine import CalicoItem, Peer, read_calico
from .cluster_policy import (
    ADMIN,
    BASELINE,
    ClusterPolicy,
    is_cluster_network_policy,
    parse_cluster_policy,
)
from .engine import CompiledPolicies, CompiledRule, PortKey
from .engines import engine_profile
from .explain import (
    ALLOW,
    DENY,
    ENGINE_NONE,
    EXTERNAL,
    NO_RULE_MATCHED,
    NOT_ISOLATED,
    PROFILE_ALLOW,
    RULE_MATCHED,
    TIER_DEFAULT,
    TIER_RULE,
    DirectionExplanation,
    Result,
    RuleRef,
)
from .lint import lint
from .model import ClusterModel, IPAddress, Pod, Probe, parse_ip
from .policy import EGRESS, INGRESS, Policy, parse_policy


@dataclass(frozen=True)
class Endpoint:
    """A probe end: a pod (``bit`` is its position in the compiled layout) or an outside IP."""

    name: str
    pod: Pod | None = None
    bit: int = -1
    ip: IPAddress | None = None


@dataclass(frozen=True)
class ResolvedProbe:
    source: Endpoint
    destination: Endpoint
    port: int | str
    key: PortKey


@dataclass(frozen=True)
class Analysis:
    """Counts are always there; ``results()`` produces the per-probe explanations on demand."""

    engine: str
    probes: int
    allowed: int
    seconds: float
    warnings: tuple[str, ...]
    ports: tuple[PortKey, ...]
    """The (port, protocol) pairs probed, in output order."""
    _results: Callable[[], Iterator[Result]]

    @property
    def denied(self) -> int:
        return self.probes - self.allowed

    def results(self) -> Iterator[Result]:
        return self._results()

    def summary(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "probes": self.probes,
            "allowed": self.allowed,
            "denied": self.denied,
            "seconds": round(self.seconds, 6),
        }


def analyze(
    cluster: ClusterModel,
    policies: Sequence[Mapping[str, Any] | Policy],
    probes: Sequence[Probe] | None = None,
    engine: str = "reference",
    *,
    ports: Sequence[PortKey] | None = None,
) -> Analysis:
    """Expected reachability under ``engine``; ``UsageError`` for invalid policies or probes.

    Without ``probes``: every ordered pod pair on every port the destination declares, or,
    with ``ports`` (e.g. ``[(80, "TCP")]``), every ordered pod pair on those ports whether
    declared or not (the "full TCP/80 matrix").
    """
    profile = engine_profile(engine)
    everything = parse_policies(policies)
    parsed = [p for p in everything if isinstance(p, Policy)]
    cluster_wide = [p for p in everything if isinstance(p, ClusterPolicy)]
    calico_items = [p for p in everything if isinstance(p, CalicoItem)]
    notes = [w for p in cluster_wide for w in p.warnings]
    notes += [w for item in calico_items for w in item.warnings]
    if cluster_wide and not profile.cluster_network_policy:
        notes.append(
            f"engine {profile.name} does not enforce ClusterNetworkPolicy "
            f"({profile.cluster_network_policy_note}); left out of the analysis: "
            + ", ".join(p.name for p in cluster_wide)
        )
        cluster_wide = []
    calico = [item.obj for item in calico_items]
    if calico and profile.name != "calico":
        notes.append(
            f"engine {profile.name} does not enforce Calico's projectcalico.org/v3 objects "
            "(only Calico does; analyze with --engine calico); left out of the analysis: "
            + ", ".join(item.key for item in calico_items)
        )
        calico = []
    started = time.perf_counter()
    compiled = CompiledPolicies(cluster, parsed, profile, cluster_wide, calico)
    explainer = Explainer(compiled)
    warnings = (*notes, *lint(compiled))
    if probes is None:
        keys = _declared_ports(cluster) if ports is None else list(dict.fromkeys(ports))
        total = allowed = 0
        for key in keys:
            dests = compiled.declaring(key) if ports is None else compiled.all
            total += len(compiled.pods) * dests.bit_count()
            allowed += compiled.count(key, dests)
        seconds = time.perf_counter() - started

        def matrix() -> Iterator[Result]:
            for key in keys:
                dests = [p for p in cluster.pods if ports is not None or _serves(p, key)]
                for src in cluster.pods:
                    for dst in dests:
                        yield explainer.result(
                            ResolvedProbe(
                                explainer.endpoint_of(src), explainer.endpoint_of(dst), key[0], key
                            )
                        )

        return Analysis(engine, total, allowed, seconds, warnings, tuple(keys), matrix)
    resolved = [explainer.resolve(p, i) for i, p in enumerate(probes)]
    results = [explainer.result(r) for r in resolved]
    seconds = time.perf_counter() - started
    keys = list(dict.fromkeys(r.key for r in resolved))
    return Analysis(
        engine,
        len(results),
        sum(r.allowed for r in results),
        seconds,
        warnings,
        tuple(keys),
        lambda: iter(results),
    )


AnyPolicy = Policy | ClusterPolicy | CalicoItem


def parse_policies(policies: Sequence[Mapping[str, Any] | AnyPolicy]) -> list[AnyPolicy]:
    """Validate and read policy objects (NetworkPolicy and ClusterNetworkPolicy, mixed);
    duplicates (same kind and namespace/name) are an error."""
    parsed = [_parse_one(p) for p in policies]
    seen: set[tuple[str, str]] = set()
    for policy in parsed:
        key = (type(policy).__name__, policy.key)
        if key in seen:
            what = {ClusterPolicy: "ClusterNetworkPolicy", CalicoItem: "Calico object"}.get(
                type(policy), "policy"
            )
            raise UsageError(f"{what} {policy.key} is given twice", hint="names must be unique")
        seen.add(key)
    return parsed


def _parse_one(policy: Mapping[str, Any] | AnyPolicy) -> AnyPolicy:
    if isinstance(policy, Policy | ClusterPolicy | CalicoItem):
        return policy
    if is_cluster_network_policy(policy):
        return parse_cluster_policy(policy)
    if is_calico_object(policy):
        return read_calico(policy)
    return parse_policy(policy)


def _serves(pod: Pod, key: PortKey) -> bool:
    return any(p.port == key[0] and p.protocol == key[1] for p in pod.ports)


def _declared_ports(cluster: ClusterModel) -> list[PortKey]:
    keys = {(p.port, p.protocol) for pod in cluster.pods for p in pod.ports}
    return sorted(keys, key=lambda k: (k[1], k[0]))


class Explainer:
    """Builds ``Result`` objects (verdict plus both explanations) from compiled policies."""

    def __init__(self, compiled: CompiledPolicies) -> None:
        self.c = compiled
        self._bit_by_key = {
            pod.key: compiled.bit_of[i] for i, pod in enumerate(compiled.cluster.pods)
        }

    def endpoint_of(self, pod: Pod) -> Endpoint:
        return Endpoint(pod.key, pod, self._bit_by_key[pod.key], pod.ip)

    def resolve(self, probe: Probe, index: int) -> ResolvedProbe:
        where = probe.origin or f"probes[{index}]"
        src = self._endpoint(probe.source, f"{where}.from")
        dst = self._endpoint(probe.destination, f"{where}.to")
        if src.pod is None and dst.pod is None:
            raise UsageError(f"{where}: at least one end must be a pod of the cluster")
        number = probe.port
        if isinstance(number, str):
            if dst.pod is None:
                raise UsageError(
                    f"{where}.port: the named port {number!r} cannot be resolved on an IP "
                    "outside the cluster; give a number"
                )
            resolved = dst.pod.resolve_port(number, probe.protocol)
            if resolved is None:
                raise UsageError(
                    f"{where}.port: {dst.name} declares no {probe.protocol} port named {number!r}"
                )
            number = resolved
        return ResolvedProbe(src, dst, probe.port, (number, probe.protocol))

    def _endpoint(self, text: str, where: str) -> Endpoint:
        pod = self.c.cluster.pod(text)
        if pod is not None:
            return self.endpoint_of(pod)
        ip = parse_ip(text)
        if ip is None:
            raise UsageError(f"{where}: {text!r} is neither a pod (namespace/name) nor an IP")
        pod = self.c.cluster.pod_by_ip(ip)
        if pod is not None:  # traffic to a pod's IP is traffic to the pod
            return self.endpoint_of(pod)
        return Endpoint(str(ip), ip=ip)

    def result(self, probe: ResolvedProbe) -> Result:
        ingress = self._direction(INGRESS, probe.destination, probe.source, probe.key)
        egress = self._direction(EGRESS, probe.source, probe.destination, probe.key)
        allowed = ingress.verdict == ALLOW and egress.verdict == ALLOW
        return Result(
            source=probe.source.name,
            destination=probe.destination.name,
            port=probe.port,
            port_number=probe.key[0],
            protocol=probe.key[1],
            verdict=ALLOW if allowed else DENY,
            loopback=probe.source.pod is not None and probe.source.name == probe.destination.name,
            ingress=ingress,
            egress=egress,
        )

    def _direction(
        self, direction: str, subject: Endpoint, peer: Endpoint, key: PortKey
    ) -> DirectionExplanation:
        """Admin tier, NetworkPolicy tier, Baseline tier, default allow (see tiers.py)."""
        c = self.c
        service = f"{key[1]}/{key[0]}"
        base: dict[str, Any] = {
            "direction": direction,
            "subject": subject.name,
            "peer": peer.name,
            "service": service,
            "engine": c.engine.name,
        }
        if not c.engine.enforces:
            return DirectionExplanation(verdict=ALLOW, reason=ENGINE_NONE, **base)
        if subject.pod is None:
            return DirectionExplanation(verdict=ALLOW, reason=EXTERNAL, **base)
        if c.calico is not None:
            return self._calico_direction(direction, subject, peer, key, base)
        tiers = c.tiers
        peer_bit = peer.bit if peer.pod is not None else None
        if tiers:
            admin = tiers.decide(ADMIN, direction, subject.bit, peer_bit, peer.ip, key)
            if admin.rule is not None:
                ref = _tier_ref(admin.rule)
                if not admin.passed:
                    return self._tier_verdict(admin.rule, ref, base)
                base["passed_by"] = ref
        cls = c.classes[c.class_of_bit[subject.bit]]
        policies = cls.ingress_policies if direction == INGRESS else cls.egress_policies
        if policies:
            view = c.view(key)
            rule_ids = (view.ingress_rules if direction == INGRESS else view.egress_rules)[cls.id]
            matched = [
                c.rules[r] for r in rule_ids if self._admits(c.rules[r], direction, peer, key)
            ]
            return DirectionExplanation(
                verdict=ALLOW if matched else DENY,
                reason=RULE_MATCHED if matched else NO_RULE_MATCHED,
                isolated_by=tuple(c.policies[p].key for p in policies),
                allowed_by=tuple(RuleRef(r.policy.key, r.rule.path) for r in matched),
                tier="NetworkPolicy" if tiers else "",
                **base,
            )
        if tiers:
            baseline = tiers.decide(BASELINE, direction, subject.bit, peer_bit, peer.ip, key)
            if baseline.rule is not None and not baseline.passed:
                return self._tier_verdict(baseline.rule, _tier_ref(baseline.rule), base)
        return DirectionExplanation(
            verdict=ALLOW, reason=NOT_ISOLATED, tier="default" if tiers else "", **base
        )

    def _calico_direction(
        self, direction: str, subject: Endpoint, peer: Endpoint, key: PortKey, base: dict[str, Any]
    ) -> DirectionExplanation:
        """Calico's tiers decide (calico_engine.py): a rule, a tier's default action, or the
        namespace profile's allow."""
        calico = self.c.calico
        assert calico is not None
        where = Peer(peer.bit if peer.pod is not None else None, peer.ip)
        decision = calico.decide(direction, subject.bit, where, key)
        if decision.passed:
            entry, rule = decision.passed[0]
            base["passed_by"] = _calico_ref(entry, rule)
        verdict = ALLOW if decision.action == "Allow" else DENY
        if decision.rule is not None and decision.entry is not None:
            ref = _calico_ref(decision.entry, decision.rule)
            return DirectionExplanation(
                verdict=verdict, reason=TIER_RULE, tier=decision.tier, decided_by=ref, **base
            )
        if decision.tier:
            selecting = tuple(
                f"{e.kind} {e.name}"
                for e in calico.by_tier[decision.tier]
                if direction in e.rules and (e.selected >> subject.bit) & 1
            )
            return DirectionExplanation(
                verdict=DENY, reason=TIER_DEFAULT, tier=decision.tier, isolated_by=selecting, **base
            )
        return DirectionExplanation(verdict=ALLOW, reason=PROFILE_ALLOW, tier="profile", **base)

    @staticmethod
    def _tier_verdict(rule: Any, ref: RuleRef, base: dict[str, Any]) -> DirectionExplanation:
        return DirectionExplanation(
            verdict=ALLOW if rule.rule.action == "Accept" else DENY,
            reason=TIER_RULE,
            tier=rule.policy.tier,
            decided_by=ref,
            **base,
        )

    def _admits(self, rule: CompiledRule, direction: str, peer: Endpoint, key: PortKey) -> bool:
        """Whether ``rule`` (already known to apply to the subject) admits ``peer`` on ``key``.

        Ingress rules in the view already cover the port on the destination; egress rules
        must cover it on the peer, which is the destination.
        """
        if peer.pod is None:
            assert peer.ip is not None
            if not rule.matches_external(peer.ip):
                return False
            return direction == INGRESS or rule.ports_cover_number(*key)
        if not (rule.peers >> peer.bit) & 1:
            return False
        return direction == INGRESS or bool((self.c.view(key).ports_ok[rule.id] >> peer.bit) & 1)


def _tier_ref(rule: Any) -> RuleRef:
    """A ClusterNetworkPolicy rule as the explanations name it."""
    return RuleRef(
        rule.policy.name,
        rule.rule.path,
        kind=rule.policy.kind,
        tier=rule.policy.tier,
        priority=rule.policy.priority,
        name=rule.rule.name,
        action=rule.rule.action,
    )


def _calico_ref(entry: Any, rule: Any) -> RuleRef:
    """A rule in Calico's tiers as the explanations name it."""
    return RuleRef(
        entry.name,
        rule.path,
        kind=entry.kind,
        tier=entry.tier,
        rank=entry.rank,
        name=rule.name,
        action=rule.action,
    )
