"""Validation mirrors the API server's rejections.

Source for every rule: kubernetes/kubernetes ``pkg/apis/networking/validation/validation.go``
(``ValidateNetworkPolicyPort``, ``ValidateNetworkPolicyPeer``, ``ValidateIPBlock``,
``ValidateNetworkPolicySpec``) and apimachinery ``pkg/apis/meta/v1/validation``
(``ValidateLabelSelector``); unknown fields as rejected with ``fieldValidation=Strict``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from provisioning.analysis.validate import validate_networkpolicy


def policy(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p1", "namespace": "demo"},
        "spec": {"podSelector": {}, **spec},
    }


VALID = policy(
    podSelector={"matchLabels": {"app": "server"}},
    policyTypes=["Ingress", "Egress"],
    ingress=[
        {
            "from": [
                {
                    "podSelector": {
                        "matchExpressions": [{"key": "app", "operator": "In", "values": ["a"]}]
                    }
                },
                {"namespaceSelector": {}, "podSelector": {}},
                {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
            ],
            "ports": [
                {"port": 80},
                {"port": "serve-80-tcp", "protocol": "TCP"},
                {"port": 8000, "endPort": 8080, "protocol": "UDP"},
                {"protocol": "SCTP"},
            ],
        },
        {},
    ],
    egress=[{"to": [{"ipBlock": {"cidr": "fd00::/64", "except": ["fd00::/96"]}}]}],
)


def test_valid_policy_has_no_errors() -> None:
    assert validate_networkpolicy(VALID) == []


def test_nulls_mean_absent_and_empty_spec_is_valid() -> None:
    obj = policy(ingress=None, egress=None, policyTypes=None)
    obj["spec"]["podSelector"] = None
    assert validate_networkpolicy(obj) == []
    assert validate_networkpolicy({"metadata": {"name": "x"}}) == []


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(VALID)
    target: Any = obj
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return obj


INGRESS0 = ["spec", "ingress", 0]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            [*INGRESS0, "from", 1, "ipBlock"],
            {"cidr": "10.0.0.0/8"},
            "spec.ingress[0].from[1]: ipBlock cannot be combined with podSelector or "
            "namespaceSelector",
        ),
        (
            [*INGRESS0, "from", 2, "ipBlock", "except"],
            ["192.168.0.0/16"],
            'spec.ingress[0].from[2].ipBlock.except[0]: "192.168.0.0/16" is not inside cidr '
            '"10.0.0.0/8"',
        ),
        (
            [*INGRESS0, "from", 2, "ipBlock", "except"],
            ["10.0.0.0/8"],
            'spec.ingress[0].from[2].ipBlock.except[0]: "10.0.0.0/8" is not inside cidr',
        ),
        (
            [*INGRESS0, "from", 2, "ipBlock", "cidr"],
            "10.0.0.300/8",
            'spec.ingress[0].from[2].ipBlock.cidr: "10.0.0.300/8" must be a valid CIDR',
        ),
        (
            [*INGRESS0, "from", 2, "ipBlock", "cidr"],
            "10.0.0.1",
            'spec.ingress[0].from[2].ipBlock.cidr: "10.0.0.1" must be a valid CIDR',
        ),
        ([*INGRESS0, "from", 2, "ipBlock"], {"except": []}, "ipBlock.cidr: Required value"),
        (
            [*INGRESS0, "from", 0],
            {},
            "spec.ingress[0].from[0]: Required value: must specify a peer",
        ),
        (
            [*INGRESS0, "from", 0, "podSelector", "matchExpressions", 0, "operator"],
            "Equals",
            'matchExpressions[0].operator: Unsupported value: "Equals"',
        ),
        (
            [*INGRESS0, "from", 0, "podSelector", "matchExpressions", 0, "values"],
            [],
            "matchExpressions[0].values: Required value: must be specified when `operator` is "
            "'In' or 'NotIn'",
        ),
        (
            [*INGRESS0, "from", 0, "podSelector", "matchExpressions", 0, "operator"],
            "Exists",
            "matchExpressions[0].values: Forbidden: may not be specified",
        ),
        (
            [*INGRESS0, "from", 0, "podSelector", "matchExpressions", 0, "key"],
            "bad key!",
            'matchExpressions[0].key: "bad key!" name part must consist',
        ),
        (
            ["spec", "podSelector", "matchLabels", "app"],
            "no spaces",
            'spec.podSelector.matchLabels[app]: "no spaces" must be empty or consist',
        ),
        (
            [*INGRESS0, "ports", 0],
            {"port": "http", "endPort": 90},
            "spec.ingress[0].ports[0].endPort: may not be specified when `port` is non-numeric",
        ),
        (
            [*INGRESS0, "ports", 0],
            {"endPort": 90},
            "spec.ingress[0].ports[0].endPort: may not be specified when `port` is not specified",
        ),
        (
            [*INGRESS0, "ports", 0],
            {"port": 90, "endPort": 80},
            "spec.ingress[0].ports[0].endPort: 80 must be greater than or equal to `port`",
        ),
        ([*INGRESS0, "ports", 0, "port"], 0, "spec.ingress[0].ports[0].port: 0 must be between"),
        ([*INGRESS0, "ports", 0, "port"], 70000, "port: 70000 must be between 1 and 65535"),
        ([*INGRESS0, "ports", 0, "port"], "80", 'port: "80" must contain at least one letter'),
        ([*INGRESS0, "ports", 0, "port"], "Http", 'port: "Http" must contain only'),
        ([*INGRESS0, "ports", 0, "port"], "a--b", "must not contain consecutive hyphens"),
        ([*INGRESS0, "ports", 0, "port"], "a-very-long-port-name", "no more than 15 characters"),
        ([*INGRESS0, "ports", 0, "port"], True, "port: must be an integer or a string"),
        ([*INGRESS0, "ports", 0, "protocol"], "ICMP", 'protocol: Unsupported value: "ICMP"'),
        ([*INGRESS0, "ports", 0, "protocol"], "tcp", 'protocol: Unsupported value: "tcp"'),
        (["spec", "policyTypes"], ["ingress"], 'spec.policyTypes[0]: Unsupported value: "ingress"'),
        (["spec", "policyTypes"], ["Ingress", "Egress", "Ingress"], "more than two policyTypes"),
        (
            ["metadata", "name"],
            "Bad_Name",
            'metadata.name: "Bad_Name" must be a lowercase RFC 1123',
        ),
        (["metadata", "name"], "", "metadata.name: Required value"),
        (["metadata", "namespace"], "a.b", 'metadata.namespace: "a.b" must be a lowercase'),
        (["spec", "podSelectr"], {}, 'spec.podSelectr: unknown field "podSelectr"'),
        ([*INGRESS0, "from", 0, "ipblock"], {}, 'from[0].ipblock: unknown field "ipblock"'),
        ([*INGRESS0, "to"], [], 'spec.ingress[0].to: unknown field "to"'),
        (["spec", "ingress"], {"from": []}, "spec.ingress: must be a list, got object"),
        (["metadata", "labels"], ["a"], "metadata.labels: must be an object, got list"),
        (["apiVersion"], "networking.k8s.io/v1beta1", 'apiVersion: "networking.k8s.io/v1beta1"'),
        (["kind"], "Pod", 'kind: "Pod" is not "NetworkPolicy"'),
    ],
)
def test_rejections_name_the_field(path: list[Any], value: Any, expected: str) -> None:
    errors = validate_networkpolicy(_with(path, value))
    assert any(expected in e for e in errors), errors


def test_missing_metadata_and_non_object() -> None:
    assert validate_networkpolicy({"spec": {}}) == [
        "metadata.name: Required value: name is required"
    ]
    assert validate_networkpolicy([]) == ["<root>: must be an object, got list"]  # type: ignore[arg-type]


def test_every_problem_is_reported() -> None:
    obj = _with(["spec", "policyTypes"], ["Both"])
    obj["spec"]["ingress"][0]["ports"][0] = {"port": 90, "endPort": 80}
    assert len(validate_networkpolicy(obj)) == 2
