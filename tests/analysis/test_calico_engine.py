"""Calico's tier walk on engine ``calico``: truth tables, explanations, a Hypothesis property.

Every truth table quotes the line of ``docs/calico-policies.md`` it checks, with that line's
upstream source (projectcalico/calico v3.32.1). Each asserts the verdicts ``analyze(...,
engine="calico")`` gives for its probes, that the independent slow evaluator
``reference_calico`` agrees on every probe (verdict, reason, deciding tier/policy/rule), and that
the pair-free counts (``analyze`` without probes) equal the sum over ``.results()`` and over the
reference.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.analysis.analyzer import analyze
from provisioning.analysis.explain import EXTERNAL, PROFILE_ALLOW, TIER_DEFAULT, TIER_RULE
from provisioning.analysis.model import ClusterModel, Probe

from . import reference_calico
from .reference_calico import BY_EXTERNAL, BY_PROFILE, BY_RULE, BY_TIER_DEFAULT, CalicoReference
from .test_cnp_properties import cnps
from .test_properties import clusters, weighted
from .test_properties import policies as k8s_policies

CALICO = "projectcalico.org/v3"
CNP_API = "policy.networking.k8s.io/v1alpha2"
IMDS = "169.254.169.254"
OUTSIDE = "192.0.2.7"
REASONS = {
    BY_RULE: TIER_RULE,
    BY_TIER_DEFAULT: TIER_DEFAULT,
    BY_PROFILE: PROFILE_ALLOW,
    BY_EXTERNAL: EXTERNAL,
}


# -- fixtures -----------------------------------------------------------------------------------


def _pod(ns: str, name: str, app: str, ip: str, *ports: tuple[str, int, str]) -> dict[str, Any]:
    return {
        "namespace": ns,
        "name": name,
        "labels": {"app": app},
        "ip": ip,
        "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports],
    }


def cluster() -> dict[str, Any]:
    """prod/web, prod/db, dev/web, dev/tool; web pods serve http (80), db pg (5432), tool dns
    (53/UDP); prod/web also metrics (9090)."""
    return {
        "namespaces": {"prod": {"labels": {"env": "prod"}}, "dev": {"labels": {"env": "dev"}}},
        "pods": [
            _pod("prod", "web", "web", "10.0.1.10", ("http", 80, "TCP"), ("metrics", 9090, "TCP")),
            _pod("prod", "db", "db", "10.0.1.11", ("pg", 5432, "TCP"), ("http", 8080, "TCP")),
            _pod("dev", "web", "web", "10.0.2.10", ("http", 80, "TCP")),
            _pod("dev", "tool", "tool", "10.0.2.11", ("dns", 53, "UDP")),
        ],
    }


PODS = ("prod/web", "prod/db", "dev/web", "dev/tool")


def gnp(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": CALICO,
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def calico_np(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": CALICO,
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def tier(name: str, order: float | None, default_action: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if order is not None:
        spec["order"] = order
    if default_action is not None:
        spec["defaultAction"] = default_action
    return {"apiVersion": CALICO, "kind": "Tier", "metadata": {"name": name}, "spec": spec}


def network_set(name: str, labels: dict[str, str], *nets: str) -> dict[str, Any]:
    return {
        "apiVersion": CALICO,
        "kind": "GlobalNetworkSet",
        "metadata": {"name": name, "labels": labels},
        "spec": {"nets": list(nets)},
    }


def k8s_np(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("podSelector", {})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def cnp(name: str, tier_name: str, priority: int, **rules: Any) -> dict[str, Any]:
    return {
        "apiVersion": CNP_API,
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": {"tier": tier_name, "priority": priority, "subject": {"namespaces": {}}, **rules},
    }


ALLOW_ALL = {"action": "Allow"}
DENY_ALL = {"action": "Deny"}
PASS_ALL = {"action": "Pass"}
LOG_ALL = {"action": "Log"}


def probe(text: str) -> Probe:
    """``"prod/web -> dev/tool 53/UDP"``; the port defaults to 80/TCP."""
    parts = text.split()
    port, protocol = 80, "TCP"
    if len(parts) == 4:
        number, protocol = parts[3].split("/")
        port = int(number)
    return Probe(parts[0], parts[2], port, protocol)


# -- the checks ---------------------------------------------------------------------------------


def has_calico(policies: Sequence[dict[str, Any]]) -> bool:
    return any(p.get("apiVersion") == CALICO for p in policies)


def assert_agrees(
    result: Any, expected: reference_calico.Verdict, *, explained: bool = True
) -> None:
    """analyze()'s result for one probe is the reference's, per direction, with its reason.

    ``explained`` False: verdicts only. Without any Calico object in the input, engine calico
    explains with the NetworkPolicy/ClusterNetworkPolicy tiers of ``tiers.py`` (reasons
    rule-matched, not-isolated, ...); the verdicts must still be Calico's.
    """
    assert result.allowed == expected.allowed, (result, expected)
    for direction in ("ingress", "egress"):
        got = getattr(result, direction)
        want: reference_calico.Decision = getattr(expected, direction)
        where = (result.source, result.destination, result.port, result.protocol, direction)
        assert got.verdict == want.verdict, (where, got, want)
        if not explained:
            continue
        assert got.reason == REASONS[want.how], (where, got, want)
        if want.how == BY_RULE:
            assert want.step is not None and got.decided_by is not None
            ref = got.decided_by
            assert got.tier == want.tier, (where, got, want)
            assert (ref.kind, ref.policy, ref.rule, ref.action, ref.rank) == (
                want.step.kind,
                want.step.policy,
                want.step.rule,
                want.step.action,
                want.step.rank,
            ), (where, got, want)
        elif want.how == BY_TIER_DEFAULT:
            assert (got.tier, got.isolated_by) == (want.tier, want.selected_by), (where, got, want)
        if want.passed:
            first = want.passed[0]
            assert got.passed_by is not None, (where, got, want)
            assert (got.passed_by.policy, got.passed_by.rule, got.passed_by.rank) == (
                first.policy,
                first.rule,
                first.rank,
            ), (where, got, want)
        else:
            assert got.passed_by is None, (where, got, want)


def assert_counts(data: dict[str, Any], policies: Sequence[dict[str, Any]]) -> None:
    """Pair-free counts == the materialized matrix == the reference over the same matrix."""
    analysis = analyze(ClusterModel.from_dict(data), policies, None, "calico")
    results = list(analysis.results())
    assert (analysis.probes, analysis.allowed) == (len(results), sum(r.allowed for r in results))
    assert (analysis.probes, analysis.allowed) == reference_calico.matrix_counts(data, policies)


def verdicts(
    policies: Sequence[dict[str, Any]], probes: Sequence[str], data: dict[str, Any] | None = None
) -> dict[str, str]:
    """Probe text -> ``allow``/``deny`` from analyze(engine="calico"), checked against the
    reference probe by probe, and the counts checked too."""
    data = data or cluster()
    parsed = [probe(p) for p in probes]
    analysis = analyze(ClusterModel.from_dict(data), policies, parsed, "calico")
    results = list(analysis.results())
    ref = CalicoReference(data, policies)
    explained = has_calico(policies)
    for p, result in zip(parsed, results, strict=True):
        expected = ref.evaluate(p.source, p.destination, p.port, p.protocol)
        assert_agrees(result, expected, explained=explained)
    assert_counts(data, policies)
    return {text: r.verdict for text, r in zip(probes, results, strict=True)}


def results(policies: Sequence[dict[str, Any]], *probes: str) -> list[Any]:
    data = cluster()
    parsed = [probe(p) for p in probes]
    out = list(analyze(ClusterModel.from_dict(data), policies, parsed, "calico").results())
    ref = CalicoReference(data, policies)
    for p, result in zip(parsed, out, strict=True):
        assert_agrees(result, ref.evaluate(p.source, p.destination, p.port, p.protocol))
    return out


def deny_imds(name: str = "deny-imds", **spec: Any) -> dict[str, Any]:
    return gnp(
        name,
        egress=[{"action": "Deny", "destination": {"nets": [f"{IMDS}/32"]}}],
        types=["Egress"],
        **spec,
    )


def cnp_accept_imds(name: str = "accept-imds") -> dict[str, Any]:
    return cnp(
        name, "Admin", 10, egress=[{"action": "Accept", "to": [{"networks": [f"{IMDS}/32"]}]}]
    )


# -- truth tables: tiers ------------------------------------------------------------------------


def test_a_user_tier_below_1000_runs_before_kube_admin() -> None:
    """docs §6: "A user tier with order below 1000 runs **before** `kube-admin`."; §5 "Tier
    order: by `order` ascending" (felix/calc/policy_sorter.go:146-161 `TierLess`;
    api/pkg/apis/projectcalico/v3/tier.go:37,48 kube-admin at 1000)."""
    probes = [f"prod/web -> {IMDS}", f"prod/web -> {OUTSIDE}"]
    # defaultAction Pass: what the Deny rule does not match goes on to the next tiers.
    early = [tier("security", 100, "Pass"), deny_imds(tier="security"), cnp_accept_imds()]
    assert verdicts(early, probes) == {probes[0]: "deny", probes[1]: "allow"}
    # The same tier at 5000 comes after kube-admin, whose Accept decides first.
    late = [tier("security", 5000, "Pass"), deny_imds(tier="security"), cnp_accept_imds()]
    assert verdicts(late, probes) == {probes[0]: "allow", probes[1]: "allow"}


def test_default_tier_runs_before_kube_baseline() -> None:
    """docs §6: `default` 1 000 000 `Deny`, `kube-baseline` 10 000 000 `Pass` (tier.go:38-39,
    49-50); "the order is: ... `default` ..., user tiers between, `kube-baseline`"."""
    baseline_deny = cnp(
        "baseline-deny", "Baseline", 1, ingress=[{"action": "Deny", "from": [{"namespaces": {}}]}]
    )
    allow_web = gnp("allow-web", selector="app == 'web'", ingress=[ALLOW_ALL])
    probes = ["dev/tool -> prod/web", "dev/tool -> prod/db 5432/TCP"]
    assert verdicts([baseline_deny, allow_web], probes) == {
        probes[0]: "allow",  # default tier allows before kube-baseline is reached
        probes[1]: "deny",  # default selects no db: the Baseline deny decides
    }


def test_user_tier_without_order_runs_after_every_ordered_tier() -> None:
    """docs §5: "a tier without order after all others" (policy_sorter.go:146-161)."""
    probes = ["dev/tool -> prod/web"]
    # Pass out of default, then the unordered tier's Deny: it comes after kube-baseline too.
    pols = [
        tier("last", None),
        gnp("pass-web", selector="app == 'web'", ingress=[PASS_ALL]),
        gnp("deny-web", tier="last", selector="app == 'web'", ingress=[DENY_ALL]),
        cnp("b", "Baseline", 1, ingress=[{"action": "Accept", "from": [{"namespaces": {}}]}]),
    ]
    assert verdicts(pols, probes) == {probes[0]: "allow"}  # kube-baseline's Accept first
    assert verdicts(pols[:3], probes) == {probes[0]: "deny"}


# -- truth tables: order within a tier ----------------------------------------------------------


def test_policies_in_a_tier_by_order() -> None:
    """docs §5: "Policy order within a tier: by `order`" (policy_sorter.go:172,183-187)."""
    probes = ["dev/tool -> prod/web"]
    deny = gnp("p-deny", order=10, ingress=[DENY_ALL])
    allow = gnp("p-allow", order=20, ingress=[ALLOW_ALL])
    assert verdicts([allow, deny], probes) == {probes[0]: "deny"}
    deny["spec"]["order"], allow["spec"]["order"] = 20, 10
    assert verdicts([deny, allow], probes) == {probes[0]: "allow"}


def test_absent_order_is_last() -> None:
    """docs §3: "`spec.order` | float; lower first; absent = "infinite", last"
    (globalnetworkpolicy.go:66-71); §5 "absent = +Inf" (policy_sorter.go:172,183-187)."""
    probes = ["dev/tool -> prod/web"]
    pols = [gnp("a-allow", ingress=[ALLOW_ALL]), gnp("z-deny", order=999_999, ingress=[DENY_ALL])]
    assert verdicts(pols, probes) == {probes[0]: "deny"}


def test_equal_orders_by_name_namespace_kind() -> None:
    """docs §5: "ties broken by the string "<name>/<namespace>/<kind>"" (policy_sorter.go:388-400
    `PolKVLess`)."""
    probes = ["dev/tool -> prod/web"]
    pols = [
        gnp("b-allow", order=5, ingress=[ALLOW_ALL]),
        gnp("a-deny", order=5, ingress=[DENY_ALL]),
    ]
    assert verdicts(pols, probes) == {probes[0]: "deny"}
    pols[1]["metadata"]["name"] = "c-deny"
    assert verdicts(pols, probes) == {probes[0]: "allow"}
    # Across kinds: "aa/prod/NetworkPolicy" sorts before "ab//GlobalNetworkPolicy".
    mixed = [
        gnp("ab", order=5, ingress=[DENY_ALL]),
        calico_np("aa", "prod", order=5, ingress=[ALLOW_ALL]),
    ]
    assert verdicts(mixed, probes) == {probes[0]: "allow"}


def test_kubernetes_networkpolicy_ties_at_order_1000_by_its_knp_name() -> None:
    """docs §6: a Kubernetes NetworkPolicy is "converted to a Calico NetworkPolicy in tier
    `default` at order 1000" (conversion.go:279-281), kind `KubernetesNetworkPolicy`; its name
    there is `knp.default.<name>` (conversion.go `K8sNetworkPolicyToCalico`: `policyName :=
    K8sNetworkPolicyNamePrefix + np.Name`; docs §3 lists `knp.default.` names). So at the same
    order a GlobalNetworkPolicy "l-deny" comes after "knp.default.m" and one called "ka-deny"
    before it."""
    probes = ["dev/tool -> prod/web"]
    allow = k8s_np("m", "prod", ingress=[{}])
    assert verdicts([gnp("l-deny", order=1000, ingress=[DENY_ALL]), allow], probes) == {
        probes[0]: "allow"
    }
    assert verdicts([gnp("ka-deny", order=1000, ingress=[DENY_ALL]), allow], probes) == {
        probes[0]: "deny"
    }


# -- truth tables: rules ------------------------------------------------------------------------


def test_first_matching_rule_decides() -> None:
    """docs §5: "Rules run in order; `Allow`/`Deny` are final" (felix/rules/policy.go:657-697)."""
    pols = [
        gnp(
            "p",
            ingress=[
                {"action": "Deny", "protocol": "TCP", "destination": {"ports": [80]}},
                ALLOW_ALL,
                DENY_ALL,
            ],
        )
    ]
    probes = ["dev/tool -> prod/web", "dev/tool -> prod/web 9090/TCP"]
    assert verdicts(pols, probes) == {probes[0]: "deny", probes[1]: "allow"}


def test_log_continues() -> None:
    """docs §5: "`Log` logs and continues" (policy.go:657-697; docs `_rule.mdx:17-18`)."""
    probes = ["dev/tool -> prod/web"]
    assert verdicts([gnp("p", ingress=[LOG_ALL, ALLOW_ALL])], probes) == {probes[0]: "allow"}
    assert verdicts([gnp("p", ingress=[LOG_ALL, DENY_ALL])], probes) == {probes[0]: "deny"}
    # Only Log: nothing decided, so the default tier's end-of-tier Deny.
    [only_log] = results([gnp("p", ingress=[LOG_ALL])], *probes)
    assert only_log.ingress.reason == TIER_DEFAULT


def test_pass_goes_to_the_next_tier() -> None:
    """docs §5: "`Pass` skips the rest of the tier" (policy.go:657-697); "End of tier: ... if
    no rule allowed, denied or passed" (endpoints.go:690-711)."""
    probes = ["dev/tool -> prod/web", "dev/tool -> prod/web 9090/TCP"]
    pols = [
        tier("security", 100),
        gnp(
            "pass-80",
            tier="security",
            order=1,
            ingress=[
                {"action": "Pass", "protocol": "TCP", "destination": {"ports": [80]}},
                ALLOW_ALL,
            ],
        ),
        # Later in the same tier: skipped after a Pass.
        gnp("z-deny", tier="security", order=5000, ingress=[DENY_ALL]),
        gnp(
            "deny-80",
            ingress=[{"action": "Deny", "protocol": "TCP", "destination": {"ports": [80]}}],
        ),
    ]
    assert verdicts(pols, probes) == {probes[0]: "deny", probes[1]: "allow"}
    passed, direct = results(pols, *probes)
    assert passed.ingress.tier == "default"
    assert passed.ingress.passed_by is not None and passed.ingress.passed_by.policy == "pass-80"
    assert direct.ingress.tier == "security"


def test_pass_out_of_the_last_tier_reaches_the_profile() -> None:
    """docs §5: "After the last tier (or a `Pass` out of it, or no tier applying): the
    endpoint's profiles" whose rules are both `Allow` (endpoints.go:738-775,
    conversion.go:115-118); docs `tier.mdx:33`."""
    probes = ["dev/tool -> prod/web"]
    pols = [gnp("pass", ingress=[PASS_ALL, DENY_ALL])]
    assert verdicts(pols, probes) == {probes[0]: "allow"}
    [result] = results(pols, *probes)
    assert result.ingress.reason == PROFILE_ALLOW


def test_end_of_tier_deny_only_for_the_directions_a_policy_selected() -> None:
    """docs §5: "A tier applies to an endpoint (per direction) only if one of its policies
    selects the endpoint and governs that direction; otherwise it is skipped, end-of-tier
    action included" (felix/rules/endpoints.go:612-619); §3 "A policy does not govern a
    direction its `types` omits, even with rules for it" (policy_sorter.go:197-207)."""
    pols = [
        gnp(
            "web-from-db",
            selector="app == 'web'",
            types=["Ingress"],
            ingress=[{"action": "Allow", "source": {"selector": "app == 'db'"}}],
            egress=[DENY_ALL],  # not governed: types leaves Egress out
        )
    ]
    probes = [
        "prod/db -> prod/web",
        "dev/tool -> prod/web",  # ingress: selected, no rule: default tier's Deny
        "prod/web -> dev/tool 53/UDP",  # web's egress: no policy governs it
        "dev/tool -> prod/db 5432/TCP",  # db is not selected at all
    ]
    assert verdicts(pols, probes) == {
        probes[0]: "allow",
        probes[1]: "deny",
        probes[2]: "allow",
        probes[3]: "allow",
    }


def test_tier_default_action_pass() -> None:
    """docs §5: "the tier's `defaultAction` applies — `Deny` drops ..., `Pass` continues with
    the next tier" (endpoints.go:690-711); docs `tier.mdx:31` "This behaviour can be changed by
    setting the `defaultAction` of a tier to `Pass`."; `defaultAction` defaults to `Deny`
    (tier.go:71-76)."""
    probes = ["dev/tool -> prod/web", "prod/db -> prod/web"]
    only_db = gnp(
        "only-db",
        tier="security",
        selector="app == 'web'",
        ingress=[{"action": "Allow", "source": {"selector": "app == 'db'"}}],
    )
    for action, want in (("Pass", "allow"), ("Deny", "deny"), (None, "deny")):
        pols = [tier("security", 100, action), only_db]
        assert verdicts(pols, probes) == {probes[0]: want, probes[1]: "allow"}, action


# -- truth tables: Kubernetes NetworkPolicy and ClusterNetworkPolicy ----------------------------


def test_kubernetes_networkpolicy_at_order_1000_interleaves_with_gnps() -> None:
    """docs §6: "We insert all the NetworkPolicy Policies at order 1000.0 after conversion."
    (conversion.go:279-281) in tier `default`, which "**denies** unmatched traffic of any
    endpoint one of its policies selects" (§6; endpoints.go:690-711)."""
    from_dev = k8s_np(
        "from-dev",
        "prod",
        podSelector={"matchLabels": {"app": "web"}},
        ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"env": "dev"}}}]}],
    )
    probes = ["dev/tool -> prod/web", "dev/web -> prod/web", "prod/db -> prod/web"]
    assert verdicts([from_dev], probes) == {
        probes[0]: "allow",
        probes[1]: "allow",
        probes[2]: "deny",
    }
    # Order 500: before the NetworkPolicy, its Deny wins over the NetworkPolicy's Allow.
    before = gnp(
        "deny-tool",
        order=500,
        ingress=[{"action": "Deny", "source": {"selector": "app == 'tool'"}}],
    )
    assert verdicts([from_dev, before], probes) == {
        probes[0]: "deny",
        probes[1]: "allow",
        probes[2]: "deny",
    }
    # Order 2000: after it; NetworkPolicy rules only Allow and the tier's Deny comes at its end,
    # so a later Allow admits what no NetworkPolicy rule admitted ...
    after_allow = gnp(
        "allow-db", order=2000, ingress=[{"action": "Allow", "source": {"selector": "app == 'db'"}}]
    )
    assert verdicts([from_dev, after_allow], probes) == {
        probes[0]: "allow",
        probes[1]: "allow",
        probes[2]: "allow",
    }
    # ... and a later Deny cannot take back what the NetworkPolicy allowed.
    after_deny = gnp("deny-all", order=2000, ingress=[DENY_ALL])
    assert verdicts([from_dev, after_deny], probes) == {
        probes[0]: "allow",
        probes[1]: "allow",
        probes[2]: "deny",
    }


def test_cnp_admin_deny_beats_a_gnp_allow_in_the_default_tier() -> None:
    """docs §6: ClusterNetworkPolicy "`Admin` → `kube-admin`" (clusternetworkpolicy.go:114-122),
    kube-admin at 1 000 before default at 1 000 000 (tier.go:37-39)."""
    pols = [
        gnp("allow-all", order=1, ingress=[ALLOW_ALL]),
        cnp(
            "deny-dev",
            "Admin",
            50,
            ingress=[
                {
                    "action": "Deny",
                    "from": [{"namespaces": {"matchLabels": {"env": "dev"}}}],
                }
            ],
        ),
    ]
    probes = ["dev/tool -> prod/web", "prod/db -> prod/web"]
    assert verdicts(pols, probes) == {probes[0]: "deny", probes[1]: "allow"}


def test_cnp_baseline_only_when_nothing_in_default_selected_the_pod() -> None:
    """docs §5: a tier none of whose policies selects the endpoint "is skipped", but one that
    does ends with `Deny` (endpoints.go:612-619, 690-711); §6 `kube-baseline` after `default`."""
    baseline = cnp(
        "baseline-accept",
        "Baseline",
        1,
        ingress=[{"action": "Accept", "from": [{"namespaces": {}}]}],
    )
    baseline_deny = cnp(
        "baseline-deny", "Baseline", 2, ingress=[{"action": "Deny", "from": [{"namespaces": {}}]}]
    )
    web_from_db = gnp(
        "web-from-db",
        selector="app == 'web'",
        ingress=[{"action": "Allow", "source": {"selector": "app == 'db'"}}],
    )
    probes = ["dev/tool -> prod/web", "prod/db -> prod/web", "prod/web -> dev/tool 53/UDP"]
    assert verdicts([baseline, web_from_db], probes) == {
        probes[0]: "deny",  # default selected prod/web: its Deny, Baseline never reached
        probes[1]: "allow",
        probes[2]: "allow",  # default selects no tool: Baseline's Accept
    }
    assert verdicts([baseline_deny, web_from_db], probes) == {
        probes[0]: "deny",
        probes[1]: "allow",
        probes[2]: "deny",  # Baseline's Deny
    }


# -- truth tables: Calico NetworkPolicy scoping, network sets, matching -------------------------


def test_calico_networkpolicy_selects_in_its_namespace_only() -> None:
    """docs §2: "A NetworkPolicy's own selector is `(<selector>) && projectcalico.org/namespace
    == '<ns>'`" (updateprocessors/networkpolicyprocessor.go:64-71)."""
    pols = [calico_np("deny-web", "prod", selector="app == 'web'", ingress=[DENY_ALL])]
    probes = ["dev/tool -> prod/web", "dev/tool -> dev/web"]
    assert verdicts(pols, probes) == {probes[0]: "deny", probes[1]: "allow"}


def test_calico_networkpolicy_rule_selectors_stay_in_its_namespace_unless_namespace_selector() -> (
    None
):
    """docs §2: "without `namespaceSelector`, the rule's positive selector is
    `(projectcalico.org/namespace == '<ns>') && (<selector>)`" (rules.go:44-49, 79-83, 107-124);
    a rule's `namespaceSelector` is rewritten to `pcns.` keys, `all()` to
    `has(projectcalico.org/namespace)` (rules.go:64-78)."""
    probes = ["prod/web -> prod/db 5432/TCP", "dev/web -> prod/db 5432/TCP"]
    scoped = calico_np(
        "db",
        "prod",
        selector="app == 'db'",
        ingress=[{"action": "Allow", "source": {"selector": "app == 'web'"}}],
    )
    assert verdicts([scoped], probes) == {probes[0]: "allow", probes[1]: "deny"}
    for namespaces in ("all()", "env == 'dev'"):
        wide = copy.deepcopy(scoped)
        wide["spec"]["ingress"][0]["source"]["namespaceSelector"] = namespaces
        want = {probes[0]: "allow" if namespaces == "all()" else "deny", probes[1]: "allow"}
        assert verdicts([wide], probes) == want, namespaces


def test_not_selector_is_not_scoped_to_the_namespace() -> None:
    """docs §2: "`notSelector` is never scoped: it is passed through as written
    (`rules.go:186-191`), so it excludes matching endpoints and network sets in every
    namespace"; yet "as soon as _any_ of the selector fields are used, including NotSelector"
    the positive side is the policy's namespace (rules.go:44-49)."""
    probes = [
        "prod/db -> prod/web",
        "dev/tool -> prod/web",
        "dev/web -> prod/web",
    ]
    only_not = calico_np(
        "web",
        "prod",
        selector="app == 'web'",
        ingress=[{"action": "Allow", "source": {"notSelector": "app == 'web'"}}],
    )
    # Positive side scoped to prod: dev/tool is not admitted.
    assert verdicts([only_not], probes) == {
        probes[0]: "allow",
        probes[1]: "deny",
        probes[2]: "deny",
    }
    every_ns = copy.deepcopy(only_not)
    every_ns["spec"]["ingress"][0]["source"]["namespaceSelector"] = "all()"
    # Positive side every namespace; the exclusion of web pods reaches dev/web too.
    assert verdicts([every_ns], probes) == {
        probes[0]: "allow",
        probes[1]: "allow",
        probes[2]: "deny",
    }


def test_global_network_set_matched_by_selector() -> None:
    """docs §2: "GlobalNetworkSet: its `metadata.labels` are matched by rule selectors and its
    `spec.nets` added to the rule's IP set" (docs `globalnetworkset.mdx:11-15`); "a
    NetworkPolicy rule reaches it only with `namespaceSelector: global()`"
    (`_selector-scopes.mdx:17-20`)."""
    metadata = network_set("metadata", {"role": "metadata"}, f"{IMDS}/32")
    deny = gnp(
        "deny-metadata",
        egress=[{"action": "Deny", "destination": {"selector": "role == 'metadata'"}}, ALLOW_ALL],
    )
    probes = [f"prod/web -> {IMDS}", f"prod/web -> {OUTSIDE}", "prod/web -> dev/web"]
    assert verdicts([metadata, deny], probes) == {
        probes[0]: "deny",
        probes[1]: "allow",
        probes[2]: "allow",
    }
    # Without the set the selector matches no address.
    assert verdicts([deny], probes) == dict.fromkeys(probes, "allow")
    # A Calico NetworkPolicy's rule: scoped to its namespace, unless namespaceSelector global().
    rule = {"action": "Deny", "destination": {"selector": "role == 'metadata'"}}
    scoped = calico_np("m", "prod", types=["Egress"], egress=[rule, ALLOW_ALL])
    assert verdicts([metadata, scoped], probes) == dict.fromkeys(probes, "allow")
    reach = copy.deepcopy(scoped)
    reach["spec"]["egress"][0]["destination"]["namespaceSelector"] = "global()"
    assert verdicts([metadata, reach], probes)[probes[0]] == "deny"


def test_network_set_containing_a_pod_ip_matches_the_pod() -> None:
    """docs §2: "an address (even a pod's) also matches through any set containing it"
    (`_entityrule.mdx:25-35`)."""
    dev_net = network_set("dev-net", {"zone": "dev"}, "10.0.2.0/24")
    pols = [
        dev_net,
        gnp(
            "deny-dev-zone",
            ingress=[{"action": "Deny", "source": {"selector": "zone == 'dev'"}}, ALLOW_ALL],
        ),
    ]
    probes = ["dev/tool -> prod/web", "prod/db -> prod/web"]
    assert verdicts(pols, probes) == {probes[0]: "deny", probes[1]: "allow"}


def test_named_ports() -> None:
    """docs §3: `destination.ports`: "a port name (IANA_SVC_NAME)"; §2 "Named ports become IP
    sets of (IP, protocol, port) of endpoints that match the rule's positive selector"
    (felix/calc/rule_scanner.go:369-420)."""
    pols = [
        gnp(
            "http-only",
            ingress=[{"action": "Allow", "destination": {"ports": ["http"]}}, DENY_ALL],
        )
    ]
    probes = [
        "dev/tool -> prod/web",  # http is 80 on web
        "dev/tool -> prod/web 9090/TCP",
        "dev/tool -> prod/db 8080/TCP",  # http is 8080 on db
        "dev/tool -> prod/db 80/TCP",
    ]
    assert verdicts(pols, probes) == {
        probes[0]: "allow",
        probes[1]: "deny",
        probes[2]: "allow",
        probes[3]: "deny",
    }


def test_nets_and_not_nets() -> None:
    """docs §3: `nets`, `notNets` "CIDRs (prefix required, no host bits)"
    (policy_common.go:137-140,193-195); a rule matches when all criteria do (policy_common.go)."""
    pols = [
        gnp(
            "outside",
            types=["Egress"],
            egress=[
                {
                    "action": "Deny",
                    "destination": {"nets": ["192.0.2.0/24"], "notNets": ["192.0.2.7/32"]},
                },
                ALLOW_ALL,
            ],
        )
    ]
    probes = ["prod/web -> 192.0.2.8", "prod/web -> 192.0.2.7", "prod/web -> 198.51.100.1"]
    assert verdicts(pols, probes) == {probes[0]: "deny", probes[1]: "allow", probes[2]: "allow"}


def test_protocol_and_not_protocol() -> None:
    """docs §3: `protocol`, `notProtocol`: "name (`TCP UDP ICMP ICMPv6 SCTP UDPLite`, exact
    case) or 1-255" (policy_common.go:49-63)."""
    probes = ["prod/web -> dev/tool 53/UDP", "prod/web -> dev/web", "prod/web -> dev/web 80/SCTP"]
    udp = gnp("udp", types=["Egress"], egress=[{"action": "Deny", "protocol": "UDP"}, ALLOW_ALL])
    assert verdicts([udp], probes) == {probes[0]: "deny", probes[1]: "allow", probes[2]: "allow"}
    not_tcp = gnp(
        "not-tcp", types=["Egress"], egress=[{"action": "Deny", "notProtocol": "TCP"}, ALLOW_ALL]
    )
    assert verdicts([not_tcp], probes) == {probes[0]: "deny", probes[1]: "allow", probes[2]: "deny"}
    by_number = gnp("six", types=["Egress"], egress=[{"action": "Allow", "protocol": 6}])
    assert verdicts([by_number], probes) == {
        probes[0]: "deny",
        probes[1]: "allow",
        probes[2]: "deny",
    }


def test_gnp_namespace_selector_limits_the_policy() -> None:
    """docs §3: "`spec.namespaceSelector` (GNP) | limits to pods in matching namespaces"
    (globalnetworkpolicy.go:139-140)."""
    pols = [gnp("dev-only", namespaceSelector="env == 'dev'", ingress=[DENY_ALL])]
    probes = ["prod/web -> dev/web", "dev/web -> prod/web"]
    assert verdicts(pols, probes) == {probes[0]: "deny", probes[1]: "allow"}


# -- explanations -------------------------------------------------------------------------------


def test_explanation_of_a_rule_names_kind_policy_tier_order_and_rule() -> None:
    pols = [tier("security", 100), deny_imds(tier="security", order=5)]
    [result] = results(pols, f"prod/web -> {IMDS}")
    assert result.egress.reason == TIER_RULE
    assert result.egress.sentence() == (
        "expected deny: egress denied by Calico GlobalNetworkPolicy deny-imds (tier security, "
        f"order 5), spec.egress[0] (prod/web -> {IMDS} on TCP/80)"
    )
    assert result.egress.to_dict()["decided_by"] == {
        "policy": "deny-imds",
        "rule": "spec.egress[0]",
        "kind": "Calico GlobalNetworkPolicy",
        "tier": "security",
        "action": "Deny",
        "rank": "tier security, order 5",
    }


def test_explanation_of_a_kubernetes_networkpolicy_rule_and_an_absent_order() -> None:
    pols = [
        k8s_np(
            "from-db", "prod", ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]
        ),
        calico_np("late", "prod", types=["Egress"], egress=[ALLOW_ALL]),
    ]
    [result] = results(pols, "prod/db -> prod/web")
    assert result.ingress.sentence() == (
        "expected allow: ingress allowed by NetworkPolicy prod/from-db (tier default, order "
        "1000), spec.ingress[0] (prod/db -> prod/web on TCP/80)"
    )
    assert result.egress.sentence() == (
        "expected allow: egress allowed by Calico NetworkPolicy prod/late (tier default, order "
        "none), spec.egress[0] (prod/db -> prod/web on TCP/80)"
    )


def test_explanation_of_a_tier_default_names_the_selecting_policies() -> None:
    pols = [
        calico_np(
            "only-db",
            "prod",
            selector="app == 'web'",
            ingress=[{"action": "Allow", "source": {"selector": "app == 'db'"}}],
        ),
        gnp("log", selector="app == 'web'", ingress=[LOG_ALL]),
    ]
    [result] = results(pols, "dev/tool -> prod/web")
    assert result.ingress.reason == TIER_DEFAULT
    assert result.ingress.sentence() == (
        "expected deny: prod/web is selected for ingress in Calico tier default by Calico "
        "GlobalNetworkPolicy log and Calico NetworkPolicy prod/only-db and no rule there "
        "decides dev/tool on TCP/80: the tier's default action Deny"
    )


def test_explanation_of_a_pass_then_the_profile() -> None:
    pols = [
        tier("security", 100),
        gnp("pass-imds", tier="security", order=7, types=["Egress"], egress=[PASS_ALL]),
        cnp(
            "named",
            "Admin",
            3,
            egress=[{"name": "pass-it", "action": "Pass", "to": [{"networks": ["0.0.0.0/0"]}]}],
        ),
    ]
    [result] = results(pols, f"prod/web -> {IMDS}")
    assert result.egress.reason == PROFILE_ALLOW
    assert result.egress.sentence() == (
        "expected allow: passed on by Calico GlobalNetworkPolicy pass-imds (tier security, order "
        f"7), spec.egress[0]; then no Calico tier decides egress for prod/web (traffic to {IMDS} "
        "on TCP/80): its namespace profile allows it"
    )
    # The ingress side of an address outside the cluster: nothing applies there.
    assert result.ingress.reason == EXTERNAL


def test_explanation_of_a_cnp_rule_in_calicos_tiers() -> None:
    pols = [
        network_set("metadata", {"role": "metadata"}, f"{IMDS}/32"),
        cnp(
            "no-imds",
            "Admin",
            10,
            egress=[{"name": "imds", "action": "Deny", "to": [{"networks": [f"{IMDS}/32"]}]}],
        ),
    ]
    [result] = results(pols, f"prod/web -> {IMDS}")
    assert result.egress.sentence() == (
        "expected deny: egress denied by ClusterNetworkPolicy no-imds (tier kube-admin, order "
        f"10), spec.egress[0] 'imds' (prod/web -> {IMDS} on TCP/80)"
    )


# -- other engines ------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["cilium", "reference"])
def test_other_engines_leave_calico_objects_out_and_name_them(engine: str) -> None:
    data = cluster()
    calico_objects = [
        tier("security", 100),
        deny_imds(tier="security"),
        calico_np("deny-web", "prod", selector="app == 'web'", ingress=[DENY_ALL]),
        network_set("metadata", {"role": "metadata"}, f"{IMDS}/32"),
    ]
    k8s = [
        k8s_np(
            "from-db", "prod", ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]
        )
    ]
    probes = [
        probe(f"prod/web -> {IMDS}"),
        probe("dev/tool -> prod/web"),
        probe("prod/db -> prod/web"),
    ]
    model = ClusterModel.from_dict(data)
    mixed = analyze(model, [*calico_objects, *k8s], probes, engine)
    [note] = [w for w in mixed.warnings if "projectcalico.org/v3" in w]
    assert f"engine {engine} does not enforce Calico's projectcalico.org/v3 objects" in note
    assert note.endswith(
        "left out of the analysis: Tier/security, GlobalNetworkPolicy/deny-imds, "
        "NetworkPolicy/prod/deny-web, GlobalNetworkSet/metadata"
    )
    without = analyze(model, k8s, probes, engine)
    assert [r.verdict for r in mixed.results()] == [r.verdict for r in without.results()]
    assert [r.verdict for r in mixed.results()] == ["allow", "deny", "allow"]
    # On calico they count.
    on_calico = analyze(model, [*calico_objects, *k8s], probes, "calico")
    assert not [w for w in on_calico.warnings if "left out" in w]
    assert [r.verdict for r in on_calico.results()] == ["deny", "deny", "deny"]


# -- Hypothesis: random clusters and policies against the reference -----------------------------

LABEL_KEYS = ("app", "tier")
LABEL_VALUES = ("a", "b")
SET_NETS = (
    "169.254.169.254/32",
    "10.0.0.0/16",
    "10.0.1.0/24",
    "192.0.2.0/24",
    "10.0.2.3",
    "0.0.0.0/0",
)
RULE_NETS = ("10.0.0.0/16", "10.0.1.0/24", "10.0.2.3/32", "192.0.2.0/24", "169.254.169.254/32")
RULE_NOT_NETS = ("10.0.1.0/24", "10.0.0.0/8", "192.0.2.7/32", "10.0.0.0/30")
PORT_NAMES = ("http", "alt", "dns-ish", "sc")
HYPOTHESIS_EXTERNAL = (IMDS, OUTSIDE)
HYPOTHESIS_PORTS = ((80, "TCP"), (81, "TCP"), (80, "UDP"), (53, "SCTP"))
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def calico_selectors(draw: st.DrawFn, keys: Sequence[str] = LABEL_KEYS) -> str:
    """`all()`, `k == 'v'`, `k != 'v'`, `has(k)`, `!has(k)`, `k in {...}`, `k not in {...}`,
    and `&&` of two."""

    def atom() -> str:
        shape = weighted(draw, all=1, eq=4, ne=1, has=2, hasnt=1, inset=2, notin=1)
        key = draw(st.sampled_from(keys))
        value = draw(st.sampled_from(LABEL_VALUES))
        if shape == "all":
            return "all()"
        if shape == "eq":
            return f"{key} == '{value}'"
        if shape == "ne":
            return f"{key} != '{value}'"
        if shape == "has":
            return f"has({key})"
        if shape == "hasnt":
            return f"!has({key})"
        values = ", ".join(
            f"'{v}'" for v in draw(st.lists(st.sampled_from(LABEL_VALUES), min_size=1, unique=True))
        )
        return f"{key} {'in' if shape == 'inset' else 'not in'} {{{values}}}"

    first = atom()
    if draw(st.integers(0, 3)) == 0:
        return f"{first} && {atom()}"
    return first


@st.composite
def entity(draw: st.DrawFn, side: str, protocol: Any, namespaced: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if weighted(draw, no=3, yes=2) == "yes":
        body["selector"] = draw(
            st.one_of(
                calico_selectors(),
                calico_selectors(("role",)),  # network sets' labels
                st.sampled_from(("projectcalico.org/namespace == 'x'", "pcns.app == 'a'")),
            )
        )
    if weighted(draw, no=6, yes=1) == "yes":
        body["notSelector"] = draw(st.one_of(calico_selectors(), calico_selectors(("role",))))
    if weighted(draw, no=5, yes=1 if not namespaced else 2) == "yes":
        body["namespaceSelector"] = draw(
            st.one_of(st.sampled_from(("all()", "global()")), calico_selectors())
        )
    if weighted(draw, no=5, yes=1) == "yes":
        body["nets"] = draw(
            st.lists(st.sampled_from(RULE_NETS), min_size=1, max_size=2, unique=True)
        )
    if weighted(draw, no=6, yes=1) == "yes":
        body["notNets"] = draw(
            st.lists(st.sampled_from(RULE_NOT_NETS), min_size=1, max_size=2, unique=True)
        )
    if side == "destination" and protocol != "ICMP":
        for key in ("ports", "notPorts"):
            if weighted(draw, no=4 if key == "ports" else 8, yes=1) == "no":
                continue
            choices: list[Any] = list(PORT_NAMES)
            if protocol is not None:  # numbers need a protocol
                choices += [53, 80, 81, "80:81", "52:53"]
            body[key] = draw(
                st.lists(st.sampled_from(choices), min_size=1, max_size=2, unique=True)
            )
    return body


@st.composite
def calico_rules(draw: st.DrawFn, namespaced: bool) -> dict[str, Any]:
    rule: dict[str, Any] = {"action": weighted(draw, Allow=4, Deny=3, Pass=2, Log=1)}
    protocol = draw(st.sampled_from((None, None, None, "TCP", "UDP", 6, "SCTP", "ICMP")))
    if protocol is not None:
        rule["protocol"] = protocol
    if weighted(draw, no=8, yes=1) == "yes":
        rule["notProtocol"] = draw(st.sampled_from(("TCP", "UDP")))
    for side in ("source", "destination"):
        body = draw(entity(side, protocol, namespaced))
        if body:
            rule[side] = body
    return rule


@st.composite
def calico_objects(draw: st.DrawFn, namespaces: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 2))):
        labels = {"role": draw(st.sampled_from(("metadata", "internal")))}
        if draw(st.booleans()):
            labels["app"] = draw(st.sampled_from(LABEL_VALUES))
        nets = draw(st.lists(st.sampled_from(SET_NETS), min_size=1, max_size=2, unique=True))
        out.append(network_set(f"s{i}", labels, *nets))
    tiers = ["default", "default", "default"]
    if draw(st.booleans()):
        # Equal orders sort by name: "alpha" before "default"/"kube-*", "security" after.
        name = draw(st.sampled_from(("security", "alpha")))
        order = draw(
            st.sampled_from(
                (None, None, 100, 1000, 5000, 1_000_000, 2_000_000, 10_000_000, 20_000_000)
            )
        )
        action = draw(st.sampled_from((None, "Deny", "Pass")))
        out.append(tier(name, order, action))
        tiers += [name, name]
    tiers += ["kube-admin", "kube-baseline"]
    for i in range(draw(st.integers(0, 3))):
        namespaced = draw(st.booleans())
        spec: dict[str, Any] = {}
        chosen_tier = draw(st.sampled_from(tiers))
        if chosen_tier != "default" or draw(st.booleans()):
            spec["tier"] = chosen_tier
        order = draw(st.sampled_from((None, None, 1, 5, 500, 1000, 1000, 1000, 2000, 10.5)))
        if order is not None:
            spec["order"] = order
        if weighted(draw, no=1, yes=2) == "yes":
            spec["selector"] = draw(calico_selectors())
        if not namespaced and weighted(draw, no=4, yes=1) == "yes":
            spec["namespaceSelector"] = draw(st.one_of(st.just("all()"), calico_selectors()))
        for direction in ("ingress", "egress"):
            rules = draw(st.lists(calico_rules(namespaced), max_size=3))
            if rules:
                spec[direction] = rules
        types = draw(st.sampled_from((None, None, ["Ingress"], ["Egress"], ["Ingress", "Egress"])))
        if types is not None:
            spec["types"] = types
        name = f"{draw(st.sampled_from(('a', 'knp', 'm', 'z')))}{i}"
        if namespaced:
            out.append(calico_np(name, draw(st.sampled_from(namespaces)), **spec))
        else:
            out.append(gnp(name, **spec))
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    data = draw(clusters())
    namespaces = list(data["namespaces"])
    pols = draw(calico_objects(namespaces))
    if draw(st.booleans()):
        pols += draw(k8s_policies(namespaces))
    if draw(st.booleans()):
        pols += draw(cnps())
    # Input order must not matter.
    return data, draw(st.permutations(pols))


def _all_probes(data: dict[str, Any]) -> list[Probe]:
    names = [f"{p['namespace']}/{p['name']}" for p in data["pods"]]
    endpoints = names + list(HYPOTHESIS_EXTERNAL)
    return [
        Probe(s, d, port, proto)
        for s in endpoints
        for d in endpoints
        if "/" in s or "/" in d
        for port, proto in HYPOTHESIS_PORTS
    ]


@SETTINGS
@given(scenarios())
def test_analyze_matches_reference_calico(scenario: Any) -> None:
    data, pols = scenario
    probes = _all_probes(data)
    analysis = analyze(ClusterModel.from_dict(data), pols, probes, "calico")
    ref = CalicoReference(data, pols)
    explained = has_calico(pols)
    for p, result in zip(probes, analysis.results(), strict=True):
        expected = ref.evaluate(p.source, p.destination, p.port, p.protocol)
        assert_agrees(result, expected, explained=explained)


@settings(SETTINGS, max_examples=60)
@given(scenarios())
def test_pair_free_counts_match_reference_calico(scenario: Any) -> None:
    data, pols = scenario
    assert_counts(data, pols)
