"""Why a connection is allowed or denied, per direction, as data and as one readable sentence.

A connection needs both directions: the source's egress and the destination's ingress. Each
``DirectionExplanation`` says whether its pod is isolated for that direction and by which
policies, and which rules admit the other end, or that none does. The JSON form is the
contract documented in README.md ("Analyze NetworkPolicies offline").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ALLOW = "allow"
DENY = "deny"

# Reasons, one per way a direction can be decided.
ENGINE_NONE = "engine-none"
EXTERNAL = "external"
NOT_ISOLATED = "not-isolated"
RULE_MATCHED = "rule-matched"
NO_RULE_MATCHED = "no-rule-matched"
TIER_RULE = "cluster-policy-rule"  # an Accept or Deny rule of a ClusterNetworkPolicy decided
# (also a rule of any policy in Calico's tiers, engine calico with Calico's objects)
TIER_DEFAULT = "tier-default-action"  # Calico: a tier selected the pod, none of its rules decided
PROFILE_ALLOW = "profile-allow"  # Calico: no tier decided, the namespace profile allows


@dataclass(frozen=True)
class RuleRef:
    """A rule that admitted the connection: ``policy`` is ``ns/name``, ``rule`` the field path.

    For a ClusterNetworkPolicy rule also its kind, tier, priority, the rule's name and action;
    ``policy`` is then the (cluster-scoped) name."""

    policy: str
    rule: str
    kind: str = ""
    tier: str = ""
    priority: int | None = None
    name: str = ""
    action: str = ""
    rank: str = ""  # Calico: "tier default, order 100" (instead of the tier and priority)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.policy, "rule": self.rule}
        if self.kind:
            out.update(kind=self.kind, tier=self.tier, action=self.action)
            if self.rank:
                out["rank"] = self.rank
            else:
                out["priority"] = self.priority
            if self.name:
                out["name"] = self.name
        return out

    def describe(self) -> str:
        """``ClusterNetworkPolicy deny-metadata (Admin, priority 10), spec.egress[0] 'no-imds'``."""
        label = f"{self.rule} {self.name!r}" if self.name else self.rule
        if self.rank:
            return f"{self.kind} {self.policy} ({self.rank}), {label}"
        if self.kind:
            return f"{self.kind} {self.policy} ({self.tier}, priority {self.priority}), {label}"
        return f"{self.policy} {label}"


@dataclass(frozen=True)
class DirectionExplanation:
    """The verdict of one direction for one connection.

    ``subject`` is the endpoint whose policies decide (the destination for ingress, the source
    for egress); ``peer`` is the other end; ``service`` is e.g. ``TCP/80``.
    """

    direction: str
    verdict: str
    reason: str
    subject: str
    peer: str
    service: str
    isolated_by: tuple[str, ...] = ()
    allowed_by: tuple[RuleRef, ...] = ()
    engine: str = "reference"
    tier: str = ""
    """The tier that decided: Admin, NetworkPolicy, Baseline, or default (the default allow
    with ClusterNetworkPolicies present); "" when there are no ClusterNetworkPolicies."""
    decided_by: RuleRef | None = None
    """The ClusterNetworkPolicy rule (Accept or Deny) that decided, for ``TIER_RULE``."""
    passed_by: RuleRef | None = None
    """An Admin-tier Pass rule that sent the connection on to the later tiers."""

    @property
    def isolated(self) -> bool:
        return bool(self.isolated_by)

    def sentence(self) -> str:
        """One sentence a workshop attendee can read, starting with the expected verdict."""
        head = f"expected {self.verdict}: "
        if self.passed_by is not None:
            head += f"passed on by {self.passed_by.describe()}; then "
        d = self.direction
        if self.reason == TIER_RULE and self.decided_by is not None:
            verb = "allowed" if self.verdict == ALLOW else "denied"
            source, target = (
                (self.peer, self.subject) if d == "ingress" else (self.subject, self.peer)
            )
            return (
                head + f"{d} {verb} by {self.decided_by.describe()} ({source} -> {target} on "
                f"{self.service})"
            )
        if self.reason == TIER_DEFAULT:
            return head + (
                f"{self.subject} is selected for {d} in Calico tier {self.tier} by "
                f"{_join(self.isolated_by)} and no rule there decides {self._flow()} on "
                f"{self.service}: the tier's default action Deny"
            )
        if self.reason == PROFILE_ALLOW:
            return head + (
                f"no Calico tier decides {d} for {self.subject} ({self._flow()} on "
                f"{self.service}): its namespace profile allows it"
            )
        if self.reason == ENGINE_NONE:
            return head + f"engine {self.engine} enforces no NetworkPolicy, so {d} is not filtered"
        if self.reason == EXTERNAL:
            return head + f"{self.subject} is outside the cluster, so no {d} policy applies to it"
        if self.reason == NOT_ISOLATED and self.tier == "default":
            return head + (
                f"{self.subject} is not isolated for {d} by any NetworkPolicy and no "
                f"ClusterNetworkPolicy rule decides {self._flow()} on {self.service} (the "
                "default allow)"
            )
        if self.reason == NOT_ISOLATED:
            return head + f"{self.subject} is not isolated for {d} (no policy selects it for {d})"
        isolated = f"{self.subject} is isolated for {d} by {_join(self.isolated_by)}"
        if self.reason == RULE_MATCHED:
            rules = _join([f"{r.policy} {r.rule}" for r in self.allowed_by])
            verb = "admits" if len(self.allowed_by) == 1 else "admit"
            return head + f"{isolated} and {rules} {verb} {self._flow()} on {self.service}"
        return head + f"{isolated} and no {d} rule admits {self._flow()} on {self.service}"

    def _flow(self) -> str:
        return self.peer if self.direction == "ingress" else f"traffic to {self.peer}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "reason": self.reason,
            "isolated": self.isolated,
            "isolated_by": list(self.isolated_by),
            "allowed_by": [r.to_dict() for r in self.allowed_by],
            "sentence": self.sentence(),
        }
        if self.tier:
            out["tier"] = self.tier
        if self.decided_by is not None:
            out["decided_by"] = self.decided_by.to_dict()
        if self.passed_by is not None:
            out["passed_by"] = self.passed_by.to_dict()
        return out


@dataclass(frozen=True)
class Result:
    """The verdict for one probe with both directions explained.

    ``port`` is the probe's port as given (number or name); ``port_number`` the number it
    resolved to on the destination.
    """

    source: str
    destination: str
    port: int | str
    port_number: int
    protocol: str
    verdict: str
    loopback: bool
    ingress: DirectionExplanation
    egress: DirectionExplanation

    @property
    def allowed(self) -> bool:
        return self.verdict == ALLOW

    def sentences(self) -> list[str]:
        """Egress first (it happens first), then ingress; loopback adds a caveat."""
        lines = [self.egress.sentence(), self.ingress.sentence()]
        if self.loopback:
            lines.append(
                "note: this is loopback (a pod to itself); implementations differ here and "
                "upstream e2e tests ignore it"
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "from": self.source,
            "to": self.destination,
            "port": self.port,
            "protocol": self.protocol,
            "verdict": self.verdict,
            "loopback": self.loopback,
            "ingress": self.ingress.to_dict(),
            "egress": self.egress.to_dict(),
        }
        if isinstance(self.port, str):
            out["port_number"] = self.port_number
        return out


def _join(items: Any) -> str:
    items = list(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
