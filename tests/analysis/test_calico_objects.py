"""Calico's policy objects (``projectcalico.org/v3``): reading, validation, matching helpers.

Sources (projectcalico/calico@v3.32.1 unless said otherwise): the API types in
``api/pkg/apis/projectcalico/v3/``, ``api/pkg/defaults/networkpolicy.go`` (types defaulting),
``libcalico-go/lib/validator/v3/validator.go`` (validation),
``libcalico-go/lib/backend/syncersv1/updateprocessors/rules.go`` (rule selector scoping),
``felix/calc/policy_sorter.go`` (ordering). Example documents imitate tigera/docs
``calico_versioned_docs/version-3.32/`` pages, cited per test. Notes: ``docs/calico-policies.md``.
"""

from __future__ import annotations

import copy
import ipaddress
import math
from collections.abc import Iterator
from typing import Any

import pytest

from provisioning.analysis.calico import (
    BUILTIN_TIERS,
    EGRESS,
    INGRESS,
    Endpoint,
    EntityRule,
    GlobalNetworkPolicy,
    GlobalNetworkSet,
    NamedPort,
    NetworkPolicy,
    PortRange,
    Protocol,
    Rule,
    Tier,
    default_types,
    is_calico_object,
    network_sets_containing,
    parse_calico_object,
)
from provisioning.analysis.calico_selector import ALL, CalicoSelector, parse_calico_selector
from provisioning.analysis.model import ContainerPort, Namespace, Pod
from provisioning.errors import UsageError


def sel(text: str) -> CalicoSelector:
    return parse_calico_selector(text, where="test")


def read(obj: Any) -> tuple[Any, list[str]]:
    return parse_calico_object(obj, source="x.yaml")


def refusal(obj: Any) -> str:
    with pytest.raises(UsageError) as caught:
        read(obj)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("x.yaml: ")
    return message


def gnp(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "p"},
        "spec": spec,
    }


def cnp(namespace: str = "production", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": namespace},
        "spec": spec,
    }


def ip(text: str) -> Any:
    return ipaddress.ip_address(text)


# -- the documentation's examples ----------------------------------------------------------------

# reference/resources/networkpolicy.mdx, "Sample YAML" ("This sample policy allows TCP traffic
# from `frontend` endpoints to port 6379 on `database` endpoints.")
NP_SAMPLE = {
    "apiVersion": "projectcalico.org/v3",
    "kind": "NetworkPolicy",
    "metadata": {"name": "allow-tcp-6379", "namespace": "production"},
    "spec": {
        "selector": "role == 'database'",
        "types": ["Ingress", "Egress"],
        "ingress": [
            {
                "action": "Allow",
                "metadata": {"annotations": {"from": "frontend", "to": "database"}},
                "protocol": "TCP",
                "source": {"selector": "role == 'frontend'"},
                "destination": {"ports": [6379]},
            }
        ],
        "egress": [{"action": "Allow"}],
    },
}


def test_networkpolicy_sample() -> None:
    policy, warnings = read(NP_SAMPLE)
    assert warnings == []
    namespace = "production"
    assert policy == NetworkPolicy(
        name="allow-tcp-6379",
        namespace=namespace,
        tier="default",
        order=None,
        selector=sel("role == 'database'"),
        types=("Ingress", "Egress"),
        types_explicit=True,
        ingress=(
            Rule(
                direction=INGRESS,
                index=0,
                path="spec.ingress[0]",
                action="Allow",
                protocol=Protocol(6, "TCP"),
                source=EntityRule(
                    "spec.ingress[0].source",
                    selector=sel("role == 'frontend'"),
                    policy_namespace=namespace,
                ),
                destination=EntityRule(
                    "spec.ingress[0].destination",
                    ports=(PortRange(6379, 6379),),
                    policy_namespace=namespace,
                ),
                annotations=(("from", "frontend"), ("to", "database")),
            ),
        ),
        egress=(
            Rule(
                EGRESS,
                0,
                "spec.egress[0]",
                "Allow",
                source=EntityRule("spec.egress[0].source", policy_namespace=namespace),
                destination=EntityRule("spec.egress[0].destination", policy_namespace=namespace),
            ),
        ),
    )
    assert policy.source == "x.yaml"
    assert policy.ingress[0].describe() == 'Allow TCP from role == "frontend" to ports 6379'
    assert policy.egress[0].describe() == "Allow"


def test_globalnetworkpolicy_sample() -> None:
    """reference/resources/globalnetworkpolicy.mdx, "Sample YAML": the same body, no namespace;
    rules of a GlobalNetworkPolicy are not confined to a namespace."""
    obj = copy.deepcopy(NP_SAMPLE)
    obj["kind"] = "GlobalNetworkPolicy"
    del obj["metadata"]["namespace"]
    policy, warnings = read(obj)
    assert warnings == []
    assert isinstance(policy, GlobalNetworkPolicy)
    assert policy.namespace_selector is None
    assert policy.ingress[0].source.policy_namespace is None
    assert policy.ingress[0].source.scoped_selector == sel("role == 'frontend'")
    assert policy.sort_key() == (math.inf, "allow-tcp-6379//GlobalNetworkPolicy")


def test_namespace_policy_examples() -> None:
    """network-policy/policy-rules/namespace-policy.mdx: a NetworkPolicy whose rule has
    ``namespaceSelector: shape == 'circle'``, and a GlobalNetworkPolicy with
    ``namespaceSelector: 'environment == "development"'`` at the top and in its rules."""
    rule_ns, _ = read(
        cnp(
            selector="color == 'red'",
            ingress=[
                {
                    "action": "Allow",
                    "protocol": "TCP",
                    "source": {
                        "selector": "color == 'blue'",
                        "namespaceSelector": "shape == 'circle'",
                    },
                    "destination": {"ports": [6379]},
                }
            ],
        )
    )
    source = rule_ns.ingress[0].source
    assert source.namespace_selector == sel("shape == 'circle'")
    assert source.scoped_selector == sel("pcns.shape == 'circle' && color == 'blue'")
    restrict = {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "restrict-development-access"},
        "spec": {
            "namespaceSelector": 'environment == "development"',
            "ingress": [
                {"action": "Allow", "source": {"namespaceSelector": 'environment == "development"'}}
            ],
            "egress": [
                {
                    "action": "Allow",
                    "destination": {"namespaceSelector": 'environment == "development"'},
                }
            ],
        },
    }
    policy, warnings = read(restrict)
    assert warnings == []
    assert policy.types == ("Ingress", "Egress") and not policy.types_explicit
    assert policy.endpoint_selector == sel('all() && pcns.environment == "development"')


def test_tiered_examples() -> None:
    """network-policy/policy-tiers/tiered-policy.mdx: the "security" tier, the "devops" tier with
    defaultAction Pass, and the "Pass action rule example" policy in it."""
    security, _ = read(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "Tier",
            "metadata": {"name": "security"},
            "spec": {"order": 300},
        }
    )
    assert security == Tier("security", 300.0, "Deny")
    devops, _ = read(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "Tier",
            "metadata": {"name": "devops"},
            "spec": {"order": 300, "defaultAction": "Pass"},
        }
    )
    assert devops == Tier("devops", 300.0, "Pass")
    assert devops.sort_key() < security.sort_key()  # same order: by name
    stage, warnings = read(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "devops.stage-env"},
            "spec": {
                "tier": "devops",
                "order": 255,
                "selector": 'env == "stage"',
                "ingress": [
                    {"action": "Deny", "source": {"selector": 'env != "stage"'}},
                    {"action": "Pass"},
                ],
                "egress": [
                    {"action": "Deny", "destination": {"selector": 'env != "stage"'}},
                    {"action": "Pass"},
                ],
                "types": ["Ingress", "Egress"],
            },
        }
    )
    assert warnings == []
    assert (stage.tier, stage.order) == ("devops", 255.0)
    assert [r.action for r in stage.ingress] == ["Deny", "Pass"]
    # reference/resources/tier.mdx "Sample YAML"
    internal, _ = read(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "Tier",
            "metadata": {"name": "internal-access"},
            "spec": {"order": 100, "defaultAction": "Deny"},
        }
    )
    assert internal == Tier("internal-access", 100.0, "Deny")


def test_global_network_set_example() -> None:
    """network-policy/policy-rules/external-ips-policy.mdx, the "ip-protect" set; and
    reference/resources/globalnetworkset.mdx "Sample YAML"."""
    ip_protect, warnings = read(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "GlobalNetworkSet",
            "metadata": {"name": "ip-protect", "labels": {"ip-deny-list": "true"}},
            "spec": {"nets": ["192.0.2.55/32", "203.0.113.0/24"]},
        }
    )
    assert warnings == []
    assert ip_protect == GlobalNetworkSet(
        "ip-protect",
        {"ip-deny-list": "true"},
        (ipaddress.ip_network("192.0.2.55/32"), ipaddress.ip_network("203.0.113.0/24")),
    )
    assert ip_protect.contains(ip("203.0.113.9")) and not ip_protect.contains(ip("192.0.2.56"))
    sample, _ = read(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "GlobalNetworkSet",
            "metadata": {"name": "a-name-for-the-set", "labels": {"role": "external-database"}},
            "spec": {"nets": ["198.51.100.0/28", "203.0.113.0/24"]},
        }
    )
    assert sample.labels == {"role": "external-database"}
    # The ``cidr`` check allows host bits and plain addresses (cnet.ParseCIDROrIP).
    loose, _ = read(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "GlobalNetworkSet",
            "metadata": {"name": "loose"},
            "spec": {"nets": ["10.1.2.3/8", "fd00::1", "10.9.9.9"]},
        }
    )
    assert [str(n) for n in loose.nets] == ["10.0.0.0/8", "fd00::1/128", "10.9.9.9/32"]


def test_external_ips_example_is_refused_for_do_not_track() -> None:
    """external-ips-policy.mdx's "ip-protect" GlobalNetworkPolicy uses doNotTrack and
    applyOnForward: a host-endpoint policy, refused by name."""
    message = refusal(
        gnp(
            selector="apply-ip-protect == 'true'",
            order=0,
            doNotTrack=True,
            applyOnForward=True,
            types=["Ingress"],
            ingress=[
                {
                    "action": "Deny",
                    "source": {
                        "selector": "ip-deny-list == 'true' && !has(projectcalico.org/namespace)"
                    },
                }
            ],
        )
    )
    assert message.startswith("x.yaml: spec.doNotTrack: refused: ")
    assert "host endpoints only" in message


# -- refused and warned fields, each named ------------------------------------------------------

REFUSED = [
    ("spec.doNotTrack", gnp(doNotTrack=True, applyOnForward=True)),
    ("spec.preDNAT", gnp(preDNAT=True, applyOnForward=True)),
    ("spec.serviceAccountSelector", gnp(serviceAccountSelector="role == 'x'")),
    ("spec.serviceAccountSelector", cnp(serviceAccountSelector="all()")),
    ("spec.ingress[0].ipVersion", gnp(ingress=[{"action": "Allow", "ipVersion": 4}])),
    (
        "spec.ingress[0].http",
        gnp(ingress=[{"action": "Allow", "protocol": "TCP", "http": {"methods": ["GET"]}}]),
    ),
    (
        "spec.ingress[0].source.serviceAccounts",
        gnp(ingress=[{"action": "Allow", "source": {"serviceAccounts": {"names": ["a"]}}}]),
    ),
    (
        "spec.egress[0].destination.services",
        gnp(
            egress=[
                {"action": "Allow", "destination": {"services": {"name": "s", "namespace": "n"}}}
            ]
        ),
    ),
    (
        "spec.ingress[0].source.ports",
        gnp(ingress=[{"action": "Allow", "protocol": "TCP", "source": {"ports": [1234]}}]),
    ),
    (
        "spec.ingress[0].source.notPorts",
        gnp(ingress=[{"action": "Allow", "protocol": "TCP", "source": {"notPorts": ["1:1023"]}}]),
    ),
    ("spec.ingress[0].notICMP", gnp(ingress=[{"action": "Deny", "notICMP": {"type": 8}}])),
    (
        "spec.ingress[0].notICMP",
        gnp(ingress=[{"action": "Deny", "protocol": "TCP", "notICMP": {"type": 8}}]),
    ),
    ("spec.selector", gnp(selector="projectcalico.org/serviceaccount == 'default'")),
    (
        "spec.ingress[0].source.selector",
        cnp(ingress=[{"action": "Allow", "source": {"selector": "pcsa.team == 'a'"}}]),
    ),
    (
        "spec.ingress[0].source.notSelector",
        gnp(
            ingress=[
                {"action": "Allow", "source": {"notSelector": "has(pcsa.projectcalico.org/name)"}}
            ]
        ),
    ),
]


@pytest.mark.parametrize(
    ("path", "obj"), REFUSED, ids=[f"{p}-{i}" for i, (p, _) in enumerate(REFUSED)]
)
def test_refused_fields_are_named(path: str, obj: dict[str, Any]) -> None:
    message = refusal(obj)
    assert message.startswith(f"x.yaml: {path}: refused: "), message


def test_staged_action_and_gnp_only_fields_are_unknown_with_a_reason() -> None:
    assert refusal(gnp(stagedAction="Set")) == (
        'x.yaml: spec.stagedAction: unknown field "stagedAction" (stagedAction belongs to the '
        "Staged* policy kinds, which Calico does not enforce)"
    )
    assert "only a GlobalNetworkPolicy has this field" in refusal(cnp(doNotTrack=False))
    assert "only a GlobalNetworkPolicy has spec.namespaceSelector" in refusal(
        cnp(namespaceSelector="all()")
    )
    assert refusal(gnp(ingress=[{"action": "Allow", "bogus": 1}])) == (
        'x.yaml: spec.ingress[0].bogus: unknown field "bogus"'
    )


WARNED = [
    ("spec.applyOnForward", gnp(applyOnForward=True), "forwarded traffic"),
    (
        "spec.performanceHints",
        gnp(performanceHints=["AssumeNeededOnEveryNode"]),
        "hints never change",
    ),
    (
        "spec.performanceHints",
        cnp(performanceHints=["AssumeNeededOnEveryNode"]),
        "hints never change",
    ),
    (
        "spec.ingress[0].icmp",
        gnp(ingress=[{"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8, "code": 0}}]),
        "ICMP rule",
    ),
    (
        "spec.ingress[0].notICMP",
        gnp(ingress=[{"action": "Allow", "protocol": "ICMPv6", "notICMP": {"type": 128}}]),
        "ICMP rule",
    ),
    ("spec.egress", gnp(types=["Ingress"], egress=[{"action": "Deny"}]), "does not include Egress"),
    (
        "spec.ingress",
        cnp(types=["Egress"], ingress=[{"action": "Deny"}]),
        "does not include Ingress",
    ),
    (
        "metadata.namespace",
        {**gnp(), "metadata": {"name": "p", "namespace": "x"}},
        "cluster-scoped",
    ),
]


@pytest.mark.parametrize(
    ("path", "obj", "text"), WARNED, ids=[f"{p}-{i}" for i, (p, *_) in enumerate(WARNED)]
)
def test_warned_fields_are_named(path: str, obj: dict[str, Any], text: str) -> None:
    _, warnings = read(obj)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"x.yaml: {path}: ")
    assert text in warnings[0]


def test_false_flags_and_empty_selectors_are_absent() -> None:
    policy, warnings = read(
        gnp(
            doNotTrack=False,
            preDNAT=False,
            applyOnForward=False,
            serviceAccountSelector="",
            namespaceSelector="",
            selector="",
            ingress=[{"action": "Allow", "source": {"selector": ""}}],
        )
    )
    assert warnings == []
    assert policy.selector == ALL and policy.namespace_selector is None
    assert policy.ingress[0].source.is_any


# -- types defaulting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ingress", "egress", "types"),
    [
        # networkpolicy.mdx: "If `types` has no value, Calico defaults as follows." No/No ->
        # Ingress, Yes/No -> Ingress, No/Yes -> Egress, Yes/Yes -> Ingress, Egress.
        (False, False, ("Ingress",)),
        (True, False, ("Ingress",)),
        (False, True, ("Egress",)),
        (True, True, ("Ingress", "Egress")),
    ],
)
def test_types_defaulting(ingress: bool, egress: bool, types: tuple[str, ...]) -> None:
    assert default_types(ingress, egress) == types
    spec: dict[str, Any] = {}
    if ingress:
        spec["ingress"] = [{"action": "Allow"}]
    if egress:
        spec["egress"] = [{"action": "Allow"}]
    for obj in (gnp(**spec), cnp(**spec)):
        policy, warnings = read(obj)
        assert (policy.types, policy.types_explicit, warnings) == (types, False, [])
        assert policy.governs(INGRESS) == ("Ingress" in types)
        assert policy.governs(EGRESS) == ("Egress" in types)


def test_types_defaulting_counts_empty_lists_as_absent() -> None:
    """defaultPolicyTypesField looks at len(rules): an empty egress list is no egress rules."""
    policy, _ = read(gnp(ingress=[], egress=[]))
    assert policy.types == ("Ingress",)
    policy, _ = read(gnp(ingress=[], egress=[{"action": "Deny"}]))
    assert policy.types == ("Egress",)


def test_explicit_types() -> None:
    policy, _ = read(gnp(types=["Egress", "Ingress"]))
    assert (policy.types, policy.types_explicit) == (("Ingress", "Egress"), True)
    policy, warnings = read(gnp(types=["Ingress"], egress=[{"action": "Deny"}]))
    assert policy.rules(EGRESS) == () and len(policy.egress) == 1 and warnings
    assert "'Ingress' type specified more than once" in refusal(gnp(types=["Ingress", "Ingress"]))
    assert "must have at least 1 item" in refusal(gnp(types=[]))
    assert 'spec.types[0]: Unsupported value: "ingress"' in refusal(gnp(types=["ingress"]))


# -- validation ----------------------------------------------------------------------------------


def dest_ports(*ports: Any, protocol: Any = "TCP") -> dict[str, Any]:
    rule: dict[str, Any] = {"action": "Allow", "destination": {"ports": list(ports)}}
    if protocol is not None:
        rule["protocol"] = protocol
    return gnp(ingress=[rule])


def test_ports() -> None:
    """numorstring/port.go PortFromString and validator.go validatePort: a number, a numeric
    string, "min:max", or a port name (IANA_SVC_NAME)."""
    policy, _ = read(dest_ports(80, "443", "8000:8080", "http-alt"))
    assert policy.ingress[0].destination.ports == (
        PortRange(80, 80),
        PortRange(443, 443),
        PortRange(8000, 8080),
        NamedPort("http-alt"),
    )
    assert policy.ingress[0].destination.describe() == "ports 80, 443, 8000:8080, http-alt"
    cases: list[tuple[Any, str]] = [
        (0, "port range invalid, port number must be between 1 and 65535"),
        (65536, "port range invalid"),
        ("0:10", "port range invalid"),
        ("10:9", "minimum port number (10) is greater than maximum port number (9)"),
        ("1:70000", "port range invalid"),
        ("Http", "must contain only alpha-numeric characters"),
        ("a-very-long-port-name", "must be no more than 15 characters"),
        ("a b", "invalid name for named port"),
        ("80-90", "must contain at least one letter"),
        (True, "must be a port number"),
        (8.5, "must be a port number"),
        (None, "must be a port number"),
        (["80"], "must be a port number"),
    ]
    for port, problem in cases:
        message = refusal(dest_ports(80, port))
        assert message.startswith("x.yaml: spec.ingress[0].destination.ports[1]: "), message
        assert problem in message, message


def test_ports_need_a_protocol_with_ports() -> None:
    """validator.go validateRule: numeric ports need a protocol; any port needs TCP/UDP/SCTP."""
    assert refusal(dest_ports(80, protocol=None)) == (
        "x.yaml: spec.ingress[0].destination.ports: rules with numeric port or port range must "
        "set protocol to TCP or UDP or SCTP"
    )
    named, _ = read(dest_ports("http", protocol=None))  # a named port alone needs none
    assert named.ingress[0].protocol is None
    assert "rules that specify ports must set protocol to TCP or UDP or SCTP" in refusal(
        dest_ports("http", protocol="ICMP")
    )
    for protocol in ("UDP", "SCTP", 6, "17", 132):
        read(dest_ports(53, protocol=protocol))


def test_protocols() -> None:
    policy, _ = read(
        gnp(
            ingress=[
                {"action": "Allow", "protocol": "UDPLite", "notProtocol": "6"},
                {"action": "Allow", "protocol": 47},
            ]
        )
    )
    assert policy.ingress[0].protocol == Protocol(136)
    assert policy.ingress[0].not_protocol == Protocol(6)
    assert policy.ingress[1].protocol.text() == "47"
    for value, problem in [
        ("tcp", "protocol name invalid"),
        ("HTTP", "protocol name invalid"),
        (0, "protocol number invalid"),
        ("256", "protocol number invalid"),
        (True, "must be TCP, UDP"),
        ([6], "must be TCP, UDP"),
    ]:
        message = refusal(gnp(ingress=[{"action": "Allow", "protocol": value}]))
        assert message.startswith("x.yaml: spec.ingress[0].protocol: ") and problem in message


def test_nets() -> None:
    """EntityRule nets use the ``net`` check (strictly masked) and validateRule's ParseCIDR
    (a prefix length is required); one IP family per rule; no catch-all in notNets."""
    policy, _ = read(
        gnp(
            egress=[
                {
                    "action": "Allow",
                    "destination": {"nets": ["10.0.0.0/8"], "notNets": ["10.1.0.0/16"]},
                }
            ]
        )
    )
    destination = policy.egress[0].destination
    assert destination.nets == (ipaddress.ip_network("10.0.0.0/8"),)
    for nets, problem in [
        (["10.0.0.1/8"], "has host bits set; write the network, 10.0.0.0/8"),
        (["10.0.0.1"], "is not a CIDR"),
        (["10.0.0.0/255.0.0.0"], "is not a CIDR"),
        (["nonsense"], "is not a CIDR"),
        ([10], "must be a string, got number"),
    ]:
        message = refusal(gnp(egress=[{"action": "Allow", "destination": {"nets": nets}}]))
        assert (
            message.startswith("x.yaml: spec.egress[0].destination.nets[0]: ")
            and problem in message
        )
    mixed = gnp(
        egress=[
            {
                "action": "Allow",
                "source": {"nets": ["10.0.0.0/8"]},
                "destination": {"notNets": ["fd00::/8"]},
            }
        ]
    )
    assert refusal(mixed) == "x.yaml: spec.egress[0]: rule contains both IPv4 and IPv6 CIDRs"
    catch_all = gnp(egress=[{"action": "Allow", "destination": {"notNets": ["0.0.0.0/0"]}}])
    assert "catch-all CIDR in negation" in refusal(catch_all)


def test_selector_fields() -> None:
    """validator.go: global() only in an EntityRule namespaceSelector, and there alone."""
    for obj, path in [
        (gnp(selector="global()"), "spec.selector"),
        (gnp(namespaceSelector="global()"), "spec.namespaceSelector"),
        (cnp(selector="a == 'b' && global()"), "spec.selector"),
        (
            gnp(ingress=[{"action": "Allow", "source": {"selector": "global()"}}]),
            "spec.ingress[0].source.selector",
        ),
    ]:
        assert refusal(obj) == (
            f"x.yaml: {path}: global() can only be used in an EntityRule namespaceSelector"
        )
    combined = gnp(
        ingress=[{"action": "Allow", "source": {"namespaceSelector": "global() || a == 'b'"}}]
    )
    assert refusal(combined) == (
        "x.yaml: spec.ingress[0].source.namespaceSelector: global() cannot be combined with other "
        "selectors"
    )
    policy, _ = read(
        cnp(ingress=[{"action": "Allow", "source": {"namespaceSelector": " global() "}}])
    )
    assert policy.ingress[0].source.namespace_selector == sel("global()")
    assert refusal(cnp(selector="role = 'db'")) == (
        "x.yaml: spec.selector: invalid selector: expected '==' at character 6: \"role = 'db'\""
    )
    assert "a selector of only blanks" in refusal(cnp(selector="  "))
    assert (
        refusal(gnp(selector=["a"])) == "x.yaml: spec.selector: must be a selector string, got list"
    )


def test_names_and_tiers() -> None:
    assert refusal({**gnp(), "metadata": {"name": "a.b.c"}}) == (
        'x.yaml: metadata.name: "a.b.c" must be a lowercase RFC 1123 label, or two joined by one '
        "'.'"
    )
    read({**cnp(), "metadata": {"name": "knp.default.a.b.c", "namespace": "n"}})
    assert "metadata.name" in refusal({**cnp(), "metadata": {"name": "Bad", "namespace": "n"}})
    assert refusal({**gnp(), "metadata": {}}) == (
        "x.yaml: metadata.name: Required value: name is required"
    )
    assert 'spec.tier: "a.b" is not a possible Tier name' in refusal(gnp(tier="a.b"))
    policy, _ = read(cnp(tier="security", order=10.5))
    assert (policy.tier, policy.order) == ("security", 10.5)
    # A policy in a non-default tier no longer needs the "<tier>." name prefix in 3.32
    # (kube-controllers/pkg/controllers/networkpolicy/policy_name_migrator.go:28).
    assert policy.name == "p"
    default_ns, _ = read({**cnp(), "metadata": {"name": "p"}})
    assert default_ns.namespace == "default"
    for order in ("1", True, float("nan"), float("inf")):
        assert "spec.order: must be" in refusal(gnp(order=order))


def tier(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "Tier",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_tier_validation() -> None:
    """validator.go validateTier and the Tier CEL rules (tier.go:37-39)."""
    for name, builtin in BUILTIN_TIERS.items():
        parsed, _ = read(tier(name, order=builtin.order, defaultAction=builtin.default_action))
        assert parsed == builtin
    assert refusal(tier("default", order=5)) == (
        "x.yaml: spec.order: the default tier's order must be 1000000"
    )
    assert refusal(tier("kube-admin", order=1000)) == (
        "x.yaml: spec.defaultAction: the kube-admin tier must have default action Pass"
    )
    assert "(a Tier name has no '.')" in refusal(tier("a.b"))
    assert 'Unsupported value: "Allow"' in refusal(tier("t", defaultAction="Allow"))
    unordered, _ = read({**tier("t"), "status": {"conditions": []}})
    assert unordered == Tier("t", None, "Deny")
    ordered = sorted([unordered, *BUILTIN_TIERS.values(), Tier("a", 1000.0)], key=Tier.sort_key)
    assert [t.name for t in ordered] == ["a", "kube-admin", "default", "kube-baseline", "t"]


def test_global_network_set_validation() -> None:
    gns = {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkSet",
        "metadata": {"name": "s", "labels": {"projectcalico.org/namespace": "x"}},
    }
    assert refusal(gns).startswith(
        "x.yaml: metadata.labels: projectcalico.org/namespace is not a valid label name"
    )
    bad_net = {**gns, "metadata": {"name": "s"}, "spec": {"nets": ["10.0.0.0/33"]}}
    assert refusal(bad_net) == 'x.yaml: spec.nets[0]: "10.0.0.0/33" is not a CIDR or IP address'


def test_kinds_and_api_versions() -> None:
    assert is_calico_object(NP_SAMPLE)
    assert not is_calico_object({**NP_SAMPLE, "apiVersion": "networking.k8s.io/v1"})
    assert not is_calico_object([NP_SAMPLE])
    staged = {**gnp(), "kind": "StagedGlobalNetworkPolicy"}
    assert refusal(staged) == (
        'x.yaml: kind: "StagedGlobalNetworkPolicy" is refused: staged policies are not enforced '
        "(they only report what they would do); leave them out"
    )
    assert "namespaced NetworkSets are not modelled" in refusal({**gnp(), "kind": "NetworkSet"})
    assert "it reads GlobalNetworkPolicy, NetworkPolicy, GlobalNetworkSet, Tier" in refusal(
        {**gnp(), "kind": "IPPool"}
    )
    crd = refusal({**gnp(), "apiVersion": "crd.projectcalico.org/v1"})
    assert 'apiVersion: "crd.projectcalico.org/v1" is not "projectcalico.org/v3"' in crd
    assert "storage form" in crd
    assert refusal([]) == "x.yaml: must be an object, got list"


def test_several_problems_are_counted() -> None:
    message = refusal(gnp(order="x", types=["Bogus"], ingress=[{"action": "Maybe"}]))
    assert message == "x.yaml: spec.order: must be a number, got string (and 2 more problems)"


# -- wrong types anywhere: one line, never another exception ------------------------------------

RICH = [
    NP_SAMPLE,
    gnp(
        tier="security",
        order=5,
        selector="all()",
        namespaceSelector="team == 'a'",
        types=["Ingress", "Egress"],
        ingress=[
            {
                "action": "Deny",
                "protocol": "TCP",
                "notProtocol": "UDP",
                "metadata": {"annotations": {"a": "b"}},
                "source": {
                    "nets": ["10.0.0.0/8"],
                    "notNets": ["10.1.0.0/16"],
                    "selector": "a == 'b'",
                    "notSelector": "c == 'd'",
                    "namespaceSelector": "global()",
                },
                "destination": {"ports": [80, "1:2", "http"], "notPorts": [81]},
            }
        ],
        egress=[
            {"action": "Log"},
            {"action": "Pass", "destination": {"namespaceSelector": "all()"}},
        ],
    ),
    {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkSet",
        "metadata": {"name": "s", "labels": {"a": "b"}},
        "spec": {"nets": ["10.0.0.0/8"]},
    },
    tier("t", order=1, defaultAction="Pass"),
]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if path:
        yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*path, i))


def _replaced(obj: Any, path: tuple[Any, ...], new: Any) -> Any:
    copied = copy.deepcopy(obj)
    target = copied
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return copied


@pytest.mark.parametrize("index", range(len(RICH)))
def test_any_field_of_the_wrong_type_is_one_usage_error(index: int) -> None:
    obj = RICH[index]
    read(obj)  # valid as it is
    seen = 0
    for path in _paths(obj):
        if path in (("apiVersion",), ("kind",)):
            continue
        for new in ([], ["x"], {}, {"x": 1}, 7, 2.5, True, "x", None, "", -1):
            try:
                read(_replaced(obj, path, new))
            except UsageError as e:
                assert "\n" not in str(e)
                assert str(e).startswith("x.yaml: ")
            seen += 1
    assert seen > 50


def test_list_instead_of_mapping_and_number_instead_of_string() -> None:
    assert refusal(gnp(ingress=[[]])) == "x.yaml: spec.ingress[0]: must be an object, got list"
    assert refusal(gnp(ingress={"action": "Allow"})) == (
        "x.yaml: spec.ingress: must be a list, got object"
    )
    assert refusal({**gnp(), "spec": []}) == "x.yaml: spec: must be an object, got list"
    assert refusal(gnp(ingress=[{"action": "Allow", "source": []}])) == (
        "x.yaml: spec.ingress[0].source: must be an object, got list"
    )
    assert refusal(gnp(tier=3)) == "x.yaml: spec.tier: must be a string, got number"
    assert refusal(gnp(ingress=[{"action": 1}])).startswith(
        "x.yaml: spec.ingress[0].action: Unsupported value: 1"
    )
    assert refusal({**gnp(), "metadata": {"name": 5}}) == (
        "x.yaml: metadata.name: must be a string, got number"
    )


# -- matching helpers ----------------------------------------------------------------------------

NS_PROD = Namespace("production", {"kubernetes.io/metadata.name": "production", "shape": "circle"})
NS_DEV = Namespace("dev", {"kubernetes.io/metadata.name": "dev"})
IP_PROTECT = GlobalNetworkSet(
    "ip-protect", {"ip-deny-list": "true"}, (ipaddress.ip_network("203.0.113.0/24"),)
)
SETS = (
    IP_PROTECT,
    GlobalNetworkSet("pods", {"kind": "pods"}, (ipaddress.ip_network("10.0.0.0/8"),)),
)


def pod(namespace: Namespace, name: str, address: str, **labels: str) -> Endpoint:
    ports = (ContainerPort(6379, "TCP", "redis"), ContainerPort(53, "UDP", "dns"))
    model = Pod(namespace.name, name, labels, ip(address), ports)
    return Endpoint.for_pod(model, namespace, SETS)


DB = pod(NS_PROD, "db", "10.0.0.1", role="database")
FRONT = pod(NS_PROD, "front", "10.0.0.2", role="frontend")
FRONT_DEV = pod(NS_DEV, "front", "10.0.1.2", role="frontend")
OUTSIDE = Endpoint.for_address(ip("203.0.113.5"), SETS)
ELSEWHERE = Endpoint.for_address(ip("192.0.2.1"), SETS)


def test_endpoint_labels() -> None:
    """workload_endpoint_default.go and NamespaceToProfile (conversion.go): pod labels, the
    namespace and orchestrator labels, and the namespace's labels under pcns."""
    assert DB.calico_labels == {
        "role": "database",
        "projectcalico.org/namespace": "production",
        "projectcalico.org/orchestrator": "k8s",
        "pcns.kubernetes.io/metadata.name": "production",
        "pcns.shape": "circle",
        "pcns.projectcalico.org/name": "production",
    }
    sneaky = Endpoint.for_pod(
        Pod("production", "x", {"projectcalico.org/namespace": "other", "pcns.shape": "square"}),
        NS_PROD,
    )
    assert sneaky.calico_labels["projectcalico.org/namespace"] == "production"  # Calico's wins
    assert sneaky.calico_labels["pcns.shape"] == "square"  # the endpoint's own beats inherited
    assert OUTSIDE.calico_labels == {}
    assert OUTSIDE.identities() == [{"ip-deny-list": "true"}]
    assert DB.identities()[1:] == [{"kind": "pods"}]
    assert network_sets_containing(ip("203.0.113.5"), SETS) == (IP_PROTECT,)
    with pytest.raises(ValueError):
        Endpoint(is_pod=True)


def entity(obj: dict[str, Any], side: str = "source") -> EntityRule:
    policy, _ = read(obj)
    return getattr(policy.ingress[0], side)


def test_networkpolicy_rule_selector_is_confined_to_its_namespace() -> None:
    """rules.go getEndpointSelector: in a NetworkPolicy, selector (or notSelector) without a
    namespaceSelector means 'in this namespace'; GlobalNetworkSets have no namespace label."""
    rule = entity(cnp(ingress=[{"action": "Allow", "source": {"selector": "role == 'frontend'"}}]))
    assert rule.scoped_selector == sel(
        "projectcalico.org/namespace == 'production' && role == 'frontend'"
    )
    assert rule.matches(FRONT) and not rule.matches(FRONT_DEV) and not rule.matches(DB)
    anywhere = entity(cnp(ingress=[{"action": "Allow", "source": {}}]))
    assert anywhere.is_any and anywhere.scoped_selector is None
    assert anywhere.matches(FRONT_DEV) and anywhere.matches(ELSEWHERE)
    all_ns = entity(cnp(ingress=[{"action": "Allow", "source": {"namespaceSelector": "all()"}}]))
    assert all_ns.matches(FRONT_DEV) and not all_ns.matches(OUTSIDE)
    by_label = entity(
        cnp(ingress=[{"action": "Allow", "source": {"namespaceSelector": "shape == 'circle'"}}])
    )
    assert by_label.matches(DB) and not by_label.matches(FRONT_DEV)
    by_name = entity(
        cnp(
            ingress=[
                {
                    "action": "Allow",
                    "source": {"namespaceSelector": "projectcalico.org/name == 'dev'"},
                }
            ]
        )
    )
    assert by_name.matches(FRONT_DEV) and not by_name.matches(FRONT)


def test_not_selector_alone_scopes_the_rule_but_excludes_everywhere() -> None:
    """rules.go: "limited to the namespace ... as soon as _any_ of the selector fields are used,
    including NotSelector"; the notSelector itself is passed through unscoped."""
    rule = entity(
        cnp(ingress=[{"action": "Allow", "source": {"notSelector": "role == 'database'"}}])
    )
    assert rule.scoped_selector == sel("projectcalico.org/namespace == 'production'")
    assert rule.matches(FRONT) and not rule.matches(DB)
    assert not rule.matches(FRONT_DEV) and not rule.matches(OUTSIDE)
    global_rule = entity(
        gnp(ingress=[{"action": "Allow", "source": {"notSelector": "has(ip-deny-list)"}}])
    )
    assert global_rule.scoped_selector is None
    assert global_rule.matches(ELSEWHERE) and global_rule.matches(FRONT_DEV)
    assert not global_rule.matches(OUTSIDE)  # its address is in the matched network set


def test_global_network_sets_match_by_address() -> None:
    """globalnetworkset.mdx: selectors of a GlobalNetworkPolicy rule, or of a NetworkPolicy rule
    with namespaceSelector global(), include the CIDRs of matching network sets."""
    in_gnp = entity(
        gnp(ingress=[{"action": "Deny", "source": {"selector": "ip-deny-list == 'true'"}}])
    )
    assert in_gnp.matches(OUTSIDE) and not in_gnp.matches(ELSEWHERE) and not in_gnp.matches(DB)
    in_np = entity(
        cnp(ingress=[{"action": "Deny", "source": {"selector": "ip-deny-list == 'true'"}}])
    )
    assert not in_np.matches(OUTSIDE)  # confined to the namespace: no network set is in one
    with_global = entity(
        cnp(
            ingress=[
                {
                    "action": "Deny",
                    "source": {
                        "selector": "ip-deny-list == 'true'",
                        "namespaceSelector": "global()",
                    },
                }
            ]
        )
    )
    assert with_global.scoped_selector == sel(
        "!has(projectcalico.org/namespace) && ip-deny-list == 'true'"
    )
    assert with_global.matches(OUTSIDE) and not with_global.matches(FRONT)
    # A pod's address inside a matching set matches through the set, whatever the pod's labels.
    by_set = entity(gnp(ingress=[{"action": "Allow", "source": {"selector": "kind == 'pods'"}}]))
    assert by_set.matches(DB) and by_set.matches(FRONT_DEV)
    only_global = entity(
        cnp(ingress=[{"action": "Allow", "source": {"namespaceSelector": "global()"}}])
    )
    assert only_global.matches(OUTSIDE)
    assert not only_global.matches(ELSEWHERE)  # no set contains it
    assert only_global.matches(FRONT)  # its address is in the "pods" set
    lone = Endpoint.for_pod(Pod("production", "lone", {}, ip("10.0.0.9")), NS_PROD)
    assert not only_global.matches(lone)


def test_nets_and_not_nets() -> None:
    rule = entity(
        gnp(
            ingress=[
                {"action": "Allow", "source": {"nets": ["10.0.0.0/8"], "notNets": ["10.0.1.0/24"]}}
            ]
        )
    )
    assert rule.matches(DB) and not rule.matches(FRONT_DEV) and not rule.matches(OUTSIDE)
    v6 = entity(gnp(ingress=[{"action": "Allow", "source": {"nets": ["::/0"]}}]))
    assert not v6.matches(DB)  # an IPv4 address is in no IPv6 network


def test_ports_numeric_named_and_negated() -> None:
    dest = entity(
        cnp(
            ingress=[
                {
                    "action": "Allow",
                    "protocol": "TCP",
                    "destination": {"ports": ["redis", "8000:8080"]},
                }
            ]
        ),
        "destination",
    )
    assert dest.matches(DB, 6379, "TCP") and dest.matches(DB, 8080, "TCP")
    assert not dest.matches(DB, 6380, "TCP")
    assert not dest.matches(DB, 6379, "UDP")  # the pod's "redis" port is TCP
    assert not dest.matches(OUTSIDE, 6379, "TCP")  # named ports exist on pods only
    with pytest.raises(ValueError, match="lists ports"):
        dest.matches(DB)
    named_udp = entity(
        cnp(ingress=[{"action": "Allow", "destination": {"ports": ["dns"]}}]), "destination"
    )
    assert named_udp.matches(DB, 53, "UDP") and not named_udp.matches(DB, 53, "TCP")
    scoped = entity(
        cnp(
            ingress=[
                {
                    "action": "Allow",
                    "protocol": "TCP",
                    "destination": {"selector": "role == 'frontend'", "ports": ["redis"]},
                }
            ]
        ),
        "destination",
    )
    assert scoped.matches(FRONT, 6379, "TCP") and not scoped.matches(DB, 6379, "TCP")
    not_ports = entity(
        gnp(
            ingress=[
                {"action": "Deny", "protocol": "TCP", "destination": {"notPorts": [22, "redis"]}}
            ]
        ),
        "destination",
    )
    assert not_ports.matches(DB, 80, "TCP")
    assert not not_ports.matches(DB, 22, "TCP") and not not_ports.matches(DB, 6379, "TCP")
    assert not_ports.matches(FRONT_DEV, 6380, "TCP")


def test_rule_matches_protocols_and_both_ends() -> None:
    policy, _ = read(NP_SAMPLE)
    rule = policy.ingress[0]
    assert rule.matches(FRONT, DB, 6379, "TCP")
    assert not rule.matches(FRONT, DB, 6379, "UDP")
    assert not rule.matches(FRONT_DEV, DB, 6379, "TCP")
    assert not rule.matches(FRONT, DB, 6380, "TCP")
    not_udp, _ = read(gnp(ingress=[{"action": "Deny", "notProtocol": "UDP"}]))
    assert not_udp.ingress[0].matches(OUTSIDE, DB, 1, "TCP")
    assert not not_udp.ingress[0].matches(OUTSIDE, DB, 1, "UDP")
    assert not_udp.ingress[0].describe() == "Deny not UDP"


def test_policies_select_pods() -> None:
    policy, _ = read(NP_SAMPLE)
    assert policy.selects(DB) and not policy.selects(FRONT) and not policy.selects(OUTSIDE)
    elsewhere = pod(NS_DEV, "db", "10.0.1.1", role="database")
    assert not policy.selects(elsewhere)  # a NetworkPolicy selects in its namespace only
    everything, _ = read(gnp())
    assert (
        everything.selects(DB) and everything.selects(elsewhere) and not everything.selects(OUTSIDE)
    )
    scoped, _ = read(gnp(selector="role == 'database'", namespaceSelector="shape == 'circle'"))
    assert scoped.selects(DB) and not scoped.selects(elsewhere) and not scoped.selects(FRONT)
    by_k8s_label, _ = read(gnp(namespaceSelector="kubernetes.io/metadata.name == 'dev'"))
    assert by_k8s_label.selects(FRONT_DEV) and not by_k8s_label.selects(FRONT)


def test_policy_order_within_a_tier() -> None:
    """policy_sorter.go PolKVLess: order (absent = +Inf), then "name/namespace/kind"."""
    policies = [
        read(cnp(order=100))[0],
        read({**gnp(order=100), "metadata": {"name": "p"}})[0],
        read({**cnp(), "metadata": {"name": "a", "namespace": "z"}})[0],
        read({**gnp(order=5.5), "metadata": {"name": "z"}})[0],
    ]
    ordered = sorted(policies, key=lambda p: p.sort_key())
    assert [p.sort_key()[1] for p in ordered] == [
        "z//GlobalNetworkPolicy",
        "p//GlobalNetworkPolicy",
        "p/production/NetworkPolicy",
        "a/z/NetworkPolicy",
    ]
