"""Probing inside the lab's pods: agnhost ``connect`` run through ``kubectl exec``.

Two ways to run a batch, measured in ``benchmarks/validate_bench.py``:

- ``per-source`` (the default): one ``kubectl exec`` per source pod runs all that pod's connects
  at once in the pod's shell (the agnhost image is Alpine with ``sh`` and ``bash``), and the pods
  are probed concurrently. A batch costs about one exec start-up plus one probe timeout.
- ``pool``: one ``kubectl exec`` per probe on a worker pool, as upstream e2e does
  (test/e2e/network/netpol/probe.go). A batch costs about probes / workers x (exec + timeout).

Every line that comes back is classified by ``classify_agnhost``; anything unexpected (the pod
is gone, the shell is missing, a line is absent) is an ``error`` result, never ``blocked``.

Timings: in per-source mode each connect is timed inside the pod from ``/proc/uptime`` (the
kernel's boot-time clock, 10 ms resolution), since the exec's own time is every probe's at once.
The alternatives depend on how the image was built: busybox ``date +%N`` needs the build option
FEATURE_DATE_NANO (Alpine's busybox config has had it off), ``$EPOCHREALTIME`` depends on the
shell (bash 5 and recent busybox ash have it, dash does not). ``/proc/uptime`` is there in any
Linux pod whatever the shell. Where it cannot be read, the result says its time is the batch's
(``TIMING_BATCH``). In pool mode a probe's time is its whole exec's (``TIMING_EXEC``), which
includes the exec start-up.

DNS checks ride along in the same exec: agnhost ``connect NAME:443`` resolves the name first and
prints ``DNS: ...`` when it cannot (``classify_dns``). Resolution is not bounded by ``--timeout``
but by the pod's resolver (Go's defaults: 5 s per try, 2 tries), which ``exec_margin`` covers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from provisioning.errors import CommandError, choice_error
from provisioning.runner import Runner
from provisioning.validation.probe import (
    TIMING_BATCH,
    TIMING_EXEC,
    TIMING_PROBE,
    Outcome,
    Probe,
    ProbeResult,
    classify,
)

AGNHOST = "/agnhost"
SHELL = "/bin/sh"
MODES = ("per-source", "pool")
RESULT_TAG = "@@probe"
# What a DNS check dials once the name resolved: the kubernetes Service's port. The dial's fate
# does not matter (egress policies may well drop it); only whether resolution happened does.
DNS_DIAL_PORT = 443


# Runs each connect in the background and prints one tagged line per probe:
# `@@probe INDEX EXIT MILLIS MESSAGE`. Arguments come as positional parameters (timeout, then
# index/address/protocol triples) so nothing is quoted into the script. `set -f` keeps an unquoted
# message from globbing; the unquoted `$out` folds a multi-line message onto the tagged line; each
# echo is one short write, so lines do not mix. MILLIS is the connect's own time from
# /proc/uptime ("12345.67": seconds and exactly two decimals), subtracted in parts so no number
# has a leading zero (which sh would read as octal); "-" when /proc/uptime cannot be read.
def batch_script(agnhost: str = AGNHOST) -> str:
    return (
        "set -f; t=$1; shift; "
        "while [ $# -ge 3 ]; do "
        "( a=; b=; read -r a _ 2>/dev/null </proc/uptime; "
        f'out=$({agnhost} connect "$2" --timeout="$t" --protocol="$3" 2>&1); rc=$?; '
        "read -r b _ 2>/dev/null </proc/uptime; "
        'case "$a $b" in *.*" "*.*) '
        "ms=$(( ((${b%.*} - ${a%.*}) * 100 + 1${b#*.} - 1${a#*.}) * 10 ));; "
        "*) ms=-;; esac; "
        f'echo "{RESULT_TAG} $1 $rc $ms" $out ) & '
        "shift 3; done; wait"
    )


def go_duration(seconds: float) -> str:
    """A Go duration string agnhost's ``--timeout`` flag accepts: ``2s`` or ``1500ms``.

    Never ``0s``: agnhost reads a zero timeout as no timeout at all, so a probe that should time
    out would hang until the exec margin. Anything positive rounds to at least ``1ms``.
    """
    if not seconds > 0:
        raise ValueError(f"a probe timeout must be positive, not {seconds!r}")
    millis = max(1, round(seconds * 1000))
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def host_port(ip: str, port: int) -> str:
    """``ip:port``, bracketing IPv6 addresses the way Go's net.JoinHostPort does."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def connect_target(probe: Probe) -> tuple[str, str]:
    """agnhost ``connect``'s address and protocol for ``probe`` (a DNS check dials the name)."""
    if probe.is_dns:
        return host_port(probe.dns_name, DNS_DIAL_PORT), "tcp"
    return host_port(probe.destination.ip, probe.port), probe.protocol.lower()


@dataclass(frozen=True)
class KubectlExecutor:
    runner: Runner
    kubeconfig: Path
    mode: str = "per-source"
    workers: int = 8  # pool mode: concurrent single-probe execs, as upstream e2e uses a few
    source_workers: int = 32  # per-source mode: source pods probed at once (one exec each)
    exec_margin: float = 30.0  # extra seconds an exec may take beyond the probe timeout
    kubectl: str = "kubectl"
    agnhost: str = AGNHOST  # the binary's path inside the pod's image
    # The kubeconfig context to use (kubectl's global --context flag); None: its current-context.
    context: str | None = None

    def __post_init__(self) -> None:
        # A mistyped mode would otherwise run per-source silently.
        if self.mode not in MODES:
            raise choice_error("kubectl executor mode", self.mode, MODES)

    def run(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
        if not probes:
            return []
        if self.mode == "pool":
            jobs = [[p] for p in probes]
            run_job = self._single
        else:
            by_source: dict[str, list[Probe]] = {}
            for probe in probes:
                by_source.setdefault(probe.source.key, []).append(probe)
            jobs = list(by_source.values())
            run_job = self._batch
        limit = self.workers if self.mode == "pool" else self.source_workers
        # All sources at once where possible: a second wave would cost a second timeout.
        with ThreadPoolExecutor(max_workers=min(limit, len(jobs))) as pool:
            batches = pool.map(lambda job: run_job(job, timeout), jobs)
            return [result for batch in batches for result in batch]

    def exec_argv(self, probe: Probe, command: Sequence[str]) -> list[str]:
        src = probe.source
        argv = [self.kubectl, "--kubeconfig", str(self.kubeconfig)]
        if self.context:
            argv += ["--context", self.context]
        argv += ["exec", "-n", src.namespace, src.name]
        if src.container:
            argv += ["-c", src.container]
        return [*argv, "--", *command]

    def connect_argv(self, probe: Probe, timeout: float) -> list[str]:
        """The single-probe command, the one a user can paste to re-run a probe by hand."""
        target, protocol = connect_target(probe)
        command = [self.agnhost, "connect", target, f"--timeout={go_duration(timeout)}"]
        return self.exec_argv(probe, [*command, f"--protocol={protocol}"])

    def batch_argv(self, probes: Sequence[Probe], timeout: float) -> list[str]:
        args = [SHELL, "-c", batch_script(self.agnhost), "probe", go_duration(timeout)]
        for index, probe in enumerate(probes):
            args += [str(index), *connect_target(probe)]
        return self.exec_argv(probes[0], args)

    def _exec(self, argv: list[str], timeout: float) -> tuple[int, str] | str:
        """Run one exec; the failure message instead when this exec failed (it timed out).

        Only a ``CommandError`` is one probe's failure. Anything else (kubectl not installed,
        say) fails every probe alike and would fail every re-probe until the deadline, so it
        propagates at once.
        """
        try:
            result = self.runner.run(argv, check=False, timeout=timeout + self.exec_margin)
        except CommandError as exc:
            return str(exc)
        return result.returncode, result.output

    def _single(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
        (probe,) = probes
        start = time.monotonic()
        answer = self._exec(self.connect_argv(probe, timeout), timeout)
        seconds = time.monotonic() - start
        if isinstance(answer, str):
            return [ProbeResult(probe, Outcome.ERROR, answer, seconds, TIMING_EXEC)]
        outcome, detail = classify(probe, *answer)
        return [ProbeResult(probe, outcome, detail, seconds, TIMING_EXEC)]

    def _batch(self, probes: Sequence[Probe], timeout: float) -> list[ProbeResult]:
        start = time.monotonic()
        answer = self._exec(self.batch_argv(probes, timeout), timeout)
        seconds = time.monotonic() - start
        if isinstance(answer, str):
            return [ProbeResult(p, Outcome.ERROR, answer, seconds, TIMING_BATCH) for p in probes]
        returncode, output = answer
        lines = parse_batch_output(output)
        results = []
        for index, probe in enumerate(probes):
            if index in lines:
                line = lines[index]
                outcome, detail = classify(probe, line.code, line.message)
                if line.seconds is not None:
                    results.append(ProbeResult(probe, outcome, detail, line.seconds, TIMING_PROBE))
                    continue
            else:
                # No tagged line: the exec failed as a whole (pod gone, no shell); say why.
                tail = output.strip().splitlines()[-1:] or [f"exit {returncode}, no output"]
                outcome, detail = Outcome.ERROR, f"no result from the pod: {tail[0]}"
            results.append(ProbeResult(probe, outcome, detail, seconds, TIMING_BATCH))
        return results


@dataclass(frozen=True)
class BatchLine:
    """One probe's tagged line: agnhost's exit code and message, and its time in the pod."""

    code: int
    message: str
    seconds: float | None  # None: the pod could not time it (no /proc/uptime)


def parse_batch_output(output: str) -> dict[int, BatchLine]:
    """``{index: BatchLine}`` from the tagged lines of a batch; other lines are ignored."""
    found: dict[int, BatchLine] = {}
    for line in output.splitlines():
        parts = line.strip().split(" ", 4)
        if len(parts) < 4 or parts[0] != RESULT_TAG:
            continue
        try:
            index, code = int(parts[1]), int(parts[2])
            seconds = None if parts[3] == "-" else int(parts[3]) / 1000
        except ValueError:
            continue
        found[index] = BatchLine(code, parts[4] if len(parts) > 4 else "", seconds)
    return found
