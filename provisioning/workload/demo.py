"""The demo workload: two namespaces, an agnhost server with two named ports, and three clients.

It is the AKS walkthrough "Secure traffic between pods using network policies"
(https://learn.microsoft.com/azure/aks/use-network-policies: namespace ``demo``, ``app=server``
running ``agnhost serve-hostname --tcp --http=false --port 80``, a client labelled ``app=client``)
made richer so every classic recipe has something to show:

* ``demo/server`` serves raw TCP on 80 (port ``main``) and 8080 (port ``admin``): port rules and
  named ports have a second port to close;
* ``demo/client`` (``app=client``) is the one the policies allow;
* ``demo/intruder`` (``app=intruder``) is the same pod without that label;
* ``other/client`` (``app=client`` in a second namespace) shows that a ``podSelector``-only peer
  stays in the policy's namespace.

The pod table below is the single source of truth: manifests, the template variables of the
policies (``provisioning.workload.policies``) and the scenario expectations are all derived from it.

Names in the table are logical (``demo``, ``other``). On a cluster the lab shares with other
workloads each namespace gets a suffix (``LabSpec.namespace_suffix``, e.g. ``demo-mylab``) so it
can never collide with the user's own; ``physical_namespace`` and ``physical_ref`` give the real
names, and only the functions that build objects for the cluster (``demo_manifests``,
``readiness_targets``) take the suffix. With the default empty suffix both names are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioning import versions
from provisioning.spec import lab_labels

DEMO_NAMESPACE = "demo"
OTHER_NAMESPACE = "other"
NAMESPACES = (DEMO_NAMESPACE, OTHER_NAMESPACE)

# Marks what a lab namespace is for; ``kubernetes.io/metadata.name`` is added by the API server.
LABEL_ROLE = "netpol-lab.io/role"

APP_LABEL = "app"

# agnhost serves one port per process, so the server pod runs one container per port.
# Sub-commands and flags: agnhost README in kubernetes/kubernetes test/images/agnhost
# (serve-hostname: --tcp, --http, --port; pause; connect <host:port> --timeout --protocol).
AGNHOST_BINARY = "/agnhost"

# Short on purpose: the pods hold no state and a lab is torn down often.
TERMINATION_GRACE_SECONDS = 2


@dataclass(frozen=True)
class PortSpec:
    """One container port; ``name`` is an IANA_SVC_NAME so policies can refer to it by name."""

    name: str
    number: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class PodSpec:
    """One demo pod and the part it plays in a lab."""

    namespace: str
    name: str
    app: str
    role: str  # "server" (listens on ports) or "client" (runs `agnhost pause`, probes from exec)
    ports: tuple[PortSpec, ...] = ()

    @property
    def ref(self) -> str:
        """``namespace/name``, the way scenarios and messages name a pod."""
        return f"{self.namespace}/{self.name}"

    @property
    def labels(self) -> dict[str, str]:
        """The pod's own labels (without the lab labels); what policies select on."""
        return {APP_LABEL: self.app}

    def port(self, number: int, protocol: str = "TCP") -> PortSpec | None:
        return next((p for p in self.ports if p.number == number and p.protocol == protocol), None)


@dataclass(frozen=True)
class ReadinessTarget:
    """Something the lab waits for after deploying the workload."""

    kind: str
    namespace: str
    name: str

    def describe(self) -> str:
        """For progress lines: ``waiting for demo/server to be Ready``."""
        return f"{self.namespace}/{self.name}"


MAIN_PORT = PortSpec("main", 80)
ADMIN_PORT = PortSpec("admin", 8080)

SERVER = PodSpec(DEMO_NAMESPACE, "server", "server", "server", (MAIN_PORT, ADMIN_PORT))
CLIENT = PodSpec(DEMO_NAMESPACE, "client", "client", "client")
INTRUDER = PodSpec(DEMO_NAMESPACE, "intruder", "intruder", "client")
OTHER_CLIENT = PodSpec(OTHER_NAMESPACE, "client", "client", "client")

PODS = (SERVER, CLIENT, INTRUDER, OTHER_CLIENT)


def physical_namespace(logical: str, suffix: str = "") -> str:
    """The real name of lab namespace ``logical`` (``demo`` -> ``demo-mylab``); the same rule as
    ``LabSpec.namespace``. A namespace the lab does not own (``kube-system``) is left as it is."""
    return f"{logical}{suffix}" if logical in NAMESPACES else logical


def physical_namespaces(suffix: str = "") -> tuple[str, ...]:
    """The lab's namespaces as the cluster names them, in ``NAMESPACES`` order."""
    return tuple(physical_namespace(ns, suffix) for ns in NAMESPACES)


def physical_ref(ref: str, suffix: str = "") -> str:
    """``demo/client`` -> ``demo-mylab/client``: a pod ref written logically, as the cluster
    names it. Refs outside the lab's namespaces, or without a namespace, are left as they are."""
    namespace, sep, name = ref.partition("/")
    if not sep:
        return ref
    return f"{physical_namespace(namespace, suffix)}/{name}"


def pods() -> tuple[PodSpec, ...]:
    """Every demo pod, servers first."""
    return PODS


def servers() -> tuple[PodSpec, ...]:
    """Pods that listen: the targets of probes."""
    return tuple(p for p in PODS if p.role == "server")


def clients() -> tuple[PodSpec, ...]:
    """Pods that only connect out: the sources of probes."""
    return tuple(p for p in PODS if p.role == "client")


def find_pod(ref: str) -> PodSpec | None:
    """The pod named ``namespace/name``, or None."""
    return next((p for p in PODS if p.ref == ref), None)


def readiness_targets(suffix: str = "") -> tuple[ReadinessTarget, ...]:
    """What to wait for after apply, in the order worth reporting (the server first), in the
    namespaces as the cluster names them (``suffix``: ``LabSpec.namespace_suffix``)."""
    return tuple(
        ReadinessTarget("Pod", physical_namespace(p.namespace, suffix), p.name) for p in PODS
    )


def demo_manifests(lab: str, suffix: str = "") -> list[dict[str, Any]]:
    """Namespaces, then the server's Service, then the pods: the order they can be applied in.

    Every object goes into the physical namespaces (``demo`` + ``suffix``); each Namespace's
    ``netpol-lab.io/role`` label keeps the logical name.
    """
    objects: list[dict[str, Any]] = [_namespace(ns, lab, suffix) for ns in NAMESPACES]
    objects += [_service(p, lab, suffix) for p in servers()]
    objects += [_pod(p, lab, suffix) for p in PODS]
    return objects


def _namespace(logical: str, lab: str, suffix: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": physical_namespace(logical, suffix),
            "labels": {**lab_labels(lab), LABEL_ROLE: logical},
        },
    }


def extra_pod_manifests(pods: Any, lab: str, suffix: str = "") -> list[dict[str, Any]]:
    """An exercise's extra pods (``demo/db``, ``demo/apiserver``, ...) as the demo pods are
    made: one agnhost ``serve-hostname`` container per port, or ``pause`` for a pod that only
    connects out; their own labels plus the lab's. ``pods``: ``workload.exercises.ExtraPod``."""
    out = []
    for extra in pods:
        containers = (
            [server_container(p) for p in extra.ports]
            if extra.ports
            else [agnhost_container("agnhost", ["pause"])]
        )
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": extra.name,
                    "namespace": physical_namespace(extra.namespace, suffix),
                    "labels": {**lab_labels(lab), **dict(extra.labels)},
                },
                "spec": pod_spec(containers),
            }
        )
    return out


def _service(pod: PodSpec, lab: str, suffix: str) -> dict[str, Any]:
    # A ClusterIP Service lets attendees probe by DNS name (`server.demo`), which is what makes
    # the "egress deny also blocks DNS" lesson visible; policies still see pod IPs after DNAT.
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": pod.name,
            "namespace": physical_namespace(pod.namespace, suffix),
            "labels": lab_labels(lab),
        },
        "spec": {
            "selector": pod.labels,
            "ports": [
                {"name": p.name, "port": p.number, "targetPort": p.name, "protocol": p.protocol}
                for p in pod.ports
            ],
        },
    }


def _pod(pod: PodSpec, lab: str, suffix: str) -> dict[str, Any]:
    if pod.role == "server":
        containers = [server_container(p) for p in pod.ports]
    else:
        # `pause` keeps the container alive so `kubectl exec ... /agnhost connect` can probe.
        containers = [agnhost_container("agnhost", ["pause"])]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": physical_namespace(pod.namespace, suffix),
            "labels": {**lab_labels(lab), **pod.labels},
        },
        "spec": pod_spec(containers),
    }


def pod_spec(containers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "containers": containers,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        # The pods never talk to the API server; no token means nothing to steal.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # agnhost is multi-OS, but Cilium and kind nodes are Linux only.
        "nodeSelector": {"kubernetes.io/os": "linux"},
    }


def server_container(port: PortSpec) -> dict[str, Any]:
    args = ["serve-hostname", "--tcp", "--http=false", "--port", str(port.number)]
    container = agnhost_container(port.name, args)
    container["ports"] = [
        {"name": port.name, "containerPort": port.number, "protocol": port.protocol}
    ]
    # kubelet probes from the node, and traffic from the pod's own node is always allowed
    # (kubernetes.io/docs/concepts/services-networking/network-policies/), so Ready stays
    # meaningful under every scenario, default deny included.
    container["readinessProbe"] = {
        "tcpSocket": {"port": port.name},
        "periodSeconds": 2,
        "failureThreshold": 3,
    }
    return container


def agnhost_container(name: str, args: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "image": versions.AGNHOST_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": [AGNHOST_BINARY],
        "args": args,
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }
