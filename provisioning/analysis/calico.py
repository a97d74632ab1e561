"""Calico's own policy objects (``projectcalico.org/v3``), validated and read into frozen data.

Kinds: ``GlobalNetworkPolicy``, ``NetworkPolicy`` (Calico's namespaced kind, not the Kubernetes
one), ``GlobalNetworkSet`` and ``Tier``. Sources, all projectcalico/calico at tag v3.32.1
(research notes with line numbers in ``docs/calico-policies.md``):

* the types: ``api/pkg/apis/projectcalico/v3/{globalnetworkpolicy,networkpolicy,policy_common,
  globalnetworkset,tier}.go``; ports and protocols ``api/pkg/lib/numorstring/{port,protocol,
  uint8orstring}.go``;
* defaulting (``types``, ``tier``): ``api/pkg/defaults/networkpolicy.go``;
* validation: ``libcalico-go/lib/validator/v3/validator.go`` (``validateRule``,
  ``validateEntityRule``, ``validate(Global)NetworkPolicy(Spec)``, ``validateTier``,
  ``validateGlobalNetworkSet``, the ``net``/``cidr``/``selector``/``portName`` field checks)
  and the CEL rules on the types;
* what a rule's selectors mean: ``libcalico-go/lib/backend/syncersv1/updateprocessors/
  {rules,networkpolicyprocessor,globalnetworkpolicyprocessor}.go`` and the labels Calico puts on
  a pod's workload endpoint (``libcalico-go/lib/backend/k8s/conversion/{workload_endpoint_default,
  conversion}.go``), see ``Endpoint``;
* named ports: ``felix/calc/rule_scanner.go`` (``ruleToParsedRule``).

Fields the analyzer does not model are never dropped silently. The rule: a field that can make a
rule or policy match less (or other) traffic than the analyzer would assume is refused, with a
``UsageError`` naming it; a field that cannot change which pod-to-pod probe a rule matches is
accepted with a warning naming it.

Refused:

* ``spec.doNotTrack: true``, ``spec.preDNAT: true`` (GlobalNetworkPolicy): such a policy goes to
  the untracked / pre-DNAT tiers, which Felix applies to host endpoints only, not to the normal
  tiers pods use (``felix/calc/event_sequencer.go`` ``tierInfoToProtoTierInfo``); reading it as a
  normal policy would be wrong and the analyzer has no host endpoints.
* ``spec.serviceAccountSelector``, a rule's ``source``/``destination.serviceAccounts``, and any
  selector key ``projectcalico.org/serviceaccount`` or ``pcsa.*``: they select by service
  account; the cluster model has none, so they would match less than assumed.
* ``source``/``destination.services``: matches a Kubernetes Service's endpoints; not modelled.
* ``http`` (application layer policy): matches only some HTTP requests; probes carry none.
* ``ipVersion``: limits a rule to one address family; the analyzer does not model families
  (on a single-stack cluster of that family it changes nothing: remove it).
* ``source.ports``/``source.notPorts``: client ports are ephemeral; probes have none.
* ``notICMP`` on a rule not limited to ICMP/ICMPv6: whether it excludes TCP/UDP/SCTP packets
  depends on the dataplane's ICMP match, which was not verified.
* ``stagedAction`` and the Staged* kinds: staged policies are not enforced.

Warned (and otherwise accepted):

* ``spec.applyOnForward: true``: the policy stays in the normal tiers (same Felix function);
  the flag only adds it to host endpoints' forwarded traffic.
* ``spec.performanceHints``: "Hints never change the enforcement behaviour of the policy"
  (``globalnetworkpolicy.go``).
* ``icmp``, and ``notICMP`` on an ICMP rule: the validator requires ``protocol: ICMP``/
  ``ICMPv6`` for ``icmp``, so such a rule never matches a TCP/UDP/SCTP probe either way.
* ``ingress``/``egress`` rules of a direction ``types`` does not list: Calico does not apply
  them (the policy does not govern that direction, ``felix/calc/policy_sorter.go``).
* ``metadata.namespace`` on a cluster-scoped kind: not part of the object.

Kept for explanations without effect on matching: rule ``metadata.annotations`` ("does not
affect how a rule is interpreted or enforced", docs ``_rule.mdx``), policy labels; a Tier's
``status`` is accepted as written by the server.

Messages are one line like ``validate.py``'s: ``<source>: <field path>: <problem>``, e.g.
``x.yaml: spec.ingress[0].destination.ports[1]: "0" port range invalid, ...``; with several
problems the first is shown and the rest counted.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from provisioning.errors import UsageError

from .calico_selector import (
    ALL,
    EQ,
    NAMESPACE_LABEL,
    NAMESPACE_PREFIX,
    And,
    CalicoSelector,
    Compare,
    is_only_global,
    parse_calico_selector,
)
from .model import IPAddress, Namespace, Pod
from .validate import (
    _as_list,
    _dns1123_label,
    _dns1123_subdomain,
    _is_int,
    _q,
    _type_name,
    _validate_metadata,
    parse_cidr,
    port_name_errors,
)

API_VERSION = "projectcalico.org/v3"
GLOBAL_NETWORK_POLICY = "GlobalNetworkPolicy"
NETWORK_POLICY = "NetworkPolicy"
GLOBAL_NETWORK_SET = "GlobalNetworkSet"
TIER = "Tier"
KINDS = (GLOBAL_NETWORK_POLICY, NETWORK_POLICY, GLOBAL_NETWORK_SET, TIER)

INGRESS, EGRESS = "ingress", "egress"  # rule directions, as in policy.py
POLICY_TYPES = ("Ingress", "Egress")
ALLOW, DENY, LOG, PASS = "Allow", "Deny", "Log", "Pass"
ACTIONS = (ALLOW, DENY, LOG, PASS)

# Tiers Calico creates at start-up (libcalico-go/lib/clientv3/client.go EnsureInitialized,
# orders from api/.../v3/tier.go, default actions from the Tier CEL rules).
DEFAULT_TIER = "default"
KUBE_ADMIN_TIER = "kube-admin"
KUBE_BASELINE_TIER = "kube-baseline"

# How Calico itself places Kubernetes policies (libcalico-go/lib/backend/k8s/conversion/
# conversion.go K8sNetworkPolicyToCalico, clusternetworkpolicy.go): a NetworkPolicy goes to the
# default tier at order 1000; a ClusterNetworkPolicy to kube-admin / kube-baseline with its
# priority as order. The kinds are what Felix breaks order ties with (name/namespace/kind).
KUBERNETES_NETWORK_POLICY_ORDER = 1000.0
KUBERNETES_NETWORK_POLICY_KIND = "KubernetesNetworkPolicy"
KUBERNETES_CLUSTER_NETWORK_POLICY_KIND = "KubernetesClusterNetworkPolicy"
CLUSTER_NETWORK_POLICY_TIERS = {"Admin": KUBE_ADMIN_TIER, "Baseline": KUBE_BASELINE_TIER}

ORCHESTRATOR_LABEL = "projectcalico.org/orchestrator"
NAMESPACE_NAME_LABEL = NAMESPACE_PREFIX + "projectcalico.org/name"
SERVICE_ACCOUNT_LABEL = "projectcalico.org/serviceaccount"
SERVICE_ACCOUNT_PREFIX = "pcsa."

# IANA numbers of the protocol names Calico accepts (numorstring/protocol.go allProtocolNames).
PROTOCOL_NUMBERS = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPv6": 58, "SCTP": 132, "UDPLite": 136}
_PORT_PROTOCOLS = (6, 17, 132)  # Protocol.SupportsPorts: TCP, UDP, SCTP
_ICMP_PROTOCOLS = (1, 58)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(\.{_LABEL})*"
# validator.go: globalNetworkPolicyNameRegex, networkPolicyNameRegex, tierNameRegex.
_GNP_NAME_RE = re.compile(rf"^({_LABEL}\.)?{_LABEL}$")
_NP_NAME_RE = re.compile(rf"^(({_LABEL})(\.{_LABEL})?|((?:knp|ossg)\.default\.({_SUBDOMAIN})))$")
_DIGITS_RE = re.compile(r"[0-9]+")
_RANGE_RE = re.compile(r"([0-9]+):([0-9]+)")
_PORT_NAME_RE = re.compile(r"[a-zA-Z0-9_.-]{1,128}")  # numorstring/port.go nameRegex
_CIDR_SHAPE_RE = re.compile(r"[^/]+/[0-9]{1,3}")


# -- the objects --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """A rule's ``protocol``/``notProtocol``: an IANA number, and the name it was given by."""

    number: int
    name: str | None = field(default=None, compare=False)

    def text(self) -> str:
        return self.name or str(self.number)

    def matches(self, protocol: str) -> bool:
        """Whether a packet of ``protocol`` (``TCP``, ``UDP``, ``SCTP``...) is this protocol."""
        return PROTOCOL_NUMBERS.get(protocol) == self.number

    @property
    def supports_ports(self) -> bool:
        return self.number in _PORT_PROTOCOLS


@dataclass(frozen=True)
class PortRange:
    """A numeric port (``first == last``) or an inclusive range ``"first:last"``."""

    first: int
    last: int

    def contains(self, port: int) -> bool:
        return self.first <= port <= self.last

    def text(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}:{self.last}"


@dataclass(frozen=True)
class NamedPort:
    """A port name, resolved on each destination endpoint's own declared ports."""

    name: str

    def text(self) -> str:
        return self.name


Port = PortRange | NamedPort


@dataclass(frozen=True)
class GlobalNetworkSet:
    """A labelled set of CIDRs that selectors can match (GlobalNetworkSet)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    nets: tuple[Network, ...] = ()
    source: str = field(default="", compare=False)

    kind: ClassVar[str] = GLOBAL_NETWORK_SET

    def contains(self, ip: IPAddress) -> bool:
        return any(_in(ip, net) for net in self.nets)


@dataclass(frozen=True)
class Tier:
    """A Tier: policies are evaluated tier by tier, lowest ``order`` first (``None`` last)."""

    name: str
    order: float | None = None
    default_action: str = DENY  # what happens when a policy of the tier selected the endpoint
    source: str = field(default="", compare=False)  # but none of its rules decided

    kind: ClassVar[str] = TIER

    def sort_key(self) -> tuple[bool, float, str]:
        """Felix's ``TierLess``: by order, no order after every order, then by name."""
        return (self.order is None, self.order if self.order is not None else 0.0, self.name)


BUILTIN_TIERS = {
    DEFAULT_TIER: Tier(DEFAULT_TIER, 1_000_000.0, DENY),
    KUBE_ADMIN_TIER: Tier(KUBE_ADMIN_TIER, 1_000.0, PASS),
    KUBE_BASELINE_TIER: Tier(KUBE_BASELINE_TIER, 10_000_000.0, PASS),
}


@dataclass(frozen=True)
class Endpoint:
    """One end of a packet, as Calico's selectors see it.

    A pod (``is_pod``) is a Calico workload endpoint. Its labels, as selectors read them, are
    ``calico_labels``: the pod's labels plus ``projectcalico.org/namespace: <namespace>`` and
    ``projectcalico.org/orchestrator: k8s`` (``workload_endpoint_default.go``, set after the
    pod's own, so they win), and, inherited from the namespace's profile ``kns.<namespace>``,
    every namespace label as ``pcns.<key>`` plus ``pcns.projectcalico.org/name: <namespace>``
    (``conversion.go`` ``NamespaceToProfile``); the endpoint's own labels win over inherited
    ones (``felix/labelindex/label_inheritance_index.go``). Service-account labels
    (``projectcalico.org/serviceaccount``, ``pcsa.*``) are not modelled; selectors using them
    are refused when read.

    Selectors match IP addresses: a rule's selector becomes the set of the IPs of every matching
    endpoint and the CIDRs of every matching network set. So an address also matches through
    any ``network_sets`` whose nets contain ``ip`` (the pod's own address included): give every
    GlobalNetworkSet of the analysis, those not containing ``ip`` are skipped. A non-pod
    endpoint (``is_pod`` false: an address outside the cluster) matches only that way.
    """

    namespace: str | None = None
    namespace_labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    ip: IPAddress | None = None
    is_pod: bool = False
    named_ports: Mapping[str, tuple[str, int]] = field(default_factory=dict, hash=False)
    network_sets: tuple[GlobalNetworkSet, ...] = ()

    def __post_init__(self) -> None:
        if self.is_pod and not self.namespace:
            raise ValueError("a pod endpoint needs its namespace")

    @classmethod
    def for_pod(
        cls, pod: Pod, namespace: Namespace, network_sets: Iterable[GlobalNetworkSet] = ()
    ) -> Endpoint:
        """The endpoint of a model pod; ``namespace`` is the model's namespace of that pod."""
        return cls(
            namespace=pod.namespace,
            namespace_labels=namespace.labels,
            labels=pod.labels,
            ip=pod.ip,
            is_pod=True,
            named_ports={p.name: (p.protocol, p.port) for p in pod.ports if p.name},
            network_sets=tuple(network_sets),
        )

    @classmethod
    def for_address(cls, ip: IPAddress, network_sets: Iterable[GlobalNetworkSet] = ()) -> Endpoint:
        """An address that is no pod (outside the cluster, or a node)."""
        return cls(ip=ip, network_sets=tuple(network_sets))

    @cached_property
    def calico_labels(self) -> Mapping[str, str]:
        """The labels Calico's selectors see on this endpoint (empty for a non-pod)."""
        if not self.is_pod or self.namespace is None:
            return {}
        labels = {NAMESPACE_PREFIX + k: v for k, v in self.namespace_labels.items()}
        labels[NAMESPACE_NAME_LABEL] = self.namespace
        labels.update(self.labels)
        labels[NAMESPACE_LABEL] = self.namespace
        labels[ORCHESTRATOR_LABEL] = "k8s"
        return labels

    @cached_property
    def containing_network_sets(self) -> tuple[GlobalNetworkSet, ...]:
        if self.ip is None:
            return ()
        ip = self.ip
        return tuple(s for s in self.network_sets if s.contains(ip))

    def identities(self) -> list[Mapping[str, str]]:
        """The label sets a selector can match this address by: the pod's, each set's."""
        found = [self.calico_labels] if self.is_pod else []
        found.extend(s.labels for s in self.containing_network_sets)
        return found


@dataclass(frozen=True)
class EntityRule:
    """A rule's ``source`` or ``destination``; every criterion given must match (ANDed).

    ``policy_namespace`` is the namespace of the NetworkPolicy the rule is in (``None`` in a
    GlobalNetworkPolicy): with it, ``selector``, ``notSelector`` and an absent
    ``namespaceSelector`` confine the positive match to endpoints in that namespace.
    """

    path: str
    nets: tuple[Network, ...] = ()
    not_nets: tuple[Network, ...] = ()
    selector: CalicoSelector | None = None
    not_selector: CalicoSelector | None = None
    namespace_selector: CalicoSelector | None = None
    ports: tuple[Port, ...] = ()
    not_ports: tuple[Port, ...] = ()
    policy_namespace: str | None = None

    @cached_property
    def scoped_selector(self) -> CalicoSelector | None:
        """The positive endpoint selector Calico builds (``getEndpointSelector``, rules.go).

        With a ``namespaceSelector``: its prefixed form (see ``as_namespace_selector``) AND
        ``selector``. Without one, in a NetworkPolicy: ``projectcalico.org/namespace ==
        '<ns>'`` AND ``selector`` -- but only when ``selector`` or ``notSelector`` is given
        ("limited to the namespace ... as soon as _any_ of the selector fields are used,
        including NotSelector"). In a GlobalNetworkPolicy without one: ``selector`` as is.
        ``None`` means no selector criterion: any address.
        """
        scope = None
        if self.namespace_selector is not None:
            scope = self.namespace_selector.as_namespace_selector().root
        elif self.policy_namespace is not None:
            scope = Compare(NAMESPACE_LABEL, EQ, self.policy_namespace)
        used = (self.selector, self.not_selector, self.namespace_selector)
        if scope is not None and any(s is not None for s in used):
            if self.selector is None:
                return CalicoSelector(scope)
            return CalicoSelector(And((scope, self.selector.root)))
        return self.selector

    @property
    def is_any(self) -> bool:
        """No criterion at all: matches every packet."""
        return not (
            self.nets
            or self.not_nets
            or self.ports
            or self.not_ports
            or self.scoped_selector is not None
            or self.not_selector is not None
        )

    def matches_address(self, endpoint: Endpoint) -> bool:
        """``nets``, ``notNets``, the scoped ``selector`` and ``notSelector`` (the latter is
        never scoped to a namespace: it excludes matching endpoints and network sets anywhere)."""
        ip = endpoint.ip
        if self.nets and (ip is None or not any(_in(ip, n) for n in self.nets)):
            return False
        if self.not_nets and ip is not None and any(_in(ip, n) for n in self.not_nets):
            return False
        selector = self.scoped_selector
        if selector is not None and not any(selector.matches(i) for i in endpoint.identities()):
            return False
        not_selector = self.not_selector
        return not_selector is None or not any(
            not_selector.matches(i) for i in endpoint.identities()
        )

    def matches_port(self, endpoint: Endpoint, port: int, protocol: str) -> bool:
        """``ports`` and ``notPorts`` for a packet to ``port``/``protocol`` at ``endpoint``.

        A number or range matches the packet's port. A named port matches when the endpoint is a
        pod that declares that name for ``protocol`` and that number, and the pod itself matches
        the scoped selector -- Felix renders named ports as IP sets filtered by the positive
        selector, also for ``notPorts`` (``ruleToParsedRule`` in rule_scanner.go).
        """
        if self.ports and not self._listed(self.ports, endpoint, port, protocol):
            return False
        return not (self.not_ports and self._listed(self.not_ports, endpoint, port, protocol))

    def matches(
        self, endpoint: Endpoint, port: int | None = None, protocol: str | None = None
    ) -> bool:
        """Every criterion; ``port``/``protocol`` are needed when the rule lists ports."""
        if not self.matches_address(endpoint):
            return False
        if self.ports or self.not_ports:
            if port is None or protocol is None:
                raise ValueError(f"{self.path} lists ports: give the packet's port and protocol")
            return self.matches_port(endpoint, port, protocol)
        return True

    def _listed(
        self, ports: tuple[Port, ...], endpoint: Endpoint, port: int, protocol: str
    ) -> bool:
        for p in ports:
            if isinstance(p, PortRange):
                if p.contains(port):
                    return True
            elif endpoint.is_pod and endpoint.named_ports.get(p.name) == (protocol, port):
                selector = self.scoped_selector
                if selector is None or selector.matches(endpoint.calico_labels):
                    return True
        return False

    def describe(self) -> str:
        parts = []
        if self.namespace_selector is not None:
            parts.append(f"namespaces {self.namespace_selector.describe()}")
        if self.selector is not None:
            parts.append(self.selector.describe())
        if self.not_selector is not None:
            parts.append(f"not {self.not_selector.describe()}")
        if self.nets:
            parts.append("nets " + ", ".join(map(str, self.nets)))
        if self.not_nets:
            parts.append("not nets " + ", ".join(map(str, self.not_nets)))
        if self.ports:
            parts.append("ports " + ", ".join(p.text() for p in self.ports))
        if self.not_ports:
            parts.append("not ports " + ", ".join(p.text() for p in self.not_ports))
        return "; ".join(parts) or "anywhere"


@dataclass(frozen=True)
class Rule:
    """One ingress or egress rule; ``path`` (``spec.egress[1]``) and ``index`` name it."""

    direction: str  # INGRESS or EGRESS
    index: int
    path: str
    action: str  # Allow, Deny, Pass or Log
    protocol: Protocol | None = None
    not_protocol: Protocol | None = None
    source: EntityRule = field(default_factory=lambda: EntityRule("source"))
    destination: EntityRule = field(default_factory=lambda: EntityRule("destination"))
    annotations: tuple[tuple[str, str], ...] = ()

    def matches_protocol(self, protocol: str) -> bool:
        if self.protocol is not None and not self.protocol.matches(protocol):
            return False
        return self.not_protocol is None or not self.not_protocol.matches(protocol)

    def matches(self, source: Endpoint, destination: Endpoint, port: int, protocol: str) -> bool:
        """Whether a packet from ``source`` to ``destination`` on ``port``/``protocol`` matches:
        "All the match criteria within a rule must be satisfied" (policy_common.go)."""
        return (
            self.matches_protocol(protocol)
            and self.source.matches(source)
            and self.destination.matches(destination, port, protocol)
        )

    def describe(self) -> str:
        text = self.action
        if self.protocol is not None:
            text += f" {self.protocol.text()}"
        if self.not_protocol is not None:
            text += f" not {self.not_protocol.text()}"
        if not self.source.is_any:
            text += f" from {self.source.describe()}"
        if not self.destination.is_any:
            text += f" to {self.destination.describe()}"
        return text


class _PolicyMethods:
    """What GlobalNetworkPolicy and NetworkPolicy share."""

    kind: ClassVar[str]
    name: str
    order: float | None
    types: tuple[str, ...]
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]

    @property
    def policy_namespace(self) -> str | None:
        return None

    def governs(self, direction: str) -> bool:
        """Whether the policy applies to ``direction`` (INGRESS/EGRESS) at all (``types``)."""
        return ("Ingress" if direction == INGRESS else "Egress") in self.types

    def rules(self, direction: str) -> tuple[Rule, ...]:
        """The rules Calico applies for ``direction``: none when ``types`` leaves it out."""
        if not self.governs(direction):
            return ()
        return self.ingress if direction == INGRESS else self.egress

    def sort_key(self) -> tuple[float, str]:
        """Felix's order within a tier (``PolKVLess``, policy_sorter.go): ``order`` (absent is
        infinite, i.e. last), then ``"<name>/<namespace>/<kind>"`` as a string."""
        order = math.inf if self.order is None else self.order
        return (order, f"{self.name}/{self.policy_namespace or ''}/{self.kind}")


@dataclass(frozen=True)
class GlobalNetworkPolicy(_PolicyMethods):
    name: str
    tier: str = DEFAULT_TIER
    order: float | None = None
    selector: CalicoSelector = ALL
    namespace_selector: CalicoSelector | None = None
    types: tuple[str, ...] = ("Ingress",)
    types_explicit: bool = False
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    source: str = field(default="", compare=False)

    kind: ClassVar[str] = GLOBAL_NETWORK_POLICY

    @cached_property
    def endpoint_selector(self) -> CalicoSelector:
        """``selector`` AND the prefixed ``namespaceSelector`` (globalnetworkpolicyprocessor.go;
        its ``all()`` rewrite of the whole text changes nothing for pods, which always have
        ``projectcalico.org/namespace``)."""
        if self.namespace_selector is None:
            return self.selector
        namespaces = self.namespace_selector.as_namespace_selector().root
        return CalicoSelector(And((self.selector.root, namespaces)))

    def selects(self, endpoint: Endpoint) -> bool:
        """Whether the policy applies to ``endpoint`` (pods only; host endpoints not modelled)."""
        return endpoint.is_pod and self.endpoint_selector.matches(endpoint.calico_labels)


@dataclass(frozen=True)
class NetworkPolicy(_PolicyMethods):
    """Calico's namespaced NetworkPolicy: selects pods of its own namespace only."""

    name: str
    namespace: str
    tier: str = DEFAULT_TIER
    order: float | None = None
    selector: CalicoSelector = ALL
    types: tuple[str, ...] = ("Ingress",)
    types_explicit: bool = False
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    source: str = field(default="", compare=False)

    kind: ClassVar[str] = NETWORK_POLICY

    @property
    def policy_namespace(self) -> str | None:
        return self.namespace

    def selects(self, endpoint: Endpoint) -> bool:
        """``(selector) && projectcalico.org/namespace == '<ns>'`` (networkpolicyprocessor.go)."""
        return (
            endpoint.is_pod
            and endpoint.namespace == self.namespace
            and self.selector.matches(endpoint.calico_labels)
        )


CalicoObject = GlobalNetworkPolicy | NetworkPolicy | GlobalNetworkSet | Tier


def _in(ip: IPAddress, net: Network) -> bool:
    return ip.version == net.version and ip in net


def network_sets_containing(
    ip: IPAddress, network_sets: Iterable[GlobalNetworkSet]
) -> tuple[GlobalNetworkSet, ...]:
    """The sets whose nets contain ``ip`` (each can make ``ip`` match a selector)."""
    return tuple(s for s in network_sets if s.contains(ip))


# -- reading ------------------------------------------------------------------------------------


def is_calico_object(obj: Any) -> bool:
    """Whether ``obj`` is a Calico API object (``apiVersion: projectcalico.org/v3``)."""
    return isinstance(obj, Mapping) and obj.get("apiVersion") == API_VERSION


def parse_calico_object(obj: Mapping[str, Any], *, source: str) -> tuple[CalicoObject, list[str]]:
    """Validate ``obj`` as Calico would and read it; returns the object and warnings.

    Every problem is a one-line ``UsageError`` naming ``source`` and the field path.
    """
    if not isinstance(obj, Mapping):
        raise UsageError(f"{source}: must be an object, got {_type_name(obj)}")
    api_version = obj.get("apiVersion")
    if api_version != API_VERSION:
        hint = None
        if api_version == "crd.projectcalico.org/v1":
            hint = (
                "that is Calico's storage form; export the projectcalico.org/v3 object instead "
                "(calicoctl get -o yaml, or kubectl get <kind>.projectcalico.org -o yaml)"
            )
        raise UsageError(
            f"{source}: apiVersion: {_q(api_version)} is not {_q(API_VERSION)}", hint=hint
        )
    kind = obj.get("kind")
    reader = _READERS.get(kind) if isinstance(kind, str) else None
    if reader is None:
        raise UsageError(f"{source}: kind: {_unsupported_kind(kind)}")
    r = _Reader(source)
    result = reader(obj, r)
    if r.errors:
        more = f" (and {len(r.errors) - 1} more problems)" if len(r.errors) > 1 else ""
        raise UsageError(f"{source}: {r.errors[0]}{more}")
    return result, r.warnings


_NOT_READ_KINDS = {
    "StagedNetworkPolicy": "staged policies are not enforced (they only report what they would "
    "do); leave them out",
    "StagedGlobalNetworkPolicy": "staged policies are not enforced (they only report what they "
    "would do); leave them out",
    "StagedKubernetesNetworkPolicy": "staged policies are not enforced (they only report what "
    "they would do); leave them out",
    "NetworkSet": "namespaced NetworkSets are not modelled (GlobalNetworkSets are)",
    "HostEndpoint": "host endpoints are not modelled (the analyzer judges traffic between pods "
    "and addresses)",
}


def _unsupported_kind(kind: Any) -> str:
    shown = _q(kind)
    reason = _NOT_READ_KINDS.get(kind) if isinstance(kind, str) else None
    if reason:
        return f"{shown} is refused: {reason}"
    return f"{shown} is not read by the analyzer; it reads {', '.join(KINDS)}"


class _Reader:
    """The errors and warnings of reading one object."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, path: str, problem: str) -> None:
        self.errors.append(f"{path}: {problem}")

    def refuse(self, path: str, reason: str) -> None:
        self.errors.append(f"{path}: refused: {reason}")

    def warn(self, path: str, text: str) -> None:
        self.warnings.append(f"{self.source}: {path}: {text}")


_TOP_FIELDS = {"apiVersion", "kind", "metadata", "spec"}

_GNP_ONLY = "only a GlobalNetworkPolicy has this field"
_FIELD_HINTS = {
    "stagedAction": "stagedAction belongs to the Staged* policy kinds, which Calico does not "
    "enforce",
}


def _known_fields(
    r: _Reader, obj: Mapping[str, Any], path: str, known: Iterable[str], hints: Mapping[str, str]
) -> None:
    allowed = set(known)
    for key in obj:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            hint = hints.get(key) if isinstance(key, str) else None
            r.error(where, f"unknown field {_q(key)}" + (f" ({hint})" if hint else ""))


def _mapping(r: _Reader, value: Any, path: str) -> Mapping[str, Any]:
    """``value`` as an object; ``None`` is an empty one, anything else an error."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    r.error(path, f"must be an object, got {_type_name(value)}")
    return {}


def _metadata(
    r: _Reader, obj: Mapping[str, Any], *, namespaced: bool, kind: str
) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    _validate_metadata(meta, r.errors)
    meta = meta if isinstance(meta, Mapping) else {}
    if not namespaced and meta.get("namespace"):
        r.warn("metadata.namespace", f"ignored: a {kind} is cluster-scoped")
    return meta


def _name(meta: Mapping[str, Any]) -> str:
    name = meta.get("name")
    return name if isinstance(name, str) else ""


def _check_name(r: _Reader, name: str, pattern: re.Pattern[str], rule: str) -> None:
    """A stricter name rule than the DNS subdomain ``_validate_metadata`` already checked."""
    if name and not _dns1123_subdomain(name) and not pattern.match(name):
        r.error("metadata.name", f"{_q(name)} must be {rule}")


# -- policies -----------------------------------------------------------------------------------

_GNP_SPEC_FIELDS = (
    "tier",
    "order",
    "ingress",
    "egress",
    "selector",
    "types",
    "doNotTrack",
    "preDNAT",
    "applyOnForward",
    "serviceAccountSelector",
    "namespaceSelector",
    "performanceHints",
)
_NP_SPEC_FIELDS = (
    "tier",
    "order",
    "ingress",
    "egress",
    "selector",
    "types",
    "serviceAccountSelector",
    "performanceHints",
)
_NP_HINTS = {
    **_FIELD_HINTS,
    "namespaceSelector": "only a GlobalNetworkPolicy has spec.namespaceSelector; a "
    "NetworkPolicy selects in its own namespace, rules may have one",
    "doNotTrack": _GNP_ONLY,
    "preDNAT": _GNP_ONLY,
    "applyOnForward": _GNP_ONLY,
}


def _read_global_network_policy(obj: Mapping[str, Any], r: _Reader) -> GlobalNetworkPolicy:
    _known_fields(r, obj, "", _TOP_FIELDS, {})
    meta = _metadata(r, obj, namespaced=False, kind=GLOBAL_NETWORK_POLICY)
    name = _name(meta)
    _check_name(r, name, _GNP_NAME_RE, "a lowercase RFC 1123 label, or two joined by one '.'")
    spec = _mapping(r, obj.get("spec"), "spec")
    _known_fields(r, spec, "spec", _GNP_SPEC_FIELDS, _FIELD_HINTS)
    for flag in ("doNotTrack", "preDNAT"):
        if _bool(r, spec.get(flag), f"spec.{flag}"):
            r.refuse(
                f"spec.{flag}",
                "such a policy is applied to host endpoints only (Felix puts it in the untracked "
                "or pre-DNAT tiers, not the tiers pods use); the analyzer models pods",
            )
    if _bool(r, spec.get("applyOnForward"), "spec.applyOnForward"):
        r.warn(
            "spec.applyOnForward",
            "only adds the policy to host endpoints' forwarded traffic; pods are evaluated as "
            "without it",
        )
    common = _read_policy_spec(r, spec, None)
    namespace_selector = _selector(
        r, spec.get("namespaceSelector"), "spec.namespaceSelector", "policy-namespaces"
    )
    return GlobalNetworkPolicy(
        name=name,
        namespace_selector=namespace_selector,
        source=r.source,
        **common,
    )


def _read_network_policy(obj: Mapping[str, Any], r: _Reader) -> NetworkPolicy:
    _known_fields(r, obj, "", _TOP_FIELDS, {})
    meta = _metadata(r, obj, namespaced=True, kind=NETWORK_POLICY)
    name = _name(meta)
    _check_name(
        r,
        name,
        _NP_NAME_RE,
        "a lowercase RFC 1123 label, or two joined by one '.' (or start with knp.default. or "
        "ossg.default.)",
    )
    namespace = meta.get("namespace") or "default"  # where kubectl apply without -n puts it
    namespace = namespace if isinstance(namespace, str) else "default"
    spec = _mapping(r, obj.get("spec"), "spec")
    _known_fields(r, spec, "spec", _NP_SPEC_FIELDS, _NP_HINTS)
    common = _read_policy_spec(r, spec, namespace)
    return NetworkPolicy(name=name, namespace=namespace, source=r.source, **common)


def _read_policy_spec(r: _Reader, spec: Mapping[str, Any], namespace: str | None) -> dict[str, Any]:
    """The fields both policy kinds have, as keyword arguments for their dataclasses."""
    order = _order(r, spec.get("order"), "spec.order")
    tier = spec.get("tier")
    if tier in (None, ""):
        tier = DEFAULT_TIER  # +kubebuilder:default=default, tierOrDefault
    elif not isinstance(tier, str):
        r.error("spec.tier", f"must be a string, got {_type_name(tier)}")
        tier = DEFAULT_TIER
    else:
        for problem in _dns1123_label(tier):
            r.error("spec.tier", f"{_q(tier)} is not a possible Tier name: {problem}")
    if spec.get("serviceAccountSelector") not in (None, ""):
        r.refuse(
            "spec.serviceAccountSelector",
            "selects pods by service account; the cluster model has no service accounts",
        )
    hints = spec.get("performanceHints")
    if hints is not None:
        items = _as_list(hints, "spec.performanceHints", r.errors)
        for i, hint in enumerate(items):
            if hint != "AssumeNeededOnEveryNode":
                r.error(
                    f"spec.performanceHints[{i}]",
                    f'Unsupported value: {_q(hint)}: supported values: "AssumeNeededOnEveryNode"',
                )
        if len(items) != len({str(h) for h in items}):
            r.error("spec.performanceHints", "must not repeat a hint")
        if items:
            r.warn("spec.performanceHints", "ignored: hints never change enforcement")
    selector = _selector(r, spec.get("selector"), "spec.selector", "policy") or ALL
    ingress = _rules(r, spec.get("ingress"), INGRESS, namespace)
    egress = _rules(r, spec.get("egress"), EGRESS, namespace)
    types, explicit = _types(r, spec.get("types"), ingress, egress)
    for direction, rules in ((INGRESS, ingress), (EGRESS, egress)):
        policy_type = "Ingress" if direction == INGRESS else "Egress"
        if rules and policy_type not in types:
            r.warn(
                f"spec.{direction}",
                f"ignored: types {list(types)} does not include {policy_type}, so Calico "
                "applies none of these rules",
            )
    return {
        "tier": tier,
        "order": order,
        "selector": selector,
        "types": types,
        "types_explicit": explicit,
        "ingress": ingress,
        "egress": egress,
    }


def default_types(has_ingress_rules: bool, has_egress_rules: bool) -> tuple[str, ...]:
    """Calico's ``types`` when the policy leaves it out (``defaultPolicyTypesField`` in
    ``api/pkg/defaults/networkpolicy.go``): Ingress without egress rules (also when there are
    no rules at all), Egress with only egress rules, both with both."""
    if not has_egress_rules:
        return ("Ingress",)
    if not has_ingress_rules:
        return ("Egress",)
    return ("Ingress", "Egress")


def _types(
    r: _Reader, value: Any, ingress: tuple[Rule, ...], egress: tuple[Rule, ...]
) -> tuple[tuple[str, ...], bool]:
    if value is None:
        return default_types(bool(ingress), bool(egress)), False
    items = _as_list(value, "spec.types", r.errors)
    if isinstance(value, list | tuple) and not items:
        r.error(
            "spec.types",
            "must have at least 1 item (omit types to let Calico choose from the rules present)",
        )
    found: list[str] = []
    for i, item in enumerate(items):
        if item not in POLICY_TYPES:
            r.error(
                f"spec.types[{i}]",
                f'Unsupported value: {_q(item)}: supported values: "Ingress", "Egress"',
            )
        elif item in found:
            r.error("spec.types", f"'{item}' type specified more than once")
        else:
            found.append(item)
    return tuple(t for t in POLICY_TYPES if t in found), True


def _order(r: _Reader, value: Any, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        r.error(path, f"must be a number, got {_type_name(value)}")
        return None
    if not math.isfinite(value):
        r.error(path, f"must be a finite number, got {value}")
        return None
    return float(value)


def _bool(r: _Reader, value: Any, path: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        r.error(path, f"must be true or false, got {_type_name(value)}")
        return False
    return value


# -- selectors ----------------------------------------------------------------------------------

_GLOBAL_ONLY_IN_NAMESPACE_SELECTOR = "global() can only be used in an EntityRule namespaceSelector"


def _selector(r: _Reader, value: Any, path: str, context: str) -> CalicoSelector | None:
    """A selector field; ``None`` when absent or empty (Go's ``""``). ``context``: ``policy``
    (a policy's ``selector``), ``policy-namespaces`` (GlobalNetworkPolicy
    ``namespaceSelector``), ``entity`` (a rule's ``selector``), ``not`` (``notSelector``) or
    ``namespace`` (a rule's ``namespaceSelector``)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        r.error(path, f"must be a selector string, got {_type_name(value)}")
        return None
    if not value.strip(" \t"):
        r.error(
            path,
            "a selector of only blanks: Calico joins it into a larger selector that does not "
            "parse; omit the field or write all()",
        )
        return None
    try:
        selector = parse_calico_selector(value, where=path)
    except UsageError as e:
        r.errors.append(e.message)
        return None
    # validator.go checks these on the raw text (strings.Contains), and so does this.
    if context in ("policy", "policy-namespaces", "entity") and "global()" in value:
        r.error(path, _GLOBAL_ONLY_IN_NAMESPACE_SELECTOR)
    if context == "namespace" and "global(" in value and not is_only_global(value):
        r.error(path, "global() cannot be combined with other selectors")
    if context in ("policy", "entity", "not"):  # namespace selectors read namespace labels
        service_account_keys = sorted(
            k
            for k in selector.label_keys()
            if k == SERVICE_ACCOUNT_LABEL or k.startswith(SERVICE_ACCOUNT_PREFIX)
        )
        if service_account_keys:
            r.refuse(
                path,
                f"label {service_account_keys[0]} is the pod's service account, which the "
                "cluster model does not have",
            )
    return selector


# -- rules --------------------------------------------------------------------------------------

_RULE_FIELDS = (
    "action",
    "ipVersion",
    "protocol",
    "icmp",
    "notProtocol",
    "notICMP",
    "source",
    "destination",
    "http",
    "metadata",
)
_ENTITY_FIELDS = (
    "nets",
    "notNets",
    "selector",
    "notSelector",
    "namespaceSelector",
    "ports",
    "notPorts",
    "serviceAccounts",
    "services",
)
_NUMERIC_PORTS_NEED_PROTOCOL = (
    "rules with numeric port or port range must set protocol to TCP or UDP or SCTP"
)
_PORTS_NEED_PORT_PROTOCOL = "rules that specify ports must set protocol to TCP or UDP or SCTP"


def _rules(r: _Reader, value: Any, direction: str, namespace: str | None) -> tuple[Rule, ...]:
    path = f"spec.{direction}"
    rules = []
    for i, raw in enumerate(_as_list(value, path, r.errors)):
        rule = _rule(r, raw, f"{path}[{i}]", direction, i, namespace)
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


def _rule(
    r: _Reader, raw: Any, path: str, direction: str, index: int, namespace: str | None
) -> Rule | None:
    if not isinstance(raw, Mapping):
        r.error(path, f"must be an object, got {_type_name(raw)}")
        return None
    _known_fields(r, raw, path, _RULE_FIELDS, {})
    action = raw.get("action")
    if action is None:
        r.error(f"{path}.action", "Required value: one of Allow, Deny, Pass, Log")
    elif action not in ACTIONS:
        r.error(
            f"{path}.action",
            f'Unsupported value: {_q(action)}: supported values: "Allow", "Deny", "Log", "Pass"',
        )
    if raw.get("ipVersion") is not None:
        r.refuse(
            f"{path}.ipVersion",
            "limits the rule to one IP family, which the analyzer does not model (on a "
            "single-stack cluster of that family it changes nothing: remove it)",
        )
    if raw.get("http") is not None:
        r.refuse(
            f"{path}.http",
            "matches HTTP methods and paths (application layer policy); the analyzer's probes "
            "carry no HTTP request",
        )
    protocol = _protocol(r, raw.get("protocol"), f"{path}.protocol")
    not_protocol = _protocol(r, raw.get("notProtocol"), f"{path}.notProtocol")
    is_icmp = protocol is not None and protocol.number in _ICMP_PROTOCOLS
    if raw.get("icmp") is not None:
        _icmp_fields(r, raw["icmp"], f"{path}.icmp")
        if not is_icmp:
            r.error(f"{path}.icmp", "rules that specify ICMP fields must set protocol to ICMP")
        else:
            r.warn(
                f"{path}.icmp",
                "ignored: it narrows an ICMP rule, which matches no TCP, UDP or SCTP probe anyway",
            )
    if raw.get("notICMP") is not None:
        _icmp_fields(r, raw["notICMP"], f"{path}.notICMP")
        if is_icmp:
            r.warn(
                f"{path}.notICMP",
                "ignored: it narrows an ICMP rule, which matches no TCP, UDP or SCTP probe anyway",
            )
        else:
            r.refuse(
                f"{path}.notICMP",
                "on a rule not limited to ICMP, whether it excludes TCP, UDP or SCTP packets "
                "depends on the dataplane; not modelled",
            )
    annotations = _rule_annotations(r, raw.get("metadata"), f"{path}.metadata")
    source = _entity(r, raw.get("source"), f"{path}.source", "source", namespace)
    destination = _entity(
        r, raw.get("destination"), f"{path}.destination", "destination", namespace
    )
    for entity in (source, destination):
        for field_name, ports in (("ports", entity.ports), ("notPorts", entity.not_ports)):
            if not ports:
                continue
            where = f"{entity.path}.{field_name}"
            if protocol is None:
                if any(isinstance(p, PortRange) for p in ports):
                    r.error(where, _NUMERIC_PORTS_NEED_PROTOCOL)
            elif not protocol.supports_ports:
                r.error(where, _PORTS_NEED_PORT_PROTOCOL)
    families = {
        net.version for entity in (source, destination) for net in (*entity.nets, *entity.not_nets)
    }
    if len(families) > 1:
        r.error(path, "rule contains both IPv4 and IPv6 CIDRs")
    return Rule(
        direction=direction,
        index=index,
        path=path,
        action=action if isinstance(action, str) else "",
        protocol=protocol,
        not_protocol=not_protocol,
        source=source,
        destination=destination,
        annotations=annotations,
    )


def _protocol(r: _Reader, value: Any, path: str) -> Protocol | None:
    """``numorstring.Protocol``: a name (exact case) or a number 1-255, also as a string."""
    if value is None:
        return None
    expected = "TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite (exact case) or a number 1-255"
    if isinstance(value, bool) or not isinstance(value, int | str):
        r.error(path, f"must be {expected}, got {_type_name(value)}")
        return None
    if isinstance(value, str) and not _DIGITS_RE.fullmatch(value):
        number = PROTOCOL_NUMBERS.get(value)
        if number is None:
            r.error(path, f"{_q(value)}: protocol name invalid; must be {expected}")
            return None
        return Protocol(number, value)
    number = int(value)
    if not 1 <= number <= 255:
        r.error(path, f"{_q(value)}: protocol number invalid; must be {expected}")
        return None
    return Protocol(number)


def _icmp_fields(r: _Reader, value: Any, path: str) -> None:
    body = _mapping(r, value, path)
    _known_fields(r, body, path, ("type", "code"), {})
    for key, top in (("type", 254), ("code", 255)):
        item = body.get(key)
        if item is not None and (not _is_int(item) or not 0 <= item <= top):
            r.error(f"{path}.{key}", f"must be an integer 0-{top}, got {_q(item)}")
    if body.get("code") is not None and body.get("type") is None:
        r.error(f"{path}.code", "ICMP code specified without an ICMP type")


def _rule_annotations(r: _Reader, value: Any, path: str) -> tuple[tuple[str, str], ...]:
    body = _mapping(r, value, path)
    _known_fields(r, body, path, ("annotations",), {})
    annotations = _mapping(r, body.get("annotations"), f"{path}.annotations")
    found = []
    for key, text in annotations.items():
        if not isinstance(key, str) or not isinstance(text, str):
            r.error(f"{path}.annotations", f"keys and values must be strings, got {_q(key)}")
        else:
            found.append((key, text))
    return tuple(found)


def _entity(r: _Reader, value: Any, path: str, side: str, namespace: str | None) -> EntityRule:
    body = _mapping(r, value, path)
    _known_fields(r, body, path, _ENTITY_FIELDS, {})
    if body.get("serviceAccounts") is not None:
        r.refuse(
            f"{path}.serviceAccounts",
            "matches pods by service account; the cluster model has no service accounts",
        )
    if body.get("services") is not None:
        r.refuse(
            f"{path}.services",
            "matches a Kubernetes Service's endpoints; the cluster model has no Services",
        )
    ports: tuple[Port, ...] = ()
    not_ports: tuple[Port, ...] = ()
    for key in ("ports", "notPorts"):
        if body.get(key) is None:
            continue
        items = _as_list(body[key], f"{path}.{key}", r.errors)
        if side == "source" and items:
            r.refuse(
                f"{path}.{key}",
                "source ports are chosen by the client (ephemeral); the analyzer's probes have "
                "none",
            )
            continue
        parsed = tuple(
            p
            for i, item in enumerate(items)
            if (p := _port(r, item, f"{path}.{key}[{i}]")) is not None
        )
        if key == "ports":
            ports = parsed
        else:
            not_ports = parsed
    return EntityRule(
        path=path,
        nets=_rule_nets(r, body.get("nets"), f"{path}.nets", negated=False),
        not_nets=_rule_nets(r, body.get("notNets"), f"{path}.notNets", negated=True),
        selector=_selector(r, body.get("selector"), f"{path}.selector", "entity"),
        not_selector=_selector(r, body.get("notSelector"), f"{path}.notSelector", "not"),
        namespace_selector=_selector(
            r, body.get("namespaceSelector"), f"{path}.namespaceSelector", "namespace"
        ),
        ports=ports,
        not_ports=not_ports,
        policy_namespace=namespace,
    )


def _rule_nets(r: _Reader, value: Any, path: str, *, negated: bool) -> tuple[Network, ...]:
    """A rule's ``nets``/``notNets``: CIDRs with a prefix length and no host bits set (the
    ``net`` field check, then ``validateRule``'s ``cnet.ParseCIDR``, which wants the ``/``)."""
    nets = []
    for i, item in enumerate(_as_list(value, path, r.errors)):
        where = f"{path}[{i}]"
        if not isinstance(item, str):
            r.error(where, f"must be a string, got {_type_name(item)}")
            continue
        net = parse_cidr(item) if _CIDR_SHAPE_RE.fullmatch(item) else None
        if net is None:
            r.error(where, f"{_q(item)} is not a CIDR such as 10.0.0.0/24 or fd00::/64")
            continue
        if net.network_address != ipaddress.ip_address(item.split("/")[0]):
            r.error(where, f"{_q(item)} has host bits set; write the network, {net}")
            continue
        if negated and net.prefixlen == 0:
            r.error(
                where,
                f"{_q(item)}: catch-all CIDR in negation creates logical contradiction (matches no "
                "traffic)",
            )
            continue
        nets.append(net)
    return tuple(nets)


def _port(r: _Reader, value: Any, path: str) -> Port | None:
    """``numorstring.Port``: a number, ``"first:last"``, a number as a string, or a name."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        r.error(
            path,
            f'must be a port number, a range like "8000:8080" or a port name, got '
            f"{_type_name(value)}",
        )
        return None
    if isinstance(value, int) or _DIGITS_RE.fullmatch(value):
        first = last = int(value)
    elif match := _RANGE_RE.fullmatch(value):
        first, last = int(match[1]), int(match[2])
        if first <= 65535 and last <= 65535 and first > last:
            r.error(
                path,
                f"minimum port number ({first}) is greater than maximum port number ({last}) "
                "in port range",
            )
            return None
    else:
        if not _PORT_NAME_RE.fullmatch(value):
            r.error(path, f"{_q(value)}: invalid name for named port")
            return None
        problems = port_name_errors(value)
        if problems:
            r.error(path, f"{_q(value)} {problems[0]}")
            return None
        return NamedPort(value)
    if not (1 <= first <= 65535 and 1 <= last <= 65535):
        r.error(path, f"{_q(value)}: port range invalid, port number must be between 1 and 65535")
        return None
    return PortRange(first, last)


# -- network sets and tiers ---------------------------------------------------------------------


def _read_global_network_set(obj: Mapping[str, Any], r: _Reader) -> GlobalNetworkSet:
    _known_fields(r, obj, "", _TOP_FIELDS, {})
    meta = _metadata(r, obj, namespaced=False, kind=GLOBAL_NETWORK_SET)
    labels = meta.get("labels")
    labels = labels if isinstance(labels, Mapping) else {}
    if NAMESPACE_LABEL in labels:
        r.error(
            "metadata.labels",
            f"{NAMESPACE_LABEL} is not a valid label name (Calico sets it on namespaced "
            "resources only)",
        )
    spec = _mapping(r, obj.get("spec"), "spec")
    _known_fields(r, spec, "spec", ("nets",), {})
    nets = []
    for i, item in enumerate(_as_list(spec.get("nets"), "spec.nets", r.errors)):
        where = f"spec.nets[{i}]"
        net = _cidr_or_ip(item)
        if net is None:
            r.error(where, f"{_q(item)} is not a CIDR or IP address")
        else:
            nets.append(net)
    return GlobalNetworkSet(
        name=_name(meta),
        labels={str(k): v for k, v in labels.items() if isinstance(v, str)},
        nets=tuple(nets),
        source=r.source,
    )


def _cidr_or_ip(value: Any) -> Network | None:
    """``cnet.ParseCIDROrIP`` (the ``cidr`` check): host bits allowed, an address is /32 or
    /128."""
    if not isinstance(value, str):
        return None
    if "/" in value:
        return parse_cidr(value) if _CIDR_SHAPE_RE.fullmatch(value) else None
    try:
        return ipaddress.ip_network(value)
    except ValueError:
        return None


_TIER_RULES = {  # name: (order, default action) that validateTier and the Tier CEL rules require
    name: (tier.order, tier.default_action) for name, tier in BUILTIN_TIERS.items()
}


def _read_tier(obj: Mapping[str, Any], r: _Reader) -> Tier:
    _known_fields(r, obj, "", (*_TOP_FIELDS, "status"), {})
    meta = _metadata(r, obj, namespaced=False, kind=TIER)
    name = _name(meta)
    if name:
        for problem in _dns1123_label(name):
            r.error("metadata.name", f"{_q(name)} {problem} (a Tier name has no '.')")
    spec = _mapping(r, obj.get("spec"), "spec")
    _known_fields(r, spec, "spec", ("order", "defaultAction"), {})
    order = _order(r, spec.get("order"), "spec.order")
    action = spec.get("defaultAction")
    if action is None:
        action = DENY  # +kubebuilder:default=Deny
    elif action not in (DENY, PASS):
        r.error(
            "spec.defaultAction",
            f'Unsupported value: {_q(action)}: supported values: "Deny", "Pass"',
        )
        action = DENY
    required = _TIER_RULES.get(name)
    if required is not None:
        if order != required[0]:
            r.error("spec.order", f"the {name} tier's order must be {int(required[0] or 0)}")
        if action != required[1]:
            r.error("spec.defaultAction", f"the {name} tier must have default action {required[1]}")
    return Tier(name=name, order=order, default_action=action, source=r.source)


_READERS: dict[str, Callable[[Mapping[str, Any], _Reader], CalicoObject]] = {
    GLOBAL_NETWORK_POLICY: _read_global_network_policy,
    NETWORK_POLICY: _read_network_policy,
    GLOBAL_NETWORK_SET: _read_global_network_set,
    TIER: _read_tier,
}
