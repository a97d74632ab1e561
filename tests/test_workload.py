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
