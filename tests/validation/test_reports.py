"""The four report formats, from one report built from real probe outcomes' shapes."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from provisioning.errors import UsageError
from provisioning.report import render
from provisioning.validation.probe import Outcome
from provisioning.validation.validate import (
    Attempt,
    Expectation,
    PlannedProbe,
    ProbeCheck,
    StatedCheck,
    StatedExpectation,
    ValidationReport,
    check_stated,
)
from tests.validation.conftest import probe
from tests.validation.png import pixels

WHY_DENY = (
    "expected deny: demo/server is isolated for ingress by demo/demo-policy and no ingress rule "
    "admits other/client on TCP/80"
)


def _check(src: str, port: int, allowed: bool, *outcomes: Outcome, why: str = "") -> ProbeCheck:
    p = probe(src, "demo/server", port)
    attempts = tuple(Attempt(o, o.value.upper(), i * 1.0, 0.5) for i, o in enumerate(outcomes))
    last_ok = outcomes[-1].allowed == allowed
    return ProbeCheck(
        p, Expectation(allowed, why), attempts, len(outcomes) * 1.0 if last_ok else None
    )


def sample_report() -> ValidationReport:
    checks = (
        _check("demo/client", 80, True, Outcome.CONNECTED),
        _check("demo/intruder", 80, False, Outcome.CONNECTED, Outcome.BLOCKED),
        _check("other/client", 80, False, Outcome.CONNECTED, Outcome.CONNECTED, why=WHY_DENY),
        _check("demo/server", 80, False, Outcome.CONNECTED),  # loopback
        _check("demo/client", 8080, True, Outcome.REFUSED),
        _check("demo/intruder", 8080, False, Outcome.ERROR),
    )
    stated = (
        StatedCheck(StatedExpectation("demo/client", "demo/server", 80, "TCP", True),
                    Expectation(True, "")),
        StatedCheck(StatedExpectation("other/client", "demo/server", 80, "TCP", True),
                    Expectation(False, WHY_DENY)),
    )  # fmt: skip
    return ValidationReport(checks, stated, lab="lab1", engine="calico", scenario="aks-demo",
                            elapsed=4.2, rounds=3)  # fmt: skip


def test_table_shows_both_tables_and_every_difference_with_its_reason() -> None:
    text = render(sample_report(), "table")
    assert text.startswith("FAIL lab lab1 (engine calico, scenario aks-demo): 3/5 probes")
    assert "port 80/TCP: expected" in text and "port 80/TCP: observed" in text
    assert "✗ other/client -> demo/server:80/TCP: expected deny, observed connected" in text
    assert WHY_DENY in text
    assert "[loopback: reported, not counted]" in text
    assert "observed probe error" in text
    assert "demo/intruder -> demo/server:80/TCP: deny after 2 attempts" in text
    assert "the policies say deny" in text


def test_json_has_every_probe_with_attempts_and_timings() -> None:
    doc = json.loads(render(sample_report(), "json"))
    assert doc["ok"] is False and doc["exit_code"] == 1
    assert doc["summary"] == {
        "probes": 6, "counted": 5, "matched": 3, "mismatched": 1, "errors": 1,
        "loopback_ignored": 1, "stated_disagreements": 1, "dns_checks": 0, "dns_matched": 0,
        "dns_mismatched": 0, "dns_errors": 0, "left_out": 0,
    }  # fmt: skip
    assert doc["dns"] == [] and doc["left_out"] == [] and doc["problems"] == []
    refused = doc["probes"][4]
    assert (refused["outcome"], refused["observed"], refused["status"]) == (
        "refused", "allow", "match",
    )  # fmt: skip
    lag = doc["probes"][1]
    assert [a["outcome"] for a in lag["attempts"]] == ["connected", "blocked"]
    assert lag["matched_at"] == 2.0


def test_junit_has_one_case_per_probe_and_failures_carry_the_explanation() -> None:
    root = ET.fromstring(render(sample_report(), "junit"))
    probes, stated = root.findall("testsuite")
    assert (probes.get("tests"), probes.get("failures"), probes.get("errors"),
            probes.get("skipped")) == ("6", "1", "1", "1")  # fmt: skip
    failure = probes.find("testcase/failure")
    assert failure is not None and WHY_DENY in failure.get("message", "")
    assert stated.get("failures") == "1"


def test_json_and_junit_say_what_a_probes_time_covers() -> None:
    p = probe("demo/client", "demo/server", 80)
    attempts = (
        Attempt(Outcome.BLOCKED, "TIMEOUT", 0.0, 1.01, "batch"),
        Attempt(Outcome.CONNECTED, "", 1.0, 0.02, "probe"),
    )
    report = ValidationReport((ProbeCheck(p, Expectation(True), attempts, 1.1),), lab="lab1")
    doc = json.loads(render(report, "json"))
    assert [a["timing"] for a in doc["probes"][0]["attempts"]] == ["batch", "probe"]
    case = ET.fromstring(render(report, "junit")).find("testsuite/testcase")
    assert case is not None and case.get("time") == "1.030"
    out = case.findtext("system-out") or ""
    assert "the whole kubectl exec this probe shared with its pod's other probes" in out


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="choose one of: html, json, junit, table"):
        render(sample_report(), "yaml")


def test_stated_expectations_match_numbers_and_port_names() -> None:
    p = probe("demo/client", "demo/server", 80)
    p = type(p)(p.source, p.destination, 80, "TCP", "main")
    planned = [PlannedProbe(p, Expectation(True))]
    stated = [StatedExpectation("demo/client", "demo/server", "main", "TCP", True)]
    assert check_stated(stated, planned)[0].agrees


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html: str, out: Path, size: str = "1200,900") -> None:
    browser = _chromium()
    assert browser
    page = out.with_suffix(".html")
    page.write_text(html, encoding="utf-8")
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={out.parent / 'prof'}",
         "--hide-scrollbars", f"--window-size={size}", f"--screenshot={out}", page.as_uri()],
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip


@pytest.mark.skipif(
    _chromium() is None, reason="chromium is not installed (apt-get install chromium)"
)
def test_the_picture_renders_green_red_and_marks_mismatches(tmp_path: Path) -> None:
    html = render(sample_report(), "html")
    assert "≠ expected deny" in html and "loopback, not counted" in html
    shot = tmp_path / "matrix.png"
    screenshot(html, shot)
    width, height, px = pixels(shot.read_bytes())
    assert (width, height) == (1200, 900)

    def near(color: tuple[int, int, int]) -> int:
        return sum(1 for p in px if all(abs(a - b) <= 6 for a, b in zip(p, color, strict=True)))

    # The browser really painted allowed (green) and blocked (red) cells, and a dark dashed
    # outline for mismatches; a blank or broken page has none of them.
    assert near((0x2E, 0x9E, 0x4F)) > 2000
    assert near((0xD9, 0x36, 0x36)) > 2000
    assert near((0x11, 0x11, 0x11)) > 500
