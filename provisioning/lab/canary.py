"""The enforcement canary: does this cluster's policy engine enforce NetworkPolicy at all?

Before a scenario is validated, a lab whose engine enforces nothing (engine ``none``, or a
user's existing cluster without an engine) must be reported as "policies are not enforced here",
not as a long list of probes that differ from the policies. The canary finds out with evidence:

1. in the lab's own ``canary`` namespace (``CANARY_NAMESPACE``, created with the demo
   workload, so no scenario policy is in the way; ``demo`` when called without one) it creates
   a server pod (agnhost ``serve-hostname`` on TCP/80, the demo server's container) and a
   client pod (agnhost ``pause``), both carrying the lab's labels (so ``down`` removes them
   with the namespace) and ``netpol-lab.io/canary``;
2. it waits until both are Ready and the server has an IP, then probes client -> server:80 once.
   If that does not connect, the network cannot carry even unrestricted traffic and the canary
   proves nothing: ``unknown``;
3. it applies ``netpol-lab-canary-deny``, a deny-all-ingress policy selecting only the canary
   server, and probes again until the connection stops (``yes``, the engine enforces) or the
   deadline passes with it still connecting (``no``);
4. whatever happened, it deletes the policy and both pods, by name, and waits until they are
   gone. Objects it finds under its names that it did not make are never touched: it stops
   with an ``OperationError`` instead. A failed clean-up raises ``CanaryCleanupError``, which
   carries the verdict that was reached, so leftovers never go unreported.

Probe outcomes never raise; API errors (``OperationError``, ``KubeError``) propagate once the
clean-up has been attempted. ``deadline`` bounds each wait separately: the pods becoming Ready,
the policy taking effect, and the objects going away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from provisioning.errors import OperationError
from provisioning.lab.readiness import pod_problem, pod_ready
from provisioning.spec import LabSpec, lab_labels
from provisioning.validation.live import LivePod, pod_from_object
from provisioning.validation.probe import Outcome, Probe, ProbeResult
from provisioning.workload.demo import (
    DEMO_NAMESPACE,
    MAIN_PORT,
    agnhost_container,
    pod_spec,
    server_container,
)

LABEL_CANARY = "netpol-lab.io/canary"
CANARY_NAMESPACE = "canary"  # logical name; spec.namespace() gives the real one


def namespace_manifest(spec: LabSpec) -> dict[str, Any]:
    """The lab's canary namespace: empty but for the canary's run, removed with the lab."""
    from provisioning.workload.demo import LABEL_ROLE

    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": spec.namespace(CANARY_NAMESPACE),
            "labels": {**lab_labels(spec.name), LABEL_ROLE: CANARY_NAMESPACE},
        },
    }


SERVER_NAME = "netpol-lab-canary-server"
CLIENT_NAME = "netpol-lab-canary-client"
POLICY_NAME = "netpol-lab-canary-deny"
CLIENT_CONTAINER = "agnhost"

POD_API = ("v1", "Pod")
POLICY_API = ("networking.k8s.io/v1", "NetworkPolicy")

Enforced = Literal["yes", "no", "unknown"]


@dataclass(frozen=True)
class CanaryResult:
    """What the canary found: ``enforced`` is ``yes``, ``no`` or ``unknown`` (proves nothing)."""

    enforced: Enforced
    detail: str  # one sentence for people
    evidence: tuple[str, ...]  # what was observed, in order
    seconds: float  # the canary's whole run, clean-up included

    def as_dict(self) -> dict[str, Any]:
        return {
            "enforced": self.enforced,
            "detail": self.detail,
            "evidence": list(self.evidence),
            "seconds": round(self.seconds, 1),
        }


class CanaryCleanupError(OperationError):
    """The canary could not remove what it created; ``result`` is its verdict, if it reached one.

    ``leftovers`` names each object still there (``NetworkPolicy demo/netpol-lab-canary-deny``)
    with what went wrong.
    """

    def __init__(
        self,
        namespace: str,
        leftovers: Iterable[str],
        result: CanaryResult | None,
        failure: BaseException | None = None,
    ) -> None:
        self.leftovers = tuple(leftovers)
        self.result = result
        self.failure = failure
        if result is not None:
            context = f" (its verdict: enforced {result.enforced}: {result.detail})"
        elif failure is not None:
            context = f" (it had stopped on: {failure})"
        else:
            context = ""
        names = " ".join(f"{k.lower()}/{n}" for k, n in _KINDS_AND_NAMES)
        super().__init__(
            "the enforcement canary could not clean up after itself: "
            + "; ".join(self.leftovers)
            + context,
            hint=f"delete them by hand: kubectl -n {namespace} delete {names} --ignore-not-found",
        )


_KINDS_AND_NAMES = (("NetworkPolicy", POLICY_NAME), ("Pod", SERVER_NAME), ("Pod", CLIENT_NAME))


# --- the objects -------------------------------------------------------------------------------


def canary_labels(spec: LabSpec, role: str) -> dict[str, str]:
    return {**lab_labels(spec.name), LABEL_CANARY: role}


def server_pod(spec: LabSpec, namespace: str | None = None) -> dict[str, Any]:
    """The demo server's container on port 80 (``main``), readiness probe included: kubelet
    probes from the node, which NetworkPolicy always allows, so the deny policy never makes the
    server un-Ready."""
    return _pod(spec, SERVER_NAME, "server", server_container(MAIN_PORT), namespace)


def client_pod(spec: LabSpec, namespace: str | None = None) -> dict[str, Any]:
    """agnhost ``pause``: stays up so probes can exec ``/agnhost connect`` in it."""
    container = agnhost_container(CLIENT_CONTAINER, ["pause"])
    return _pod(spec, CLIENT_NAME, "client", container, namespace)


def deny_policy(spec: LabSpec, namespace: str | None = None) -> dict[str, Any]:
    """Deny all ingress to the canary server, and nothing else."""
    return {
        "apiVersion": POLICY_API[0],
        "kind": POLICY_API[1],
        "metadata": {
            "name": POLICY_NAME,
            "namespace": namespace or spec.namespace(DEMO_NAMESPACE),
            "labels": canary_labels(spec, "deny"),
        },
        "spec": {
            "podSelector": {"matchLabels": {LABEL_CANARY: "server"}},
            "policyTypes": ["Ingress"],
        },
    }


def _pod(
    spec: LabSpec, name: str, role: str, container: dict[str, Any], namespace: str | None
) -> dict[str, Any]:
    return {
        "apiVersion": POD_API[0],
        "kind": POD_API[1],
        "metadata": {
            "name": name,
            "namespace": namespace or spec.namespace(DEMO_NAMESPACE),
            "labels": canary_labels(spec, role),
        },
        "spec": pod_spec([container]),
    }


# --- the run -----------------------------------------------------------------------------------


def run_canary(
    kube: Any,
    executor: Any,
    spec: LabSpec,
    *,
    probe_timeout: float = 2.0,
    deadline: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_update: Callable[[str], None] = lambda text: None,
    poll_interval: float = 1.0,
    namespace: str | None = None,
) -> CanaryResult:
    """Find out whether NetworkPolicy is enforced in the lab's cluster; see the module doc.

    ``namespace``: where the canary runs (default: the lab's ``demo`` namespace). The pipeline
    gives it the lab's own canary namespace, where no scenario policy can be in the way.
    """
    canary = _Canary(
        kube, executor, spec, probe_timeout, deadline, clock, sleep, on_update, poll_interval
    )
    if namespace:
        canary.namespace = namespace
    started = clock()
    result: CanaryResult | None = None
    failure: BaseException | None = None
    try:
        result = canary.run()
    except BaseException as exc:
        failure = exc
        raise
    finally:
        leftovers = canary.clean_up()
        if result is not None:  # the clean-up is part of the evidence and of the time taken
            result = replace(result, evidence=tuple(canary.evidence), seconds=clock() - started)
        if leftovers:
            raise CanaryCleanupError(canary.namespace, leftovers, result, failure) from failure
    return result


class _Canary:
    def __init__(
        self,
        kube: Any,
        executor: Any,
        spec: LabSpec,
        probe_timeout: float,
        deadline: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        on_update: Callable[[str], None],
        poll_interval: float,
    ) -> None:
        self.kube = kube
        self.executor = executor
        self.spec = spec
        self.namespace = spec.namespace(DEMO_NAMESPACE)
        self.probe_timeout = probe_timeout
        self.deadline = deadline
        self.clock = clock
        self.sleep = sleep
        self.on_update = on_update
        self.poll_interval = poll_interval
        self.evidence: list[str] = []
        # What clean-up may delete: only names the canary applied (or found it had made before).
        self.owned: list[tuple[str, str, str]] = []  # (api_version, kind, name)

    # -- the steps --

    def run(self) -> CanaryResult:
        self._claim_names()
        self.on_update(f"enforcement canary: starting two pods in namespace {self.namespace}")
        self._own(POD_API, SERVER_NAME)
        self._own(POD_API, CLIENT_NAME)
        self.kube.apply(
            [server_pod(self.spec, self.namespace), client_pod(self.spec, self.namespace)]
        )

        pods = self._wait_for_pods()
        if isinstance(pods, CanaryResult):
            return pods
        client, server = pods
        probe = Probe(
            client.ref(), server.ref(), MAIN_PORT.number, MAIN_PORT.protocol, MAIN_PORT.name
        )
        target = f"{client.key} -> {server.ip}:{MAIN_PORT.number}/{MAIN_PORT.protocol}"

        self.on_update(f"enforcement canary: probing {target} with no policy in the way")
        before = self._probe(probe)
        self.evidence.append(f"before the deny policy: {target} {_said(before)}")
        if before.outcome is not Outcome.CONNECTED:
            return self._baseline_failed(before, target)

        self._own(POLICY_API, POLICY_NAME)
        self.kube.apply([deny_policy(self.spec, self.namespace)])
        applied = self.clock()
        self.evidence.append(
            f"applied NetworkPolicy {self.namespace}/{POLICY_NAME}: deny all ingress to "
            f"{server.key}"
        )
        return self._watch_enforcement(probe, target, applied)

    def _watch_enforcement(self, probe: Probe, target: str, applied: float) -> CanaryResult:
        rounds = 0
        last: ProbeResult | None = None
        connected_seen = errors = 0
        while True:
            result = self._probe(probe)
            rounds += 1
            elapsed = self.clock() - applied
            if result.outcome in (Outcome.BLOCKED, Outcome.REFUSED):
                self.evidence.append(
                    f"after {_secs(elapsed)} under deny (probe {rounds}): {_said(result)}"
                )
                return self._result(
                    "yes",
                    f"NetworkPolicy is enforced: a deny-all ingress policy stopped {target} "
                    f"after {_secs(elapsed)}",
                )
            if result.outcome is Outcome.CONNECTED:
                connected_seen += 1
                last = result
            else:  # the probe itself failed: it says nothing about the policy
                errors += 1
                self.evidence.append(
                    f"after {_secs(elapsed)} under deny (probe {rounds}): {_said(result)}"
                )
            state = "still connects" if result.outcome is Outcome.CONNECTED else "probe failed"
            self.on_update(
                f"enforcement canary: {target} {state} {_secs(elapsed)} after the deny policy "
                f"(waiting up to {_secs(self.deadline)})"
            )
            if elapsed >= self.deadline:
                break
            self.sleep(max(0.0, min(self.poll_interval, self.deadline - elapsed)))
        if last is None:
            return self._result(
                "unknown",
                f"the canary could not tell whether NetworkPolicy is enforced: every probe after "
                f"the deny policy failed to run ({errors} in {_secs(elapsed)})",
            )
        self.evidence.append(
            f"after {_secs(elapsed)} under deny: still connected "
            f"({connected_seen} of {rounds} probes connected)"
        )
        return self._result(
            "no",
            f"policies are not enforced here: a deny-all ingress policy did not stop {target} "
            f"within {_secs(elapsed)}",
        )

    def _baseline_failed(self, before: ProbeResult, target: str) -> CanaryResult:
        why = {
            Outcome.BLOCKED: "timed out",
            Outcome.REFUSED: "was refused",
        }.get(before.outcome, "could not be run")
        others = self._other_policies()
        if others:
            self.evidence.append(
                f"namespace {self.namespace} also holds NetworkPolicies the canary did not make, "
                f"which may select its pods: {', '.join(others)}"
            )
        tail = f" (other policies in {self.namespace} may be in the way)" if others else ""
        return self._result(
            "unknown",
            f"the canary proves nothing: with no canary policy in place, {target} {why}, so the "
            f"network does not carry even unrestricted traffic{tail}",
        )

    # -- ownership and clean-up --

    def _own(self, api: tuple[str, str], name: str) -> None:
        if (*api, name) not in self.owned:
            self.owned.append((*api, name))

    def _claim_names(self) -> None:
        """Refuse to start over objects someone else made; remove the canary's own leftovers.

        A name is the canary's when the object carries the lab's labels and the canary label.
        """
        stale = []
        for api, name in (
            (POLICY_API, POLICY_NAME),
            (POD_API, SERVER_NAME),
            (POD_API, CLIENT_NAME),
        ):
            found = self.kube.get(*api, name, self.namespace)
            if found is None:
                continue
            labels = (found.get("metadata") or {}).get("labels") or {}
            ours = LABEL_CANARY in labels and all(
                labels.get(k) == v for k, v in lab_labels(self.spec.name).items()
            )
            if not ours:
                raise OperationError(
                    f"{api[1]} {self.namespace}/{name} exists and was not made by the "
                    "enforcement canary; leaving it alone",
                    hint="rename or remove it, or run the lab without the canary",
                )
            self._own(api, name)
            stale.append(f"{api[1]} {self.namespace}/{name}")
        if stale:
            self.on_update("enforcement canary: removing what an earlier canary left behind")
            self.evidence.append(f"removed leftovers of an earlier canary: {', '.join(stale)}")
            if leftovers := self.clean_up():
                # Still owned: the final clean-up tries once more and reports what stays.
                raise OperationError(
                    "the enforcement canary cannot start: an earlier canary's objects would not "
                    "go away: " + "; ".join(leftovers)
                )

    def clean_up(self) -> list[str]:
        """Delete what the canary owns (policy first) and wait until it is gone.

        Returns one line per object still there, with why; every delete is attempted even when
        another fails.
        """
        if not self.owned:
            return []
        self.on_update(f"enforcement canary: removing its pods and policy from {self.namespace}")
        problems: dict[tuple[str, str, str], str] = {}
        # The policy before the pods it guards (a stable sort keeps the pods' order).
        self.owned.sort(key=lambda o: o[1] != POLICY_API[1])
        for api_version, kind, name in self.owned:
            try:
                self.kube.delete(api_version, kind, name, self.namespace)
            except Exception as exc:  # keep deleting the others; reported below
                problems[(api_version, kind, name)] = f"delete failed: {exc}"
        pending = [o for o in self.owned if o not in problems]
        until = self.clock() + self.deadline
        while pending:
            still = []
            for obj in pending:
                try:
                    if self.kube.get(obj[0], obj[1], obj[2], self.namespace) is not None:
                        still.append(obj)
                except Exception as exc:
                    problems[obj] = f"could not check it was gone: {exc}"
            pending = still
            if not pending or self.clock() >= until:
                break
            self.sleep(self.poll_interval)
        for obj in pending:
            problems[obj] = f"still there {_secs(self.deadline)} after it was deleted"
        done = [o for o in self.owned if o not in problems]
        self.owned = [o for o in self.owned if o in problems]
        if done:
            self.evidence.append(
                "removed " + ", ".join(f"{kind} {self.namespace}/{name}" for _, kind, name in done)
            )
        return [
            f"{kind} {self.namespace}/{name}: {problems[(a, kind, name)]}"
            for a, kind, name in self.owned
        ]

    # -- helpers --

    def _wait_for_pods(self) -> tuple[LivePod, LivePod] | CanaryResult:
        """Both pods Ready and the server with an IP, or an ``unknown`` result at the deadline."""
        until = self.clock() + self.deadline
        while True:
            raw = {
                n: self.kube.get(*POD_API, n, self.namespace) for n in (CLIENT_NAME, SERVER_NAME)
            }
            waiting = [_pending(n, obj) for n, obj in raw.items()]
            waiting = [w for w in waiting if w]
            if not waiting:
                client, _ = pod_from_object(raw[CLIENT_NAME])
                server, _ = pod_from_object(raw[SERVER_NAME])
                if client is not None and server is not None:
                    self.evidence.append(
                        f"pods Ready: {client.key} ({client.ip}), {server.key} ({server.ip})"
                    )
                    return client, server
            detail = "; ".join(waiting) or "pods not yet probe-able"
            self.on_update(f"enforcement canary: waiting for its pods ({detail})")
            if self.clock() >= until:
                self.evidence.append(f"after {_secs(self.deadline)}: {detail}")
                return self._result(
                    "unknown",
                    f"the canary proves nothing: its pods were not Ready within "
                    f"{_secs(self.deadline)} ({detail})",
                )
            self.sleep(self.poll_interval)

    def _probe(self, probe: Probe) -> ProbeResult:
        results = self.executor.run([probe], self.probe_timeout)
        if len(results) != 1:
            return ProbeResult(
                probe, Outcome.ERROR, f"the executor returned {len(results)} results for 1 probe"
            )
        return results[0]

    def _other_policies(self) -> list[str]:
        policies = self.kube.list(*POLICY_API, self.namespace)
        return sorted(
            f"{self.namespace}/{p['metadata']['name']}"
            for p in policies
            if p["metadata"]["name"] != POLICY_NAME
        )

    def _result(self, enforced: Enforced, detail: str) -> CanaryResult:
        return CanaryResult(enforced, detail, tuple(self.evidence), 0.0)


def _pending(name: str, pod: Mapping[str, Any] | None) -> str:
    """Why a canary pod cannot be probed yet ("" when it can)."""
    if pod is None:
        return f"{name}: not found"
    reasons = []
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reasons.append("being deleted")
    if not pod_ready(pod):
        reasons.append(pod_problem(pod) or "not Ready")
    if not (pod.get("status") or {}).get("podIP"):
        reasons.append("no IP yet")
    return f"{name}: {', '.join(reasons)}" if reasons else ""


def _said(result: ProbeResult) -> str:
    """``connected``, ``blocked (TIMEOUT)``: the outcome and what the probe printed."""
    words = {Outcome.BLOCKED: "blocked (timed out)", Outcome.REFUSED: "refused"}.get(
        result.outcome, result.outcome.value
    )
    return f"{words}: {result.detail}" if result.detail else words


def _secs(seconds: float) -> str:
    """``12s``, ``2.5s``: whole seconds from ten on, tenths below."""
    if seconds >= 10:
        return f"{seconds:.0f}s"
    return f"{seconds:.1f}".rstrip("0").rstrip(".") + "s"
