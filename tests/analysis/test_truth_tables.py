"""Truth tables for every NetworkPolicy semantic, in the upstream e2e style.

Sources cited per case:
* [e2e] kubernetes/kubernetes ``test/e2e/network/netpol/network_policy.go``, by test name;
* [api] the NetworkPolicy API reference (kubernetes.io/docs/reference/kubernetes-api/
  policy-resources/network-policy-v1/), by field;
* [concepts] kubernetes.io/docs/concepts/services-networking/network-policies/, by section;
* [labels] kubernetes.io/docs/concepts/overview/working-with-objects/labels/ (set-based
  requirements);
* [cilium] docs.cilium.io, Network Policy > Layer 3 > CIDR based.

Every table is checked against both the fast engine and ``tests/analysis/reference.py``, and
the pair-free counting path is checked against the reference count (see ``truthtable.check``).
"""

from __future__ import annotations

from typing import Any

from .truthtable import (
    ALL,
    Reachability,
    anything,
    check,
    cluster_dict,
    in_ns,
    netpol,
    pod_ip,
    pod_sel,
)

DENY_ALL_INGRESS = netpol("deny-ingress", ingress=[], policyTypes=["Ingress"])


def ingress_to_xa(*rules: Any, name: str = "to-x-a") -> dict[str, Any]:
    return netpol(name, podSelector=pod_sel(pod="a"), ingress=list(rules))


# -- isolation and defaults ---------------------------------------------------------------------


def test_no_policy_allows_everything() -> None:
    """[concepts] "By default, a pod is non-isolated for egress and ingress"."""
    check([], Reachability())


def test_default_deny_ingress() -> None:
    """[e2e] should support a 'default-deny-ingress' policy."""
    check([DENY_ALL_INGRESS], Reachability().expect_peer(anything, in_ns("x"), False))


def test_default_deny_all() -> None:
    """[e2e] should support a 'default-deny-all' policy."""
    policy = netpol("deny-all", ingress=[], egress=[], policyTypes=["Ingress", "Egress"])
    expected = Reachability().expect_peer(anything, in_ns("x"), False)
    check([policy], expected.expect_peer(in_ns("x"), anything, False))


def test_policy_types_default_to_ingress_when_no_egress_rules() -> None:
    """[api] policyTypes: "If this field is not specified, it will default based on the
    existence of ingress or egress rules" -- a bare policy isolates ingress only."""
    check(
        [netpol("bare", podSelector=pod_sel(pod="a"))],
        Reachability().expect_all_ingress("x/a", False),
    )


def test_policy_types_default_adds_egress_and_still_isolates_ingress() -> None:
    """[api] policyTypes defaulting: a policy with only egress rules and no policyTypes has
    types [Ingress, Egress], so it isolates ingress too (with no ingress rule: deny)."""
    policy = netpol("egress-only-rules", podSelector=pod_sel(pod="a"), egress=[{}])
    check([policy], Reachability().expect_all_ingress("x/a", False))


def test_egress_only_policy_leaves_ingress_open() -> None:
    """[e2e] should deny egress from pods based on PodSelector (policyTypes: [Egress])."""
    policy = netpol("deny-egress-a", podSelector=pod_sel(pod="a"), policyTypes=["Egress"])
    check([policy], Reachability().expect_all_egress("x/a", False))


def test_rules_of_an_unlisted_type_are_ignored() -> None:
    """[api] policyTypes lists the types the policy applies to; egress rules of a policy with
    policyTypes [Ingress] do not isolate egress."""
    policy = netpol(
        "ingress-typed",
        podSelector=pod_sel(pod="a"),
        policyTypes=["Ingress"],
        ingress=[{}],
        egress=[{"to": [{"podSelector": pod_sel(pod="b")}]}],
    )
    check([policy], Reachability())


def test_empty_rule_allows_all_but_empty_list_allows_nothing() -> None:
    """[e2e] should support allow-all policy (ingress: [{}]); [api] ingress: "If this field is
    empty then this NetworkPolicy does not allow any traffic"."""
    check([netpol("allow-all", ingress=[{}])], Reachability())
    check(
        [netpol("allow-none", ingress=[])], Reachability().expect_peer(anything, in_ns("x"), False)
    )


def test_egress_and_ingress_are_both_required() -> None:
    """[e2e] should support denying of egress traffic on the client side (even if the server
    explicitly allows this traffic)."""
    server_allows = ingress_to_xa({"from": [{"namespaceSelector": {}}]}, name="allow-to-a")
    client_denies = netpol(
        "deny-egress", namespace="y", podSelector=pod_sel(pod="b"), policyTypes=["Egress"]
    )
    expected = Reachability().expect_all_egress("y/b", False)
    check([server_allows, client_denies], expected)


def test_union_of_policies() -> None:
    """[e2e] should enforce policy to allow ingress traffic for a target (deny-all plus an
    allow-all-to-a policy: rules of all policies selecting a pod are ORed)."""
    allow_a = ingress_to_xa({"from": [{"podSelector": {}, "namespaceSelector": {}}]})
    expected = Reachability().expect_peer(anything, in_ns("x"), False)
    check([DENY_ALL_INGRESS, allow_a], expected.expect_all_ingress("x/a", True))


def test_allow_all_takes_precedence_over_narrower_policy() -> None:
    """[e2e] should enforce multiple ingress policies with ingress allow-all policy taking
    precedence."""
    narrow = ingress_to_xa({"ports": [{"port": 81}]}, name="only-81")
    wide = netpol("allow-all", ingress=[{}])
    check([narrow], Reachability().expect_all_ingress("x/a", False))
    check([narrow, wide], Reachability())


def test_policies_are_scoped_to_their_namespace() -> None:
    """[api] podSelector "selects the pods to which this NetworkPolicy object applies" within
    the policy's namespace: a policy in y never selects x/a."""
    policy = netpol("deny-a", namespace="y", podSelector=pod_sel(pod="a"), ingress=[])
    check([policy], Reachability().expect_all_ingress("y/a", False))


# -- peers --------------------------------------------------------------------------------------


def test_pod_selector_peer_stays_in_policy_namespace() -> None:
    """[e2e] should enforce policy to allow traffic from pods within server namespace based on
    PodSelector; [api] NetworkPolicyPeer.podSelector: "Otherwise it selects the pods matching
    podSelector in the policy's own namespace"."""
    policy = ingress_to_xa({"from": [{"podSelector": pod_sel(pod="b")}]})
    expected = Reachability().expect_all_ingress("x/a", False).expect("x/b", "x/a", True)
    check([policy], expected)


def test_empty_pod_selector_peer_is_whole_own_namespace() -> None:
    """[api] NetworkPolicyPeer.podSelector: "if present but empty, it selects all pods" (of
    the policy's namespace, when namespaceSelector is absent)."""
    policy = ingress_to_xa({"from": [{"podSelector": {}}]})
    expected = Reachability().expect_all_ingress("x/a", False)
    check([policy], expected.expect_peer(in_ns("x"), lambda d: d == "x/a", True))


def test_empty_namespace_selector_is_all_namespaces() -> None:
    """[e2e] should enforce policy to allow ingress traffic from pods in all namespaces."""
    check([ingress_to_xa({"from": [{"namespaceSelector": {}}]})], Reachability())


def test_namespace_selector_by_default_name_label() -> None:
    """[e2e] should enforce policy to allow traffic only from a different namespace, based on
    NamespaceSelector (kubernetes.io/metadata.name, set on every namespace)."""
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}}}
    expected = Reachability().expect_all_ingress("x/a", False)
    check(
        [ingress_to_xa({"from": [peer]})],
        expected.expect_peer(in_ns("y"), lambda d: d == "x/a", True),
    )


def test_pod_or_namespace_selector_in_two_peers() -> None:
    """[e2e] should enforce policy based on PodSelector or NamespaceSelector (two peers: OR)."""
    not_x = {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]}
    policy = ingress_to_xa(
        {"from": [{"namespaceSelector": not_x}, {"podSelector": pod_sel(pod="b")}]}
    )
    expected = Reachability().expect("x/a", "x/a", False).expect("x/c", "x/a", False)
    check([policy], expected)


def test_pod_and_namespace_selector_in_one_peer() -> None:
    """[e2e] should enforce policy based on PodSelector and NamespaceSelector (one peer: AND)."""
    not_x = {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]}
    policy = ingress_to_xa(
        {"from": [{"namespaceSelector": not_x, "podSelector": pod_sel(pod="b")}]}
    )
    expected = Reachability().expect_all_ingress("x/a", False)
    expected.expect("y/b", "x/a", True).expect("z/b", "x/a", True)
    check([policy], expected)


def test_match_expressions_operators() -> None:
    """[labels] set-based requirements: In, NotIn, Exists, DoesNotExist; NotIn and
    DoesNotExist also match objects without the key. [e2e] should enforce policy based on
    PodSelector with MatchExpressions."""
    cluster = cluster_dict(**{"y/c": {"labels": {}}})  # y/c has no "pod" label at all
    cases = {
        "In": ({"key": "pod", "operator": "In", "values": ["b", "c"]}, {"b", "c"}),
        "NotIn": ({"key": "pod", "operator": "NotIn", "values": ["b"]}, {"a", "c", "y/c"}),
        "Exists": ({"key": "pod", "operator": "Exists"}, {"a", "b", "c"}),
        "DoesNotExist": ({"key": "pod", "operator": "DoesNotExist"}, {"y/c"}),
    }
    for expr, admitted in cases.values():
        peer = {"namespaceSelector": {}, "podSelector": {"matchExpressions": [expr]}}
        expected = Reachability().expect_all_ingress("x/a", False)
        for src in ALL:
            pod_label = None if src == "y/c" else src.split("/")[1]
            if (pod_label in admitted) or (src in admitted):
                expected.expect(src, "x/a", True)
        check([ingress_to_xa({"from": [peer]})], expected, cluster=cluster)


def test_match_labels_and_expressions_are_anded() -> None:
    """[api] LabelSelector: "The requirements are ANDed" (matchLabels with matchExpressions)."""
    sel = {
        "matchLabels": {"pod": "b"},
        "matchExpressions": [{"key": "ns", "operator": "In", "values": ["z"]}],
    }
    policy = ingress_to_xa({"from": [{"namespaceSelector": sel}]})
    # No namespace has label pod=b, so the AND selects nothing.
    check([policy], Reachability().expect_all_ingress("x/a", False))


# -- ports and protocols ------------------------------------------------------------------------


def test_port_and_default_protocol_tcp() -> None:
    """[e2e] should enforce policy based on Ports; [api] NetworkPolicyPort.protocol "If not
    specified, this field defaults to TCP"."""
    policy = ingress_to_xa({"ports": [{"port": 81}]})
    check([policy], Reachability().expect_all_ingress("x/a", False), port=80)
    check([policy], Reachability(), port=81)
    check([policy], Reachability().expect_all_ingress("x/a", False), port=81, protocol="UDP")


def test_udp_only_policy_denies_tcp() -> None:
    """[e2e] should not allow access by TCP when a policy specifies only UDP."""
    policy = ingress_to_xa({"ports": [{"port": 81, "protocol": "UDP"}]})
    check([policy], Reachability().expect_all_ingress("x/a", False), port=81, protocol="TCP")
    check([policy], Reachability(), port=81, protocol="UDP")


def test_sctp_is_not_tcp() -> None:
    """[e2e] should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the
    plugin doesn't support SCTP."""
    policy = ingress_to_xa({"ports": [{"port": 80, "protocol": "SCTP"}]})
    check([policy], Reachability().expect_all_ingress("x/a", False))


def test_any_port_on_one_protocol() -> None:
    """[e2e] should enforce ingress policy allowing any port traffic to a server on a specific
    protocol (a ports entry with protocol and no port)."""
    policy = ingress_to_xa({"ports": [{"protocol": "UDP"}]})
    check([policy], Reachability().expect_all_ingress("x/a", False), port=81)
    check([policy], Reachability(), port=81, protocol="UDP")


def test_end_port_range() -> None:
    """[concepts] "Targeting a range of ports" (port..endPort inclusive)."""
    policy = ingress_to_xa({"ports": [{"port": 75, "endPort": 80}]})
    check([policy], Reachability(), port=80)
    check([policy], Reachability().expect_all_ingress("x/a", False), port=81)


def test_named_port_ingress() -> None:
    """[e2e] should allow ingress access on one named port."""
    policy = ingress_to_xa({"ports": [{"port": "serve-81-tcp"}]})
    check([policy], Reachability(), port=81)
    check([policy], Reachability().expect_all_ingress("x/a", False), port=80)
    check([policy], Reachability(), port="serve-81-tcp")


def test_named_port_needs_matching_protocol() -> None:
    """[api] NetworkPolicyPort: a named port is a container port name; the entry's protocol
    (default TCP) must match the container port's, so serve-81-udp as TCP matches nothing."""
    policy = ingress_to_xa({"ports": [{"port": "serve-81-udp"}]})
    check([policy], Reachability().expect_all_ingress("x/a", False), port=81, protocol="UDP")
    check([policy], Reachability().expect_all_ingress("x/a", False), port=81, protocol="TCP")


def test_named_port_egress_resolves_on_destination() -> None:
    """[e2e] should allow egress access on one named port; the name is looked up on the
    destination pod (x/b serves 80 under another name, so it is not reachable)."""
    ports = [{"name": "web", "port": 80, "protocol": "TCP"}]
    cluster = cluster_dict(**{"x/b": {"ports": ports}})
    policy = netpol(
        "egress-named",
        podSelector=pod_sel(pod="a"),
        policyTypes=["Egress"],
        egress=[{"ports": [{"port": "serve-80-tcp"}]}],
    )
    expected = Reachability().expect("x/a", "x/b", False)
    check([policy], expected, port=80, cluster=cluster)


# -- ipBlock and engines --------------------------------------------------------------------------

EXTERNAL = "192.0.2.10"
INSIDE_EXCEPT = "10.0.2.11"  # y/b


def test_egress_to_cidr_block_with_except() -> None:
    """[e2e] should allow egress access to server in CIDR block; should enforce except clause
    while egress access to server in CIDR block (pod IPs inside the ipBlock)."""
    policy = netpol(
        "egress-cidr",
        podSelector=pod_sel(pod="a"),
        policyTypes=["Egress"],
        egress=[{"to": [{"ipBlock": {"cidr": "10.0.2.0/24", "except": [f"{INSIDE_EXCEPT}/32"]}}]}],
    )
    expected = Reachability().expect_all_egress("x/a", False)
    expected.expect("x/a", "y/a", True).expect("x/a", "y/c", True)
    check([policy], expected)


def test_cilium_ipblock_does_not_select_pods() -> None:
    """[cilium] "CIDR rules do not apply to traffic where both sides of the connection are
    either managed by Cilium ..."; external IPs still match."""
    policy = netpol(
        "egress-cidr",
        podSelector=pod_sel(pod="a"),
        policyTypes=["Egress"],
        egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
    )
    endpoints = [*ALL, EXTERNAL]
    reference = Reachability(endpoints)
    check([policy], reference, engine="reference")
    check([policy], reference, engine="calico")
    check([policy], reference, engine="azure")
    cilium = Reachability(endpoints).expect_all_egress("x/a", False).expect("x/a", EXTERNAL, True)
    check([policy], cilium, engine="cilium")


def test_ingress_from_external_ip_block() -> None:
    """[api] IPBlock "describes a particular CIDR ... allowed to the pods"; selectors never
    match traffic from outside the cluster, an absent ``from`` does."""
    block = {"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}}
    other = "192.0.2.200"
    endpoints = [*ALL, EXTERNAL, other]
    selectors_only = ingress_to_xa({"from": [{"namespaceSelector": {}}]})
    check(
        [selectors_only],
        Reachability(endpoints).expect(EXTERNAL, "x/a", False).expect(other, "x/a", False),
    )
    expected = (
        Reachability(endpoints).expect_all_ingress("x/a", False).expect(EXTERNAL, "x/a", True)
    )
    check([ingress_to_xa({"from": [block]})], expected)


def test_default_deny_egress_blocks_external() -> None:
    """[e2e] should deny egress from all pods in a namespace; outside IPs included."""
    policy = netpol("deny-egress", policyTypes=["Egress"])
    endpoints = [*ALL, EXTERNAL]
    check([policy], Reachability(endpoints).expect_peer(in_ns("x"), anything, False))


def test_engine_none_allows_everything() -> None:
    """[concepts] Prerequisites: without a controller implementing it a policy has no effect."""
    policy = netpol("deny-all", ingress=[], egress=[], policyTypes=["Ingress", "Egress"])
    check([policy], Reachability(), engine="none")


def test_pod_ip_as_probe_end_is_that_pod() -> None:
    """A bare IP that belongs to a pod is that pod: selectors apply to it."""
    policy = ingress_to_xa({"from": [{"podSelector": pod_sel(pod="b")}]})
    endpoints = [pod_ip("x", "b"), pod_ip("x", "c"), "x/a"]
    expected = Reachability(endpoints).expect(pod_ip("x", "c"), "x/a", False)
    expected.expect("x/a", "x/a", False)
    check([policy], expected)
