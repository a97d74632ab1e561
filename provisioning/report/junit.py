"""The JUnit XML report: one test case per probe, for CI systems (stdlib ``xml.etree`` only).

A mismatch is a ``failure`` carrying the analyzer's explanation, a probe that could not run is an
``error``, and a loopback difference (which does not count) is ``skipped`` with the reason.
Stated expectations form a second suite, so a CI run shows where lab text and policies disagree;
DNS checks (when the lab has egress policies) a third, one test case per client. A ``coverage``
suite fails once per lab pod left out of the probe plan, and once when nothing was probed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from provisioning.report.matrix import cell_state, observed_word
from provisioning.validation.probe import TIMING_BATCH, TIMING_EXEC
from provisioning.validation.validate import NOTHING_PROBED, ProbeCheck, ValidationReport


def render_junit(report: ValidationReport) -> str:
    root = ET.Element("testsuites", name=f"netpol-lab validate {report.lab}".strip())
    suite = ET.SubElement(root, "testsuite", name=f"probes ({report.engine or 'engine?'})")
    failures = errors = skipped = 0
    for check in report.checks:
        probe = check.probe
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{report.lab or 'lab'}.{probe.source.key}",
            name=f"{probe.source.key} -> {probe.destination.key}:{probe.port}/{probe.protocol}"
            f" expect {check.expected.verdict}",
            time=f"{sum(a.seconds for a in check.attempts):.3f}",
        )
        state = cell_state(report, check)
        text = (
            f"expected {check.expected.verdict}, observed {observed_word(check.observed)}"
            f" after {len(check.attempts)} attempt(s). {check.expected.explanation}".strip()
        )
        if state == "mismatch":
            failures += 1
            ET.SubElement(case, "failure", message=text, type="mismatch").text = check.detail
        elif state == "error":
            errors += 1
            ET.SubElement(
                case, "error", message=f"probe could not run: {check.detail}", type="probe-error"
            ).text = text
        elif state == "ignored":
            skipped += 1
            ET.SubElement(case, "skipped", message=f"loopback traffic, not counted: {text}")
        ET.SubElement(case, "system-out").text = _attempts_text(check)
    suite.set("tests", str(len(report.checks)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{report.elapsed:.3f}")
    if report.stated:
        stated = ET.SubElement(root, "testsuite", name="stated expectations")
        bad = 0
        for s in report.stated:
            case = ET.SubElement(
                stated,
                "testcase",
                classname=f"{report.lab or 'lab'}.stated",
                name=s.stated.text,
                time="0",
            )
            if not s.agrees:
                bad += 1
                ET.SubElement(case, "failure", message=s.message, type="stated-disagreement")
        stated.set("tests", str(len(report.stated)))
        stated.set("failures", str(bad))
        stated.set("errors", "0")
    if report.dns:
        _dns_suite(root, report)
    if report.problems:
        _coverage_suite(root, report)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# A test case's time is the sum of its attempts' times; where those are not the connect's own,
# the case says what they are instead.
_TIMING_NOTE = {
    TIMING_EXEC: "time: each attempt's whole kubectl exec, start-up included",
    TIMING_BATCH: "time: the whole kubectl exec this probe shared with its pod's other probes",
}


def _attempts_text(check: ProbeCheck) -> str:
    lines = [f"attempts: {', '.join(a.outcome.value for a in check.attempts)}"]
    timings = dict.fromkeys(a.timing for a in check.attempts)
    lines += [_TIMING_NOTE[t] for t in timings if t in _TIMING_NOTE]
    return "\n".join(lines)


def _coverage_suite(root: ET.Element, report: ValidationReport) -> None:
    """One failing case per lab pod left out of the plan, and one when nothing was probed."""
    suite = ET.SubElement(root, "testsuite", name="coverage")
    for lo in report.left_out:
        case = ET.SubElement(
            suite, "testcase", classname=f"{report.lab or 'lab'}.coverage", name=f"{lo.pod} probed"
        )
        ET.SubElement(case, "failure", message=lo.message, type="not-probed")
    if not report.all_checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{report.lab or 'lab'}.coverage",
            name="at least one probe made",
        )
        ET.SubElement(case, "failure", message=NOTHING_PROBED, type="nothing-probed")
    suite.set("tests", str(len(report.problems)))
    suite.set("failures", str(len(report.problems)))
    suite.set("errors", "0")
    suite.set("skipped", "0")


def _dns_suite(root: ET.Element, report: ValidationReport) -> None:
    suite = ET.SubElement(root, "testsuite", name="DNS")
    failures = errors = 0
    for check in report.dns:
        probe = check.probe
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{report.lab or 'lab'}.dns",
            name=f"{probe.source.key} resolves {probe.dns_name} expect "
            f"{check.expected.dns_verdict}",
            time=f"{sum(a.seconds for a in check.attempts):.3f}",
        )
        text = (
            f"expected {check.expected.dns_verdict}, observed {observed_word(check.observed)}"
            f" after {len(check.attempts)} attempt(s). {check.expected.explanation}".strip()
        )
        if check.status == "mismatch":
            failures += 1
            ET.SubElement(case, "failure", message=text, type="dns-mismatch").text = check.detail
        elif check.status == "error":
            errors += 1
            message = f"DNS check could not run: {check.detail}"
            ET.SubElement(case, "error", message=message, type="probe-error").text = text
        ET.SubElement(case, "system-out").text = _attempts_text(check)
    suite.set("tests", str(len(report.dns)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
