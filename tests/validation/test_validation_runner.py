"""The runner: compare, re-probe until agreement or the deadline, report convergence."""

from __future__ import annotations

from collections.abc import Sequence

from provisioning.report import render
from provisioning.validation.probe import Outcome, Probe, ProbeResult, SocketExecutor
from provisioning.validation.validate import (
    NOTHING_PROBED,
    Expectation,
    PlannedProbe,
    StatedExpectation,
    Status,
    validate_planned,
)
from tests.validation.conftest import probe
from tests.validation.netlab import FullBacklogListener, NetnsLab, TcpListener

ALLOW, DENY = Expectation(True, "allowed by demo/demo-policy"), Expectation(False, "isolated")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Scripted:
    """Answers each probe from a per-probe script of outcomes; each round costs ``cost`` s."""

    def __init__(self, clock: FakeClock, script: dict[str, list[Outcome]], cost: float) -> None:
        self.clock, self.script, self.cost = clock, script, cost
        self.rounds: list[list[str]] = []

    def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
        self.rounds.append([p.key for p in probes])
        self.clock.now += self.cost
        out = []
        for p in reversed(probes):  # any order: the runner must match results to probes
            outcomes = self.script[p.key]
            out.append(ProbeResult(p, outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]))
        return out


def _run(planned: list[PlannedProbe], executor: object, clock: FakeClock, **kw: object):
    return validate_planned(
        planned, executor, clock=clock, sleep=clock.sleep, probe_timeout=2, **kw
    )


def test_everything_matching_takes_one_round() -> None:
    clock = FakeClock()
    a, b = probe("demo/client", "demo/server", 80), probe("demo/intruder", "demo/server", 80)
    ex = Scripted(clock, {a.key: [Outcome.CONNECTED], b.key: [Outcome.BLOCKED]}, cost=2.0)
    report = _run([PlannedProbe(a, ALLOW), PlannedProbe(b, DENY)], ex, clock, deadline=60)
    assert report.ok and report.exit_code == 0
    assert report.rounds == 1 and clock.sleeps == []
    assert report.converged_after == 2.0


def test_only_disagreeing_probes_are_retried_about_once_a_second_until_they_agree() -> None:
    clock = FakeClock()
    a, b = probe("demo/client", "demo/server", 80), probe("demo/intruder", "demo/server", 80)
    lagging = [Outcome.CONNECTED, Outcome.CONNECTED, Outcome.CONNECTED, Outcome.BLOCKED]
    ex = Scripted(clock, {a.key: [Outcome.CONNECTED], b.key: list(lagging)}, cost=0.25)
    report = _run([PlannedProbe(a, ALLOW), PlannedProbe(b, DENY)], ex, clock, deadline=60)
    assert report.ok
    assert ex.rounds == [[a.key, b.key], [b.key], [b.key], [b.key]]
    assert clock.sleeps == [0.75, 0.75, 0.75]  # the next round starts 1 s after the last began
    check = report.checks[1]
    assert [x.outcome for x in check.attempts] == lagging
    assert report.converged_after == 3.25 and check.matched_at == 3.25


def test_a_probe_that_never_agrees_fails_at_the_deadline() -> None:
    clock = FakeClock()
    b = probe("demo/intruder", "demo/server", 80)
    ex = Scripted(clock, {b.key: [Outcome.CONNECTED]}, cost=0.1)
    report = _run([PlannedProbe(b, DENY)], ex, clock, deadline=5)
    assert not report.ok and report.exit_code == 1
    assert report.checks[0].status == Status.MISMATCH
    assert report.converged_after is None
    assert 4 <= report.rounds <= 6 and clock.now <= 5.1


def test_refused_is_allowed_and_errors_are_retried_then_fail_as_errors() -> None:
    clock = FakeClock()
    refused, broken = probe("a/x", "a/y", 81), probe("a/x", "a/z", 80)
    ex = Scripted(clock, {refused.key: [Outcome.REFUSED], broken.key: [Outcome.ERROR]}, cost=0)
    report = _run([PlannedProbe(refused, ALLOW), PlannedProbe(broken, DENY)], ex, clock,
                  deadline=3)  # fmt: skip
    assert report.checks[0].status == Status.MATCH
    # An error never counts as blocked, even where blocked was expected.
    assert report.checks[1].status == Status.ERROR
    assert len(report.checks[1].attempts) > 1
    assert report.exit_code == 1


def test_loopback_is_reported_but_neither_retried_nor_failing_by_default() -> None:
    clock = FakeClock()
    loop = probe("demo/server", "demo/server", 80)
    ex = Scripted(clock, {loop.key: [Outcome.CONNECTED]}, cost=0.1)
    report = _run([PlannedProbe(loop, DENY)], ex, clock, deadline=30)
    assert report.ok and report.rounds == 1
    assert report.loopback_mismatches == report.checks
    strict = _run([PlannedProbe(loop, DENY)], ex, FakeClock(), deadline=2, fail_on_loopback=True)
    assert not strict.ok


def test_stated_expectations_are_checked_against_the_analyzer() -> None:
    clock = FakeClock()
    a = probe("demo/client", "demo/server", 80)
    ex = Scripted(clock, {a.key: [Outcome.CONNECTED]}, cost=0)
    stated = [
        {"from": "demo/client", "to": "demo/server", "port": 80, "expect": "allow"},
        {"from": "demo/client", "to": "demo/server", "port": 80, "protocol": "TCP",
         "expect": "deny"},
        StatedExpectation("demo/ghost", "demo/server", 80, "TCP", True),
    ]  # fmt: skip
    report = _run([PlannedProbe(a, ALLOW)], ex, clock, stated_expectations=stated)
    assert [s.agrees for s in report.stated] == [True, False, False]
    assert "the policies say allow" in report.stated[1].message
    assert "no such probe" in report.stated[2].message
    assert report.exit_code == 1


def test_nothing_probed_fails_instead_of_passing_vacuously() -> None:
    report = _run([], Scripted(FakeClock(), {}, cost=0), FakeClock())
    assert report.problems == (NOTHING_PROBED,)
    assert not report.ok and report.exit_code == 1
    text = render(report, "table")
    assert "nothing was probed" in text.splitlines()[0] and "no differences" not in text


def test_a_stated_expectation_from_a_pod_without_agnhost_says_so() -> None:
    clock = FakeClock()
    a = probe("demo/client", "demo/server", 80)
    stated = [{"from": "demo/web", "to": "demo/server", "port": 80, "expect": "allow"}]
    report = _run([PlannedProbe(a, ALLOW)], Scripted(clock, {a.key: [Outcome.CONNECTED]}, 0),
                  clock, stated_expectations=stated, not_sources=["demo/web"])  # fmt: skip
    assert report.stated[0].message == (
        "stated demo/web -> demo/server:80/TCP allow: demo/web is not a probe source "
        "(no agnhost container)"
    )


# --- with real traffic ----------------------------------------------------------------------


class AfterRounds:
    """Wraps an executor and changes the world after a number of rounds (deterministic lag)."""

    def __init__(self, inner: SocketExecutor, rounds: int, change: object) -> None:
        self.inner, self.rounds, self.change, self.seen = inner, rounds, change, 0

    def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
        if self.seen == self.rounds:
            self.change()
        self.seen += 1
        return self.inner.run(probes, timeout)


def test_converges_when_a_blocked_listener_starts_accepting() -> None:
    lagging, ok = FullBacklogListener(), TcpListener()
    try:
        planned = [
            PlannedProbe(probe("demo/client", "demo/server", lagging.port), ALLOW),
            PlannedProbe(probe("demo/client", "demo/other", ok.port), ALLOW),
        ]
        executor = AfterRounds(SocketExecutor(), 2, lagging.release)
        report = validate_planned(
            planned, executor, probe_timeout=0.3, deadline=20, retry_interval=0.1
        )
    finally:
        lagging.close()
        ok.close()
    assert report.ok, report
    first = report.checks[0]
    assert [a.outcome for a in first.attempts] == [
        Outcome.BLOCKED,
        Outcome.BLOCKED,
        Outcome.CONNECTED,
    ]
    assert len(report.checks[1].attempts) == 1
    assert report.converged_after == first.matched_at


def test_converges_when_enforcement_arrives_late(netns: NetnsLab) -> None:
    server, intruder = "127.0.1.1", "127.0.2.9"
    netns.tcp_listener(server, 80)
    planned = [
        PlannedProbe(probe("demo/intruder", "demo/server", 80, src_ip=intruder, dst_ip=server),
                     DENY),
    ]  # fmt: skip
    executor = AfterRounds(
        SocketExecutor(bind_source=True, socket_factory=netns.socket),
        1,
        lambda: netns.drop(intruder, server, 80),
    )
    report = validate_planned(planned, executor, probe_timeout=0.3, deadline=20)
    assert report.ok
    assert [a.outcome for a in report.checks[0].attempts] == [Outcome.CONNECTED, Outcome.BLOCKED]


def test_real_mismatch_is_reported_after_the_deadline(netns: NetnsLab) -> None:
    server, client = "127.0.1.1", "127.0.2.1"
    netns.tcp_listener(server, 80)
    netns.drop(client, server, 80)
    planned = [PlannedProbe(probe("demo/client", "demo/server", 80, src_ip=client,
                                  dst_ip=server), ALLOW)]  # fmt: skip
    report = validate_planned(
        planned,
        SocketExecutor(bind_source=True, socket_factory=netns.socket),
        probe_timeout=0.2,
        deadline=1.0,
        retry_interval=0.2,
    )
    check = report.checks[0]
    assert check.status == Status.MISMATCH and check.observed is Outcome.BLOCKED
    assert len(check.attempts) >= 2
    assert report.exit_code == 1
