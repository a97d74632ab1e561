"""A slow, literal evaluator of Calico's tiered policy walk: the oracle for engine ``calico``.

Written from ``docs/calico-policies.md`` sections 5 and 6 (projectcalico/calico v3.32.1), one
connection at a time, every policy every time, reading the raw dicts itself: Calico's
``projectcalico.org/v3`` GlobalNetworkPolicy, NetworkPolicy, GlobalNetworkSet and Tier,
Kubernetes NetworkPolicies (``networking.k8s.io/v1``) and ClusterNetworkPolicies
(``policy.networking.k8s.io/v1alpha2``). Nothing of ``provisioning/analysis/calico_engine.py``
is used. Borrowed, because they are tested on their own:

* ``provisioning.analysis.calico.parse_calico_object`` to read a Calico object's rules, and
  its ``Rule.matches`` with ``Endpoint`` to match one rule against one packet
  (``tests/analysis/test_calico_objects.py``);
* ``reference.py`` for a Kubernetes NetworkPolicy's selection and its rules' peers and ports,
  ``reference_tiers.py`` for a ClusterNetworkPolicy's subject and rules.

Everything else is written here from the doc: which policies select the endpoint (the
workload endpoint's labels of section 2, ``types`` defaulting of section 3), tier order,
policy order in a tier, the rule actions, tier skipping, the tiers' default actions and the
namespace profile.

How one direction of one connection is decided (the source's egress and the destination's
ingress are decided separately; a connection needs both):

1. An endpoint outside the cluster has no policies: its direction is allowed.
2. Tiers in ``order`` (absent last, equal orders by name): the built-in ``kube-admin``
   (1,000, Pass), ``default`` (1,000,000, Deny), ``kube-baseline`` (10,000,000, Pass) and
   every Tier object given.
3. In a tier, its policies by ``order`` (absent last) then the string
   ``"<name>/<namespace>/<kind>"``. Only policies that select the endpoint and govern the
   direction take part. Kubernetes NetworkPolicies are ``default``-tier policies at order 1000
   named ``knp.default.<name>``, kind ``KubernetesNetworkPolicy``, whose rules Allow;
   ClusterNetworkPolicies are ``kube-admin`` (Admin) / ``kube-baseline`` (Baseline) policies at
   order ``priority``, kind ``KubernetesClusterNetworkPolicy``, governing the directions they
   have rules for, with ``Accept`` read as ``Allow``.
4. Each taking-part policy's rules of the direction in order; the first matching rule that
   is not ``Log`` decides: ``Allow``/``Deny`` end the walk, ``Pass`` leaves the tier for the
   next one. ``Log`` goes on to the next rule.
5. A tier where no policy took part is skipped. A tier where one did but no rule decided ends
   with its ``defaultAction``: ``Deny`` ends the walk, ``Pass`` goes to the next tier.
6. After the last tier the namespace's profile allows.

Policies are assumed valid (parsing still refuses invalid Calico objects).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provisioning.analysis.calico import Endpoint, GlobalNetworkSet, parse_calico_object
from provisioning.analysis.calico_selector import parse_calico_selector

from . import reference, reference_tiers

Obj = Mapping[str, Any]

CALICO_API = "projectcalico.org/v3"
ALLOW = "allow"
DENY = "deny"

# How a direction was decided.
BY_RULE = "rule"
BY_TIER_DEFAULT = "tier-default"
BY_PROFILE = "profile"
BY_EXTERNAL = "external"

# docs/calico-policies.md section 6, "Calico creates three tiers at start-up".
BUILTIN_TIERS: dict[str, tuple[float | None, str]] = {
    "kube-admin": (1_000.0, "Pass"),
    "default": (1_000_000.0, "Deny"),
    "kube-baseline": (10_000_000.0, "Pass"),
}
CNP_TIERS = {"Admin": "kube-admin", "Baseline": "kube-baseline"}


@dataclass(frozen=True)
class Step:
    """A policy rule on the way: ``kind``/``policy`` as the analyzer's explanations name them
    (``Calico GlobalNetworkPolicy``, ``Calico NetworkPolicy``, ``NetworkPolicy``,
    ``ClusterNetworkPolicy``; ``ns/name`` for namespaced kinds)."""

    tier: str
    kind: str
    policy: str
    order: float
    rule: str  # spec.ingress[0]
    action: str  # Allow, Deny, Pass (Calico's words; a CNP's Accept is Allow)

    @property
    def rank(self) -> str:
        order = "none" if math.isinf(self.order) else f"{self.order:g}"
        return f"tier {self.tier}, order {order}"


@dataclass(frozen=True)
class Decision:
    verdict: str  # allow / deny
    how: str  # BY_RULE, BY_TIER_DEFAULT, BY_PROFILE, BY_EXTERNAL
    tier: str = ""  # the deciding tier (rule or default action)
    step: Step | None = None  # the deciding rule, for BY_RULE
    selected_by: tuple[str, ...] = ()  # for BY_TIER_DEFAULT: "kind name" of the tier's policies
    passed: tuple[Step, ...] = ()  # Pass rules on the way, in order

    @property
    def allowed(self) -> bool:
        return self.verdict == ALLOW


@dataclass(frozen=True)
class Verdict:
    ingress: Decision
    egress: Decision

    @property
    def allowed(self) -> bool:
        return self.ingress.allowed and self.egress.allowed


# -- one policy, as the walk sees it ------------------------------------------------------------


@dataclass(frozen=True)
class _Conn:
    """One direction of one connection: ``subject`` is the pod whose policies decide."""

    direction: str
    subject: Obj
    peer: Obj | None  # a pod, or None for an address outside the cluster
    peer_name: str  # the peer's ns/name or IP
    port: int
    protocol: str


@dataclass(frozen=True)
class _Policy:
    tier: str
    order: float  # math.inf when absent
    sort_name: str  # "<name>/<namespace>/<kind>"
    kind: str
    name: str
    selects: Callable[[Obj], bool]  # the pod
    governs: Callable[[str], bool]  # the direction
    rules: Callable[[str], list[tuple[str, str, Callable[[_Conn], bool]]]]  # (path, action, match)


class CalicoReference:
    """Reads the inputs once; ``evaluate`` then walks every tier and policy for each call."""

    def __init__(self, cluster: Obj, policies: Sequence[Obj]) -> None:
        self.cluster = cluster
        self.sets: list[GlobalNetworkSet] = []
        self.tiers: dict[str, tuple[float | None, str]] = dict(BUILTIN_TIERS)
        self.policies: list[_Policy] = []
        calico = [p for p in policies if p.get("apiVersion") == CALICO_API]
        for raw in calico:
            if raw["kind"] == "GlobalNetworkSet":
                obj, _ = parse_calico_object(raw, source="reference")
                assert isinstance(obj, GlobalNetworkSet)
                self.sets.append(obj)
            elif raw["kind"] == "Tier":
                spec = raw.get("spec") or {}
                order = spec.get("order")
                self.tiers[raw["metadata"]["name"]] = (
                    None if order is None else float(order),
                    spec.get("defaultAction") or "Deny",  # tier.go: defaults to Deny
                )
        for raw in calico:
            if raw["kind"] in ("GlobalNetworkPolicy", "NetworkPolicy"):
                self.policies.append(self._calico_policy(raw))
        for raw in policies:
            if raw.get("apiVersion") == CALICO_API:
                continue
            if reference_tiers.is_cnp(raw):
                self.policies.append(self._cnp(raw))
            else:
                self.policies.append(self._k8s_np(raw))

    # -- readers ------------------------------------------------------------------------------

    def _calico_policy(self, raw: Obj) -> _Policy:
        """A GlobalNetworkPolicy or Calico NetworkPolicy (docs section 3: fields; section 2:
        what its own selector sees)."""
        obj, _ = parse_calico_object(raw, source="reference")
        kind = raw["kind"]
        spec = raw.get("spec") or {}
        name = raw["metadata"]["name"]
        namespace = ""
        if kind == "NetworkPolicy":
            namespace = raw["metadata"].get("namespace") or "default"
        selector = parse_calico_selector(spec.get("selector") or "all()", where="reference")
        ns_text = spec.get("namespaceSelector") if kind == "GlobalNetworkPolicy" else None
        ns_selector = parse_calico_selector(ns_text, where="reference") if ns_text else None
        # types: as written, else from the rules present (section 3, "types defaulting").
        types = spec.get("types")
        if not types:
            if not spec.get("egress"):
                types = ["Ingress"]
            elif not spec.get("ingress"):
                types = ["Egress"]
            else:
                types = ["Ingress", "Egress"]
        types = tuple(types)

        def selects(pod: Obj) -> bool:
            if kind == "NetworkPolicy" and pod["namespace"] != namespace:
                return False  # "(<selector>) && projectcalico.org/namespace == '<ns>'"
            if not selector.matches(self.workload_labels(pod)):
                return False
            if ns_selector is not None:  # "limits to pods in matching namespaces"
                return ns_selector.matches(self.namespace_labels(pod["namespace"]))
            return True

        def governs(direction: str) -> bool:
            return direction.capitalize() in types

        def rules(direction: str) -> list[tuple[str, str, Callable[[_Conn], bool]]]:
            out = []
            for rule in obj.ingress if direction == "ingress" else obj.egress:
                out.append((rule.path, rule.action, self._calico_matcher(rule)))
            return out

        order = spec.get("order")
        return _Policy(
            tier=spec.get("tier") or "default",
            order=math.inf if order is None else float(order),
            sort_name=f"{name}/{namespace}/{kind}",
            kind=f"Calico {kind}",
            name=f"{namespace}/{name}" if namespace else name,
            selects=selects,
            governs=governs,
            rules=rules,
        )

    def _calico_matcher(self, rule: Any) -> Callable[[_Conn], bool]:
        def match(conn: _Conn) -> bool:
            me = self.endpoint(conn.subject, "")
            other = self.endpoint(conn.peer, conn.peer_name)
            source, destination = (other, me) if conn.direction == "ingress" else (me, other)
            return bool(rule.matches(source, destination, conn.port, conn.protocol))

        return match

    def _k8s_np(self, raw: Obj) -> _Policy:
        """Section 6: "converted to a Calico NetworkPolicy in tier default at order 1000", kind
        KubernetesNetworkPolicy; its name is ``knp.default.<name>`` (conversion.go
        ``K8sNetworkPolicyToCalico``: ``policyName := K8sNetworkPolicyNamePrefix + np.Name``)."""
        name = raw["metadata"]["name"]
        namespace = raw["metadata"].get("namespace") or "default"
        spec = raw.get("spec") or {}
        peers_key = {"ingress": "from", "egress": "to"}

        def selects(pod: Obj) -> bool:
            return pod["namespace"] == namespace and reference.selector_matches(
                spec.get("podSelector") or {}, pod.get("labels") or {}
            )

        def governs(direction: str) -> bool:
            types = spec.get("policyTypes")
            if not types:
                types = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
            return direction.capitalize() in types

        def rules(direction: str) -> list[tuple[str, str, Callable[[_Conn], bool]]]:
            out = []
            for i, rule in enumerate(spec.get(direction) or []):
                rule = rule or {}

                def match(conn: _Conn, rule: Obj = rule) -> bool:
                    destination = conn.subject if conn.direction == "ingress" else conn.peer
                    if not reference.ports_match(
                        rule.get("ports"), conn.port, conn.protocol, destination
                    ):
                        return False
                    peers = rule.get(peers_key[conn.direction])
                    if not peers:
                        return True
                    return any(
                        reference.peer_matches(
                            self.cluster, raw, p, conn.peer, conn.peer_name, True
                        )
                        for p in peers
                    )

                out.append((f"spec.{direction}[{i}]", "Allow", match))
            return out

        return _Policy(
            tier="default",
            order=1000.0,
            sort_name=f"knp.default.{name}/{namespace}/KubernetesNetworkPolicy",
            kind="NetworkPolicy",
            name=f"{namespace}/{name}",
            selects=selects,
            governs=governs,
            rules=rules,
        )

    def _cnp(self, raw: Obj) -> _Policy:
        """Section 6: Admin -> kube-admin, Baseline -> kube-baseline, ``Order: priority``,
        types only for directions with rules, Accept -> Allow."""
        name = raw["metadata"]["name"]
        spec = raw["spec"]

        def selects(pod: Obj) -> bool:
            return reference_tiers._subject_selects(self.cluster, spec["subject"], pod)

        def governs(direction: str) -> bool:
            return bool(spec.get(direction))

        def rules(direction: str) -> list[tuple[str, str, Callable[[_Conn], bool]]]:
            out = []
            for i, rule in enumerate(spec.get(direction) or []):

                def match(conn: _Conn, rule: Obj = rule) -> bool:
                    tconn = reference_tiers._Connection(
                        self.cluster,
                        conn.direction,
                        conn.subject,
                        conn.peer,
                        conn.peer_name,
                        conn.port,
                        conn.protocol,
                    )
                    return reference_tiers._rule_matches(tconn, rule)

                action = "Allow" if rule["action"] == "Accept" else rule["action"]
                out.append((f"spec.{direction}[{i}]", action, match))
            return out

        return _Policy(
            tier=CNP_TIERS[spec["tier"]],
            order=float(spec["priority"]),
            sort_name=f"{name}//KubernetesClusterNetworkPolicy",
            kind="ClusterNetworkPolicy",
            name=name,
            selects=selects,
            governs=governs,
            rules=rules,
        )

    # -- what selectors see -------------------------------------------------------------------

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        """A namespace's labels (the API server adds kubernetes.io/metadata.name) plus the
        ``projectcalico.org/name`` its profile carries (section 2)."""
        labels = dict(self.cluster["namespaces"][namespace].get("labels") or {})
        labels["kubernetes.io/metadata.name"] = namespace
        labels["projectcalico.org/name"] = namespace
        return labels

    def workload_labels(self, pod: Obj) -> dict[str, str]:
        """Section 2: inherited ``pcns.*`` first, then the pod's labels, then
        ``projectcalico.org/namespace`` and ``projectcalico.org/orchestrator`` (which win)."""
        labels = {f"pcns.{k}": v for k, v in self.namespace_labels(pod["namespace"]).items()}
        labels.update(pod.get("labels") or {})
        labels["projectcalico.org/namespace"] = pod["namespace"]
        labels["projectcalico.org/orchestrator"] = "k8s"
        return labels

    def endpoint(self, pod: Obj | None, ip_text: str) -> Endpoint:
        """The primitive ``Rule.matches`` wants: a pod's workload endpoint or an address."""
        if pod is None:
            return Endpoint(ip=ipaddress.ip_address(ip_text), network_sets=tuple(self.sets))
        ns = pod["namespace"]
        ns_labels = dict(self.cluster["namespaces"][ns].get("labels") or {})
        ns_labels["kubernetes.io/metadata.name"] = ns
        return Endpoint(
            namespace=ns,
            namespace_labels=ns_labels,
            labels=dict(pod.get("labels") or {}),
            ip=ipaddress.ip_address(pod["ip"]) if pod.get("ip") else None,
            is_pod=True,
            named_ports={
                p["name"]: (p.get("protocol") or "TCP", int(p["port"]))
                for p in pod.get("ports") or []
                if p.get("name")
            },
            network_sets=tuple(self.sets),
        )

    # -- the walk -----------------------------------------------------------------------------

    def tier_order(self) -> list[str]:
        """Section 5: "by order ascending; a tier without order after all others; equal orders
        by name"."""

        def key(name: str) -> tuple[bool, float, str]:
            order = self.tiers[name][0]
            return (order is None, order or 0.0, name)

        return sorted(self.tiers, key=key)

    def tier_policies(self, tier: str) -> list[_Policy]:
        """Section 5: "by order (absent = +Inf), ties broken by the string
        <name>/<namespace>/<kind>"."""
        return sorted(
            (p for p in self.policies if p.tier == tier), key=lambda p: (p.order, p.sort_name)
        )

    def decide(self, conn: _Conn) -> Decision:
        passed: list[Step] = []
        for tier in self.tier_order():
            default_action = self.tiers[tier][1]
            selected_by: list[str] = []
            outcome = None  # "Pass" when a Pass rule left the tier
            for policy in self.tier_policies(tier):
                if not policy.governs(conn.direction) or not policy.selects(conn.subject):
                    continue
                selected_by.append(f"{policy.kind} {policy.name}")
                for path, action, match in policy.rules(conn.direction):
                    if action == "Log":  # "Log logs and continues"
                        continue
                    if not match(conn):
                        continue
                    step = Step(tier, policy.kind, policy.name, policy.order, path, action)
                    if action == "Pass":  # "Pass skips the rest of the tier"
                        passed.append(step)
                        outcome = "Pass"
                        break
                    verdict = ALLOW if action == "Allow" else DENY  # "Allow/Deny are final"
                    return Decision(verdict, BY_RULE, tier, step, passed=tuple(passed))
                if outcome == "Pass":
                    break
            if outcome == "Pass":
                continue
            if not selected_by:  # "otherwise it is skipped, end-of-tier action included"
                continue
            if default_action == "Deny":  # "End of tier ... Deny drops"
                return Decision(
                    DENY,
                    BY_TIER_DEFAULT,
                    tier,
                    selected_by=tuple(selected_by),
                    passed=tuple(passed),
                )
            # defaultAction Pass: on to the next tier.
        # "After the last tier ... the profile kns.<namespace> ... Allow".
        return Decision(ALLOW, BY_PROFILE, passed=tuple(passed))

    def direction(
        self,
        direction: str,
        subject: Obj | None,
        peer: Obj | None,
        peer_name: str,
        port: int,
        protocol: str,
    ) -> Decision:
        if subject is None:
            return Decision(ALLOW, BY_EXTERNAL)
        return self.decide(_Conn(direction, subject, peer, peer_name, port, protocol))

    def evaluate(
        self, source: str, destination: str, port: int | str, protocol: str = "TCP"
    ) -> Verdict:
        """Both directions of ``source`` -> ``destination``; ``source``/``destination`` are
        ``ns/name`` of a pod, a pod's IP, or an outside IP; a named ``port`` is resolved on the
        destination pod."""
        src = reference.find_pod(self.cluster, source)
        dst = reference.find_pod(self.cluster, destination)
        src_name = _name(src, source)
        dst_name = _name(dst, destination)
        if isinstance(port, str):
            assert dst is not None, "a named port needs a destination pod"
            number = reference_tiers._declared_port(dst, port, protocol)
            assert number is not None, f"{destination} declares no {protocol} port {port!r}"
            port = number
        return Verdict(
            ingress=self.direction("ingress", dst, src, src_name, port, protocol),
            egress=self.direction("egress", src, dst, dst_name, port, protocol),
        )


def _name(pod: Obj | None, text: str) -> str:
    return f"{pod['namespace']}/{pod['name']}" if pod is not None else text


def evaluate(
    cluster: Obj,
    policies: Sequence[Obj],
    source: str,
    destination: str,
    port: int | str,
    protocol: str = "TCP",
) -> Verdict:
    return CalicoReference(cluster, policies).evaluate(source, destination, port, protocol)


def allowed(
    cluster: Obj,
    policies: Sequence[Obj],
    source: str,
    destination: str,
    port: int | str,
    protocol: str = "TCP",
) -> bool:
    return evaluate(cluster, policies, source, destination, port, protocol).allowed


def matrix_counts(cluster: Obj, policies: Sequence[Obj]) -> tuple[int, int]:
    """(probes, allowed) of the default matrix: every ordered pod pair on every port the
    destination declares."""
    ref = CalicoReference(cluster, policies)
    total = ok = 0
    for dst in cluster["pods"]:
        for declared in dst.get("ports") or []:
            for src in cluster["pods"]:
                total += 1
                ok += ref.evaluate(
                    f"{src['namespace']}/{src['name']}",
                    f"{dst['namespace']}/{dst['name']}",
                    int(declared["port"]),
                    declared.get("protocol") or "TCP",
                ).allowed
    return total, ok
