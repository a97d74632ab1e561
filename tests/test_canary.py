"""The enforcement canary, against a simulated cluster (SimCluster) and network (PolicyNetwork).

The network decides every probe from the policies the fake API holds at that moment, through
the project's analyzer; nothing here tells it what the canary should find.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from provisioning.errors import OperationError
from provisioning.kube import KubeError
from provisioning.lab.canary import (
    CLIENT_NAME,
    LABEL_CANARY,
    POLICY_NAME,
    SERVER_NAME,
    CanaryCleanupError,
    CanaryResult,
    client_pod,
    deny_policy,
    run_canary,
    server_pod,
)
from provisioning.spec import LabSpec, lab_labels
from provisioning.validation.probe import Outcome, PodRef, Probe, ProbeResult
from provisioning.workload import demo
from tests.fake_network import PolicyNetwork
from tests.fake_world import SimCluster

LAB = "lab1"
CANARY_NAMES = {SERVER_NAME, CLIENT_NAME, POLICY_NAME}


class Clock:
    """Injected time: ``sleep`` moves it; ``on_sleep`` lets a test change the world meanwhile."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.on_sleep: Callable[[float], None] = lambda _now: None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds
        self.on_sleep(self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingCluster(SimCluster):
    """A SimCluster that keeps a copy of every object applied, and can be slow to delete pods.

    ``terminating_polls``: a deleted pod stays (with ``deletionTimestamp``) for that many reads,
    as the kubelet takes its grace period; ``None`` keeps it forever (a stuck finalizer).
    """

    def __init__(self, terminating_polls: int | None = 0) -> None:
        super().__init__(LAB, [{"role": "control-plane"}], lag=0)
        self.cni = "calico"  # the kubelet makes pods Ready once a CNI is up
        self.applied: list[dict[str, Any]] = []
        self.terminating_polls = terminating_polls
        self._terminating: dict[tuple[str, str], int] = {}

    def apply(self, objects: Sequence[Mapping[str, Any]], *, dry_run: bool = False) -> Any:
        done = super().apply(objects, dry_run=dry_run)
        self.applied += [copy.deepcopy(dict(o)) for o in objects]
        return done

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        if kind != "Pod" or self.terminating_polls == 0:
            return super().delete(api_version, kind, name, namespace)
        self._enter("delete", kind, namespace, name)
        key = ("", "Pod", namespace or "", name)
        if key not in self._objects:
            return False
        self._objects[key]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:10Z"
        self._terminating.setdefault((namespace or "", name), 0)
        return True

    def reconcile(self) -> None:
        super().reconcile()
        for (ns, name), polls in list(self._terminating.items()):
            if self.terminating_polls is not None and polls >= self.terminating_polls:
                self._objects.pop(("", "Pod", ns, name), None)
                del self._terminating[(ns, name)]
            else:
                self._terminating[(ns, name)] = polls + 1


@pytest.fixture(autouse=True)
def no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_seconds: float) -> None:
        raise AssertionError("the canary slept for real; it must use the injected sleep")

    monkeypatch.setattr(time, "sleep", refuse)


def spec(**kw: Any) -> LabSpec:
    return LabSpec(name=LAB, **kw)


def lab_cluster(terminating_polls: int | None = 0) -> RecordingCluster:
    """The demo workload up and Ready, as the lab leaves it before validation."""
    cluster = RecordingCluster(terminating_polls)
    cluster.apply(demo.demo_manifests(LAB))
    cluster.reconcile()
    cluster.applied.clear()
    cluster.calls.clear()
    return cluster


def canary_objects(cluster: SimCluster) -> list[str]:
    return [
        f"{o['kind']} {o['metadata'].get('namespace')}/{o['metadata']['name']}"
        for o in cluster.objects()
        if o["metadata"]["name"] in CANARY_NAMES
        or LABEL_CANARY in (o["metadata"].get("labels") or {})
    ]


def canary(
    cluster: SimCluster,
    network: Any,
    clock: Clock,
    lab: LabSpec | None = None,
    **kw: Any,
) -> CanaryResult:
    kw.setdefault("deadline", 30.0)
    kw.setdefault("poll_interval", 1.0)
    return run_canary(cluster, network, lab or spec(), clock=clock, sleep=clock.sleep, **kw)


def network(cluster: SimCluster, clock: Clock, enforcing: bool, lag: int = 0) -> PolicyNetwork:
    return PolicyNetwork(cluster, enforcing, lag, advance=clock.advance)


class Unplugged:
    """A network that carries nothing: every connection times out."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
        self.clock.advance(timeout)
        return [ProbeResult(p, Outcome.BLOCKED, "TIMEOUT", timeout) for p in probes]


class Failing:
    """Delegates to a network, then raises from the ``at``-th round on (a broken executor)."""

    def __init__(self, inner: Any, at: int) -> None:
        self.inner, self.at, self.rounds = inner, at, 0

    def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
        self.rounds += 1
        if self.rounds >= self.at:
            raise RuntimeError("executor exploded")
        return self.inner.run(probes, timeout)


# --- the verdicts ------------------------------------------------------------------------------


def test_an_enforcing_engine_is_found_enforcing() -> None:
    cluster, clock = lab_cluster(), Clock()
    net = network(cluster, clock, enforcing=True)
    updates: list[str] = []

    result = canary(cluster, net, clock, on_update=updates.append)

    assert result.enforced == "yes", result
    assert "NetworkPolicy is enforced" in result.detail
    assert result.evidence[1].startswith(f"before the deny policy: demo/{CLIENT_NAME} -> 10.244.1.")
    assert result.evidence[1].endswith(":80/TCP connected")
    assert any("under deny (probe 1): blocked" in e for e in result.evidence)
    # One probe before the policy, one after; both from the client to the server's IP.
    assert [a.outcome for a in net.answers] == [Outcome.CONNECTED, Outcome.BLOCKED]
    assert {a.probe for a in net.answers} == {f"demo/{CLIENT_NAME} -> demo/{SERVER_NAME}:80/TCP"}
    assert updates and all(u.startswith("enforcement canary") for u in updates)
    assert canary_objects(cluster) == []
    assert result.as_dict() == {
        "enforced": "yes",
        "detail": result.detail,
        "evidence": list(result.evidence),
        "seconds": round(result.seconds, 1),
    }


def test_an_engine_that_lags_is_still_found_enforcing_after_several_rounds() -> None:
    cluster, clock = lab_cluster(), Clock()
    net = network(cluster, clock, enforcing=True, lag=4)

    result = canary(cluster, net, clock)

    assert result.enforced == "yes", result
    outcomes = [a.outcome for a in net.answers]
    # The baseline, four rounds the dataplane still lets through, then the drop.
    assert outcomes == [Outcome.CONNECTED] * 5 + [Outcome.BLOCKED]
    assert any("(probe 5): blocked" in e for e in result.evidence)
    assert clock.slept[-4:] == [1.0, 1.0, 1.0, 1.0]  # polled at poll_interval, on fake time
    assert canary_objects(cluster) == []


def test_an_engine_that_does_not_enforce_is_reported_with_evidence() -> None:
    cluster, clock = lab_cluster(), Clock()
    net = network(cluster, clock, enforcing=False)

    result = canary(cluster, net, clock, deadline=12.0)

    assert result.enforced == "no", result
    assert result.detail.startswith(
        "policies are not enforced here: a deny-all ingress policy did not stop "
        f"demo/{CLIENT_NAME} -> 10.244.1."
    )
    assert any(e.startswith("after 12s under deny: still connected") for e in result.evidence)
    assert any(f"applied NetworkPolicy demo/{POLICY_NAME}" in e for e in result.evidence)
    assert all(a.outcome is Outcome.CONNECTED for a in net.answers)
    assert len(net.answers) >= 10  # it kept probing until the deadline, not once
    assert canary_objects(cluster) == []


def test_the_same_cluster_under_an_enforcing_network_says_yes_and_under_none_says_no() -> None:
    # The verdict comes from the network's behaviour alone, not from the spec's engine name.
    verdicts = {}
    for enforcing in (True, False):
        cluster, clock = lab_cluster(), Clock()
        verdicts[enforcing] = canary(
            cluster, network(cluster, clock, enforcing), clock, lab=spec(engine="none")
        ).enforced
    assert verdicts == {True: "yes", False: "no"}


def test_no_connectivity_at_all_proves_nothing() -> None:
    cluster, clock = lab_cluster(), Clock()

    result = canary(cluster, Unplugged(clock), clock)

    assert result.enforced == "unknown", result
    assert "does not carry even unrestricted traffic" in result.detail
    assert any("before the deny policy" in e and "blocked" in e for e in result.evidence)
    # It never applied the deny policy: there was nothing to compare against.
    assert not [o for o in cluster.applied if o["kind"] == "NetworkPolicy"]
    assert canary_objects(cluster) == []


def test_a_users_deny_policy_in_the_namespace_makes_the_baseline_fail_and_is_named() -> None:
    cluster, clock = lab_cluster(), Clock()
    cluster.seed(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "demo"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        }
    )

    result = canary(cluster, network(cluster, clock, enforcing=True), clock)

    assert result.enforced == "unknown", result
    assert "other policies in demo may be in the way" in result.detail
    assert any("demo/default-deny" in e for e in result.evidence)
    assert cluster.get("networking.k8s.io/v1", "NetworkPolicy", "default-deny", "demo")
    assert canary_objects(cluster) == []


def test_a_probe_that_cannot_run_after_the_policy_is_not_taken_for_a_block() -> None:
    cluster, clock = lab_cluster(), Clock()
    inner = network(cluster, clock, enforcing=False)

    class ErrorsAfterBaseline:
        def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
            if not inner.answers:
                return inner.run(probes, timeout)
            clock.advance(0.5)
            return [ProbeResult(p, Outcome.ERROR, "exec failed: EOF") for p in probes]

    result = canary(cluster, ErrorsAfterBaseline(), clock, deadline=5.0)

    assert result.enforced == "unknown", result
    assert "every probe after the deny policy failed to run" in result.detail
    assert canary_objects(cluster) == []


# --- waiting and the deadline ------------------------------------------------------------------


def test_it_waits_for_the_pods_to_be_ready_on_fake_time() -> None:
    cluster, clock = lab_cluster(), Clock()
    cluster.cni = None  # the kubelet cannot start pods yet
    clock.on_sleep = lambda now: setattr(cluster, "cni", "calico") if now >= 1005 else None

    result = canary(cluster, network(cluster, clock, enforcing=True), clock)

    assert result.enforced == "yes", result
    assert clock.now >= 1005
    assert canary_objects(cluster) == []


def test_pods_that_never_become_ready_end_unknown_at_the_deadline() -> None:
    cluster, clock = lab_cluster(), Clock()
    cluster.cni = None
    updates: list[str] = []

    result = canary(
        cluster, network(cluster, clock, True), clock, deadline=8.0, on_update=updates.append
    )

    assert result.enforced == "unknown", result
    assert "not Ready within 8s" in result.detail
    assert f"{SERVER_NAME}: not Ready, no IP yet" in result.detail
    assert 1008 <= clock.now <= 1008 + 1.0  # the deadline plus at most one poll
    assert any("waiting for its pods" in u for u in updates)
    assert canary_objects(cluster) == []


@pytest.mark.parametrize("deadline", [3.0, 10.0, 30.0])
def test_the_enforcement_wait_respects_the_deadline(deadline: float) -> None:
    cluster, clock = lab_cluster(), Clock()
    net = network(cluster, clock, enforcing=False)
    started = {}

    def note_policy(now: float) -> None:
        if "at" not in started and cluster.get(
            "networking.k8s.io/v1", "NetworkPolicy", POLICY_NAME, "demo"
        ):
            started["at"] = now

    clock.on_sleep = note_policy
    result = canary(cluster, net, clock, deadline=deadline, poll_interval=1.0)

    assert result.enforced == "no"
    under_deny = clock.now - 1000
    # Never stops early, never overruns by more than a poll interval and one probe.
    assert deadline <= under_deny <= deadline + 1.0 + 0.1
    assert result.seconds == pytest.approx(clock.now - 1000)
    assert all(s <= 1.0 for s in clock.slept)


def test_slow_probes_count_against_the_deadline() -> None:
    # Every post-policy probe errors out after its full timeout: the loop must still stop.
    cluster, clock = lab_cluster(), Clock()
    inner = network(cluster, clock, enforcing=False)

    class Slow:
        rounds = 0

        def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
            self.rounds += 1
            if self.rounds == 1:
                return inner.run(probes, timeout)
            clock.advance(timeout)
            return [ProbeResult(p, Outcome.ERROR, "OTHER: i/o timeout", timeout) for p in probes]

    slow = Slow()
    result = canary(cluster, slow, clock, deadline=10.0, probe_timeout=4.0)

    assert result.enforced == "unknown"
    assert slow.rounds - 1 <= 3  # 4s probes plus 1s polls fit about 2-3 times in 10s
    assert clock.now - 1000 <= 10.0 + 1.0 + 4.0


# --- clean-up, always ------------------------------------------------------------------------


def _user_objects(cluster: SimCluster) -> None:
    cluster.seed(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "user-app", "namespace": "demo", "labels": {"app": "user-app"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            "status": {
                "phase": "Running",
                "podIP": "10.244.9.9",
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )
    cluster.seed(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "user-policy", "namespace": "demo"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "user-app"}},
                "policyTypes": ["Ingress"],
            },
        }
    )


def _not_canary(cluster: SimCluster) -> list[dict[str, Any]]:
    return [o for o in cluster.objects() if o["metadata"]["name"] not in CANARY_NAMES]


def _run_yes(cluster: RecordingCluster, clock: Clock) -> Any:
    return canary(cluster, network(cluster, clock, True), clock)


def _run_no(cluster: RecordingCluster, clock: Clock) -> Any:
    return canary(cluster, network(cluster, clock, False), clock, deadline=5.0)


def _run_unknown(cluster: RecordingCluster, clock: Clock) -> Any:
    return canary(cluster, Unplugged(clock), clock)


def _run_probe_raises_after_policy(cluster: RecordingCluster, clock: Clock) -> Any:
    with pytest.raises(RuntimeError, match="executor exploded"):
        canary(cluster, Failing(network(cluster, clock, False), at=2), clock)
    # The policy was there when it blew up; the clean-up must have removed it anyway.
    assert any(o["kind"] == "NetworkPolicy" for o in cluster.applied)


def _run_probe_raises_at_baseline(cluster: RecordingCluster, clock: Clock) -> Any:
    with pytest.raises(RuntimeError, match="executor exploded"):
        canary(cluster, Failing(network(cluster, clock, True), at=1), clock)


def _run_policy_apply_fails(cluster: RecordingCluster, clock: Clock) -> Any:
    cluster.fail_on("apply", "NetworkPolicy", POLICY_NAME)
    with pytest.raises(KubeError, match="injected failure"):
        canary(cluster, network(cluster, clock, True), clock)


def _run_pod_apply_fails(cluster: RecordingCluster, clock: Clock) -> Any:
    # The server is created, then the client's apply fails: the server must not be left behind.
    cluster.fail_on("apply", "Pod", CLIENT_NAME)
    with pytest.raises(KubeError):
        canary(cluster, network(cluster, clock, True), clock)
    assert cluster.calls.count(("apply", "Pod", "demo", SERVER_NAME)) == 1


def _run_pods_never_ready(cluster: RecordingCluster, clock: Clock) -> Any:
    cluster.cni = None
    return canary(cluster, network(cluster, clock, True), clock, deadline=4.0)


def _run_interrupted(cluster: RecordingCluster, clock: Clock) -> Any:
    def stop(_now: float) -> None:
        if cluster.get("networking.k8s.io/v1", "NetworkPolicy", POLICY_NAME, "demo"):
            raise KeyboardInterrupt

    clock.on_sleep = stop
    with pytest.raises(KeyboardInterrupt):
        canary(cluster, network(cluster, clock, False), clock)
    clock.on_sleep = lambda _now: None


CASES = {
    "yes": _run_yes,
    "no": _run_no,
    "unknown": _run_unknown,
    "probe raises after the policy": _run_probe_raises_after_policy,
    "probe raises at the baseline": _run_probe_raises_at_baseline,
    "policy apply fails": _run_policy_apply_fails,
    "pod apply fails": _run_pod_apply_fails,
    "pods never Ready": _run_pods_never_ready,
    "Ctrl-C under the deny policy": _run_interrupted,
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("terminating_polls", [0, 3])
def test_it_always_cleans_up_and_touches_nothing_else(case: str, terminating_polls: int) -> None:
    cluster, clock = lab_cluster(terminating_polls), Clock()
    _user_objects(cluster)
    cluster.reconcile()
    before = _not_canary(cluster)

    CASES[case](cluster, clock)

    assert canary_objects(cluster) == []
    assert _not_canary(cluster) == before  # the demo pods, the user's pod and policy: untouched
    touched = {(c.verb, c.name) for c in cluster.calls if c.verb in ("apply", "delete")}
    assert {name for _, name in touched} <= CANARY_NAMES
    deletes = [c.name for c in cluster.calls if c.verb == "delete"]
    if POLICY_NAME in deletes:  # the policy goes before the pods it guards
        assert deletes.index(POLICY_NAME) < min(
            deletes.index(n) for n in (SERVER_NAME, CLIENT_NAME) if n in deletes
        )


def test_it_waits_until_terminating_pods_are_gone() -> None:
    cluster, clock = lab_cluster(terminating_polls=4), Clock()

    result = _run_yes(cluster, clock)

    assert result.enforced == "yes"
    assert canary_objects(cluster) == []
    assert any(e.startswith("removed ") for e in result.evidence)
    assert clock.slept  # it polled while the pods terminated


def test_pods_that_never_go_away_are_reported_with_the_verdict() -> None:
    cluster, clock = lab_cluster(terminating_polls=None), Clock()

    with pytest.raises(CanaryCleanupError) as caught:
        canary(cluster, network(cluster, clock, True), clock, deadline=6.0)

    error = caught.value
    assert error.result is not None and error.result.enforced == "yes"
    assert f"Pod demo/{SERVER_NAME}: still there 6s after it was deleted" in error.leftovers
    assert f"Pod demo/{CLIENT_NAME}: still there 6s after it was deleted" in error.leftovers
    assert not any(POLICY_NAME in line for line in error.leftovers)  # that one did go
    assert "could not clean up" in str(error) and "enforced yes" in str(error)
    assert f"kubectl -n demo delete networkpolicy/{POLICY_NAME}" in str(error)


def test_a_failed_delete_is_reported_and_the_other_deletes_still_happen() -> None:
    cluster, clock = lab_cluster(), Clock()
    cluster.fail_on("delete", "NetworkPolicy", POLICY_NAME)

    with pytest.raises(CanaryCleanupError) as caught:
        _run_no(cluster, clock)

    assert caught.value.result is not None and caught.value.result.enforced == "no"
    assert caught.value.leftovers == (
        f"NetworkPolicy demo/{POLICY_NAME}: delete failed: "
        "HTTP 500 InternalError: injected failure",
    )
    # Both pods were still deleted; only the policy stays, and the error says so.
    assert canary_objects(cluster) == [f"NetworkPolicy demo/{POLICY_NAME}"]


def test_a_clean_up_failure_after_an_api_error_keeps_both_in_view() -> None:
    cluster, clock = lab_cluster(), Clock()
    cluster.fail_on("apply", "NetworkPolicy", POLICY_NAME)
    cluster.fail_on("delete", "Pod", SERVER_NAME)

    with pytest.raises(CanaryCleanupError) as caught:
        canary(cluster, network(cluster, clock, True), clock)

    assert caught.value.result is None
    assert isinstance(caught.value.__cause__, KubeError)
    assert "it had stopped on" in str(caught.value)
    assert caught.value.leftovers[0].startswith(f"Pod demo/{SERVER_NAME}: delete failed")


# --- what it creates, and what it refuses to touch -------------------------------------------


def test_objects_under_its_names_that_it_did_not_make_are_left_alone() -> None:
    cluster, clock = lab_cluster(), Clock()
    cluster.seed(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": SERVER_NAME, "namespace": "demo", "labels": {"app": "mine"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        }
    )
    cluster.reconcile()  # the kubelet starts it
    cluster.calls.clear()
    before = cluster.objects()

    with pytest.raises(OperationError, match="was not made by the enforcement canary"):
        canary(cluster, network(cluster, clock, True), clock)

    assert cluster.objects() == before
    assert not [c for c in cluster.calls if c.verb in ("apply", "delete")]


def test_an_earlier_canarys_leftovers_are_removed_before_it_starts() -> None:
    # A crashed run left the deny policy and the pods: without removing them first, the
    # baseline probe would be blocked and the verdict "unknown".
    cluster, clock = lab_cluster(), Clock()
    lab = spec()
    cluster.apply([server_pod(lab), client_pod(lab), deny_policy(lab)])
    cluster.reconcile()

    result = canary(cluster, network(cluster, clock, True), clock, lab=lab)

    assert result.enforced == "yes", result
    assert any("removed leftovers of an earlier canary" in e for e in result.evidence)
    assert canary_objects(cluster) == []
    deletes = [c.name for c in cluster.calls if c.verb == "delete"]
    # Twice round: the leftovers, then its own objects; the policy first both times.
    assert deletes == [POLICY_NAME, SERVER_NAME, CLIENT_NAME] * 2


def test_the_canary_pods_look_like_the_demo_pods() -> None:
    lab = spec()
    server, client = server_pod(lab), client_pod(lab)
    demo_server = next(
        o
        for o in demo.demo_manifests(LAB)
        if o["kind"] == "Pod" and o["metadata"]["name"] == "server"
    )
    for pod, role in ((server, "server"), (client, "client")):
        assert pod["metadata"]["namespace"] == "demo"
        assert pod["metadata"]["labels"] == {**lab_labels(LAB), LABEL_CANARY: role}
        assert {k: v for k, v in pod["spec"].items() if k != "containers"} == {
            k: v for k, v in demo_server["spec"].items() if k != "containers"
        }
    assert server["spec"]["containers"] == [demo.server_container(demo.MAIN_PORT)]
    assert client["spec"]["containers"] == [demo.agnhost_container("agnhost", ["pause"])]


def test_the_deny_policy_selects_only_the_canary_server() -> None:
    policy = deny_policy(spec(namespace_suffix="-lab1"))
    assert policy["metadata"] == {
        "name": POLICY_NAME,
        "namespace": "demo-lab1",
        "labels": {**lab_labels(LAB), LABEL_CANARY: "deny"},
    }
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {LABEL_CANARY: "server"}},
        "policyTypes": ["Ingress"],
    }


def test_it_runs_in_the_labs_own_namespace_name() -> None:
    lab = spec(namespace_suffix="-lab1")
    cluster, clock = lab_cluster(), Clock()
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo-lab1"}}])

    result = canary(cluster, network(cluster, clock, True), clock, lab=lab)

    assert result.enforced == "yes"
    assert {o["metadata"]["namespace"] for o in cluster.applied if o["kind"] != "Namespace"} == {
        "demo-lab1"
    }
    assert f"demo-lab1/{CLIENT_NAME}" in result.evidence[1]


def test_the_demo_pods_keep_their_connectivity_under_the_canary_policy() -> None:
    # The deny policy must isolate the canary server only: demo/client -> demo/server still works
    # while it is in place (checked from inside the run, while the policy exists).
    cluster, clock = lab_cluster(), Clock()
    net = network(cluster, clock, enforcing=True, lag=0)
    seen: list[Outcome] = []

    class AlsoProbeDemo:
        def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
            pods = {p["metadata"]["name"]: p for p in cluster.list("v1", "Pod", "demo")}
            demo_probe = Probe(
                PodRef("demo", "client", pods["client"]["status"]["podIP"], "agnhost"),
                PodRef("demo", "server", pods["server"]["status"]["podIP"]),
                80,
            )
            (*results, extra) = net.run([*probes, demo_probe], timeout)
            seen.append(extra.outcome)
            return results

    assert canary(cluster, AlsoProbeDemo(), clock).enforced == "yes"
    assert seen == [Outcome.CONNECTED, Outcome.CONNECTED]


# --- the simulated network itself ------------------------------------------------------------


def test_the_network_follows_the_policies_in_the_api_and_the_ip_not_the_name() -> None:
    cluster, clock = lab_cluster(), Clock()
    net = network(cluster, clock, enforcing=True)
    pods = {p["metadata"]["name"]: p for p in cluster.list("v1", "Pod", "demo")}

    def ref(name: str, container: str = "agnhost") -> PodRef:
        return PodRef("demo", name, pods[name]["status"]["podIP"], container)

    to_server = Probe(ref("client"), ref("server", ""), 80)
    from_intruder = Probe(ref("intruder"), ref("server", ""), 80)
    closed_port = Probe(ref("client"), ref("server", ""), 9999)
    # Named "server" but aimed at the intruder's IP: the network goes by the IP.
    misnamed = Probe(ref("client"), PodRef("demo", "server", ref("intruder").ip), 80)
    no_agnhost = Probe(ref("server", "main-typo"), ref("client"), 80)
    nowhere = Probe(ref("client"), PodRef("demo", "gone", "10.244.200.200"), 80)

    def outcomes() -> list[Outcome]:
        probes = [to_server, from_intruder, closed_port, misnamed, no_agnhost, nowhere]
        return [r.outcome for r in net.run(probes, 2.0)]

    assert outcomes() == [
        Outcome.CONNECTED,
        Outcome.CONNECTED,
        Outcome.REFUSED,
        Outcome.REFUSED,  # the intruder listens on nothing
        Outcome.ERROR,
        Outcome.BLOCKED,
    ]
    cluster.apply(
        [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "only-clients", "namespace": "demo"},
                "spec": {
                    "podSelector": {"matchLabels": {"app": "server"}},
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}],
                },
            }
        ]
    )
    after = outcomes()
    # The intruder is now dropped; the client is let in on every port, so 9999 is refused.
    assert after[:3] == [Outcome.CONNECTED, Outcome.BLOCKED, Outcome.REFUSED]
    cluster.delete("networking.k8s.io/v1", "NetworkPolicy", "only-clients", "demo")
    assert outcomes()[:2] == [Outcome.CONNECTED, Outcome.CONNECTED]


def test_the_network_lags_new_policies_by_whole_rounds() -> None:
    cluster, clock = lab_cluster(), Clock()
    net = network(cluster, clock, enforcing=True, lag=2)
    pods = {p["metadata"]["name"]: p for p in cluster.list("v1", "Pod", "demo")}
    probe = Probe(
        PodRef("demo", "intruder", pods["intruder"]["status"]["podIP"], "agnhost"),
        PodRef("demo", "server", pods["server"]["status"]["podIP"]),
        80,
    )
    cluster.apply(
        [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "deny", "namespace": "demo"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
            }
        ]
    )
    rounds = [net.run([probe], 2.0)[0].outcome for _ in range(4)]
    assert rounds == [Outcome.CONNECTED, Outcome.CONNECTED, Outcome.BLOCKED, Outcome.BLOCKED]
    assert clock.now == pytest.approx(1000 + 0.01 * 2 + 2.0 * 2)  # timeouts take their time
