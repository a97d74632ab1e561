"""NetworkPolicy objects read into typed rules, with the API server's defaulting applied.

Defaulting (``SetDefaults_NetworkPolicy`` / ``SetDefaults_NetworkPolicyPort`` in
kubernetes/kubernetes ``pkg/apis/networking/v1/defaults.go``, and the API reference for
``policyTypes``): without ``policyTypes`` a policy has type Ingress, plus Egress when it has
egress rules; a port without ``protocol`` is TCP. A policy without ``metadata.namespace``
lives in ``default`` (where ``kubectl apply`` without ``-n`` would put it).

Absent vs. empty matters and is kept apart here: an absent or empty ``from``/``to`` or
``ports`` list matches everything (``peers``/``ports`` is ``None``); an empty ``ingress`` or
``egress`` list allows nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.errors import UsageError

from .model import IPAddress
from .selectors import Selector
from .validate import parse_cidr, validate_networkpolicy

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
INGRESS = "ingress"
EGRESS = "egress"


@dataclass(frozen=True)
class IPBlock:
    cidr: Network
    excepts: tuple[Network, ...] = ()

    def contains(self, ip: IPAddress) -> bool:
        return (
            ip.version == self.cidr.version
            and ip in self.cidr
            and not any(ip in e for e in self.excepts)
        )

    def describe(self) -> str:
        text = str(self.cidr)
        if self.excepts:
            text += " except " + ", ".join(map(str, self.excepts))
        return text


@dataclass(frozen=True)
class Peer:
    """One ``from``/``to`` entry: selectors (ANDed when both are set) or an ``ipBlock``.

    ``namespace_selector is None`` with a pod selector means "in the policy's namespace".
    """

    pod_selector: Selector | None = None
    namespace_selector: Selector | None = None
    ip_block: IPBlock | None = None


@dataclass(frozen=True)
class PortMatch:
    """One ``ports`` entry: ``port`` None is every port of ``protocol``; a str is a port name."""

    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None

    def matches_number(self, number: int, protocol: str) -> bool:
        """Whether a numeric entry covers ``number``; named entries are resolved elsewhere."""
        if protocol != self.protocol:
            return False
        if self.port is None:
            return True
        if isinstance(self.port, str):
            return False
        return self.port <= number <= (self.end_port or self.port)

    def describe(self) -> str:
        if self.port is None:
            return f"{self.protocol}/any"
        if self.end_port is not None:
            return f"{self.protocol}/{self.port}-{self.end_port}"
        return f"{self.protocol}/{self.port}"


@dataclass(frozen=True)
class Rule:
    """One ingress or egress rule; ``None`` peers or ports means "all"."""

    direction: str
    index: int
    peers: tuple[Peer, ...] | None
    ports: tuple[PortMatch, ...] | None

    @property
    def path(self) -> str:
        return f"spec.{self.direction}[{self.index}]"

    @property
    def allows_all(self) -> bool:
        return self.peers is None and self.ports is None


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    pod_selector: Selector
    ingress_isolating: bool
    egress_isolating: bool
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]
    policy_types_explicit: bool = False
    """Whether ``policyTypes`` was given (non-empty) rather than defaulted."""
    unlisted: tuple[str, ...] = ()
    """Directions with rules that an explicit ``policyTypes`` leaves out (dropped, no effect)."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def rules(self, direction: str) -> tuple[Rule, ...]:
        return self.ingress if direction == INGRESS else self.egress


def parse_policy(obj: Mapping[str, Any], *, source: str = "") -> Policy:
    """Validate ``obj`` like the API server and read it; ``UsageError`` names the field."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    namespace = meta.get("namespace") or "default"
    label = f"policy {namespace}/{meta.get('name') or '<unnamed>'}"
    errors = validate_networkpolicy(obj)
    if errors:
        where = f"{source}: " if source else ""
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise UsageError(f"{where}{label}: {errors[0]}{more}")
    spec = obj.get("spec") or {}
    ingress = _rules(spec.get("ingress"), INGRESS, "from")
    egress = _rules(spec.get("egress"), EGRESS, "to")
    types = spec.get("policyTypes")
    if types:
        ingress_isolating, egress_isolating = "Ingress" in types, "Egress" in types
    else:
        ingress_isolating, egress_isolating = True, bool(egress)
    return Policy(
        namespace=str(namespace),
        name=str(meta["name"]),
        pod_selector=Selector.from_obj(spec.get("podSelector")),
        ingress_isolating=ingress_isolating,
        egress_isolating=egress_isolating,
        # Rules of a type the policy does not list have no effect (API reference, policyTypes).
        ingress=ingress if ingress_isolating else (),
        egress=egress if egress_isolating else (),
        policy_types_explicit=bool(types),
        unlisted=tuple(
            d
            for d, rules, kept in (
                (INGRESS, ingress, ingress_isolating),
                (EGRESS, egress, egress_isolating),
            )
            if rules and not kept
        ),
    )


def _rules(raw: Any, direction: str, peers_key: str) -> tuple[Rule, ...]:
    rules = []
    for i, item in enumerate(raw or ()):
        item = item or {}
        peers = tuple(_peer(p) for p in item.get(peers_key) or ()) or None
        ports = tuple(_port(p or {}) for p in item.get("ports") or ()) or None
        rules.append(Rule(direction, i, peers, ports))
    return tuple(rules)


def _peer(raw: Mapping[str, Any]) -> Peer:
    block = raw.get("ipBlock")
    if block is not None:
        cidr = parse_cidr(block["cidr"])
        excepts = tuple(parse_cidr(e) for e in block.get("except") or ())
        assert cidr is not None  # validated before
        return Peer(ip_block=IPBlock(cidr, tuple(e for e in excepts if e is not None)))
    pods = raw.get("podSelector")
    namespaces = raw.get("namespaceSelector")
    return Peer(
        pod_selector=None if pods is None else Selector.from_obj(pods),
        namespace_selector=None if namespaces is None else Selector.from_obj(namespaces),
    )


def _port(raw: Mapping[str, Any]) -> PortMatch:
    return PortMatch(raw.get("protocol") or "TCP", raw.get("port"), raw.get("endPort"))
