"""The demo workload: golden manifests plus the invariants the rest of the lab relies on.

Regenerate the golden file after an intended change with
``UPDATE_GOLDEN=1 /work/venv/bin/python -m pytest tests/test_workload.py`` and review the diff.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from provisioning import versions
from provisioning.spec import lab_labels
from provisioning.workload import demo as workload
from tests.golden_files import assert_golden

# IANA_SVC_NAME as the API server checks container port names: <= 15 characters, lower-case
# letters, digits and '-', at least one letter, no leading, trailing or doubled '-'.
_IANA_SVC_NAME = re.compile(r"^(?=.*[a-z])(?!-)(?!.*--)[a-z0-9-]{1,15}(?<!-)$")


def _by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def _pod(objects: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    namespace, name = ref.split("/")
    matches = [
        o
        for o in _by_kind(objects, "Pod")
        if (o["metadata"]["namespace"], o["metadata"]["name"]) == (namespace, name)
    ]
    assert len(matches) == 1, ref
    return matches[0]


def test_demo_manifests_match_golden() -> None:
    text = yaml.safe_dump_all(workload.demo_manifests("netpol-lab"), sort_keys=False)
    assert_golden("workload/demo.yaml", text)


def test_every_object_carries_the_lab_labels() -> None:
    for obj in workload.demo_manifests("lab-a"):
        labels = obj["metadata"]["labels"]
        assert lab_labels("lab-a").items() <= labels.items(), obj["metadata"]


def test_namespaces_come_first_and_are_the_lab_namespaces() -> None:
    objects = workload.demo_manifests("netpol-lab")
    kinds = [o["kind"] for o in objects]
    assert kinds[: len(workload.NAMESPACES)] == ["Namespace"] * len(workload.NAMESPACES)
    assert [o["metadata"]["name"] for o in _by_kind(objects, "Namespace")] == list(
        workload.NAMESPACES
    )
    for obj in objects[len(workload.NAMESPACES) :]:
        assert obj["metadata"]["namespace"] in workload.NAMESPACES


def test_pods_match_the_pod_table() -> None:
    objects = workload.demo_manifests("netpol-lab")
    assert len(_by_kind(objects, "Pod")) == len(workload.pods())
    for spec in workload.pods():
        pod = _pod(objects, spec.ref)
        assert pod["metadata"]["labels"]["app"] == spec.app
        for container in pod["spec"]["containers"]:
            assert container["image"] == versions.AGNHOST_IMAGE
            assert container["imagePullPolicy"] == "IfNotPresent"
            assert container["resources"]["requests"]
        assert pod["spec"]["terminationGracePeriodSeconds"] <= 5


def test_the_walkthrough_roles_are_there() -> None:
    # The AKS walkthrough needs app=server and app=client in demo; the richer lab adds a pod
    # without that label and an app=client pod in another namespace.
    assert workload.find_pod("demo/server").app == "server"
    assert workload.find_pod("demo/client").app == "client"
    assert workload.find_pod("demo/intruder").app != "client"
    other = workload.find_pod(f"{workload.OTHER_NAMESPACE}/client")
    assert other is not None and other.app == "client"
    assert workload.OTHER_NAMESPACE != workload.DEMO_NAMESPACE
    assert workload.find_pod("demo/nobody") is None


def test_server_serves_each_named_port_with_serve_hostname() -> None:
    pod = _pod(workload.demo_manifests("netpol-lab"), "demo/server")
    served = {}
    for container in pod["spec"]["containers"]:
        (port,) = container["ports"]
        assert _IANA_SVC_NAME.match(port["name"]), port["name"]
        args = container["args"]
        assert container["command"] == ["/agnhost"]
        assert args[:3] == ["serve-hostname", "--tcp", "--http=false"]
        assert args[args.index("--port") + 1] == str(port["containerPort"])
        assert container["readinessProbe"]["tcpSocket"]["port"] == port["name"]
        served[port["containerPort"]] = port["name"]
    assert 80 in served and len(served) >= 2, "port rules need a second port"
    assert {p.number: p.name for p in workload.SERVER.ports} == served


def test_clients_pause_so_they_can_be_exec_probed() -> None:
    objects = workload.demo_manifests("netpol-lab")
    for spec in workload.clients():
        (container,) = _pod(objects, spec.ref)["spec"]["containers"]
        assert container["args"] == ["pause"]
        assert "ports" not in container


def test_servers_and_clients_partition_the_pods() -> None:
    assert set(workload.servers()) | set(workload.clients()) == set(workload.pods())
    assert not set(workload.servers()) & set(workload.clients())
    assert all(p.ports for p in workload.servers())


def test_service_targets_named_container_ports() -> None:
    objects = workload.demo_manifests("netpol-lab")
    (service,) = _by_kind(objects, "Service")
    pod = _pod(objects, f"{service['metadata']['namespace']}/{service['metadata']['name']}")
    names = {p["name"] for c in pod["spec"]["containers"] for p in c["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} == names
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()


def test_readiness_targets_cover_every_pod_server_first() -> None:
    targets = workload.readiness_targets()
    pods = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in _by_kind(workload.demo_manifests("netpol-lab"), "Pod")
    }
    assert {(t.namespace, t.name) for t in targets} == pods
    assert targets[0].describe() == "demo/server"
    assert all(t.kind == "Pod" for t in targets)


# --- physical namespaces: a lab on a shared cluster ("existing") -----------------------------

SUFFIX = "-mylab"


def _without_namespaces(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects with every namespace name blanked, to compare everything else."""
    out = []
    for obj in objects:
        metadata = dict(obj["metadata"])
        if obj["kind"] == "Namespace":
            metadata["name"] = "<ns>"
        else:
            metadata["namespace"] = "<ns>"
        out.append({**obj, "metadata": metadata})
    return out


def test_physical_names_follow_the_spec_and_leave_foreign_namespaces_alone() -> None:
    from provisioning.spec import LabSpec

    spec = LabSpec(name="mylab", namespace_suffix=SUFFIX)
    for logical in workload.NAMESPACES:
        assert workload.physical_namespace(logical, SUFFIX) == spec.namespace(logical)
        assert workload.physical_namespace(logical) == logical
    assert workload.physical_namespaces(SUFFIX) == ("demo-mylab", "other-mylab")
    assert workload.physical_ref("demo/client", SUFFIX) == "demo-mylab/client"
    assert workload.physical_ref("other/client", SUFFIX) == "other-mylab/client"
    assert workload.physical_ref("kube-system/kube-dns", SUFFIX) == "kube-system/kube-dns"
    assert workload.physical_ref("demo/client") == "demo/client"


def test_suffixed_manifests_put_nothing_in_the_logical_namespaces() -> None:
    objects = workload.demo_manifests("mylab", suffix=SUFFIX)
    physical = {"demo-mylab", "other-mylab"}
    namespaces = _by_kind(objects, "Namespace")
    assert [o["metadata"]["name"] for o in namespaces] == ["demo-mylab", "other-mylab"]
    # The role label keeps the logical name: it says what the namespace is for.
    assert [o["metadata"]["labels"][workload.LABEL_ROLE] for o in namespaces] == ["demo", "other"]
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    assert namespaced and {o["metadata"]["namespace"] for o in namespaced} == physical
    for obj in objects:
        assert obj["metadata"].get("namespace") not in workload.NAMESPACES, obj["metadata"]
        assert obj["metadata"]["name"] not in workload.NAMESPACES, obj["metadata"]
        assert lab_labels("mylab").items() <= obj["metadata"]["labels"].items()
    pods = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in _by_kind(objects, "Pod")}
    assert pods == {(f"{p.namespace}{SUFFIX}", p.name) for p in workload.pods()}


def test_the_suffix_changes_namespace_names_and_nothing_else() -> None:
    plain = workload.demo_manifests("mylab")
    suffixed = workload.demo_manifests("mylab", suffix=SUFFIX)
    assert plain == workload.demo_manifests("mylab", suffix="")
    assert plain != suffixed
    assert _without_namespaces(plain) == _without_namespaces(suffixed)


def test_suffixed_readiness_targets_are_in_the_physical_namespaces() -> None:
    targets = workload.readiness_targets(suffix=SUFFIX)
    pods = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in _by_kind(workload.demo_manifests("mylab", suffix=SUFFIX), "Pod")
    }
    assert {(t.namespace, t.name) for t in targets} == pods
    assert targets[0].describe() == "demo-mylab/server"
    assert workload.readiness_targets() == workload.readiness_targets(suffix="")
