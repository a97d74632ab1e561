"""Engine detection for provider ``existing``: fixtures copied from upstream manifests
(docs/engine-detection.md), the verdict rule, and the calls ``collect`` makes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.kube import KubeError, Resource
from provisioning.providers.existing.detect import (
    NO_ENGINE_FOUND,
    Detection,
    EngineMatch,
    collect,
    detect,
    detect_engines,
)
from tests.fake_kube import Call, FakeKube

FIXTURES = Path(__file__).parent / "fixtures"
CLUSTER_ROLE = Resource("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False)


def load(*names: str) -> list[dict[str, Any]]:
    objects = []
    for name in names:
        objects += [d for d in yaml.safe_load_all((FIXTURES / name).read_text()) if d]
    return objects


def only(detection: Detection) -> EngineMatch:
    assert len(detection.engines) == 1, detection
    return detection.engines[0]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def container(ds: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == name)


# fixture -> (engine, enforced); every fixture file must be listed here.
SINGLE = {
    "calico-operator.yaml": ("calico", "yes"),
    "calico-manifest.yaml": ("calico", "yes"),
    "canal.yaml": ("canal", "yes"),
    "cilium.yaml": ("cilium", "yes"),
    "cilium-never.yaml": ("cilium", "no"),
    "azure-npm.yaml": ("azure-npm", "yes"),
    "aws-vpc-cni.yaml": ("aws-vpc-cni", "no"),
    "aws-vpc-cni-network-policy.yaml": ("aws-vpc-cni", "yes"),
    "eks-auto-mode.yaml": ("aws-vpc-cni", "unknown"),
    "antrea.yaml": ("antrea", "yes"),
    "kube-router.yaml": ("kube-router", "yes"),
    "kindnet.yaml": ("kindnet", "yes"),
    "kindnet-old.yaml": ("kindnet", "no"),
    "kube-network-policies.yaml": ("kube-network-policies", "yes"),
    "gke-anetd.yaml": ("gke-dataplane-v2", "yes"),
    "terway.yaml": ("terway", "no"),
    "terway-policy.yaml": ("terway", "yes"),
    "k3s.yaml": ("k3s", "yes"),
    "k3s-no-netpol.yaml": ("k3s", "no"),
    "flannel.yaml": ("flannel", "unknown"),
}


def test_every_fixture_is_covered_and_names_its_source() -> None:
    files = {p.name for p in FIXTURES.glob("*.yaml")}
    assert files == set(SINGLE)
    for name in files:
        first = (FIXTURES / name).read_text().splitlines()[0]
        assert first.startswith("# "), name


@pytest.mark.parametrize(("fixture", "expected"), sorted(SINGLE.items()))
def test_single_engine(fixture: str, expected: tuple[str, str]) -> None:
    detection = detect_engines(load(fixture))
    match = only(detection)
    assert (match.name, match.enforced) == expected
    assert detection.enforced == expected[1]
    assert match.reason
    assert match.evidence


def test_empty_cluster_is_unknown_not_no() -> None:
    detection = detect_engines([])
    assert detection == Detection((), "unknown", NO_ENGINE_FOUND)


def test_unrelated_workloads_are_not_engines() -> None:
    coredns = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system"},
    }
    proxy = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "spec": {"template": {"spec": {"containers": [{"name": "kube-proxy"}]}}},
    }
    assert detect_engines([coredns, proxy]).reason == NO_ENGINE_FOUND


# --- evidence ----------------------------------------------------------------------------------


def test_cilium_never_is_this_projects_engine_none() -> None:
    match = only(detect_engines(load("cilium-never.yaml")))
    assert match.evidence == (
        "DaemonSet/kube-system/cilium",
        "ConfigMap/kube-system/cilium-config:enable-policy=never",
    )
    assert "never" in match.reason


def test_calico_operator_evidence_includes_the_operator() -> None:
    match = only(detect_engines(load("calico-operator.yaml")))
    assert match.evidence == (
        "DaemonSet/calico-system/calico-node",
        "Deployment/tigera-operator/tigera-operator",
    )


def test_aws_default_names_both_switches() -> None:
    match = only(detect_engines(load("aws-vpc-cni.yaml")))
    assert match.evidence == (
        "DaemonSet/kube-system/aws-node",
        "DaemonSet/kube-system/aws-node:aws-eks-nodeagent --enable-network-policy=false",
        "ConfigMap/kube-system/amazon-vpc-cni:enable-network-policy-controller=false",
    )
    assert "--enable-network-policy" in match.reason
    assert "enable-network-policy-controller" in match.reason


def test_k3s_evidence_is_the_node_annotation() -> None:
    match = only(detect_engines(load("k3s-no-netpol.yaml")))
    assert match.evidence == (
        'Node/k3d-lab-server-0:k3s.io/node-args=["server","--disable-network-policy","true"]',
    )


# --- switches ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "enforced"),
    [
        ({}, "yes"),  # key absent: Cilium's "default" mode
        ({"enable-policy": "always"}, "yes"),
        ({"enable-policy": "Never"}, "no"),  # the chart lowercases; be as lenient
        ({"enable-policy": "sometimes"}, "unknown"),
        ({"enable-policy": "default", "enable-k8s-networkpolicy": "false"}, "unknown"),
        ({"enable-policy": "default", "enable-k8s-networkpolicy": "true"}, "yes"),
        ({"enable-policy": "default", "policy-audit-mode": "true"}, "unknown"),
        ({"enable-policy": "never", "policy-audit-mode": "true"}, "no"),
    ],
)
def test_cilium_config_switches(data: dict[str, str], enforced: str) -> None:
    objects = load("cilium.yaml")
    find(objects, "ConfigMap", "cilium-config")["data"] = data
    assert only(detect_engines(objects)).enforced == enforced


def test_cilium_agent_flag_overrides_the_configmap() -> None:
    objects = load("cilium.yaml")
    container(find(objects, "DaemonSet", "cilium"), "cilium-agent")["args"].append(
        "--enable-policy=never"
    )
    match = only(detect_engines(objects))
    assert match.enforced == "no"
    assert "DaemonSet/kube-system/cilium:cilium-agent --enable-policy=never" in match.evidence


def test_cilium_without_its_configmap_is_unknown() -> None:
    objects = [o for o in load("cilium.yaml") if o["kind"] != "ConfigMap"]
    assert only(detect_engines(objects)).enforced == "unknown"


def test_cilium_configmap_is_read_in_the_daemonsets_namespace() -> None:
    objects = load("cilium-never.yaml")
    find(objects, "DaemonSet", "cilium")["metadata"]["namespace"] = "cilium"
    # The "never" ConfigMap sits in kube-system, not in the release namespace: not this Cilium's.
    assert only(detect_engines(objects)).enforced == "unknown"


@pytest.mark.parametrize(
    ("flag", "key", "enforced"),
    [
        ("--enable-network-policy=true", "true", "yes"),
        ("--enable-network-policy=true", "false", "no"),
        ("--enable-network-policy=false", "true", "no"),
        (None, "true", "no"),  # flag default false (controller_config.go)
        ("--enable-network-policy=true", None, "no"),  # key absent: default false
    ],
)
def test_aws_agent_needs_flag_and_configmap(
    flag: str | None, key: str | None, enforced: str
) -> None:
    objects = load("aws-vpc-cni.yaml")
    agent = container(find(objects, "DaemonSet", "aws-node"), "aws-eks-nodeagent")
    agent["args"] = ["--enable-ipv6=false"] + ([flag] if flag else [])
    data = find(objects, "ConfigMap", "amazon-vpc-cni")["data"]
    data.clear()
    if key is not None:
        data["enable-network-policy-controller"] = key
    assert only(detect_engines(objects)).enforced == enforced


def test_aws_node_without_the_agent_container_does_not_enforce() -> None:
    objects = load("aws-vpc-cni-network-policy.yaml")
    ds = find(objects, "DaemonSet", "aws-node")
    ds["spec"]["template"]["spec"]["containers"] = [container(ds, "aws-node")]
    match = only(detect_engines(objects))
    assert match.enforced == "no"
    assert "aws-eks-nodeagent" in match.reason


def test_aws_container_is_aws_eks_nodeagent_not_the_image_name() -> None:
    objects = load("aws-vpc-cni-network-policy.yaml")
    agent = container(find(objects, "DaemonSet", "aws-node"), "aws-eks-nodeagent")
    agent["name"] = "aws-network-policy-agent"
    assert only(detect_engines(objects)).enforced == "no"


@pytest.mark.parametrize(
    ("args", "enforced"),
    [
        (["--run-router=true", "--run-service-proxy=false"], "yes"),  # default true
        (["--run-firewall"], "yes"),
        (["--run-firewall=false"], "no"),
        (["--run-firewall=0"], "no"),
        (["--run-firewall=maybe"], "unknown"),
    ],
)
def test_kube_router_run_firewall(args: list[str], enforced: str) -> None:
    objects = load("kube-router.yaml")
    container(find(objects, "DaemonSet", "kube-router"), "kube-router")["args"] = args
    assert only(detect_engines(objects)).enforced == enforced


@pytest.mark.parametrize(
    ("image", "enforced"),
    [
        ("docker.io/kindest/kindnetd:v20240719-e7903573", "yes"),  # PR #3612's image
        ("docker.io/kindest/kindnetd:v20240513-cd2ac642", "no"),
        ("docker.io/kindest/kindnetd:v20240202-8f1494ea", "no"),  # minikube v1.33.x
        ("docker.io/kindest/kindnetd:v20240813-c6f155d6@sha256:" + "0" * 64, "yes"),
        ("localhost:5000/kindnetd", "unknown"),  # no tag, and the old ClusterRole
        ("docker.io/kindest/kindnetd:latest", "unknown"),
    ],
)
def test_kindnet_by_image_tag_date(image: str, enforced: str) -> None:
    objects = load("kindnet-old.yaml")
    container(find(objects, "DaemonSet", "kindnet"), "kindnet-cni")["image"] = image
    assert only(detect_engines(objects)).enforced == enforced


def test_kindnet_undated_tag_falls_back_to_the_clusterrole() -> None:
    objects = load("kindnet.yaml")
    container(find(objects, "DaemonSet", "kindnet"), "kindnet-cni")["image"] = "my/kindnetd:dev"
    match = only(detect_engines(objects))
    assert match.enforced == "yes"
    assert "ClusterRole/kindnet:networking.k8s.io/networkpolicies" in match.evidence


@pytest.mark.parametrize(
    ("value", "enforced"),
    [("true", "no"), ("yes", "no"), ("false", "yes"), ("0", "yes"), ("", "yes"), (None, "yes")],
)
def test_terway_disable_network_policy(value: str | None, enforced: str) -> None:
    objects = load("terway.yaml")
    data = find(objects, "ConfigMap", "eni-config")["data"]
    data.clear()
    if value is not None:
        data["disable_network_policy"] = value
    assert only(detect_engines(objects)).enforced == enforced


def test_terway_exclusive_eni_nodes_make_it_unknown() -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1", "labels": {"k8s.aliyun.com/exclusive-mode-eni-type": "eniOnly"}},
    }
    match = only(detect_engines([*load("terway-policy.yaml"), node]))
    assert match.enforced == "unknown"
    assert "Node/n1:k8s.aliyun.com/exclusive-mode-eni-type=eniOnly" in match.evidence


@pytest.mark.parametrize(
    ("args", "enforced"),
    [
        ('["server","--disable-network-policy"]', "no"),
        ('["server","--disable-network-policy=true"]', "no"),
        ('["server","--disable-network-policy","false"]', "yes"),
        ('["server","--flannel-backend","none"]', "yes"),
        ('["agent"]', "unknown"),  # no server seen: the flag lives on servers
        ("not json", "unknown"),
    ],
)
def test_k3s_node_args(args: str, enforced: str) -> None:
    objects = load("k3s.yaml")
    objects[0]["metadata"]["annotations"]["k3s.io/node-args"] = args
    assert only(detect_engines(objects)).enforced == enforced


def test_k3s_agents_do_not_decide() -> None:
    server = load("k3s-no-netpol.yaml")[0]
    agent = copy.deepcopy(server)
    agent["metadata"]["name"] = "k3d-lab-agent-0"
    agent["metadata"]["annotations"]["k3s.io/node-args"] = '["agent"]'
    assert only(detect_engines([server, agent])).enforced == "no"


def test_k3s_servers_that_disagree_are_unknown() -> None:
    disabled = load("k3s-no-netpol.yaml")[0]
    enabled = load("k3s.yaml")[0]
    enabled["metadata"]["name"] = "k3d-lab-server-1"
    assert only(detect_engines([disabled, enabled])).enforced == "unknown"


def test_operator_without_its_daemonset_is_unknown() -> None:
    objects = [o for o in load("calico-operator.yaml") if o["kind"] == "Deployment"]
    match = only(detect_engines(objects))
    assert (match.name, match.enforced) == ("calico", "unknown")


def test_a_daemonset_with_no_ready_pod_downgrades_yes() -> None:
    objects = load("antrea.yaml")
    find(objects, "DaemonSet", "antrea-agent")["status"] = {
        "desiredNumberScheduled": 3,
        "numberReady": 0,
    }
    match = only(detect_engines(objects))
    assert match.enforced == "unknown"
    assert "no pod ready (0 of 3)" in match.reason
    find(objects, "DaemonSet", "antrea-agent")["status"]["numberReady"] = 1
    assert only(detect_engines(objects)).enforced == "yes"


# --- combinations ------------------------------------------------------------------------------


def test_calico_on_k3s_with_its_kube_router_netpol() -> None:
    detection = detect_engines(load("calico-manifest.yaml", "k3s.yaml"))
    assert {(m.name, m.enforced) for m in detection.engines} == {("calico", "yes"), ("k3s", "yes")}
    assert detection.enforced == "yes"
    assert detection.reason == "enforced by calico, k3s"


def test_k3d_calico_recipe_disables_k3s_netpol_calico_still_enforces() -> None:
    detection = detect_engines(load("calico-manifest.yaml", "k3s-no-netpol.yaml"))
    assert [(m.name, m.enforced) for m in detection.engines] == [("calico", "yes"), ("k3s", "no")]
    assert detection.enforced == "yes"


def test_every_engine_saying_no_is_no() -> None:
    detection = detect_engines(load("aws-vpc-cni.yaml", "kindnet-old.yaml", "k3s-no-netpol.yaml"))
    assert detection.names == ("aws-vpc-cni", "kindnet", "k3s")
    assert detection.enforced == "no"


def test_no_plus_unknown_is_unknown() -> None:
    detection = detect_engines(load("cilium-never.yaml", "flannel.yaml"))
    assert detection.enforced == "unknown"
    assert detection.reason == "cannot tell for flannel"


def test_calico_policy_only_on_eks() -> None:
    detection = detect_engines(load("aws-vpc-cni.yaml", "calico-manifest.yaml"))
    assert detection.enforced == "yes"
    assert detection.names == ("aws-vpc-cni", "calico")


def test_auto_mode_rule_is_off_when_aws_node_exists() -> None:
    detection = detect_engines(load("aws-vpc-cni.yaml"))
    assert detection.names == ("aws-vpc-cni",)
    assert len(detection.engines) == 1


def test_kindnet_next_to_kube_network_policies() -> None:
    detection = detect_engines(load("kindnet-old.yaml", "kube-network-policies.yaml"))
    assert detection.enforced == "yes"
    assert detection.reason == "enforced by kube-network-policies"


def test_gaps_turn_no_into_unknown_but_not_yes() -> None:
    gap = ("Nodes (forbidden)",)
    no = detect_engines(load("cilium-never.yaml"), gaps=gap)
    assert no.enforced == "unknown"
    assert no.reason.endswith("could not read: Nodes (forbidden)")
    assert detect_engines(load("cilium.yaml"), gaps=gap).enforced == "yes"
    nothing = detect_engines([], gaps=gap)
    assert nothing.reason == f"{NO_ENGINE_FOUND}; could not read: Nodes (forbidden)"


# --- collect() against the in-memory API -------------------------------------------------------


def seeded(*fixtures: str) -> FakeKube:
    kube = FakeKube(resources=[CLUSTER_ROLE])
    objects = load(*fixtures)
    for ns in sorted({o["metadata"].get("namespace") for o in objects} - {None}):
        kube.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for obj in objects:
        kube.seed(obj)
    kube.calls.clear()
    return kube


BASE_CALLS = [
    Call("list", "DaemonSet", None, None),
    Call("list", "Deployment", None, None),
    Call("list", "Node", None, None),
]


def test_collect_on_an_empty_cluster_makes_four_calls() -> None:
    kube = FakeKube()
    collected = collect(kube)
    assert collected.objects == ()
    assert kube.calls == [*BASE_CALLS, Call("get", "ConfigMap", "kube-system", "amazon-vpc-cni")]
    assert detect(FakeKube()).reason == NO_ENGINE_FOUND


def test_collect_reads_the_cilium_config_of_the_release_namespace() -> None:
    kube = seeded("cilium-never.yaml")
    detection = detect(kube)
    assert kube.calls == [
        *BASE_CALLS,
        Call("get", "ConfigMap", "kube-system", "amazon-vpc-cni"),
        Call("get", "ConfigMap", "kube-system", "cilium-config"),
    ]
    assert (only(detection).name, detection.enforced) == ("cilium", "no")


def test_collect_terway_reads_eni_config() -> None:
    kube = seeded("terway-policy.yaml")
    assert detect(kube).enforced == "yes"
    assert Call("get", "ConfigMap", "kube-system", "eni-config") in kube.calls
    assert len(kube.calls) == 5


def test_collect_aws_needs_no_extra_call() -> None:
    kube = seeded("aws-vpc-cni-network-policy.yaml")
    assert detect(kube).enforced == "yes"
    assert kube.calls == [*BASE_CALLS, Call("get", "ConfigMap", "kube-system", "amazon-vpc-cni")]


def test_collect_asks_for_the_kindnet_clusterrole_only_when_the_tag_is_undated() -> None:
    kube = seeded("kindnet.yaml")
    assert detect(kube).enforced == "yes"
    assert all(call.kind != "ClusterRole" for call in kube.calls)

    kube = seeded("kindnet.yaml")
    ds = kube.get("apps/v1", "DaemonSet", "kindnet", "kube-system")
    assert ds is not None
    container(ds, "kindnet-cni")["image"] = "my/kindnetd:dev"
    kube.seed(ds)
    kube.calls.clear()
    detection = detect(kube)
    assert kube.calls[-1] == Call("get", "ClusterRole", None, "kindnet")
    assert detection.enforced == "yes"


def test_collect_everything_at_once() -> None:
    kube = seeded("calico-manifest.yaml", "k3s.yaml", "antrea.yaml")
    detection = detect(kube)
    assert detection.names == ("antrea", "calico", "k3s")  # DaemonSets in API order, then nodes
    assert len(kube.calls) == 4


def test_collect_records_forbidden_as_a_gap() -> None:
    kube = seeded("cilium-never.yaml")
    forbidden = KubeError("nodes is forbidden", status=403, reason="Forbidden", verb="list")
    kube.fail_on("list", "Node", error=forbidden)
    collected = collect(kube)
    assert collected.gaps == ("Nodes (forbidden)",)
    detection = detect_engines(collected.objects, gaps=collected.gaps)
    assert detection.enforced == "unknown"  # Cilium says no, but a k3s netpol may be unseen


def test_collect_propagates_other_errors() -> None:
    kube = FakeKube()
    kube.fail_on("list", "DaemonSet")
    with pytest.raises(KubeError) as err:
        collect(kube)
    assert err.value.status == 500
