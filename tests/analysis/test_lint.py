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


def test_engine_none_has_no_warnings() -> None:
    model = ClusterModel.from_dict(cluster_dict())
    policy = netpol("typo", podSelector=pod_sel(pod="d"))
    assert analyze(model, [policy], [], "none").warnings == ()
