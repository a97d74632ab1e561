"""ClusterNetworkPolicy validation mirrors the v0.2.0 CRD: every refusal is a ``UsageError``
naming the field path, never another exception.

Source for every rule: kubernetes-sigs/network-policy-api at tag v0.2.0,
``apis/v1alpha2/clusternetworkpolicy_types.go`` (kubebuilder markers) and the generated
``config/crd/{standard,experimental}/policy.networking.k8s.io_clusternetworkpolicies.yaml``
(``required``, ``minItems``/``maxItems``, ``minProperties``/``maxProperties``, ``enum``,
``minimum``/``maximum``, ``maxLength``, ``x-kubernetes-validations``). Unknown fields are
refused as ``kubectl apply`` does with ``fieldValidation=Strict``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from provisioning.analysis.analyzer import analyze
from provisioning.analysis.model import ClusterModel, Probe
from provisioning.errors import UsageError

from .truthtable import cluster_dict, netpol

CLUSTER = ClusterModel.from_dict(cluster_dict())
PROBES = [Probe("x/a", "y/b", 80), Probe("x/a", "169.254.169.254", 80)]


def cnp(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "cnp1"},
        "spec": {"tier": "Admin", "priority": 10, "subject": {"namespaces": {}}, **spec},
    }


VALID = cnp(
    subject={
        "pods": {
            "namespaceSelector": {"matchLabels": {"ns": "x"}},
            "podSelector": {
                "matchExpressions": [{"key": "pod", "operator": "In", "values": ["a"]}]
            },
        }
    },
    ingress=[
        {
            "name": "from-y",
            "action": "Accept",
            "from": [
                {"namespaces": {"matchLabels": {"ns": "y"}}},
                {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"pod": "b"}}}},
            ],
            "protocols": [
                {"tcp": {"destinationPort": {"number": 80}}},
                {"udp": {"destinationPort": {"range": {"start": 53, "end": 54}}}},
                {"sctp": {"destinationPort": {"number": 9}}},
                {"destinationNamedPort": "serve-81-tcp"},
            ],
        },
        {"action": "Pass", "from": [{"pods": {"podSelector": {}}}]},
    ],
    egress=[
        {
            "name": "no-imds",
            "action": "Deny",
            "to": [{"networks": ["169.254.169.254/32", "fd00::/8"]}],
            "protocols": [{"tcp": {"destinationPort": {"number": 80}}}],
        },
        {"action": "Accept", "to": [{"namespaces": {}}]},
    ],
)


def run(*policies: Any) -> Any:
    return analyze(CLUSTER, list(policies), PROBES)


def refused(policy: Any) -> str:
    """The refusal message (``UsageError`` only: any other exception fails the test)."""
    with pytest.raises(UsageError) as info:
        run(policy)
    return str(info.value)


def _with(path: list[Any], value: Any, base: dict[str, Any] = VALID) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    target: Any = obj
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return obj


def _without(path: list[Any], base: dict[str, Any] = VALID) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    target: Any = obj
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return obj


IN0 = ["spec", "ingress", 0]
EG0 = ["spec", "egress", 0]
PEER = {"namespaces": {}}
PROTO = {"tcp": {"destinationPort": {"number": 80}}}


# -- accepted -------------------------------------------------------------------------------------


def test_valid_policy_is_accepted() -> None:
    analysis = run(VALID)
    assert analysis.probes == len(PROBES)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["spec", "priority"], 0),  # Minimum=0
        (["spec", "priority"], 1000),  # Maximum=1000
        (["spec", "tier"], "Baseline"),
        ([*IN0, "name"], "n" * 100),  # MaxLength=100
        (["spec", "ingress"], [{"action": "Deny", "from": [PEER]}] * 25),  # MaxItems=25
        (["spec", "egress"], [{"action": "Deny", "to": [PEER]}] * 25),
        ([*IN0, "from"], [PEER] * 25),
        ([*EG0, "to"], [PEER] * 25),
        ([*IN0, "protocols"], [PROTO] * 25),
        ([*EG0, "to", 0, "networks"], [f"10.0.{i}.0/24" for i in range(25)]),
        (
            [*IN0, "protocols"],
            [{"tcp": {"destinationPort": {"range": {"start": 1, "end": 65535}}}}],
        ),
        ([*IN0, "protocols"], [{"tcp": {"destinationPort": {"number": 65535}}}]),
        (["spec", "subject"], {"pods": {"podSelector": {}}}),  # namespaceSelector is optional
        (["spec", "ingress"], []),  # optional; no rules: no effect
        ([*EG0, "to", 0, "networks"], ["10.0.0.1/8"]),  # isCIDR accepts host bits
    ],
)
def test_edge_values_are_accepted(path: list[Any], value: Any) -> None:
    run(_with(path, value))


def test_rules_are_optional() -> None:
    run(_without(["spec", "egress"], _without(["spec", "ingress"])))
    run(_without([*IN0, "protocols"]))
    run(_without([*IN0, "name"]))


def test_mixed_with_networkpolicies() -> None:
    """A CNP and a NetworkPolicy may share a name: one is cluster-scoped, one namespaced."""
    run(VALID, netpol("cnp1", ingress=[{}]))


# -- refused: each names the field path ---------------------------------------------------------

CASES: list[tuple[str, list[Any], Any, tuple[str, ...]]] = [
    # Subject: MinProperties=1, MaxProperties=1; NamespacedPod.PodSelector +required.
    ("subject empty", ["spec", "subject"], {}, ("spec.subject",)),
    (
        "subject both",
        ["spec", "subject"],
        {"namespaces": {}, "pods": {"podSelector": {}}},
        ("spec.subject",),
    ),
    ("subject unknown", ["spec", "subject"], {"nodes": {}}, ("spec.subject", "nodes")),
    (
        "subject pods without podSelector",
        ["spec", "subject"],
        {"pods": {"namespaceSelector": {}}},
        ("spec.subject.pods", "podSelector"),
    ),
    # IngressPeer / EgressPeer: MinProperties=1, MaxProperties=1.
    ("ingress peer empty", [*IN0, "from", 1], {}, ("spec.ingress[0].from[1]",)),
    (
        "ingress peer two fields",
        [*IN0, "from", 1],
        {"namespaces": {}, "pods": {"podSelector": {}}},
        ("spec.ingress[0].from[1]",),
    ),
    (
        "ingress peer networks",
        [*IN0, "from", 0],
        {"networks": ["10.0.0.0/8"]},
        ("spec.ingress[0].from[0]", "networks"),
    ),
    ("egress peer empty", [*EG0, "to", 0], {}, ("spec.egress[0].to[0]",)),
    (
        "egress peer two fields",
        [*EG0, "to", 0],
        {"namespaces": {}, "networks": ["10.0.0.0/8"]},
        ("spec.egress[0].to[0]",),
    ),
    (
        "peer pods without podSelector",
        [*IN0, "from", 1],
        {"pods": {"namespaceSelector": {}}},
        ("spec.ingress[0].from[1].pods", "podSelector"),
    ),
    # Protocol: MinProperties=1, MaxProperties=1; TCP/UDP/SCTP MinProperties=1.
    ("protocol empty", [*IN0, "protocols", 1], {}, ("spec.ingress[0].protocols[1]",)),
    (
        "protocol two fields",
        [*IN0, "protocols", 1],
        {"tcp": {"destinationPort": {"number": 80}}, "udp": {"destinationPort": {"number": 80}}},
        ("spec.ingress[0].protocols[1]",),
    ),
    (
        "protocol port and named port",
        [*IN0, "protocols", 3],
        {"destinationNamedPort": "http", "tcp": {"destinationPort": {"number": 80}}},
        ("spec.ingress[0].protocols[3]",),
    ),
    ("tcp without port", [*IN0, "protocols", 0], {"tcp": {}}, ("spec.ingress[0].protocols[0]",)),
    # Port: MinProperties=1, MaxProperties=1 ("You must specify either Port or Range").
    (
        "port neither",
        [*IN0, "protocols", 0, "tcp", "destinationPort"],
        {},
        ("spec.ingress[0].protocols[0].tcp.destinationPort",),
    ),
    (
        "port both",
        [*IN0, "protocols", 0, "tcp", "destinationPort"],
        {"number": 80, "range": {"start": 1, "end": 2}},
        ("spec.ingress[0].protocols[0].tcp.destinationPort",),
    ),
    (
        "port number 0",
        [*IN0, "protocols", 0, "tcp", "destinationPort", "number"],
        0,
        ("spec.ingress[0].protocols[0].tcp.destinationPort.number",),
    ),
    (
        "port number 65536",
        [*IN0, "protocols", 0, "tcp", "destinationPort", "number"],
        65536,
        ("spec.ingress[0].protocols[0].tcp.destinationPort.number",),
    ),
    # PortRange: XValidation "self.start < self.end"; start and end +required, 1-65535.
    (
        "range start == end",
        [*IN0, "protocols", 1, "udp", "destinationPort", "range"],
        {"start": 53, "end": 53},
        ("spec.ingress[0].protocols[1].udp.destinationPort.range",),
    ),
    (
        "range start > end",
        [*IN0, "protocols", 1, "udp", "destinationPort", "range"],
        {"start": 54, "end": 53},
        ("spec.ingress[0].protocols[1].udp.destinationPort.range",),
    ),
    (
        "range without end",
        [*IN0, "protocols", 1, "udp", "destinationPort", "range"],
        {"start": 53},
        ("spec.ingress[0].protocols[1].udp.destinationPort.range", "end"),
    ),
    (
        "range end 70000",
        [*IN0, "protocols", 1, "udp", "destinationPort", "range"],
        {"start": 53, "end": 70000},
        ("spec.ingress[0].protocols[1].udp.destinationPort.range.end",),
    ),
    # MaxItems=25 / MinItems=1.
    (
        "26 ingress rules",
        ["spec", "ingress"],
        [{"action": "Deny", "from": [PEER]}] * 26,
        ("spec.ingress",),
    ),
    (
        "26 egress rules",
        ["spec", "egress"],
        [{"action": "Deny", "to": [PEER]}] * 26,
        ("spec.egress",),
    ),
    ("26 from peers", [*IN0, "from"], [PEER] * 26, ("spec.ingress[0].from",)),
    ("26 to peers", [*EG0, "to"], [PEER] * 26, ("spec.egress[0].to",)),
    ("no from peers", [*IN0, "from"], [], ("spec.ingress[0].from",)),
    ("no to peers", [*EG0, "to"], [], ("spec.egress[0].to",)),
    ("26 protocols", [*IN0, "protocols"], [PROTO] * 26, ("spec.ingress[0].protocols",)),
    ("empty protocols", [*IN0, "protocols"], [], ("spec.ingress[0].protocols",)),
    (
        "26 networks",
        [*EG0, "to", 0, "networks"],
        [f"10.0.{i}.0/24" for i in range(26)],
        ("spec.egress[0].to[0].networks",),
    ),
    ("empty networks", [*EG0, "to", 0, "networks"], [], ("spec.egress[0].to[0].networks",)),
    # Priority: int32, Minimum=0, Maximum=1000.
    ("priority -1", ["spec", "priority"], -1, ("spec.priority",)),
    ("priority 1001", ["spec", "priority"], 1001, ("spec.priority",)),
    ("priority float", ["spec", "priority"], 1.5, ("spec.priority",)),
    ("priority string", ["spec", "priority"], "10", ("spec.priority",)),
    ("priority bool", ["spec", "priority"], True, ("spec.priority",)),
    ("priority null", ["spec", "priority"], None, ("spec.priority",)),
    # Rule name: MaxLength=100.
    ("ingress name 101", [*IN0, "name"], "n" * 101, ("spec.ingress[0].name",)),
    ("egress name 101", [*EG0, "name"], "n" * 101, ("spec.egress[0].name",)),
    # Action: Enum Accept, Deny, Pass.
    ("action Allow", [*IN0, "action"], "Allow", ("spec.ingress[0].action",)),
    ("action lowercase", [*EG0, "action"], "deny", ("spec.egress[0].action",)),
    # Tier: Enum Admin, Baseline.
    ("tier NetworkPolicy", ["spec", "tier"], "NetworkPolicy", ("spec.tier",)),
    ("tier lowercase", ["spec", "tier"], "admin", ("spec.tier",)),
    # CIDR: XValidation isCIDR(self), MaxLength=43.
    (
        "cidr bad octet",
        [*EG0, "to", 0, "networks", 0],
        "10.0.0.300/8",
        ("spec.egress[0].to[0].networks",),
    ),
    (
        "cidr no prefix",
        [*EG0, "to", 0, "networks", 0],
        "10.0.0.1",
        ("spec.egress[0].to[0].networks",),
    ),
    (
        "cidr prefix 33",
        [*EG0, "to", 0, "networks", 0],
        "10.0.0.0/33",
        ("spec.egress[0].to[0].networks",),
    ),
    ("cidr word", [*EG0, "to", 0, "networks", 0], "internet", ("spec.egress[0].to[0].networks",)),
    # Experimental XValidation on EgressRule: no named port with networks/nodes/domainNames.
    (
        "named port with networks",
        [*EG0, "protocols"],
        [{"destinationNamedPort": "serve-80-tcp"}],
        ("spec.egress[0]",),
    ),
    # Label selectors (metav1.LabelSelector).
    (
        "selector bad operator",
        ["spec", "subject", "pods", "podSelector", "matchExpressions", 0, "operator"],
        "Equals",
        ("spec.subject.pods.podSelector.matchExpressions[0].operator",),
    ),
    (
        "selector In without values",
        [*IN0, "from", 0, "namespaces"],
        {"matchExpressions": [{"key": "ns", "operator": "In", "values": []}]},
        ("spec.ingress[0].from[0].namespaces.matchExpressions[0].values",),
    ),
    # Unknown fields (strict field validation).
    ("unknown spec field", ["spec", "podSelector"], {}, ("spec.podSelector",)),
    ("unknown rule field", [*IN0, "ports"], [{"port": 80}], ("spec.ingress[0].ports",)),
    (
        "unknown peer field",
        [*IN0, "from", 0],
        {"namespaceSelector": {}},
        ("spec.ingress[0].from[0]", "namespaceSelector"),
    ),
    (
        "unknown protocol field",
        [*IN0, "protocols", 0],
        {"icmp": {}},
        ("spec.ingress[0].protocols[0]", "icmp"),
    ),
    (
        "unknown port field",
        [*IN0, "protocols", 0, "tcp", "destinationPort"],
        {"port": 80},
        ("spec.ingress[0].protocols[0].tcp.destinationPort",),
    ),
    ("egress field in ingress", [*IN0, "to"], [PEER], ("spec.ingress[0].to",)),
    # Wrong JSON types.
    ("spec list", ["spec"], [], ("spec",)),
    ("subject list", ["spec", "subject"], [{"namespaces": {}}], ("spec.subject",)),
    (
        "subject namespaces list",
        ["spec", "subject"],
        {"namespaces": ["x"]},
        ("spec.subject.namespaces",),
    ),
    (
        "subject namespaces string",
        ["spec", "subject"],
        {"namespaces": "x"},
        ("spec.subject.namespaces",),
    ),
    ("ingress object", ["spec", "ingress"], {"action": "Deny", "from": [PEER]}, ("spec.ingress",)),
    ("egress string", ["spec", "egress"], "none", ("spec.egress",)),
    ("rule list", [*IN0], [], ("spec.ingress[0]",)),
    ("from object", [*IN0, "from"], PEER, ("spec.ingress[0].from",)),
    ("to string", [*EG0, "to"], "everywhere", ("spec.egress[0].to",)),
    ("peer list", [*IN0, "from", 0], [PEER], ("spec.ingress[0].from[0]",)),
    ("protocols object", [*IN0, "protocols"], PROTO, ("spec.ingress[0].protocols",)),
    ("tcp list", [*IN0, "protocols", 0, "tcp"], [80], ("spec.ingress[0].protocols[0].tcp",)),
    (
        "destinationPort int",
        [*IN0, "protocols", 0, "tcp", "destinationPort"],
        80,
        ("spec.ingress[0].protocols[0].tcp.destinationPort",),
    ),
    (
        "number string",
        [*IN0, "protocols", 0, "tcp", "destinationPort", "number"],
        "80",
        ("spec.ingress[0].protocols[0].tcp.destinationPort.number",),
    ),
    (
        "number bool",
        [*IN0, "protocols", 0, "tcp", "destinationPort", "number"],
        True,
        ("spec.ingress[0].protocols[0].tcp.destinationPort.number",),
    ),
    (
        "number float",
        [*IN0, "protocols", 0, "tcp", "destinationPort", "number"],
        80.5,
        ("spec.ingress[0].protocols[0].tcp.destinationPort.number",),
    ),
    (
        "range start string",
        [*IN0, "protocols", 1, "udp", "destinationPort", "range", "start"],
        "53",
        ("spec.ingress[0].protocols[1].udp.destinationPort.range.start",),
    ),
    (
        "named port int",
        [*IN0, "protocols", 3, "destinationNamedPort"],
        81,
        ("spec.ingress[0].protocols[3].destinationNamedPort",),
    ),
    (
        "networks string",
        [*EG0, "to", 0, "networks"],
        "10.0.0.0/8",
        ("spec.egress[0].to[0].networks",),
    ),
    ("network int", [*EG0, "to", 0, "networks", 0], 10, ("spec.egress[0].to[0].networks",)),
    ("name int", [*IN0, "name"], 7, ("spec.ingress[0].name",)),
    ("action list", [*IN0, "action"], ["Deny"], ("spec.ingress[0].action",)),
    ("tier int", ["spec", "tier"], 1, ("spec.tier",)),
    (
        "matchLabels list",
        ["spec", "subject", "pods", "podSelector"],
        {"matchLabels": ["a"]},
        ("spec.subject.pods.podSelector.matchLabels",),
    ),
    (
        "matchLabels value int",
        ["spec", "subject", "pods", "podSelector"],
        {"matchLabels": {"pod": 1}},
        ("spec.subject.pods.podSelector.matchLabels",),
    ),
    (
        "matchExpressions object",
        [*IN0, "from", 0, "namespaces"],
        {"matchExpressions": {"key": "ns"}},
        ("spec.ingress[0].from[0].namespaces.matchExpressions",),
    ),
    ("metadata list", ["metadata"], [], ("metadata",)),
    # Metadata and type.
    ("name bad", ["metadata", "name"], "Bad_Name", ("metadata.name",)),
    ("apiVersion v1alpha1", ["apiVersion"], "policy.networking.k8s.io/v1alpha1", ("apiVersion",)),
]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [pytest.param(path, value, expected, id=case) for case, path, value, expected in CASES],
)
def test_refusal_names_the_field(path: list[Any], value: Any, expected: tuple[str, ...]) -> None:
    message = refused(_with(path, value))
    for part in expected:
        assert part in message, message


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (["spec", "tier"], "spec.tier"),
        (["spec", "priority"], "spec.priority"),
        (["spec", "subject"], "spec.subject"),
        ([*IN0, "action"], "spec.ingress[0].action"),
        ([*IN0, "from"], "spec.ingress[0].from"),
        ([*EG0, "to"], "spec.egress[0].to"),
        ([*EG0, "action"], "spec.egress[0].action"),
        (["spec"], "spec"),
        (["metadata"], "metadata"),
        (["metadata", "name"], "metadata.name"),
        ([*IN0, "protocols", 1, "udp", "destinationPort", "range", "start"], "range"),
    ],
)
def test_missing_required_field_is_named(path: list[Any], expected: str) -> None:
    """CRD ``required``: spec (priority, subject, tier), rules (action, from/to), range (start,
    end), metadata.name."""
    message = refused(_without(path))
    assert expected in message, message


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(UsageError) as info:
        run(VALID, copy.deepcopy(VALID))
    assert "cnp1" in str(info.value)


def test_non_object_policy_is_refused() -> None:
    refused([VALID])


# -- experimental peers ---------------------------------------------------------------------------


def test_nodes_peer_is_accepted_with_an_experimental_warning() -> None:
    """EgressPeer.Nodes is ``<network-policy-api:experimental>`` (only in the experimental
    CRD): accepted, with a warning."""
    policy = _with([*EG0, "to"], [{"nodes": {"matchLabels": {"role": "worker"}}}])
    analysis = run(policy)
    assert any("experimental" in w for w in analysis.warnings), analysis.warnings


def test_domain_names_are_refused_or_warned() -> None:
    """EgressPeer.DomainNames is ``<network-policy-api:experimental>`` and needs DNS, which
    an offline model does not have: either refused or warned about, naming the field."""
    policy = _with([*EG0, "to"], [{"domainNames": ["example.com", "*.kubernetes.io"]}])
    policy = _with([*EG0, "action"], "Accept", policy)
    policy = _without([*EG0, "protocols"], policy)
    try:
        analysis = run(policy)
    except UsageError as err:
        assert "domainNames" in str(err)
    else:
        assert any("domainNames" in w for w in analysis.warnings), analysis.warnings


@pytest.mark.parametrize(
    "peer",
    [{"nodes": {}}, {"domainNames": ["example.com"]}],
)
def test_named_port_with_other_experimental_peers_is_refused(peer: dict[str, Any]) -> None:
    """Experimental CRD x-kubernetes-validations on the egress rule: "networks/nodes/domainNames
    peer cannot be set with namedPorts since there are no namedPorts for
    networks/nodes/domainNames"."""
    policy = _with([*EG0, "to"], [PEER, peer])
    policy = _with([*EG0, "protocols"], [{"destinationNamedPort": "serve-80-tcp"}], policy)
    assert "spec.egress[0]" in refused(policy)


@pytest.mark.parametrize(
    "value",
    [{"nodes": []}, {"nodes": "all"}, {"domainNames": "example.com"}, {"domainNames": []}],
)
def test_experimental_peers_of_the_wrong_shape_are_refused(value: dict[str, Any]) -> None:
    policy = _with([*EG0, "to"], [value])
    policy = _without([*EG0, "protocols"], policy)
    message = refused(policy)
    assert "spec.egress[0].to[0]" in message, message
