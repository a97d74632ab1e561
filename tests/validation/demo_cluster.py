"""A demo lab without a cluster: the real demo manifests in ``FakeKube``, real traffic in a netns.

The pods get loopback IPs inside a network namespace of our own; the server's ports have real
listeners there; the "dataplane" is a handful of iptables DROP rules written by hand from what
the demo policy means (not from the analyzer, so the comparison is not circular). ``missing``
leaves rules out, to show what validation reports when enforcement is incomplete.

``spec.namespace_suffix`` puts the lab under physical namespace names (``demo-mylab``), as on a
cluster the lab shares; ``pod_ips`` gives the IP table under those names.
"""

from __future__ import annotations

from typing import Any

from provisioning.spec import LabSpec, lab_labels
from provisioning.workload import demo as workload
from tests.fake_kube import FakeKube
from tests.validation.netlab import NetnsLab

POD_IPS = {
    "demo/server": "127.0.10.1",
    "demo/client": "127.0.20.1",
    "demo/intruder": "127.0.20.2",
    "other/client": "127.0.30.1",
}

# The AKS walkthrough's policy: demo/server accepts TCP 80 only from app=client in its namespace.
DEMO_POLICY: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "demo-policy", "namespace": "demo"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "server"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
             "ports": [{"protocol": "TCP", "port": 80}]}
        ],
    },
}  # fmt: skip

# What an engine enforcing DEMO_POLICY drops (self traffic stays allowed, as on most engines).
DEMO_DROPS = [
    ("demo/intruder", "demo/server", 80),
    ("other/client", "demo/server", 80),
    ("demo/client", "demo/server", 8080),
    ("demo/intruder", "demo/server", 8080),
    ("other/client", "demo/server", 8080),
]


def pod_ips(suffix: str = "") -> dict[str, str]:
    """``POD_IPS`` keyed by the pods' physical refs (``demo-mylab/server``)."""
    return {workload.physical_ref(ref, suffix): ip for ref, ip in POD_IPS.items()}


def fake_demo_kube(spec: LabSpec, *, policies: bool = True) -> FakeKube:
    suffix = spec.namespace_suffix
    ips = pod_ips(suffix)
    kube = FakeKube()
    for obj in workload.demo_manifests(spec.name, suffix=suffix):
        kube.seed(obj)
        if obj["kind"] == "Pod":
            key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            kube.set_status(
                "v1",
                "Pod",
                obj["metadata"]["name"],
                obj["metadata"]["namespace"],
                {"phase": "Running", "podIP": ips[key]},
            )
    if policies:
        policy = dict(DEMO_POLICY)
        policy["metadata"] = {
            **DEMO_POLICY["metadata"],
            "namespace": spec.namespace(DEMO_POLICY["metadata"]["namespace"]),
            "labels": lab_labels(spec.name),
        }
        kube.seed(policy)
    return kube


def wire_dataplane(netns: NetnsLab, *, missing: tuple[tuple[str, str, int], ...] = ()) -> None:
    """Listeners for the server's ports and the drop rules of the demo policy."""
    server_ip = POD_IPS["demo/server"]
    for port in (workload.MAIN_PORT.number, workload.ADMIN_PORT.number):
        netns.tcp_listener(server_ip, port)
    for src, dst, port in DEMO_DROPS:
        if (src, dst, port) not in missing:
            netns.drop(POD_IPS[src], POD_IPS[dst], port)
