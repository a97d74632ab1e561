"""Validation: probe every planned connection, compare with the expected verdict, re-probe lag.

The core (``validate``) is pure apart from the executor it is given and an injectable clock and
sleep: it runs all probes at once, then re-probes only the ones that disagree with their
expectation about once a second until they agree or the deadline passes, because enforcement lags
pod start and policy changes (upstream e2e does the same: retry every 1 s until it matches).

Traffic from a pod to itself is probed and reported, but implementations differ there (upstream
e2e ignores it), so by default it neither fails validation nor is re-probed.

DNS checks (``Probe.is_dns``, planned when the lab has egress policies) go through the same
rounds and re-probing as connections; the report keeps them apart (``ValidationReport.dns``).

``run_validation`` is the entry point for ``invoke validate``: it reads the live lab through the
Kubernetes seam, asks the analyzer what to expect, probes with ``kubectl exec`` and returns a
``ValidationReport``; ``provisioning.report.render`` turns that into table/json/junit/html.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provisioning.errors import UsageError

# Expectation and LeftOut live in ``model``, shared with ``live`` without an import cycle;
# ``from provisioning.validation.validate import Expectation, LeftOut`` keeps working.
from provisioning.validation.model import Expectation, LeftOut
from provisioning.validation.probe import TIMING_PROBE, Executor, Outcome, Probe, ProbeResult
from provisioning.workload.demo import physical_ref

if TYPE_CHECKING:
    from provisioning.runner import Runner
    from provisioning.spec import LabSpec

EXIT_OK = 0
EXIT_MISMATCH = 1


NOTHING_PROBED = "no probe was made, so nothing was validated"


@dataclass(frozen=True)
class PlannedProbe:
    probe: Probe
    expected: Expectation


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    detail: str
    started: float  # seconds since validation began
    seconds: float  # how long the attempt took
    timing: str = (
        TIMING_PROBE  # what ``seconds`` covers (``provisioning.validation.probe`` TIMING_*)
    )


class Status:
    MATCH = "match"
    MISMATCH = "mismatch"
    ERROR = "error"  # the probe never ran successfully: tells nothing, so it fails validation


@dataclass(frozen=True)
class ProbeCheck:
    """One probe's whole story: expectation, every attempt, and the final verdict."""

    probe: Probe
    expected: Expectation
    attempts: tuple[Attempt, ...]
    matched_at: float | None  # seconds since start when it first agreed; None if never

    @property
    def observed(self) -> Outcome:
        return self.attempts[-1].outcome

    @property
    def detail(self) -> str:
        return self.attempts[-1].detail

    @property
    def status(self) -> str:
        if self.matched_at is not None:
            return Status.MATCH
        return Status.ERROR if self.observed is Outcome.ERROR else Status.MISMATCH

    @property
    def loopback(self) -> bool:
        return self.probe.loopback


@dataclass(frozen=True)
class StatedExpectation:
    """A scenario's own claim: ``{from: demo/client, to: demo/server, port: 80, expect: allow}``.

    Scenarios name pods logically (``demo/client``); ``physical`` gives the names the live lab
    has when its namespaces carry a suffix (``demo-mylab/client``).
    """

    source: str
    destination: str
    port: int | str
    protocol: str
    allowed: bool

    @classmethod
    def coerce(cls, item: Any) -> StatedExpectation:
        """From a scenario's ``Expectation`` (source, target, port, protocol, allowed) or a dict."""
        if isinstance(item, StatedExpectation):
            return item
        if isinstance(item, Mapping):
            return cls.from_dict(item)
        return cls(
            str(item.source), str(item.target), item.port, str(item.protocol).upper(), item.allowed
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "scenario") -> StatedExpectation:
        try:
            expect = str(data["expect"]).lower()
            if expect not in ("allow", "deny"):
                raise ValueError(f"expect must be allow or deny, not {data['expect']!r}")
            port = data["port"]
            return cls(
                source=str(data["from"]),
                destination=str(data["to"]),
                port=int(port) if str(port).isdigit() else str(port),
                protocol=str(data.get("protocol", "TCP")).upper(),
                allowed=expect == "allow",
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise UsageError(f"bad stated expectation {dict(data)!r} in {where}: {exc}") from exc

    def physical(self, suffix: str) -> StatedExpectation:
        """The same claim about the pods as the cluster names them (``LabSpec.namespace_suffix``
        appended to the lab's namespaces); itself when there is no suffix."""
        if not suffix:
            return self
        return dataclasses.replace(
            self,
            source=physical_ref(self.source, suffix),
            destination=physical_ref(self.destination, suffix),
        )

    @property
    def text(self) -> str:
        verdict = "allow" if self.allowed else "deny"
        return f"{self.source} -> {self.destination}:{self.port}/{self.protocol} {verdict}"


@dataclass(frozen=True)
class StatedCheck:
    stated: StatedExpectation
    analyzer: Expectation | None  # None: the lab has no such probe
    missing: str = ""  # why there is no such probe, when known ("demo/server was not probed: ...")

    @property
    def agrees(self) -> bool:
        return self.analyzer is not None and self.analyzer.allowed == self.stated.allowed

    @property
    def message(self) -> str:
        if self.analyzer is None:
            return f"stated {self.stated.text}: {self.missing or 'no such probe in this lab'}"
        if self.agrees:
            return f"stated {self.stated.text}: the analyzer agrees"
        return (
            f"stated {self.stated.text}, but the policies say {self.analyzer.verdict}: "
            f"{self.analyzer.explanation}"
        )


@dataclass(frozen=True)
class ValidationReport:
    checks: tuple[ProbeCheck, ...]
    stated: tuple[StatedCheck, ...] = ()
    lab: str = ""
    engine: str = ""
    scenario: str = ""
    probe_timeout: float = 2.0
    deadline: float = 60.0
    elapsed: float = 0.0
    rounds: int = 0
    fail_on_loopback: bool = False
    notes: tuple[str, ...] = field(default=())  # e.g. pods that are destinations only
    dns: tuple[ProbeCheck, ...] = ()  # one DNS check per client when the lab has egress rules
    left_out: tuple[LeftOut, ...] = ()  # lab pods not in the probe plan: each fails validation

    def counts(self, check: ProbeCheck) -> bool:
        """Whether this probe can fail validation."""
        return self.fail_on_loopback or not check.loopback

    @property
    def all_checks(self) -> tuple[ProbeCheck, ...]:
        """Connections, then DNS checks."""
        return self.checks + self.dns

    @property
    def failures(self) -> tuple[ProbeCheck, ...]:
        return tuple(c for c in self.all_checks if c.status != Status.MATCH and self.counts(c))

    @property
    def loopback_mismatches(self) -> tuple[ProbeCheck, ...]:
        return tuple(c for c in self.checks if c.status != Status.MATCH and not self.counts(c))

    @property
    def problems(self) -> tuple[str, ...]:
        """What fails validation besides probes: pods left out, or nothing probed at all."""
        found = [lo.message for lo in self.left_out]
        if not self.all_checks:
            found.append(NOTHING_PROBED)
        return tuple(found)

    @property
    def stated_disagreements(self) -> tuple[StatedCheck, ...]:
        return tuple(s for s in self.stated if not s.agrees)

    @property
    def converged_after(self) -> float | None:
        """Seconds until the last counted probe agreed; None when some never did."""
        if self.failures:
            return None
        times = [
            c.matched_at for c in self.all_checks if self.counts(c) and c.matched_at is not None
        ]
        return max(times, default=0.0)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.stated_disagreements and not self.problems

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_MISMATCH


def exit_code(report: ValidationReport) -> int:
    """0 when everything matches; 1 on any mismatch, probe error, stated disagreement, pod left
    out of the probe plan, or when nothing was probed."""
    return report.exit_code


def matches(expected: Expectation, outcome: Outcome) -> bool:
    """A probe agrees when the network did what the analyzer said; an error agrees with nothing."""
    return outcome.allowed is not None and outcome.allowed == expected.allowed


def validate(
    planned: Sequence[PlannedProbe],
    executor: Executor,
    *,
    probe_timeout: float = 2.0,
    deadline: float = 60.0,
    retry_interval: float = 1.0,
    fail_on_loopback: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[tuple[ProbeCheck, ...], float, int]:
    """Probe everything, re-probe disagreements until they agree or ``deadline`` passes.

    Returns the checks (in planned order), the elapsed seconds and the number of rounds.
    """
    start = clock()
    attempts: dict[int, list[Attempt]] = {i: [] for i in range(len(planned))}
    matched_at: dict[int, float] = {}
    pending = list(range(len(planned)))
    rounds = 0
    while pending:
        rounds += 1
        round_start = clock()
        results = _run_round(executor, [planned[i].probe for i in pending], probe_timeout)
        now = clock() - start
        for index, result in zip(pending, results, strict=True):
            attempts[index].append(
                Attempt(
                    result.outcome,
                    result.detail,
                    round_start - start,
                    result.seconds,
                    result.timing,
                )
            )
            if matches(planned[index].expected, result.outcome):
                matched_at[index] = now
        pending = [
            i
            for i in pending
            if i not in matched_at and (fail_on_loopback or not planned[i].probe.loopback)
        ]
        # The next round starts retry_interval after this one started, not after it ended: a
        # round of timeouts already waited that long.
        wait = max(0.0, round_start + retry_interval - clock())
        if not pending or clock() + wait - start >= deadline:
            break
        if wait:
            sleep(wait)
    checks = tuple(
        ProbeCheck(p.probe, p.expected, tuple(attempts[i]), matched_at.get(i))
        for i, p in enumerate(planned)
    )
    return checks, clock() - start, rounds


def _run_round(executor: Executor, probes: list[Probe], timeout: float) -> list[ProbeResult]:
    """Run one batch and put the results back in probe order, whatever order they came in."""
    results = executor.run(probes, timeout)
    by_probe: dict[Probe, list[ProbeResult]] = {}
    for result in results:
        by_probe.setdefault(result.probe, []).append(result)
    ordered = []
    for probe in probes:
        found = by_probe.get(probe)
        if found:
            ordered.append(found.pop(0))
        else:
            ordered.append(ProbeResult(probe, Outcome.ERROR, "the executor returned no result"))
    return ordered


def check_stated(
    stated: Sequence[StatedExpectation],
    planned: Sequence[PlannedProbe],
    *,
    left_out: Sequence[LeftOut] = (),
    not_sources: Sequence[str] = (),
) -> tuple[StatedCheck, ...]:
    """Compare each stated expectation with the analyzer's verdict for the same probe.

    When there is no such probe, say why if the lab knows: a pod was left out of the plan, or
    the source has no agnhost container to probe from (``not_sources``).
    """
    index: dict[tuple[str, str, str, str], Expectation] = {}
    for p in planned:
        probe = p.probe
        for port in (str(probe.port), probe.port_name):
            if port:
                key = (probe.source.key, probe.destination.key, port, probe.protocol.upper())
                index[key] = p.expected
    why = {lo.pod: lo.message for lo in left_out}
    for pod in not_sources:
        why.setdefault(pod, f"{pod} is not a probe source (no agnhost container)")
    checks = []
    for s in stated:
        found = index.get((s.source, s.destination, str(s.port), s.protocol))
        missing = ""
        if found is None:
            reasons = [why[s.source]] if s.source in why else []
            if s.destination in why and s.destination not in not_sources:
                reasons.append(why[s.destination])
            missing = "; ".join(reasons)
        checks.append(StatedCheck(s, found, missing))
    return tuple(checks)


def validate_planned(
    planned: Sequence[PlannedProbe],
    executor: Executor,
    *,
    stated_expectations: Sequence[Any] = (),
    namespace_suffix: str = "",
    lab: str = "",
    engine: str = "",
    scenario: str = "",
    probe_timeout: float = 2.0,
    deadline: float = 60.0,
    retry_interval: float = 1.0,
    fail_on_loopback: bool = False,
    notes: Sequence[str] = (),
    left_out: Sequence[LeftOut] = (),
    not_sources: Sequence[str] = (),
    policy_reading: Sequence[PlannedProbe] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ValidationReport:
    """``validate`` plus the stated expectations, packed into a report.

    ``planned`` may mix connections and DNS checks: they share rounds (one exec per source pod
    covers both) and the report separates them. Stated expectations describe what the policies
    say, so they are compared with ``policy_reading`` (the analyzer's reference reading) when
    given, else with ``planned``: on engine ``none`` the policies still say deny although
    nothing enforces them. ``left_out`` (pods not in the plan) fail the report and explain a
    stated expectation without a probe, as ``not_sources`` (pods without agnhost) do.

    Stated expectations name pods logically (``demo/client``) while probes carry the live names;
    ``namespace_suffix`` (``LabSpec.namespace_suffix``) maps the former onto the latter, and the
    report shows the live names.
    """
    stated = [StatedExpectation.coerce(s).physical(namespace_suffix) for s in stated_expectations]
    checks, elapsed, rounds = validate(
        planned,
        executor,
        probe_timeout=probe_timeout,
        deadline=deadline,
        retry_interval=retry_interval,
        fail_on_loopback=fail_on_loopback,
        clock=clock,
        sleep=sleep,
    )
    return ValidationReport(
        checks=tuple(c for c in checks if not c.probe.is_dns),
        dns=tuple(c for c in checks if c.probe.is_dns),
        stated=check_stated(
            stated,
            [p for p in (policy_reading or planned) if not p.probe.is_dns],
            left_out=left_out,
            not_sources=not_sources,
        ),
        lab=lab,
        engine=engine,
        scenario=scenario,
        probe_timeout=probe_timeout,
        deadline=deadline,
        elapsed=elapsed,
        rounds=rounds,
        fail_on_loopback=fail_on_loopback,
        notes=tuple(notes),
        left_out=tuple(left_out),
    )


# agnhost takes its timeout in milliseconds or coarser; below this a probe measures the exec's
# start-up, not the network, and agnhost's 0 would mean no timeout at all.
MIN_PROBE_TIMEOUT = 0.1


def check_timings(probe_timeout: float, deadline: float) -> None:
    """``UsageError`` for a probe timeout under 100ms or a negative deadline, before any probe."""
    if not probe_timeout >= MIN_PROBE_TIMEOUT:
        raise UsageError(
            f"--probe-timeout must be at least 100ms, got {probe_timeout * 1000:g}ms "
            "(agnhost would round a shorter one to 0s, which means no timeout)"
        )
    if deadline < 0:
        raise UsageError(f"--deadline must not be negative, got {deadline:g}s")


def run_validation(
    kube: Any,
    runner: Runner,
    spec: LabSpec,
    *,
    executor: Executor | None = None,
    probe_timeout: float = 2.0,
    deadline: float = 60.0,
    stated_expectations: Sequence[Any] = (),
    fail_on_loopback: bool = False,
    expect: Callable[..., Sequence[Expectation]] | None = None,
    expect_dns: Callable[..., Sequence[Expectation]] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ValidationReport:
    """Validate the live lab ``spec`` describes: the single entry point ``invoke validate`` calls.

    ``kube`` is a ``provisioning.kube.KubeApi`` for the lab's cluster; ``runner`` runs kubectl
    (``executor`` replaces the kubectl executor, for tests); ``expect`` replaces the analyzer
    (``live.analyzer_expectations``) and ``expect_dns`` the DNS verdicts
    (``live.dns_expectations``). When any policy has the Egress type, each source pod also
    checks that it can resolve the cluster's names. Raises ``OperationError`` when there is no
    lab; a lab pod that cannot be probed (or nothing to probe at all) is a failing report.

    The live lab is found by the tool's labels, so probes carry the namespaces' real names;
    ``stated_expectations`` (written ``demo/client``) are mapped onto them with
    ``spec.namespace_suffix``. The default executor runs kubectl with ``spec.kubeconfig`` and
    ``spec.kube_context``.
    """
    from provisioning.validation import live
    from provisioning.validation.probe_kubectl import KubectlExecutor

    check_timings(probe_timeout, deadline)
    observed = live.observe(kube, spec)
    probes = live.plan_probes(observed)
    expectations = (expect or live.analyzer_expectations)(observed, probes, spec.engine)
    planned = [PlannedProbe(p, e) for p, e in zip(probes, expectations, strict=True)]
    reading = None
    if stated_expectations and spec.engine != "reference":
        as_written = (expect or live.analyzer_expectations)(observed, probes, "reference")
        reading = [PlannedProbe(p, e) for p, e in zip(probes, as_written, strict=True)]
    dns_probes = live.plan_dns_probes(observed)
    dns_expected = (expect_dns or live.dns_expectations)(observed, dns_probes, spec.engine)
    planned += [PlannedProbe(p, e) for p, e in zip(dns_probes, dns_expected, strict=True)]
    return validate_planned(
        planned,
        executor or KubectlExecutor(runner, spec.kubeconfig, context=spec.kube_context),
        stated_expectations=stated_expectations,
        namespace_suffix=spec.namespace_suffix,
        lab=spec.name,
        engine=spec.engine,
        scenario=spec.scenario,
        probe_timeout=probe_timeout,
        deadline=deadline,
        fail_on_loopback=fail_on_loopback,
        notes=(*observed.notes, *live.left_out_notes(observed, spec.engine)),
        left_out=observed.left_out,
        not_sources=observed.not_sources,
        policy_reading=reading,
        clock=clock,
        sleep=sleep,
    )
