"""A simulated pod network behind the probe executor seam, enforcing policies the cluster holds.

``PolicyNetwork`` implements the executor protocol (``run(probes, timeout) -> results``) the
way a real cluster answers ``kubectl exec <source> -- /agnhost connect <ip>:<port>``. Nothing
in it is told what a test expects: every probe round reads the CURRENT pods, namespaces and
NetworkPolicies (and ClusterNetworkPolicies) from the fake Kubernetes API and decides from them
alone:

- the source must be a running pod with the container the probe execs into, and that container
  must run agnhost; otherwise the exec fails and the result is ``error`` (as ``kubectl exec``
  into a missing pod or container fails);
- the destination is whatever running pod holds the probe's destination IP, as on a real network
  (the probe's pod name is not trusted); no pod there: the SYN goes nowhere, ``blocked``;
- with ``enforcing`` the project's analyzer (``provisioning.analysis``, through
  ``provisioning.validation.live.analyzer_expectations``, the same path live validation uses)
  decides from the policies in effect whether the connection is allowed: denied is
  ``blocked`` (engines drop, so agnhost reports TIMEOUT); without ``enforcing`` everything is
  allowed, as on a CNI with no policy engine;
- an allowed connection to a port the destination's containers do not declare is ``refused``
  (agnhost ``serve-hostname`` listens on exactly its declared port), else ``connected``.

``lag_rounds``: a policy that appears (or changes) takes effect only after that many probe rounds
(one round = one ``run`` call), as real engines take seconds to program the dataplane; until then
the previous version of it (or nothing) is enforced. Deleted policies stop at once.
``advance`` is called with the time each probe would take (the whole ``timeout`` when it times
out), so a test clock moves as a real one would while probes run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from provisioning import versions
from provisioning.spec import CLUSTER_DNS_LABELS
from provisioning.validation.live import (
    LiveLab,
    LivePod,
    analyzer_expectations,
    pod_from_object,
    policy_for_analysis,
    policy_key,
)
from provisioning.validation.probe import Outcome, PodRef, Probe, ProbeResult

POLICY_API = ("networking.k8s.io/v1", "NetworkPolicy")
CONNECT_SECONDS = 0.01  # what a probe that gets an answer takes


@dataclass
class _Seen:
    """One version of a policy (by resourceVersion) and the round it was first seen in."""

    version: str
    round: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """One probe as the network answered it, for tests to read: round, probe key, outcome."""

    round: int
    probe: str
    outcome: Outcome


class PolicyNetwork:
    """The executor protocol over a fake cluster's current state; see the module docstring."""

    def __init__(
        self,
        kube: Any,
        enforcing: bool,
        lag_rounds: int = 0,
        *,
        engine: str = "reference",
        advance: Callable[[float], None] = lambda _seconds: None,
    ) -> None:
        self.kube = kube
        self.enforcing = enforcing
        self.lag_rounds = lag_rounds
        self.engine = engine
        self.advance = advance
        self.rounds = 0
        self.answers: list[Answer] = []
        self._enforced: dict[str, _Seen] = {}  # what the dataplane enforces now, by ns/name
        self._pending: dict[str, _Seen] = {}  # written to the API, not yet programmed
        self._raw_pods: dict[str, dict[str, Any]] = {}  # this round's Pod objects, by ns/name

    # -- the executor protocol --

    def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
        self.rounds += 1
        lab = self._observe()
        results = [self._one(lab, probe, timeout) for probe in probes]
        self.answers += [Answer(self.rounds, r.probe.key, r.outcome) for r in results]
        return results

    # -- what the network sees --

    def _observe(self) -> LiveLab:
        # Pods first, then namespaces: a namespace is created before its pods, so every pod
        # read has its namespace in the later list even while other labs are being created.
        raw_pods = self.kube.list("v1", "Pod")
        namespaces = {
            n["metadata"]["name"]: dict(n["metadata"].get("labels") or {})
            for n in self.kube.list("v1", "Namespace")
        }
        raw_pods = [r for r in raw_pods if r["metadata"]["namespace"] in namespaces]
        self._raw_pods = {
            f"{r['metadata']['namespace']}/{r['metadata']['name']}": r for r in raw_pods
        }
        pods = tuple(pod for raw in raw_pods if (pod := pod_from_object(raw)[0]) is not None)
        self._program([*self.kube.list(*POLICY_API), *self._cluster_wide()])
        policies = tuple(seen.body for seen in self._enforced.values())
        return LiveLab(namespaces, pods, policies)

    def _cluster_wide(self) -> list[dict[str, Any]]:
        """Every cluster-scoped policy the dataplane enforces: all of them (a real engine does
        not care who made one)."""
        from provisioning.kube import KubeError
        from provisioning.lab.observe import LAB_CLUSTER_KINDS

        found: list[dict[str, Any]] = []
        for api_version, kind in LAB_CLUSTER_KINDS:
            try:
                found += self.kube.list(api_version, kind)
            except KubeError as exc:
                if exc.status != 404:
                    raise
        return found

    def _program(self, current: Sequence[dict[str, Any]]) -> None:
        """Move the policies in the API towards the dataplane, ``lag_rounds`` rounds late."""
        now: dict[str, dict[str, Any]] = {policy_key(p): p for p in current}
        for key in [k for k in self._enforced if k not in now]:
            del self._enforced[key]
        for key in [k for k in self._pending if k not in now]:
            del self._pending[key]
        for key, raw in now.items():
            version = str(raw["metadata"].get("resourceVersion", ""))
            if key in self._enforced and self._enforced[key].version == version:
                self._pending.pop(key, None)
                continue
            seen = self._pending.get(key)
            if seen is None or seen.version != version:
                seen = _Seen(version, self.rounds, policy_for_analysis(raw))
                self._pending[key] = seen
            if self.rounds - seen.round >= self.lag_rounds:
                self._enforced[key] = self._pending.pop(key)

    # -- one connection --

    def _one(self, lab: LiveLab, probe: Probe, timeout: float) -> ProbeResult:
        source = next((p for p in lab.pods if p.key == probe.source.key), None)
        if source is None:
            # kubectl exec into a pod that is not running (or not there) fails before agnhost runs.
            return self._answer(
                probe, Outcome.ERROR, f'pods "{probe.source.name}" not found or not running', 0.1
            )
        if probe.source.container not in source.containers:
            return self._answer(
                probe,
                Outcome.ERROR,
                f"container {probe.source.container!r} not found in pod {source.key}",
                0.1,
            )
        if not self._runs_agnhost(source, probe.source.container):
            return self._answer(
                probe, Outcome.ERROR, "exec: /agnhost: no such file or directory", 0.1
            )
        destination = next((p for p in lab.pods if p.ip == probe.destination.ip), None)
        if probe.is_dns:
            # A lookup goes to the kube-dns Service; kube-proxy sends it to one of the Service's
            # endpoints: a running pod of the cluster DNS (selector k8s-app=kube-dns).
            destination = next(
                (
                    p
                    for p in lab.pods
                    if p.namespace == probe.destination.namespace
                    and all(p.labels.get(k) == v for k, v in CLUSTER_DNS_LABELS.items())
                ),
                None,
            )
        if destination is None:
            return self._answer(probe, Outcome.BLOCKED, "TIMEOUT", timeout)
        if self.enforcing:
            # Judge the connection as it happens: to the pod that holds the IP.
            as_seen = Probe(
                PodRef(source.namespace, source.name, source.ip),
                PodRef(destination.namespace, destination.name, destination.ip),
                probe.port,
                probe.protocol,
            )
            (expectation,) = analyzer_expectations(lab, [as_seen], self.engine)
            if not expectation.allowed:
                return self._answer(probe, Outcome.BLOCKED, "TIMEOUT", timeout)
        listening = any(
            q.port == probe.port and q.protocol == probe.protocol for q in destination.ports
        )
        if not listening:
            return self._answer(probe, Outcome.REFUSED, "REFUSED", CONNECT_SECONDS)
        return self._answer(probe, Outcome.CONNECTED, "", CONNECT_SECONDS)

    def _answer(self, probe: Probe, outcome: Outcome, detail: str, seconds: float) -> ProbeResult:
        self.advance(seconds)
        return ProbeResult(probe, outcome, detail, seconds)

    def _runs_agnhost(self, pod: LivePod, container: str) -> bool:
        raw = self._raw_pods.get(pod.key) or {}
        for c in (raw.get("spec") or {}).get("containers") or []:
            if c.get("name") == container:
                return c.get("image") == versions.AGNHOST_IMAGE
        return False
