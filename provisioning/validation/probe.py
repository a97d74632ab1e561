"""Probes: one connection attempt from a source pod to a destination, and what came of it.

A probe's outcome is one of four, classified precisely because validation is only honest if a
probe that could not run is never mistaken for a blocked connection:

- ``connected``: the connection was made (TCP handshake, or a UDP reply).
- ``blocked``: the attempt timed out; something dropped the traffic.
- ``refused``: the destination answered that nothing listens there; the network let it through.
- ``error``: the probe itself failed (exec failed, bad address, unexpected output).

A DNS check (``dns_probe``) asks instead whether the source pod can resolve a name the cluster
always serves; it ends ``resolved``, ``dns-failed`` or ``error``. An error is never counted as
``dns-failed`` (it says nothing about the network), but like any probe error it fails validation.

Executors run a batch of probes and choose their own concurrency: ``KubectlExecutor`` execs
agnhost ``connect`` inside the source pods (``provisioning.validation.probe_kubectl``);
``SocketExecutor`` here connects from this machine with real sockets, which is what the tests
and the benchmark use in place of a cluster.
"""

from __future__ import annotations

import enum
import errno
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from provisioning.spec import CLUSTER_DNS_NAMESPACE

PROTOCOLS = ("TCP", "UDP")


class Outcome(str, enum.Enum):
    CONNECTED = "connected"
    BLOCKED = "blocked"
    REFUSED = "refused"
    ERROR = "error"
    RESOLVED = "resolved"  # DNS checks only
    DNS_FAILED = "dns-failed"  # DNS checks only: the name did not resolve

    @property
    def allowed(self) -> bool | None:
        """What the outcome says about the network: None when the probe tells nothing."""
        if self is Outcome.ERROR:
            return None
        return self not in (Outcome.BLOCKED, Outcome.DNS_FAILED)


@dataclass(frozen=True)
class PodRef:
    """A pod as probes need it: where to exec (namespace, name, container) and its IP."""

    namespace: str
    name: str
    ip: str
    container: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Probe:
    """One connection to try: ``source`` -> ``destination`` on ``port``/``protocol``.

    ``port_name`` is the destination container port's name when it has one, so reports can say
    ``serve-81-tcp`` where a policy used a named port. A DNS check (``dns_probe``) sets
    ``dns_name``: the source resolves it, and ``destination``/``port``/``protocol`` name the
    traffic that resolution needs (the cluster DNS pods on UDP/53).
    """

    source: PodRef
    destination: PodRef
    port: int
    protocol: str = "TCP"
    port_name: str = ""
    dns_name: str = ""

    @property
    def is_dns(self) -> bool:
        return bool(self.dns_name)

    @property
    def key(self) -> str:
        if self.is_dns:
            return f"{self.source.key} resolves {self.dns_name}"
        return f"{self.source.key} -> {self.destination.key}:{self.port}/{self.protocol}"

    @property
    def loopback(self) -> bool:
        return not self.is_dns and self.source.key == self.destination.key


# --- DNS checks ---------------------------------------------------------------------------------
# The kubernetes Service exists in every cluster, so its name always resolves while DNS works.
# The trailing dot makes it absolute: pods get `options ndots:5`, which would otherwise send the
# name through every search domain first (more queries, more timeouts when DNS is blocked).
CLUSTER_DNS_NAME = "kubernetes.default.svc.cluster.local."
# The cluster DNS as policies see it: CoreDNS pods keep the k8s-app=kube-dns label (kubeadm,
# kind, AKS) in kube-system and serve 53/UDP (and 53/TCP for large answers).
CLUSTER_DNS = PodRef(CLUSTER_DNS_NAMESPACE, "kube-dns", "")
DNS_PORT = 53


def dns_probe(source: PodRef, name: str = CLUSTER_DNS_NAME) -> Probe:
    """A DNS check from ``source``: resolving ``name`` needs UDP/53 to the cluster DNS pods."""
    return Probe(source, CLUSTER_DNS, DNS_PORT, "UDP", dns_name=name)


# What a result's ``seconds`` measured, so reports never claim more than they know:
TIMING_PROBE = "probe"  # this connect alone (a socket here, or timed inside the pod)
TIMING_EXEC = "exec"  # a kubectl exec that ran this probe alone: includes the exec's start-up
TIMING_BATCH = "batch"  # a kubectl exec shared with the source's other probes: its whole time


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    outcome: Outcome
    detail: str = ""  # what the probe printed or why it failed, for reports
    seconds: float = 0.0  # how long this attempt took, as the executor measured it
    timing: str = TIMING_PROBE  # what ``seconds`` covers: TIMING_PROBE, _EXEC or _BATCH


class Executor(Protocol):
    """Runs a batch of probes, each bounded by ``timeout`` seconds, and returns every result.

    Implementations must return exactly one result per probe (in any order) and must never
    raise for a single failed probe: that is an ``error`` outcome.
    """

    def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]: ...


# --- agnhost connect: the classification of its real outputs ------------------------------------
# agnhost `connect` (kubernetes/kubernetes test/images/agnhost/connect/connect.go) exits 0 and
# prints nothing on success; on failure it exits 1 and prints one line to stderr prefixed with a
# fixed marker: TIMEOUT, REFUSED, DNS, OTHER or UNKNOWN (UDP failures add ": <error>").


AGNHOST_MARKERS = ("TIMEOUT", "REFUSED", "DNS", "OTHER", "UNKNOWN")


def classify_agnhost(returncode: int, output: str) -> tuple[Outcome, str]:
    """Map agnhost ``connect``'s exit code and output to an outcome and a short detail.

    ``output`` may include kubectl's own lines ("command terminated with exit code 1"), so the
    marker is looked for on every line, not only the first.
    """
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if returncode == 0:
        # Success prints nothing; anything else means something other than agnhost answered.
        if lines:
            return Outcome.ERROR, f"exit 0 with unexpected output: {lines[0]}"
        return Outcome.CONNECTED, ""
    for line in lines:
        marker = line.split(":", 1)[0].strip()
        if marker not in AGNHOST_MARKERS:
            continue
        if returncode == 1 and marker == "TIMEOUT":
            return Outcome.BLOCKED, line
        if returncode == 1 and marker == "REFUSED":
            return Outcome.REFUSED, line
        return Outcome.ERROR, line
    return Outcome.ERROR, lines[0] if lines else f"exit {returncode} with no output"


def classify_dns(returncode: int, output: str) -> tuple[Outcome, str]:
    """Map agnhost ``connect NAME:PORT`` to a DNS verdict.

    agnhost has no lookup sub-command (its ``dns-suffix``, ``dns-server-list`` and ``etc-hosts``
    only read files), but ``connect`` resolves the host before dialling and prints ``DNS: <error>``
    when resolution fails. So ``DNS`` means the name did not resolve, and success or any dial
    result (TIMEOUT, REFUSED, OTHER) means it did: the dial only starts after resolution.
    ``UNKNOWN`` (bad arguments) or anything unexpected is an error: the check did not run.
    """
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if returncode == 0:
        if lines:
            return Outcome.ERROR, f"exit 0 with unexpected output: {lines[0]}"
        return Outcome.RESOLVED, "resolved (and connected)"
    for line in lines:
        marker = line.split(":", 1)[0].strip()
        if marker not in AGNHOST_MARKERS or returncode != 1:
            continue
        if marker == "DNS":
            return Outcome.DNS_FAILED, line
        if marker in ("TIMEOUT", "REFUSED", "OTHER"):
            return Outcome.RESOLVED, f"resolved (the connection after it: {line})"
        return Outcome.ERROR, line
    return Outcome.ERROR, lines[0] if lines else f"exit {returncode} with no output"


def classify(probe: Probe, returncode: int, output: str) -> tuple[Outcome, str]:
    """The outcome of agnhost ``connect`` for ``probe``: a connection or a DNS check."""
    return (classify_dns if probe.is_dns else classify_agnhost)(returncode, output)


# --- local sockets ----------------------------------------------------------------------------

SocketFactory = Callable[[int, int], socket.socket]


def _default_socket(family: int, kind: int) -> socket.socket:
    return socket.socket(family, kind)


@dataclass(frozen=True)
class SocketExecutor:
    """Probes from this machine with real sockets, one thread per in-flight probe.

    It follows agnhost's semantics: TCP is connected once the handshake completes; UDP sends a
    line and is connected only when a reply arrives (an ICMP port-unreachable is ``refused``).
    ``bind_source`` binds each socket to the probe's source IP, so a firewall rule can block a
    particular source -> destination pair. ``socket_factory`` lets a caller create the sockets
    elsewhere, for example inside a network namespace.
    """

    workers: int = 64
    bind_source: bool = False
    socket_factory: SocketFactory = _default_socket

    def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
        if not probes:
            return []
        with ThreadPoolExecutor(max_workers=min(self.workers, len(probes))) as pool:
            return list(pool.map(lambda p: self._one(p, timeout), probes))

    def _one(self, probe: Probe, timeout: float) -> ProbeResult:
        start = time.monotonic()
        try:
            outcome, detail = self._attempt(probe, timeout)
        except Exception as exc:  # a broken probe must be an error result, never an exception
            outcome, detail = Outcome.ERROR, f"{type(exc).__name__}: {exc}"
        return ProbeResult(probe, outcome, detail, time.monotonic() - start)

    def _attempt(self, probe: Probe, timeout: float) -> tuple[Outcome, str]:
        if probe.is_dns:
            # Resolving as the pod would needs the pod's resolver; this machine's tells nothing.
            return Outcome.ERROR, "DNS checks run inside a pod (KubectlExecutor), not here"
        family = socket.AF_INET6 if ":" in probe.destination.ip else socket.AF_INET
        udp = probe.protocol.upper() == "UDP"
        if probe.protocol.upper() not in PROTOCOLS:
            return Outcome.ERROR, f"unsupported protocol {probe.protocol}"
        sock = self.socket_factory(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        with sock:
            sock.settimeout(timeout)
            if self.bind_source:
                sock.bind((probe.source.ip, 0))
            try:
                sock.connect((probe.destination.ip, probe.port))
                if udp:
                    sock.send(b"hostname\n")
                    if not sock.recv(1024):
                        return Outcome.ERROR, "OTHER: no data received from the server"
            except TimeoutError:
                return Outcome.BLOCKED, "TIMEOUT"
            except ConnectionRefusedError:
                return Outcome.REFUSED, "REFUSED"
            except OSError as exc:
                if exc.errno == errno.ECONNREFUSED:
                    return Outcome.REFUSED, "REFUSED"
                return Outcome.ERROR, f"OTHER: {exc}"
        return Outcome.CONNECTED, ""
