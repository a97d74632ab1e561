"""Lint warnings: each fires on its case and stays quiet on the fixed version."""

from __future__ import annotations

from typing import Any

from provisioning.analysis.analyzer import analyze
from provisioning.analysis.model import ClusterModel

from .truthtable import cluster_dict, netpol, pod_sel


def warnings(policies: list[dict[str, Any]], cluster: dict[str, Any] | None = None) -> list[str]:
    model = ClusterModel.from_dict(cluster or cluster_dict())
    return list(analyze(model, policies, [], "reference").warnings)


def test_policy_selecting_no_pod() -> None:
    found = warnings([netpol("typo", podSelector=pod_sel(pod="d"), ingress=[])])
    assert found == [
        "policy x/typo selects no pod (podSelector pod=d in namespace x); it has no effect"
    ]
    assert warnings([netpol("ok", podSelector=pod_sel(pod="a"), ingress=[])]) == []
    assert "selects no pod" in warnings([netpol("elsewhere", namespace="w")])[0]


def test_egress_isolation_without_dns() -> None:
    """Egress deny blocks DNS unless port 53 (UDP and TCP) is allowed.

    ahmetb/kubernetes-network-policy-recipes 11-deny-egress-traffic-from-an-application.md
    (commit 11f5018, no tags), "Allowing DNS traffic": with all egress denied, lookups fail
    because the policy is "not allowing it to establish connections to the `kube-dns` Pods";
    the fix allows "all outbound traffic on DNS ports (`53/udp` and `53/tcp`)".
    """
    deny = netpol("deny-egress", policyTypes=["Egress"])
    (found,) = warnings([deny])
    assert found.startswith("x/a, x/b, x/c are isolated for egress by x/deny-egress")
    assert "(UDP/53 and TCP/53) to any destination" in found
    udp_only = netpol(
        "dns-udp",
        policyTypes=["Egress"],
        egress=[{"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"}]}],
    )
    (found,) = warnings([deny, udp_only])
    assert "(TCP/53)" in found
    both = netpol(
        "dns",
        policyTypes=["Egress"],
        egress=[{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}],
    )
    assert warnings([deny, both]) == []


def test_dns_check_targets_cluster_dns_pods_when_modelled() -> None:
    cluster = cluster_dict()
    cluster["namespaces"]["kube-system"] = {}
    cluster["pods"].append(
        {
            "namespace": "kube-system",
            "name": "coredns",
            "labels": {"k8s-app": "kube-dns"},
            "ip": "10.0.9.2",
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }
    )
    to_x_only = netpol(
        "dns-wrong-place",
        policyTypes=["Egress"],
        egress=[
            {"to": [{"podSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]}
        ],
    )
    (found,) = warnings([to_x_only], cluster)
    assert "to the cluster DNS pods" in found
    to_dns = netpol(
        "dns",
        policyTypes=["Egress"],
        egress=[
            {
                "to": [
                    {
                        "namespaceSelector": {},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}],
            }
        ],
    )
    assert warnings([to_dns], cluster) == []


def test_named_port_nobody_declares() -> None:
    ingress = netpol("named", ingress=[{"ports": [{"port": "serve-82-tcp"}]}])
    (found,) = warnings([ingress])
    assert found == (
        "policy x/named spec.ingress[0].ports[0]: no pod the policy selects declares a TCP port "
        "named 'serve-82-tcp', so this entry matches nothing"
    )
    assert (
        warnings(
            [netpol("named", ingress=[{"ports": [{"port": "serve-81-udp", "protocol": "UDP"}]}])]
        )
        == []
    )
    egress = netpol(
        "named-egress",
        policyTypes=["Egress"],
        egress=[
            {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]},
            {"to": [{"podSelector": pod_sel(pod="b")}], "ports": [{"port": "dns"}]},
        ],
    )
    assert warnings([egress]) == [
        "policy x/named-egress spec.egress[1].ports[0]: no peer pod declares a TCP port named "
        "'dns', so this entry matches nothing"
    ]


def test_rules_shadowed_by_allow_all() -> None:
    same_policy = netpol("p", ingress=[{"from": [{"podSelector": pod_sel(pod="b")}]}, {}])
    assert warnings([same_policy]) == [
        "policy x/p spec.ingress[0] is shadowed by spec.ingress[1], which allows all ingress for "
        "the pods this rule applies to"
    ]
    narrow = netpol("narrow", podSelector=pod_sel(pod="a"), ingress=[{"ports": [{"port": 80}]}])
    wide = netpol("wide", ingress=[{}])
    assert warnings([narrow, wide]) == [
        "policy x/narrow spec.ingress[0] is shadowed by x/wide spec.ingress[0], which allows all "
        "ingress for the pods this rule applies to"
    ]
    # The allow-all covers fewer pods than the narrow rule: no shadowing.
    wide_a = netpol("wide-a", podSelector=pod_sel(pod="a"), ingress=[{}])
    broad = netpol("broad", ingress=[{"ports": [{"port": 80}]}])
    assert warnings([wide_a, broad]) == []


# kubernetes/api networking/v1/types.go (tag v0.36.3), NetworkPolicySpec.policyTypes: "If this
# field is not specified, it will default based on the existence of ingress or egress rules;
# policies that contain an egress section are assumed to affect egress, and all policies
# (whether or not they contain an ingress section) are assumed to affect ingress. If you want to
# write an egress-only policy, you must explicitly specify policyTypes [ "Egress" ]."
DNS_ANYWHERE = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]}


def test_rules_of_a_direction_policy_types_leaves_out() -> None:
    ingress_ignored = netpol(
        "p",
        podSelector=pod_sel(pod="a"),
        policyTypes=["Egress"],
        ingress=[{"from": [{"podSelector": pod_sel(pod="b")}]}],
        egress=[DNS_ANYWHERE],
    )
    assert warnings([ingress_ignored]) == [
        "policy x/p spec.ingress has no effect: policyTypes does not list Ingress"
    ]
    egress_ignored = netpol(
        "q", podSelector=pod_sel(pod="a"), policyTypes=["Ingress"], egress=[DNS_ANYWHERE]
    )
    assert warnings([egress_ignored]) == [
        "policy x/q spec.egress has no effect: policyTypes does not list Egress"
    ]
    # Fixed: the direction is listed, or defaulted from the rules; an empty list is no rules.
    listed = netpol(
        "p",
        podSelector=pod_sel(pod="a"),
        policyTypes=["Ingress", "Egress"],
        ingress=[{"from": [{"podSelector": pod_sel(pod="b")}]}],
        egress=[DNS_ANYWHERE],
    )
    assert warnings([listed]) == []
    assert warnings([netpol("r", podSelector=pod_sel(pod="a"), ingress=[{}])]) == []
    empty = netpol("s", podSelector=pod_sel(pod="a"), policyTypes=["Egress"], ingress=[])
    assert not any("has no effect" in w for w in warnings([empty]))


def test_egress_only_policy_without_policy_types_isolates_for_ingress() -> None:
    egress_only = netpol("egress-only", podSelector=pod_sel(pod="a"), egress=[DNS_ANYWHERE])
    assert warnings([egress_only]) == [
        "policy x/egress-only: policyTypes is omitted, so this policy also isolates the pods it "
        "selects for ingress; with no ingress rule it admits nothing into x/a. For an "
        "egress-only policy, set policyTypes: [Egress]"
    ]
    explicit = netpol(
        "egress-only", podSelector=pod_sel(pod="a"), policyTypes=["Egress"], egress=[DNS_ANYWHERE]
    )
    assert warnings([explicit]) == []
    with_ingress = netpol("both", podSelector=pod_sel(pod="a"), ingress=[{}], egress=[DNS_ANYWHERE])
    assert warnings([with_ingress]) == []
    # Quiet when another policy already isolates those pods for ingress: nothing changes.
    deny_ingress = netpol("deny-ingress", ingress=[])
    assert warnings([deny_ingress, egress_only]) == []
    # Only the pods no other policy isolates are named.
    wide = netpol("wide", egress=[DNS_ANYWHERE])
    only_a = netpol("deny-a", podSelector=pod_sel(pod="a"), ingress=[])
    (found,) = warnings([only_a, wide])
    assert "admits nothing into x/b, x/c." in found


def test_engine_none_has_no_warnings() -> None:
    model = ClusterModel.from_dict(cluster_dict())
    policy = netpol("typo", podSelector=pod_sel(pod="d"))
    assert analyze(model, [policy], [], "none").warnings == ()
