"""Truth tables for ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) tiers.

One test (or parametrized case) per semantic rule. Each quotes the doc comment it checks from
kubernetes-sigs/network-policy-api ``apis/v1alpha2/clusternetworkpolicy_types.go`` at tag
v0.2.0 ([types]); a few add ``site-src/api-overview.md`` ([overview]), the ANP blog post
``site-src/blog/posts/Getting Started with ANP.md`` ([blog]) or the conformance tests
(``conformance/tests/*.go``, [conformance]) at the same tag.

Every table is checked against ``analyze()`` and against ``tests/analysis/reference_tiers.py``
(written independently from the same doc comments), and the pair-free count of the default
matrix against the reference's count (see ``check``). The cluster is the upstream-style 3x3 of
``truthtable.py``: namespaces x, y, z labelled ``ns: <name>``; pods a, b, c labelled
``pod: <name>`` with IP 10.0.<1..3>.<10..12>; ports 80 and 81 over TCP and UDP, named
``serve-<port>-<protocol>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from provisioning.analysis.analyzer import analyze
from provisioning.analysis.model import ClusterModel, Probe

from . import reference_tiers
from .truthtable import ALL, Reachability, anything, cluster_dict, in_ns, netpol, pod_sel, render

CNP_API_VERSION = "policy.networking.k8s.io/v1alpha2"
IMDS = "169.254.169.254"
OUTSIDE = "192.0.2.10"


# -- builders -------------------------------------------------------------------------------------


def cnp(
    name: str,
    *,
    tier: str = "Admin",
    priority: int = 10,
    subject: Mapping[str, Any] | None = None,
    ingress: list[Any] | None = None,
    egress: list[Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tier": tier,
        "priority": priority,
        "subject": dict(subject) if subject is not None else {"namespaces": {}},
    }
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {
        "apiVersion": CNP_API_VERSION,
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def ns_labels(ns: str) -> dict[str, Any]:
    return {"matchLabels": {"ns": ns}}


def namespaces(ns: str | None = None) -> dict[str, Any]:
    """Subject or peer: every pod of namespace ``ns`` (all namespaces when ``None``)."""
    return {"namespaces": ns_labels(ns) if ns else {}}


def pods(ns: str | None, pod: str | None) -> dict[str, Any]:
    """Subject or peer ``pods``; ``ns=None`` leaves ``namespaceSelector`` out."""
    body: dict[str, Any] = {"podSelector": pod_sel(pod=pod) if pod else {}}
    if ns is not None:
        body["namespaceSelector"] = ns_labels(ns)
    return {"pods": body}


def networks(*cidrs: str) -> dict[str, Any]:
    return {"networks": list(cidrs)}


def ingress_rule(action: str, *peers: Any, name: str | None = None, **extra: Any) -> dict:
    return {**({"name": name} if name else {}), "action": action, "from": list(peers), **extra}


def egress_rule(action: str, *peers: Any, name: str | None = None, **extra: Any) -> dict:
    return {**({"name": name} if name else {}), "action": action, "to": list(peers), **extra}


def tcp(number: int) -> dict[str, Any]:
    return {"tcp": {"destinationPort": {"number": number}}}


def port_range(proto: str, start: int, end: int) -> dict[str, Any]:
    return {proto: {"destinationPort": {"range": {"start": start, "end": end}}}}


def is_pod(name: str) -> Any:
    """Matches one endpoint (a pod's ``ns/name`` or an IP)."""
    return lambda p: p == name


def is_a_pod(endpoint: str) -> bool:
    return "/" in endpoint


# -- the check ------------------------------------------------------------------------------------


def check(
    policies: Sequence[Mapping[str, Any]],
    expected: Reachability,
    *,
    port: int | str = 80,
    protocol: str = "TCP",
    cluster: Mapping[str, Any] | None = None,
) -> None:
    """``analyze()`` and ``reference_tiers`` both give ``expected`` on ``port``/``protocol``."""
    cluster = cluster or cluster_dict()
    model = ClusterModel.from_dict(cluster)
    endpoints = expected.endpoints
    probes = [Probe(s, d, port, protocol) for s in endpoints for d in endpoints if "/" in s + d]
    results = list(analyze(model, list(policies), probes).results())
    assert len(results) == len(probes)
    got = {(p.source, p.destination): r.allowed for p, r in zip(probes, results, strict=True)}
    slow: dict[tuple[str, str], bool] = {}
    for p in probes:
        verdict = reference_tiers.evaluate(
            cluster, policies, p.source, p.destination, port, protocol
        )
        assert not verdict.ambiguous, f"table {p} depends on an equal-priority tie"
        slow[p.source, p.destination] = verdict.allowed
    want = {k: v for k, v in expected.table.items() if k in got}
    assert slow == want, (
        f"reference_tiers differs (fix the table or the reference) on {port}/{protocol}\n"
        f"expected:\n{render(want, endpoints)}\ngot:\n{render(slow, endpoints)}"
    )
    assert got == want, (
        f"analyze() differs on {port}/{protocol}\nexpected:\n{render(want, endpoints)}\n"
        f"got:\n{render(got, endpoints)}"
    )
    for r in results:  # the explanation agrees with the verdict
        assert r.allowed == (r.ingress.verdict == r.egress.verdict == "allow"), r
    assert_counts_match(cluster, policies)


def assert_counts_match(cluster: Mapping[str, Any], policies: Sequence[Mapping[str, Any]]) -> None:
    """The pair-free count of the default matrix equals the reference's count."""
    analysis = analyze(ClusterModel.from_dict(cluster), list(policies), None)
    total = allowed = 0
    for dst in cluster["pods"]:
        for declared in dst.get("ports") or []:
            for src in cluster["pods"]:
                total += 1
                allowed += reference_tiers.allowed(
                    cluster,
                    policies,
                    f"{src['namespace']}/{src['name']}",
                    f"{dst['namespace']}/{dst['name']}",
                    declared["port"],
                    declared.get("protocol") or "TCP",
                )
    assert (analysis.probes, analysis.allowed) == (total, allowed)


def denied_into(ns: str, sources: Any = anything) -> Reachability:
    return Reachability().expect_peer(sources, in_ns(ns), False)


# -- tiers ----------------------------------------------------------------------------------------


def test_no_policies_default_allow() -> None:
    """[types] Tier: "If a given connection wasn't allowed or denied by any of the tiers, the
    default kubernetes policy is applied, which says that all pods can communicate with each
    other." """
    check([], Reachability())


def test_cnp_isolates_nothing_by_itself() -> None:
    """[overview] "there will not be any implicit isolation effects for the Pods selected by
    the ClusterNetworkPolicy"; [types] Tier: the default "says that all pods can communicate"
    -- a Deny from z leaves x open to everyone else, in both tiers."""
    for tier in ("Admin", "Baseline"):
        policy = cnp(
            "deny-z",
            tier=tier,
            subject=namespaces("x"),
            ingress=[ingress_rule("Deny", namespaces("z"))],
        )
        check([policy], denied_into("x", in_ns("z")))


def test_admin_deny_beats_networkpolicy_allow() -> None:
    """[types] Tier: "The Admin tier takes precedence over all other policies." ... "If Admin
    tier has made a final decision (Accept or Deny) on a connection, then no further evaluation
    is done." """
    allow_all = netpol("allow-all", ingress=[{}])
    admin = cnp("deny-y", subject=namespaces("x"), ingress=[ingress_rule("Deny", namespaces("y"))])
    check([allow_all, admin], denied_into("x", in_ns("y")))


def test_admin_accept_beats_networkpolicy_isolation_ingress() -> None:
    """[types] IngressRule.Action: "Accept: Accepts the selected traffic, allowing it into the
    destination. No further ClusterNetworkPolicy or NetworkPolicy rules will be processed." """
    deny_all = netpol("deny-all", ingress=[], policyTypes=["Ingress"])
    admin = cnp(
        "accept-y", subject=namespaces("x"), ingress=[ingress_rule("Accept", namespaces("y"))]
    )
    expected = denied_into("x").expect_peer(in_ns("y"), in_ns("x"), True)
    check([deny_all, admin], expected)


def test_admin_accept_beats_networkpolicy_isolation_egress() -> None:
    """[types] EgressRule.Action: "Accept: Accepts the selected traffic, allowing it to
    egress. No further ClusterNetworkPolicy or NetworkPolicy rules will be processed." """
    deny_egress = netpol("deny-egress", policyTypes=["Egress"])
    admin = cnp(
        "accept-to-y", subject=namespaces("x"), egress=[egress_rule("Accept", namespaces("y"))]
    )
    expected = Reachability().expect_peer(in_ns("x"), anything, False)
    check([deny_egress, admin], expected.expect_peer(in_ns("x"), in_ns("y"), True))


@pytest.mark.parametrize(
    ("admin_action", "baseline_action", "allowed"),
    [("Deny", "Accept", False), ("Accept", "Deny", True)],
)
def test_admin_tier_before_baseline_tier(
    admin_action: str, baseline_action: str, allowed: bool
) -> None:
    """[types] Tier: "Policy tiers are evaluated in the following order: * Admin tier *
    NetworkPolicy tier * Baseline tier" -- whatever the priorities (Baseline 0, Admin 1000)."""
    baseline = cnp(
        "baseline",
        tier="Baseline",
        priority=0,
        subject=namespaces("x"),
        ingress=[ingress_rule(baseline_action, namespaces("y"))],
    )
    admin = cnp(
        "admin",
        priority=1000,
        subject=namespaces("x"),
        ingress=[ingress_rule(admin_action, namespaces("y"))],
    )
    check([baseline, admin], Reachability().expect_peer(in_ns("y"), in_ns("x"), allowed))


# -- priorities and rule order --------------------------------------------------------------------


@pytest.mark.parametrize("tier", ["Admin", "Baseline"])
@pytest.mark.parametrize(
    ("accept_priority", "deny_priority", "y_allowed"),
    [(5, 20, True), (20, 5, False), (0, 1000, True), (1000, 0, False)],
)
def test_lower_priority_value_is_checked_first(
    tier: str, accept_priority: int, deny_priority: int, y_allowed: bool
) -> None:
    """[types] Priority: "Policies with lower priority values have higher precedence, and are
    checked before policies with higher priority values in the same tier." Names and list
    order are deliberately unrelated to the priorities."""
    deny = cnp(
        "a-deny-all",
        tier=tier,
        priority=deny_priority,
        subject=namespaces("x"),
        ingress=[ingress_rule("Deny", namespaces())],
    )
    accept = cnp(
        "z-accept-y",
        tier=tier,
        priority=accept_priority,
        subject=namespaces("x"),
        ingress=[ingress_rule("Accept", namespaces("y"))],
    )
    expected = denied_into("x").expect_peer(in_ns("y"), in_ns("x"), y_allowed)
    check([deny, accept], expected)
    check([accept, deny], expected)


@pytest.mark.parametrize("tier", ["Admin", "Baseline"])
def test_ingress_rules_in_written_order(tier: str) -> None:
    """[types] Ingress: "The relative precedence of ingress rules within a single CNP object
    (all of which share the priority) will be determined by the order in which the rule is
    written. Thus, a rule that appears at the top of the ingress rules would take the highest
    precedence." """
    accept_y = ingress_rule("Accept", namespaces("y"))
    deny_all = ingress_rule("Deny", namespaces())
    first = cnp("p", tier=tier, subject=namespaces("x"), ingress=[accept_y, deny_all])
    check([first], denied_into("x").expect_peer(in_ns("y"), in_ns("x"), True))
    last = cnp("p", tier=tier, subject=namespaces("x"), ingress=[deny_all, accept_y])
    check([last], denied_into("x"))


@pytest.mark.parametrize("tier", ["Admin", "Baseline"])
def test_egress_rules_in_written_order(tier: str) -> None:
    """[types] Egress: "The relative precedence of egress rules within a single CNP object
    (all of which share the priority) will be determined by the order in which the rule is
    written." """
    accept_y = egress_rule("Accept", namespaces("y"))
    deny_all = egress_rule("Deny", namespaces())
    first = cnp("p", tier=tier, subject=namespaces("x"), egress=[accept_y, deny_all])
    expected = Reachability().expect_peer(in_ns("x"), anything, False)
    check([first], expected.expect_peer(in_ns("x"), in_ns("y"), True))
    last = cnp("p", tier=tier, subject=namespaces("x"), egress=[deny_all, accept_y])
    check([last], Reachability().expect_peer(in_ns("x"), anything, False))


def test_equal_priorities_with_conflicting_actions_are_ambiguous() -> None:
    """[types] Priority: "If two (or more) policies in the same tier with the same priority
    could match a connection, then the implementation can apply any of the matching policies
    to the connection" -- the reference flags the verdict as ambiguous; analyze() must still
    give one. With the same action both ways the verdict is not ambiguous."""
    cluster = cluster_dict()
    accept = cnp("accept", subject=namespaces("x"), ingress=[ingress_rule("Accept", namespaces())])
    deny = cnp("deny", subject=namespaces("x"), ingress=[ingress_rule("Deny", namespaces("y"))])
    assert reference_tiers.ambiguous(cluster, [accept, deny], "y/a", "x/a", 80)
    assert not reference_tiers.ambiguous(cluster, [accept, deny], "z/a", "x/a", 80)
    model = ClusterModel.from_dict(cluster)
    (result,) = analyze(model, [accept, deny], [Probe("y/a", "x/a", 80)]).results()
    assert result.verdict in ("allow", "deny")

    deny2 = cnp("deny-too", subject=namespaces("x"), ingress=[ingress_rule("Deny", namespaces())])
    deny_y = cnp("deny", subject=namespaces("x"), ingress=[ingress_rule("Deny", namespaces("y"))])
    check([deny2, deny_y], denied_into("x"))


# -- Pass -----------------------------------------------------------------------------------------


def test_admin_pass_goes_to_networkpolicy_tier() -> None:
    """[types] Action: "Pass: Skips all further ClusterNetworkPolicy rules in the current tier
    for the selected traffic, and passes evaluation to the next tier."; RuleActionPass: "For
    example, if an Admin tier CNP uses Pass action, NetworkPolicy evaluation will happen
    next." The Deny after the Pass only catches what the Pass did not."""
    admin = cnp(
        "delegate-x",
        subject=namespaces("x"),
        ingress=[ingress_rule("Pass", namespaces("x")), ingress_rule("Deny", namespaces())],
    )
    np = netpol(
        "only-b",
        podSelector=pod_sel(pod="a"),
        ingress=[{"from": [{"podSelector": pod_sel(pod="b")}]}],
    )
    expected = denied_into("x").expect_peer(in_ns("x"), in_ns("x"), True)
    expected.expect("x/a", "x/a", False).expect("x/c", "x/a", False)
    check([admin, np], expected)


def test_pass_skips_lower_precedence_policies_of_its_tier() -> None:
    """[types] RuleActionPass: "That means that all the rules with lower precedence at the
    same tier will be ignored, but evaluation will continue at the next tier." """
    for tier in ("Admin", "Baseline"):
        pass_y = cnp(
            "pass-y",
            tier=tier,
            priority=1,
            subject=namespaces("x"),
            ingress=[ingress_rule("Pass", namespaces("y"))],
        )
        deny_all = cnp(
            "deny-all",
            tier=tier,
            priority=2,
            subject=namespaces("x"),
            ingress=[ingress_rule("Deny", namespaces())],
        )
        check([deny_all, pass_y], denied_into("x").expect_peer(in_ns("y"), in_ns("x"), True))


def test_admin_pass_reaches_baseline_for_pods_no_networkpolicy_selects() -> None:
    """[types] Tier: "v1.NetworkPolicy always makes a final decision for selected pods.
    Further evaluation only happens for Pods not selected by a v1.NetworkPolicy." x/a is
    selected (and admits y), x/b and x/c are not: Baseline's Deny reaches them."""
    admin = cnp("pass-y", subject=namespaces("x"), ingress=[ingress_rule("Pass", namespaces("y"))])
    np = netpol(
        "a-from-y",
        podSelector=pod_sel(pod="a"),
        ingress=[{"from": [{"namespaceSelector": ns_labels("y")}]}],
    )
    baseline = cnp(
        "deny-y",
        tier="Baseline",
        subject=namespaces("x"),
        ingress=[ingress_rule("Deny", namespaces("y"))],
    )
    expected = Reachability().expect_peer(in_ns("y"), in_ns("x"), False)
    expected.expect_peer(anything, is_pod("x/a"), False)  # isolated by the NetworkPolicy
    expected.expect_peer(in_ns("y"), is_pod("x/a"), True)
    check([admin, np, baseline], expected)


def test_baseline_pass_goes_to_default_allow() -> None:
    """[types] Tier: "If a given connection wasn't allowed or denied by any of the tiers, the
    default kubernetes policy is applied" -- Baseline Pass, then nothing: allowed."""
    baseline = cnp(
        "b",
        tier="Baseline",
        subject=namespaces("x"),
        ingress=[ingress_rule("Pass", namespaces("y")), ingress_rule("Deny", namespaces())],
    )
    check([baseline], denied_into("x").expect_peer(in_ns("y"), in_ns("x"), True))


def test_admin_pass_then_baseline_pass_is_default_allow() -> None:
    """[types] RuleActionPass: "evaluation will continue at the next tier" (twice), then the
    Tier default: "all pods can communicate with each other"."""
    admin = cnp(
        "a",
        subject=namespaces("x"),
        ingress=[ingress_rule("Pass", namespaces()), ingress_rule("Deny", namespaces())],
    )
    baseline = cnp(
        "b",
        tier="Baseline",
        subject=namespaces("x"),
        ingress=[ingress_rule("Pass", namespaces()), ingress_rule("Deny", namespaces())],
    )
    check([admin, baseline], Reachability())


# -- Baseline and NetworkPolicy -------------------------------------------------------------------


def test_baseline_applies_to_pods_no_networkpolicy_selects() -> None:
    """[types] Tier: "If Baseline tier has made a final decision (Accept or Deny) on a
    connection, then no further evaluation is done." """
    baseline = cnp(
        "default-deny",
        tier="Baseline",
        subject=namespaces("x"),
        ingress=[ingress_rule("Deny", namespaces())],
    )
    check([baseline], denied_into("x"))


def test_networkpolicy_isolation_overrides_baseline_accept() -> None:
    """[types] Tier: "Baseline tier is a cluster-wide policy that can be overridden by the
    v1.NetworkPolicy." ... "v1.NetworkPolicy always makes a final decision for selected pods."
    -- even when that NetworkPolicy admits nothing at all, Baseline's Accept never applies."""
    baseline = cnp(
        "accept-all",
        tier="Baseline",
        subject=namespaces("x"),
        ingress=[ingress_rule("Accept", namespaces())],
    )
    np = netpol("deny-a", podSelector=pod_sel(pod="a"), ingress=[], policyTypes=["Ingress"])
    check([baseline, np], Reachability().expect_all_ingress("x/a", False))


def test_networkpolicy_allow_overrides_baseline_deny() -> None:
    """[types] Tier: "Baseline tier is a cluster-wide policy that can be overridden by the
    v1.NetworkPolicy." """
    baseline = cnp(
        "deny-all",
        tier="Baseline",
        subject=namespaces("x"),
        ingress=[ingress_rule("Deny", namespaces())],
    )
    np = netpol(
        "a-from-y",
        podSelector=pod_sel(pod="a"),
        ingress=[{"from": [{"namespaceSelector": ns_labels("y")}]}],
    )
    check([baseline, np], denied_into("x").expect_peer(in_ns("y"), is_pod("x/a"), True))


def test_networkpolicy_tier_is_per_direction() -> None:
    """[types] Tier: "Further evaluation only happens for Pods not selected by a
    v1.NetworkPolicy."; [blog] "If a pod is selected by a NetworkPolicy with egress rules, any
    egress traffic from the pod, if not explicitly allowed ... will be dropped due to this
    isolation effect and thus will not be evaluated further against
    BaselineAdminNetworkPolicy rules. The same applies for ingress direction traffic." An
    ingress-only NetworkPolicy on x/a leaves x/a's egress to Baseline."""
    np = netpol(
        "a-ingress-open", podSelector=pod_sel(pod="a"), policyTypes=["Ingress"], ingress=[{}]
    )
    baseline = cnp(
        "z-closed",
        tier="Baseline",
        subject=namespaces("x"),
        ingress=[ingress_rule("Deny", namespaces("z"))],
        egress=[egress_rule("Deny", namespaces("z"))],
    )
    expected = Reachability().expect_peer(in_ns("x"), in_ns("z"), False)
    expected.expect_peer(in_ns("z"), in_ns("x"), False).expect_peer(in_ns("z"), is_pod("x/a"), True)
    check([np, baseline], expected)


# -- directions -----------------------------------------------------------------------------------


def test_egress_deny_at_source_blocks_even_if_ingress_accepts() -> None:
    """[types] EgressRule: "describes an action to take on a particular set of traffic
    originating from pods selected by a ClusterNetworkPolicy's Subject field"; IngressRule:
    "... traffic destined for pods selected by ..." -- two separate decisions, both needed."""
    client = cnp(
        "client-deny", subject=pods("x", "a"), egress=[egress_rule("Deny", namespaces("y"))]
    )
    server = cnp(
        "server-accept", subject=namespaces("y"), ingress=[ingress_rule("Accept", namespaces())]
    )
    check([client, server], Reachability().expect_peer(is_pod("x/a"), in_ns("y"), False))


def test_ingress_deny_at_destination_blocks_even_if_egress_accepts() -> None:
    """[types] IngressRule: "describes an action to take on a particular set of traffic
    destined for pods selected by a ClusterNetworkPolicy's Subject field." """
    client = cnp(
        "client-accept", subject=namespaces("x"), egress=[egress_rule("Accept", namespaces())]
    )
    server = cnp(
        "server-deny", subject=namespaces("y"), ingress=[ingress_rule("Deny", namespaces("x"))]
    )
    check([client, server], Reachability().expect_peer(in_ns("x"), in_ns("y"), False))


def test_rules_of_one_direction_do_not_affect_the_other() -> None:
    """[types] Ingress: "CNPs with no ingress rules do not affect ingress traffic."; Egress:
    "CNPs with no egress rules do not affect egress traffic." """
    egress_only = cnp(
        "x-no-egress-to-y", subject=namespaces("x"), egress=[egress_rule("Deny", namespaces("y"))]
    )
    check([egress_only], Reachability().expect_peer(in_ns("x"), in_ns("y"), False))
    ingress_only = cnp(
        "x-no-ingress-from-y",
        subject=namespaces("x"),
        ingress=[ingress_rule("Deny", namespaces("y"))],
    )
    check([ingress_only], Reachability().expect_peer(in_ns("y"), in_ns("x"), False))


# -- networks -------------------------------------------------------------------------------------


def test_networks_match_pod_ips_and_outside_ips() -> None:
    """[types] Networks: "This is intended for representing entities that live outside the
    cluster, ... but note that cluster-internal traffic will be checked against the rule as
    well." y's pods are 10.0.2.10-12; 169.254.169.254 is outside."""
    policy = cnp(
        "deny-y-and-imds",
        subject=namespaces("x"),
        egress=[egress_rule("Deny", networks("10.0.2.0/24", f"{IMDS}/32"))],
    )
    endpoints = [*ALL, IMDS, OUTSIDE]
    expected = Reachability(endpoints).expect_peer(in_ns("x"), in_ns("y"), False)
    check([policy], expected.expect_peer(in_ns("x"), is_pod(IMDS), False))


def test_networks_all_ipv4_includes_pods_unless_passed_first() -> None:
    """[types] Networks: "So if you Accept or Deny traffic to "0.0.0.0/0", that will allow or
    deny all IPv4 pod-to-pod traffic as well. If you don't want that, add a rule that Passes
    all pod traffic before the Networks rule." """
    endpoints = [*ALL, IMDS, OUTSIDE]
    deny_all = egress_rule("Deny", networks("0.0.0.0/0"))
    policy = cnp("deny-world", subject=namespaces("x"), egress=[deny_all])
    check([policy], Reachability(endpoints).expect_peer(in_ns("x"), anything, False))
    pass_pods = egress_rule("Pass", namespaces())
    policy = cnp("deny-outside", subject=namespaces("x"), egress=[pass_pods, deny_all])
    expected = Reachability(endpoints).expect_peer(in_ns("x"), is_pod(IMDS), False)
    check([policy], expected.expect_peer(in_ns("x"), is_pod(OUTSIDE), False))


def test_networks_ipv6_cidr_does_not_match_ipv4() -> None:
    """[types] Networks: "Each item in Networks should be provided in the CIDR format and
    should be IPv4 or IPv6, for example "10.0.0.0/8" or "fd00::/8"." -- ::/0 is all IPv6 and
    no IPv4 address."""
    policy = cnp("deny-v6", subject=namespaces("x"), egress=[egress_rule("Deny", networks("::/0"))])
    check([policy], Reachability([*ALL, OUTSIDE]))


def test_selector_peers_never_match_outside_ips() -> None:
    """[types] IngressPeer.Namespaces: "Namespaces defines a way to select all pods within a
    set of Namespaces." -- an outside client is no pod; only ``networks`` (egress) sees IPs."""
    policy = cnp(
        "deny-pods",
        subject=namespaces("x"),
        ingress=[ingress_rule("Deny", namespaces(), pods(None, None))],
        egress=[egress_rule("Deny", namespaces(), pods(None, None))],
    )
    endpoints = [*ALL, OUTSIDE]
    expected = Reachability(endpoints).expect_peer(is_a_pod, in_ns("x"), False)
    check([policy], expected.expect_peer(in_ns("x"), is_a_pod, False))


# -- protocols and ports --------------------------------------------------------------------------


def test_destination_named_port_on_ingress() -> None:
    """[types] DestinationNamedPort: "DestinationNamedPort selects a destination port on a pod
    based on the ContainerPort name." [conformance] CNPAdminTierIngressNamedPort: the name
    "dns" is "defined as UDP at port 53 in pod spec" -- the container port's protocol counts."""
    policy = cnp(
        "named",
        subject=pods("x", "a"),
        ingress=[
            ingress_rule(
                "Accept", namespaces("y"), protocols=[{"destinationNamedPort": "serve-81-tcp"}]
            ),
            ingress_rule("Deny", namespaces()),
        ],
    )
    closed = Reachability().expect_all_ingress("x/a", False)
    check([policy], closed.expect_peer(in_ns("y"), is_pod("x/a"), True), port=81)
    check([policy], Reachability().expect_all_ingress("x/a", False), port=80)
    check([policy], Reachability().expect_all_ingress("x/a", False), port=81, protocol="UDP")
    opened = Reachability().expect_all_ingress("x/a", False)
    check([policy], opened.expect_peer(in_ns("y"), is_pod("x/a"), True), port="serve-81-tcp")


def test_destination_named_port_on_egress_resolves_on_the_destination() -> None:
    """[types] DestinationNamedPort: "selects a destination port on a pod based on the
    ContainerPort name" -- for egress that is the peer: x/b serves 80 as "web", so a Deny of
    serve-80-tcp does not reach it."""
    cluster = cluster_dict(**{"x/b": {"ports": [{"name": "web", "port": 80, "protocol": "TCP"}]}})
    policy = cnp(
        "no-serve-80",
        subject=pods("x", "a"),
        egress=[
            egress_rule("Deny", namespaces(), protocols=[{"destinationNamedPort": "serve-80-tcp"}])
        ],
    )
    expected = Reachability().expect_all_egress("x/a", False).expect("x/a", "x/b", True)
    check([policy], expected, cluster=cluster)


@pytest.mark.parametrize(("port", "denied"), [(79, False), (80, True), (81, True), (82, False)])
def test_port_range_is_inclusive(port: int, denied: bool) -> None:
    """[types] PortRange: "PortRange defines an inclusive range of ports from the assigned
    Start value to End value." """
    policy = cnp(
        "range",
        subject=namespaces("x"),
        ingress=[ingress_rule("Deny", namespaces(), protocols=[port_range("tcp", 80, 81)])],
    )
    check([policy], Reachability().expect_peer(anything, in_ns("x"), not denied), port=port)


@pytest.mark.parametrize(
    ("entry", "probe", "denied"),
    [
        (tcp(80), (80, "TCP"), True),
        (tcp(80), (81, "TCP"), False),
        (tcp(80), (80, "UDP"), False),
        (tcp(80), (80, "SCTP"), False),
        ({"udp": {"destinationPort": {"number": 80}}}, (80, "UDP"), True),
        ({"udp": {"destinationPort": {"number": 80}}}, (80, "TCP"), False),
        ({"sctp": {"destinationPort": {"number": 80}}}, (80, "SCTP"), True),
        ({"sctp": {"destinationPort": {"number": 80}}}, (80, "TCP"), False),
        (port_range("udp", 53, 81), (80, "TCP"), False),
    ],
)
def test_protocol_must_match(entry: dict[str, Any], probe: tuple[int, str], denied: bool) -> None:
    """[types] Protocol: "TCP specific protocol matches." / "UDP specific protocol matches." /
    "SCTP specific protocol matches." -- a tcp entry never matches UDP or SCTP."""
    policy = cnp(
        "proto",
        subject=namespaces("x"),
        ingress=[ingress_rule("Deny", namespaces(), protocols=[entry])],
    )
    expected = Reachability().expect_peer(anything, in_ns("x"), not denied)
    check([policy], expected, port=probe[0], protocol=probe[1])


@pytest.mark.parametrize(("port", "protocol"), [(80, "TCP"), (81, "UDP"), (9, "SCTP")])
def test_absent_protocols_match_all_traffic(port: int, protocol: str) -> None:
    """[types] Protocols: "If unspecified, protocol-specific attributes will not be used to
    match traffic." """
    policy = cnp("all", subject=namespaces("x"), ingress=[ingress_rule("Deny", namespaces("y"))])
    check([policy], denied_into("x", in_ns("y")), port=port, protocol=protocol)


def test_protocol_entries_are_alternatives() -> None:
    """[types] Protocols: "Protocols allows for more fine-grain matching of traffic on
    protocol-specific attributes such as the port." -- any entry matching is enough."""
    entries = [tcp(80), {"udp": {"destinationPort": {"number": 81}}}]
    policy = cnp(
        "two",
        subject=namespaces("x"),
        ingress=[ingress_rule("Deny", namespaces(), protocols=entries)],
    )
    check([policy], denied_into("x"), port=80, protocol="TCP")
    check([policy], denied_into("x"), port=81, protocol="UDP")
    check([policy], Reachability(), port=81, protocol="TCP")
    check([policy], Reachability(), port=80, protocol="UDP")


# -- subjects and peers ---------------------------------------------------------------------------


def test_subject_namespaces_selects_every_pod_of_the_namespaces() -> None:
    """[types] Subject.Namespaces: "Namespaces is used to select pods via namespace
    selectors." """
    policy = cnp("s", subject=namespaces("y"), ingress=[ingress_rule("Deny", namespaces("z"))])
    check([policy], denied_into("y", in_ns("z")))


def test_subject_pods_is_namespace_and_pod_selector() -> None:
    """[types] Subject.Pods: "Pods is used to select pods via namespace AND pod selectors." """
    policy = cnp("s", subject=pods("y", "b"), ingress=[ingress_rule("Deny", namespaces("z"))])
    check([policy], Reachability().expect_peer(in_ns("z"), is_pod("y/b"), False))


def test_subject_pods_without_namespace_selector_is_every_namespace() -> None:
    """[types] NamespacedPod.NamespaceSelector: "NamespaceSelector follows standard label
    selector semantics; if empty, it selects all Namespaces." (optional, not a pointer:
    absent is empty)."""
    policy = cnp("s", subject=pods(None, "b"), ingress=[ingress_rule("Deny", namespaces("z"))])
    expected = Reachability().expect_peer(in_ns("z"), lambda d: d.endswith("/b"), False)
    check([policy], expected)


def test_empty_selectors_select_everything() -> None:
    """[types] NamespacedPod: "if empty, it selects all Namespaces" / PodSelector: "if empty,
    it selects all Pods."; an empty ``namespaces`` selector is every namespace."""
    for subject in (namespaces(), {"pods": {"namespaceSelector": {}, "podSelector": {}}}):
        for peer in (namespaces(), {"pods": {"namespaceSelector": {}, "podSelector": {}}}):
            policy = cnp(
                "all", tier="Baseline", subject=subject, ingress=[ingress_rule("Deny", peer)]
            )
            check([policy], Reachability(default=False))


def test_peers_of_a_rule_are_alternatives() -> None:
    """[types] IngressRule.From: "If any element matches the source of incoming traffic then
    the specified action is applied." """
    policy = cnp(
        "or",
        subject=namespaces("x"),
        ingress=[ingress_rule("Deny", namespaces("y"), pods("z", "b"))],
    )
    check([policy], denied_into("x", in_ns("y")).expect_peer(is_pod("z/b"), in_ns("x"), False))


def test_pods_peer_is_namespace_and_pod_selector() -> None:
    """[types] Peer.Pods: "Pods defines a way to select a set of pods in a set of
    namespaces." -- both selectors must match."""
    policy = cnp(
        "and",
        subject=namespaces("x"),
        ingress=[ingress_rule("Deny", pods("y", "b"))],
        egress=[egress_rule("Deny", pods("z", "c"))],
    )
    expected = Reachability().expect_peer(is_pod("y/b"), in_ns("x"), False)
    check([policy], expected.expect_peer(in_ns("x"), is_pod("z/c"), False))


def test_namespace_name_label_selects() -> None:
    """[types] Subject.Namespaces "select pods via namespace selectors" -- on any namespace
    label, including kubernetes.io/metadata.name, which the API server sets on every
    namespace."""
    by_name = {"matchLabels": {"kubernetes.io/metadata.name": "y"}}
    policy = cnp(
        "by-name",
        subject={"namespaces": by_name},
        ingress=[ingress_rule("Deny", {"namespaces": by_name})],
    )
    check([policy], Reachability().expect_peer(in_ns("y"), in_ns("y"), False))


# -- explanations -------------------------------------------------------------------------------
# MARKED: these four tests use the explanation attributes: DirectionExplanation.tier
# ("Admin" / "NetworkPolicy" / "Baseline"; "" or "default" for the default allow),
# DirectionExplanation.decided_by (a RuleRef: .policy, .rule, .action) and .sentence(). If the
# implementation names these differently, adapt these four tests only; all others are
# verdict-only.


def _one(policies: list[dict[str, Any]], src: str, dst: str, port: int = 80) -> Any:
    model = ClusterModel.from_dict(cluster_dict())
    (result,) = analyze(model, policies, [Probe(src, dst, port)]).results()
    return result


def test_explanation_names_tier_policy_priority_and_rule() -> None:
    """EXPLANATION API: tier, decided_by (RuleRef .policy/.rule/.action), sentence() -- the
    brief's example: "denied by ClusterNetworkPolicy deny-metadata (Admin, priority 10),
    spec.egress[0] 'no-imds'"."""
    policy = cnp(
        "deny-metadata",
        priority=10,
        subject=namespaces(),
        egress=[egress_rule("Deny", networks(f"{IMDS}/32"), name="no-imds")],
    )
    result = _one([policy], "x/a", IMDS)
    expected = reference_tiers.evaluate(cluster_dict(), [policy], "x/a", IMDS, 80).egress
    assert (expected.tier, expected.policy, expected.rule, expected.action) == (
        "Admin",
        "deny-metadata",
        "spec.egress[0]",
        "Deny",
    )
    assert result.verdict == "deny"
    assert result.egress.verdict == "deny"
    assert result.egress.tier == "Admin"
    assert result.egress.decided_by.policy == "deny-metadata"
    assert result.egress.decided_by.rule == "spec.egress[0]"
    assert result.egress.decided_by.action == "Deny"
    sentence = result.egress.sentence()
    for part in ("ClusterNetworkPolicy deny-metadata", "Admin", "priority 10", "no-imds"):
        assert part in sentence, sentence
    assert result.ingress.verdict == "allow"  # the outside end has no policies


def test_explanation_baseline_decision() -> None:
    """EXPLANATION API: a Baseline Accept names the Baseline tier and the rule."""
    policy = cnp(
        "baseline-open",
        tier="Baseline",
        priority=3,
        subject=namespaces("x"),
        ingress=[
            ingress_rule("Deny", namespaces("z"), name="not-z"),
            ingress_rule("Accept", namespaces(), name="rest"),
        ],
    )
    result = _one([policy], "y/a", "x/a")
    assert result.verdict == "allow"
    assert result.ingress.tier == "Baseline"
    assert result.ingress.decided_by.policy == "baseline-open"
    assert result.ingress.decided_by.rule == "spec.ingress[1]"
    assert result.ingress.decided_by.action == "Accept"
    assert "rest" in result.ingress.sentence()


def test_explanation_pass_then_networkpolicy() -> None:
    """EXPLANATION API: after an Admin Pass the NetworkPolicy tier decides."""
    admin = cnp(
        "delegate",
        subject=namespaces("x"),
        ingress=[ingress_rule("Pass", namespaces(), name="to-owners")],
    )
    np = netpol("deny-all", ingress=[], policyTypes=["Ingress"])
    result = _one([admin, np], "y/a", "x/a")
    assert result.verdict == "deny"
    assert result.ingress.tier == "NetworkPolicy"
    assert reference_tiers.evaluate(cluster_dict(), [admin, np], "y/a", "x/a", 80).ingress.tier == (
        "NetworkPolicy"
    )


def test_explanation_default_allow_has_no_tier() -> None:
    """EXPLANATION API: nothing decided (Admin Pass, no NetworkPolicy, no Baseline) -> the
    default: tier ''."""
    admin = cnp(
        "delegate",
        subject=namespaces("x"),
        ingress=[ingress_rule("Pass", namespaces(), name="to-owners")],
    )
    result = _one([admin], "y/a", "x/a")
    assert result.verdict == "allow"
    assert result.ingress.tier in ("", "default")
    assert result.ingress.decided_by is None
