"""The JSON report: every probe with expected, observed, outcome, attempts and timings.

DNS checks (present when the lab has egress policies) are listed under ``dns``, one per client,
with ``expected``/``observed`` in their own words: ``resolve`` or ``fail``. ``left_out`` names
each lab pod that was not probed and why; ``problems`` lists those and a run that probed nothing,
each of which fails validation.
"""

from __future__ import annotations

import json
from typing import Any

from provisioning.validation.validate import ProbeCheck, ValidationReport


def _verdict(allowed: bool | None) -> str | None:
    return None if allowed is None else ("allow" if allowed else "deny")


def probe_document(report: ValidationReport, check: ProbeCheck) -> dict[str, Any]:
    probe = check.probe
    return {
        "from": probe.source.key,
        "to": probe.destination.key,
        "to_ip": probe.destination.ip,
        "port": probe.port,
        "port_name": probe.port_name or None,
        "protocol": probe.protocol,
        "loopback": probe.loopback,
        "counted": report.counts(check),
        "expected": check.expected.verdict,
        "explanation": check.expected.explanation,
        "observed": _verdict(check.observed.allowed),
        "outcome": check.observed.value,
        "detail": check.detail,
        "status": check.status,
        "matched_at": _round(check.matched_at),
        "attempts": _attempts(check),
    }


def dns_document(check: ProbeCheck) -> dict[str, Any]:
    probe, allowed = check.probe, check.observed.allowed
    return {
        "from": probe.source.key,
        "name": probe.dns_name,
        "needs": f"{probe.protocol}/{probe.port} to {probe.destination.key}",
        "expected": check.expected.dns_verdict,
        "explanation": check.expected.explanation,
        "observed": None if allowed is None else ("resolve" if allowed else "fail"),
        "outcome": check.observed.value,
        "detail": check.detail,
        "status": check.status,
        "matched_at": _round(check.matched_at),
        "attempts": _attempts(check),
    }


def _attempts(check: ProbeCheck) -> list[dict[str, Any]]:
    return [
        {
            "outcome": a.outcome.value,
            "detail": a.detail,
            "started": _round(a.started),
            "seconds": _round(a.seconds),
            # probe: this connect alone; exec: its own kubectl exec, start-up included;
            # batch: the whole exec it shared with the source's other probes.
            "timing": a.timing,
        }
        for a in check.attempts
    ]


def report_document(report: ValidationReport) -> dict[str, Any]:
    counted = [c for c in report.checks if report.counts(c)]
    return {
        "lab": report.lab,
        "engine": report.engine,
        "scenario": report.scenario,
        "ok": report.ok,
        "exit_code": report.exit_code,
        "probe_timeout": report.probe_timeout,
        "deadline": report.deadline,
        "elapsed": _round(report.elapsed),
        "rounds": report.rounds,
        "converged_after": _round(report.converged_after),
        "summary": {
            "probes": len(report.checks),
            "counted": len(counted),
            "matched": sum(1 for c in counted if c.status == "match"),
            "mismatched": sum(1 for c in counted if c.status == "mismatch"),
            "errors": sum(1 for c in counted if c.status == "error"),
            "loopback_ignored": len(report.loopback_mismatches),
            "stated_disagreements": len(report.stated_disagreements),
            "dns_checks": len(report.dns),
            "dns_matched": sum(1 for c in report.dns if c.status == "match"),
            "dns_mismatched": sum(1 for c in report.dns if c.status == "mismatch"),
            "dns_errors": sum(1 for c in report.dns if c.status == "error"),
            "left_out": len(report.left_out),
        },
        # What fails validation besides probes: pods not probed (and why), or nothing probed.
        "problems": list(report.problems),
        "left_out": [
            {"pod": lo.pod, "reason": lo.reason, "message": lo.message} for lo in report.left_out
        ],
        "probes": [probe_document(report, c) for c in report.checks],
        "dns": [dns_document(c) for c in report.dns],
        "stated": [
            {
                "from": s.stated.source,
                "to": s.stated.destination,
                "port": s.stated.port,
                "protocol": s.stated.protocol,
                "expect": "allow" if s.stated.allowed else "deny",
                "analyzer": s.analyzer.verdict if s.analyzer else None,
                "agrees": s.agrees,
                "message": s.message,
            }
            for s in report.stated
        ],
        "notes": list(report.notes),
    }


def render_json(report: ValidationReport) -> str:
    return json.dumps(report_document(report), indent=2) + "\n"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
