"""Mode ``clusters`` on kind: one subnet pair per cluster, and how many clusters one host holds.

Subnets. kind gives every cluster the same networks unless told otherwise: pods 10.244.0.0/16 and
services 10.96.0.0/16 (kubernetes-sigs/kind ``pkg/apis/config/v1alpha4/default.go``,
``SetDefaultsCluster``; kind picks a /16 for services rather than kubeadm's /12 "that may allocate
a 2^20 bitmap in etcd"). The lab passes them as ``networking.podSubnet``/``serviceSubnet``
(``KindSettings`` in ``provisioning/spec.py``, ``_networking`` in
``provisioning/providers/kind/engines.py``; Calico's IP pool copies the pod subnet). A fleet gives
each cluster its own slice instead: cluster ``i`` gets the ``i``-th of 64 equal slices of the pod
base (10.244.0.0/16 -> /22 each: 10.244.0.0/22, 10.244.4.0/22, ...) and of the service base
(10.96.0.0/12 -> /18 each: 10.96.0.0/18, 10.96.64.0/18, ...). A /22 holds four node /24s, the
size kube-controller-manager hands each node by default (``--node-cidr-mask-size`` 24 for IPv4),
which Cilium's ``ipam.mode=kubernetes`` uses, so a fleet cluster has at most four nodes. 64
clusters is the hard maximum (``MAX_KIND_CLUSTERS``); beyond it the tool refuses in one line.

The subnets must also stay clear of the host's Docker networks. kind's nodes sit on the Docker
network "kind", created without an IPv4 subnet, so Docker's IPAM picks it ("IPAM is automatic in
ipv4 only", kubernetes-sigs/kind ``pkg/cluster/internal/providers/docker/network.go``) from its
local-scope default pools: 172.17.0.0/16 (the default bridge), then 172.18.0.0/16 onwards through
172.31.0.0/16, then 192.168.0.0/16 (moby ``libnetwork/ipamutils/utils.go``,
``localScopeDefaultNetworks``). So "kind" is usually 172.18.0.0/16. Bases overlapping 172.16.0.0/12
or 192.168.0.0/16, or anything the caller names in ``avoid`` (e.g. the host's own
``default-address-pools``), are refused.

Capacity. ``host_capacity`` reads MemAvailable (``/proc/meminfo``), the CPUs this process may run
on (``os.sched_getaffinity``, else ``os.cpu_count``) and the two inotify limits; every reader is
injectable for tests. ``how_many_fit`` divides by a per-cluster need that is an ESTIMATE, written
out below (``NODE_BASE``, ``CONTROL_PLANE``, ``ENGINE_NEEDS``, ``WORKLOAD``) with what each figure
rests on; ``doctor``-style advice names the sysctl to raise. inotify limits are per user and not
namespaced, and every kind node's processes run as the host's root, so all clusters share one
budget (kind docs, Known Issues > Pod errors due to "too many open files",
kubernetes-sigs/kind ``site/content/docs/user/known-issues.md``: Ubuntu's defaults 8192 watches
and 128 instances are "not enough to create a cluster with many nodes"; it recommends
``fs.inotify.max_user_watches=524288`` and ``fs.inotify.max_user_instances=512``).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from provisioning.errors import UsageError, choice_error

MAX_KIND_CLUSTERS = 64  # 2**6 slices of each base: /16 pods -> /22, /12 services -> /18
_SLICE_BITS = 6
MAX_NODES_PER_CLUSTER = 4  # a /22 pod slice holds four /24 node ranges
_MIN_POD_PREFIX = 22  # per-cluster pod slice must hold MAX_NODES_PER_CLUSTER node /24s
_MIN_SERVICE_PREFIX = 24  # per-cluster service slice: at least 254 ClusterIPs

# Docker's local-scope default address pools (moby libnetwork/ipamutils/utils.go): the default
# bridge 172.17.0.0/16, kind's network (usually 172.18.0.0/16) and every further bridge network.
DOCKER_POOLS = ("172.16.0.0/12", "192.168.0.0/16")

KIND_ENGINES = ("calico", "cilium", "none")

# --- per-cluster needs: an estimate ----------------------------------------------------------
#
# Memory (MiB of host RAM, steady state after `up`, idle). Not measured by this tool: a kind node
# has no memory limit (the nodes share the host's RAM), so the figures are working-set sizes of
# the processes each node runs, rounded up:
#   NODE_BASE      every node container: systemd, journald, containerd, kubelet, kube-proxy.
#   CONTROL_PLANE  once per cluster: etcd, kube-apiserver, kube-controller-manager,
#                  kube-scheduler, two CoreDNS replicas, local-path-provisioner. kubeadm only
#                  requests CPU for the first three (250m/200m/100m, kubernetes/kubernetes
#                  cmd/kubeadm/app/phases/controlplane/manifests.go) and etcd asks 100Mi, so
#                  requests say little about memory; the apiserver alone is typically 250-400 MiB.
#   ENGINE_NEEDS   the engine's per-cluster pods (operator, controllers, API server) and its
#                  per-node agent (calico-node + CSI driver; cilium-agent + envoy).
#   WORKLOAD       the lab's demo workload pods and probes (small images).
# Calibrate on your host: `docker stats --no-stream` after `invoke up` and compare.
#
# CPU (millicores, idle): what the same processes burn at rest; kind nodes report all host CPUs
# as allocatable, so requests never stop scheduling and CPU is a soft limit (clusters past it come
# up slowly and probes time out) rather than a hard one. Same basis and caveat as memory.
#
# inotify (instances and watches per node, also an estimate): systemd, journald, containerd and
# kubelet each hold a few instances (kubelet and cAdvisor watch config and cgroup files), about 10
# per node, plus about one per pod sandbox, because containerd's shim opens an inotify instance
# per container cgroup for OOM events on cgroup v2 (the count k3s users traced with
# `find /proc/*/fd -lname anon_inode:inotify`, k3s-io/k3s#10020). A control-plane node runs about
# 12 pods with an engine, a worker about 5, hence 24 and 16 below. Count yours with
#   sudo find /proc/*/fd -lname anon_inode:inotify 2>/dev/null | wc -l
# before and after `invoke up`. Watches are rarely the limit on kernels >= 5.11, which size the
# default max_user_watches by RAM; the 2,500 per node is a round figure from the same processes.


@dataclass(frozen=True)
class Need:
    """One cluster component's need: a fixed part and a part per node."""

    mib: int = 0
    mib_per_node: int = 0
    millicpu: int = 0
    millicpu_per_node: int = 0


NODE_BASE = Need(mib_per_node=300, millicpu_per_node=100)
CONTROL_PLANE = Need(mib=700, millicpu=300)
WORKLOAD = Need(mib=150, millicpu=20)
ENGINE_NEEDS: dict[str, Need] = {
    "calico": Need(mib=250, mib_per_node=150, millicpu=30, millicpu_per_node=40),
    # engine "none" is Cilium with enforcement off: the same agent and operator.
    "cilium": Need(mib=100, mib_per_node=300, millicpu=10, millicpu_per_node=60),
    "none": Need(mib=100, mib_per_node=300, millicpu=10, millicpu_per_node=60),
}
INOTIFY_INSTANCES_CONTROL_PLANE = 24
INOTIFY_INSTANCES_WORKER = 16
INOTIFY_WATCHES_PER_NODE = 2_500
# Kept for the host itself (desktop, other containers) before dividing the rest.
HOST_RESERVE_MIB = 1024
HOST_RESERVE_MILLICPU = 1000
HOST_RESERVE_INOTIFY_INSTANCES = 16
HOST_RESERVE_INOTIFY_WATCHES = 10_000

# What kind's Known Issues page recommends (same figures as the kind doctor's INOTIFY_MIN).
RECOMMENDED_MAX_USER_WATCHES = 524_288
RECOMMENDED_MAX_USER_INSTANCES = 512


# --- subnets ---------------------------------------------------------------------------------


def kind_subnets(
    count: int,
    *,
    base_pod: str = "10.244.0.0/16",
    base_service: str = "10.96.0.0/12",
    avoid: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """``count`` (pod subnet, service subnet) pairs, none overlapping another or Docker's pools.

    Cluster ``i`` gets the ``i``-th of ``MAX_KIND_CLUSTERS`` equal slices of each base, so the
    same attendee keeps the same subnets however many attendees join after them.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError(f"kind clusters: expected a whole number of 1 or more, got {count!r}")
    if count > MAX_KIND_CLUSTERS:
        raise UsageError(
            f"{count} kind clusters is more than one host can give separate subnets to (at most "
            f"{MAX_KIND_CLUSTERS}); use --mode namespaces for a room this size, or split the "
            "room across hosts"
        )
    pods = _base(base_pod, "pod subnet base", _MIN_POD_PREFIX)
    services = _base(base_service, "service subnet base", _MIN_SERVICE_PREFIX)
    if pods.overlaps(services):
        raise UsageError(
            f"pod subnet base {pods} and service subnet base {services} overlap; "
            "give two separate ranges"
        )
    reserved = [(ipaddress.IPv4Network(n), "Docker's default address pools") for n in DOCKER_POOLS]
    for text in avoid:
        reserved.append((_network(text, "network to avoid"), "a network to avoid"))
    for base, what in ((pods, "pod subnet base"), (services, "service subnet base")):
        for net, why in reserved:
            if base.overlaps(net):
                raise UsageError(
                    f"{what} {base} overlaps {net} ({why}, where kind's Docker network lives); "
                    "choose a range outside it"
                )
    pod_slices = pods.subnets(prefixlen_diff=_SLICE_BITS)
    service_slices = services.subnets(prefixlen_diff=_SLICE_BITS)
    return [
        (str(pod), str(service))
        for _, pod, service in zip(range(count), pod_slices, service_slices, strict=False)
    ]


def _network(text: str, what: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(str(text), strict=True)
    except ValueError as exc:
        raise UsageError(f"{what} {text!r}: not an IPv4 CIDR ({exc})") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise UsageError(f"{what} {text!r}: fleet subnets are IPv4 only")
    return net


def _base(text: str, what: str, min_slice_prefix: int) -> ipaddress.IPv4Network:
    net = _network(text, what)
    if net.prefixlen + _SLICE_BITS > min_slice_prefix:
        widest = min_slice_prefix - _SLICE_BITS
        raise UsageError(
            f"{what} {net} is too small to split into {MAX_KIND_CLUSTERS} clusters of at least "
            f"/{min_slice_prefix}; give a /{widest} or larger"
        )
    return net


# --- host capacity ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Capacity:
    """What the host has; ``None`` where it could not be read."""

    mem_available: int | None  # bytes (MemAvailable)
    cpus: int | None
    max_user_watches: int | None
    max_user_instances: int | None


def _default_cpus() -> int | None:
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        try:
            return len(affinity(0)) or None
        except OSError:
            pass
    return os.cpu_count()


def _read(path: Path) -> str:
    return path.read_text(encoding="ascii", errors="replace")


def host_capacity(
    *,
    proc: Path = Path("/proc"),
    read: Callable[[Path], str] = _read,
    cpus: Callable[[], int | None] = _default_cpus,
) -> Capacity:
    """Read this host's capacity. ``read`` and ``cpus`` are injectable; a value that cannot be
    read (no such file, not a number) is ``None`` and reported as unknown."""
    return Capacity(
        mem_available=_mem_available(_try(read, proc / "meminfo")),
        cpus=_positive(_try(cpus)),
        max_user_watches=_int_text(_try(read, proc / "sys/fs/inotify/max_user_watches")),
        max_user_instances=_int_text(_try(read, proc / "sys/fs/inotify/max_user_instances")),
    )


def _try(fn: Callable[..., object], *args: object) -> object:
    try:
        return fn(*args)
    except (OSError, ValueError):
        return None


def _positive(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _int_text(text: object) -> int | None:
    if not isinstance(text, str):
        return None
    value = text.strip()
    return int(value) if value.isdigit() and len(value) < 20 else None


def _mem_available(text: object) -> int | None:
    """MemAvailable in bytes ("MemAvailable:   15938488 kB"; the kernel's kB are KiB)."""
    if not isinstance(text, str):
        return None
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key.strip() != "MemAvailable":
            continue
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit() and len(parts[0]) < 16:
            return int(parts[0]) * 1024
        return None
    return None  # kernels before 3.14 have no MemAvailable


# --- how many fit ----------------------------------------------------------------------------


class Limit(NamedTuple):
    """One resource's verdict: how many clusters it allows (``None``: unknown) and why."""

    resource: str
    allows: int | None
    text: str
    advice: str = ""


class Fit(NamedTuple):
    """How many clusters fit, and one line saying what limits them."""

    n: int
    reason: str


def cluster_need(engine: str, nodes_per_cluster: int = 1) -> tuple[int, int]:
    """Estimated (MiB, millicores) for one kind cluster with ``nodes_per_cluster`` nodes."""
    need = ENGINE_NEEDS.get(engine)
    if need is None:
        raise choice_error("engine on kind", engine, KIND_ENGINES)
    _check_nodes(nodes_per_cluster)
    mib = millicpu = 0
    for part in (NODE_BASE, CONTROL_PLANE, WORKLOAD, need):
        mib += part.mib + part.mib_per_node * nodes_per_cluster
        millicpu += part.millicpu + part.millicpu_per_node * nodes_per_cluster
    return mib, millicpu


def _check_nodes(nodes: int) -> None:
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise UsageError(f"nodes per cluster: expected a whole number of 1 or more, got {nodes!r}")
    if nodes > MAX_NODES_PER_CLUSTER:
        raise UsageError(
            f"nodes per cluster: at most {MAX_NODES_PER_CLUSTER} in a fleet of kind clusters "
            f"(each cluster's /22 pod subnet holds four node /24s), got {nodes}"
        )


def resource_limits(
    capacity: Capacity, *, nodes_per_cluster: int = 1, engine: str = "calico"
) -> list[Limit]:
    """Each resource's verdict, in a fixed order: memory, CPUs, inotify instances, watches."""
    mib, millicpu = cluster_need(engine, nodes_per_cluster)
    instances = INOTIFY_INSTANCES_CONTROL_PLANE + INOTIFY_INSTANCES_WORKER * (nodes_per_cluster - 1)
    watches = INOTIFY_WATCHES_PER_NODE * nodes_per_cluster
    limits = []
    if capacity.mem_available is None:
        limits.append(Limit("memory", None, "memory unknown (cannot read MemAvailable)"))
    else:
        avail_mib = capacity.mem_available // (1024 * 1024)
        allows = max(0, (avail_mib - HOST_RESERVE_MIB) // mib)
        limits.append(
            Limit(
                "memory",
                allows,
                f"memory ({_gib(capacity.mem_available)} GiB available, "
                f"~{mib / 1024:.1f} GiB per {engine} cluster)",
                "free memory or use a larger host",
            )
        )
    if capacity.cpus is None:
        limits.append(Limit("cpu", None, "CPUs unknown"))
    else:
        allows = max(0, (capacity.cpus * 1000 - HOST_RESERVE_MILLICPU) // millicpu)
        limits.append(
            Limit(
                "cpu",
                allows,
                f"CPUs ({capacity.cpus}, ~{millicpu / 1000:.1f} per cluster at rest)",
                "use a host with more CPUs",
            )
        )
    limits.append(
        _inotify(
            "max_user_instances",
            capacity.max_user_instances,
            instances,
            HOST_RESERVE_INOTIFY_INSTANCES,
            RECOMMENDED_MAX_USER_INSTANCES,
        )
    )
    limits.append(
        _inotify(
            "max_user_watches",
            capacity.max_user_watches,
            watches,
            HOST_RESERVE_INOTIFY_WATCHES,
            RECOMMENDED_MAX_USER_WATCHES,
        )
    )
    return limits


def _inotify(key: str, value: int | None, per_cluster: int, reserve: int, advised: int) -> Limit:
    if value is None:
        return Limit(f"inotify {key}", None, f"inotify {key} unknown (cannot read /proc)")
    allows = max(0, (value - reserve) // per_cluster)
    advice = ""
    if value < advised:
        advice = f"raise it: sudo sysctl fs.inotify.{key}={advised}"
    return Limit(
        f"inotify {key}",
        allows,
        f"inotify {key} {value} (~{per_cluster} per cluster)",
        advice,
    )


def _gib(n: int) -> str:
    return f"{n / (1024**3):.1f}"


def how_many_fit(capacity: Capacity, *, nodes_per_cluster: int = 1, engine: str = "calico") -> Fit:
    """How many kind clusters of ``nodes_per_cluster`` nodes with ``engine`` this host holds,
    at most ``MAX_KIND_CLUSTERS``, and a sentence naming each resource's limit, the binding one
    first with what to do about it. Resources that could not be read are named, not guessed."""
    limits = resource_limits(capacity, nodes_per_cluster=nodes_per_cluster, engine=engine)
    known = [limit for limit in limits if limit.allows is not None]
    n = min([MAX_KIND_CLUSTERS, *(limit.allows for limit in known if limit.allows is not None)])
    binding = [limit for limit in known if limit.allows == n]
    parts = []
    if binding:
        first = binding[0]
        parts.append(
            f"{n} cluster{'s' if n != 1 else ''} fit: {first.text} limits to {n}"
            + (f" — {first.advice}" if first.advice and n < MAX_KIND_CLUSTERS else "")
        )
    else:
        parts.append(f"{n} clusters fit: the fleet's subnet scheme allows at most {n}")
    for limit in limits:
        if binding and limit is binding[0]:
            continue
        if limit.allows is None:
            parts.append(limit.text)
        elif limit.allows == n and n < MAX_KIND_CLUSTERS:
            parts.append(
                f"{limit.text} limits to {n} too" + (f" — {limit.advice}" if limit.advice else "")
            )
        else:
            advice = limit.advice if limit.resource.startswith("inotify") else ""
            parts.append(f"{limit.text} allows {limit.allows}" + (f" — {advice}" if advice else ""))
    parts.append(f"estimates; at most {MAX_KIND_CLUSTERS} by subnets")
    return Fit(n, "; ".join(parts))


def capacity_document(
    capacity: Capacity, *, wanted: int, nodes_per_cluster: int = 1, engine: str = "calico"
) -> dict[str, object]:
    """``fleet plan``'s capacity section: the verdict for ``wanted`` clusters, as data with the
    lines to print."""
    fit = how_many_fit(capacity, nodes_per_cluster=nodes_per_cluster, engine=engine)
    limits = resource_limits(capacity, nodes_per_cluster=nodes_per_cluster, engine=engine)
    ok = wanted <= fit.n
    head = f"Capacity: {wanted} kind cluster{'s' if wanted != 1 else ''} wanted, {fit.n} fit" + (
        "" if ok else f" — {wanted - fit.n} too many for this host"
    )
    return {
        "wanted": wanted,
        "fit": fit.n,
        "ok": ok,
        "estimate": True,
        "limits": [
            {"resource": limit.resource, "allows": limit.allows, "advice": limit.advice or None}
            for limit in limits
        ],
        "lines": ["", head, f"  {fit.reason}"],
    }
