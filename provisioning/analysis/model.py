"""The cluster model the analysis runs on: namespaces, pods, container ports, and probes.

``ClusterModel.from_dict`` reads the ``--cluster`` shape from issue 3::

    {"namespaces": {"x": {"labels": {...}}},
     "pods": [{"namespace": "x", "name": "a", "labels": {...}, "ip": "10.0.1.1",
               "ports": [{"name": "serve-80-tcp", "port": 80, "protocol": "TCP"}]}]}

Every namespace carries ``kubernetes.io/metadata.name: <name>``, as the API server sets it on
every namespace since Kubernetes 1.21 (documented under "Namespaces > Automatic labelling"),
so the common ``namespaceSelector`` on that label works offline too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioning.documents import shown
from provisioning.errors import UsageError

from .validate import PROTOCOLS, label_key_errors, label_value_errors, port_name_errors

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ContainerPort:
    """A port a pod's container declares; ``name`` is what named policy ports resolve to."""

    port: int
    protocol: str = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: IPAddress | None = None
    ports: tuple[ContainerPort, ...] = ()

    @property
    def key(self) -> str:
        """``namespace/name``, the way probes and results name a pod."""
        return f"{self.namespace}/{self.name}"

    def resolve_port(self, name: str, protocol: str) -> int | None:
        """The number of this pod's container port called ``name`` for ``protocol``, if any."""
        for p in self.ports:
            if p.name == name and p.protocol == protocol:
                return p.port
        return None


@dataclass(frozen=True)
class ClusterModel:
    """Namespaces and pods; pods keep their input order, which is the order of all output."""

    namespaces: Mapping[str, Namespace]
    pods: tuple[Pod, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "cluster") -> ClusterModel:
        """Parse and check the ``--cluster`` shape; ``UsageError`` names the bad field."""
        if not isinstance(data, Mapping):
            raise UsageError(f"{source}: must be an object with 'namespaces' and 'pods'")
        _only(data, {"namespaces", "pods"}, source)
        raw_ns = data.get("namespaces") or {}
        if not isinstance(raw_ns, Mapping):
            raise UsageError(f"{source}: namespaces: must be an object of name -> {{labels}}")
        namespaces = {}
        for name, body in raw_ns.items():
            where = f"{source}: namespaces.{name}"
            body = body or {}
            if not isinstance(body, Mapping):
                raise UsageError(f'{where}: must be an object like {{"labels": {{...}}}}')
            _only(body, {"labels"}, where)
            labels = _labels(body.get("labels"), f"{where}.labels")
            namespaces[str(name)] = Namespace(
                str(name), {**labels, NAMESPACE_NAME_LABEL: str(name)}
            )
        raw_pods = data.get("pods") or []
        if not isinstance(raw_pods, list):
            raise UsageError(f"{source}: pods: must be a list")
        pods = [_pod(p, f"{source}: pods[{i}]", namespaces) for i, p in enumerate(raw_pods)]
        _unique(pods, source)
        return cls(namespaces, tuple(pods))

    def pod(self, key: str) -> Pod | None:
        """The pod called ``namespace/name``."""
        return self._by_key.get(key)

    def pod_by_ip(self, ip: IPAddress) -> Pod | None:
        return self._by_ip.get(ip)

    @property
    def _by_key(self) -> dict[str, Pod]:
        cached = self.__dict__.get("_by_key_cache")
        if cached is None:
            cached = {p.key: p for p in self.pods}
            object.__setattr__(self, "_by_key_cache", cached)
        return cached

    @property
    def _by_ip(self) -> dict[IPAddress, Pod]:
        cached = self.__dict__.get("_by_ip_cache")
        if cached is None:
            cached = {p.ip: p for p in self.pods if p.ip is not None}
            object.__setattr__(self, "_by_ip_cache", cached)
        return cached


@dataclass(frozen=True)
class Probe:
    """One connection to judge: from a pod (``ns/name``) or bare IP to a pod or bare IP.

    ``port`` is a number, or a name resolved on the destination pod's container ports.
    """

    source: str
    destination: str
    port: int | str
    protocol: str = "TCP"
    origin: str = field(default="", compare=False)  # "file: probes[3]", for messages

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Probe:
        if not isinstance(data, Mapping):
            raise UsageError(f"{where}: must be an object with from, to, port")
        _only(data, {"from", "to", "port", "protocol"}, where)
        missing = [k for k in ("from", "to", "port") if data.get(k) in (None, "")]
        if missing:
            raise UsageError(f"{where}: missing {', '.join(missing)}")
        protocol = data.get("protocol") or "TCP"
        if protocol not in PROTOCOLS:
            raise UsageError(
                f"{where}.protocol: unknown protocol {shown(protocol)}; choose one of: "
                + ", ".join(PROTOCOLS)
            )
        port = data["port"]
        if isinstance(port, bool) or not isinstance(port, int | str):
            raise UsageError(f"{where}.port: must be a number or a port name")
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        if isinstance(port, int) and not 1 <= port <= 65535:
            raise UsageError(f"{where}.port: {port} must be between 1 and 65535")
        return cls(str(data["from"]), str(data["to"]), port, protocol, origin=where)


def parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _pod(raw: Any, where: str, namespaces: Mapping[str, Namespace]) -> Pod:
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where}: must be an object")
    _only(raw, {"namespace", "name", "labels", "ip", "ports"}, where)
    namespace, name = raw.get("namespace"), raw.get("name")
    if not namespace or not name or not isinstance(namespace, str) or not isinstance(name, str):
        raise UsageError(f"{where}: needs a string 'namespace' and 'name'")
    where = f"{where} ({namespace}/{name})"
    if namespace not in namespaces:
        raise UsageError(
            f"{where}: namespace {shown(namespace)} is not declared under 'namespaces'",
            hint="add it there, with its labels",
        )
    ip = None
    if raw.get("ip"):
        ip = parse_ip(str(raw["ip"]))
        if ip is None:
            raise UsageError(f"{where}.ip: {shown(raw['ip'])} is not an IP address")
    ports = raw.get("ports") or []
    if not isinstance(ports, list):
        raise UsageError(f"{where}.ports: must be a list")
    parsed = tuple(_port(p, f"{where}.ports[{i}]") for i, p in enumerate(ports))
    return Pod(namespace, name, _labels(raw.get("labels"), f"{where}.labels"), ip, parsed)


def _port(raw: Any, where: str) -> ContainerPort:
    if not isinstance(raw, Mapping):
        raise UsageError(f'{where}: must be an object like {{"port": 80, "protocol": "TCP"}}')
    _only(raw, {"name", "port", "protocol", "containerPort"}, where)
    number = raw.get("port", raw.get("containerPort"))
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
        raise UsageError(f"{where}.port: must be a number between 1 and 65535")
    protocol = raw.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        raise UsageError(
            f"{where}.protocol: unknown protocol {shown(protocol)}; choose one of: "
            + ", ".join(PROTOCOLS)
        )
    name = raw.get("name") or None
    if name is not None:
        problems = port_name_errors(str(name))
        if problems:
            raise UsageError(f"{where}.name: {shown(name)} {problems[0]}")
    return ContainerPort(number, protocol, name)


def _labels(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where}: must be an object of key: value")
    out = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            raise UsageError(f"{where}.{key}: label values must be strings (quote {shown(value)})")
        problems = label_key_errors(str(key)) + label_value_errors(value)
        if problems:
            raise UsageError(f"{where}.{key}: {problems[0]}")
        out[str(key)] = value
    return out


def _only(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(map(str, raw)) - known)
    if unknown:
        raise UsageError(
            f"{where}: unknown field {shown(unknown[0])}; known fields: {', '.join(sorted(known))}"
        )


def _unique(pods: Sequence[Pod], source: str) -> None:
    seen_keys: set[str] = set()
    seen_ips: dict[IPAddress, str] = {}
    for pod in pods:
        if pod.key in seen_keys:
            raise UsageError(f"{source}: pod {pod.key} is listed twice")
        seen_keys.add(pod.key)
        if pod.ip is not None:
            if pod.ip in seen_ips:
                raise UsageError(
                    f"{source}: pods {seen_ips[pod.ip]} and {pod.key} share IP {pod.ip}"
                )
            seen_ips[pod.ip] = pod.key
