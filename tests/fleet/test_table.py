"""The fleet's progress: a row per attendee, live on a terminal, one line each in a log."""

from __future__ import annotations

import io
import re
import time

import pytest

from provisioning.fleet.table import FleetTable, RowProgress, Stopped


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def clock() -> list[float]:
    return [100.0]


def test_in_a_log_each_attendee_is_one_line_when_it_finishes() -> None:
    now = clock()
    out = io.StringIO()
    table = FleetTable(
        out,
        [("a", "Alice (ws-a)"), ("b", "Bob (ws-b)")],
        title="Fleet ws",
        live=False,
        clock=lambda: now[0],
    )
    with table:
        table.begin("a")
        table.begin("b")
        now[0] += 12.34
        table.finish("a", True, "validated")
        now[0] += 1
        table.finish("b", False, "apply Namespace/demo-ws-b: HTTP 500")
    assert out.getvalue().splitlines() == [
        "✓ Alice (ws-a): validated (12.3s)",
        "✗ Bob (ws-b): apply Namespace/demo-ws-b: HTTP 500 (13.3s)",
    ]
    assert table.counts() == {"done": 1, "failed": 1, "running": 0, "waiting": 0}


def test_the_live_view_shows_the_summary_and_who_is_running_or_failed() -> None:
    now = clock()
    rows = [(f"att{i:02d}", f"att{i:02d}") for i in range(1, 8)]
    table = FleetTable(Tty(), rows, title="Fleet ws", clock=lambda: now[0])
    assert table.live  # a terminal, and CI unset by the autouse fixture below
    table.begin("att01")
    table.step("att01", "Wait for 4 demo pods to be Ready")
    table.begin("att02")
    table.finish("att02", False, "boom")
    table.begin("att03")
    table.finish("att03", True, "validated")
    now[0] += 5
    lines = table.lines(height=40)
    assert lines[0] == "Fleet ws: 1 ✓, 1 ✗, 1 running, 4 waiting (5s)"
    assert re.match(r"  … att01 +5s  Wait for 4 demo pods to be Ready", lines[1])
    assert re.match(r"  ✗ att02 +0s  boom", lines[2])
    assert len(lines) == 3  # done and waiting attendees are counted, not listed
    small = table.lines(height=3)  # the terminal is short: the rest is counted
    assert small[-1] == "  … and 1 more"


def test_the_live_view_redraws_in_place_and_ends_with_the_final_state() -> None:
    out = Tty()
    table = FleetTable(out, [("a", "a"), ("b", "b")], title="Fleet ws", live=True)
    with table:
        table.begin("a")
        time.sleep(0.3)  # at least one redraw while running
        table.finish("a", True, "validated")
        table.begin("b")
        table.finish("b", True, "validated")
    text = out.getvalue()
    assert "\x1b[J" in text and "\x1b[" in text.split("\x1b[J", 1)[1]  # moved up to redraw
    assert text.rstrip().endswith("Fleet ws: 2 ✓, 0 ✗, 0 running, 0 waiting (0s)")


def test_a_labs_steps_move_its_row_and_print_nothing() -> None:
    now = clock()
    out = io.StringIO()
    table = FleetTable(out, [("a", "a")], title="t", live=False, clock=lambda: now[0])
    progress = RowProgress(table, "a", clock=lambda: now[0])
    table.begin("a")
    with progress.step("Deploy the demo workload") as h:
        assert table.rows["a"].step == "Deploy the demo workload"
        h.note("4 pods")
    progress.warn("engine unknown")
    progress.info("a validation table line")
    assert out.getvalue() == ""  # the row moves; the lab's own lines are kept, not shown
    assert progress.lines == [
        "… Deploy the demo workload",
        "✓ Deploy the demo workload (0.0s)",
        "  4 pods",
        "! warning: engine unknown",
        "a validation table line",
    ]
    assert progress.warnings == ["engine unknown"]
    assert progress.records[0].ok is True


def test_after_ctrl_c_an_attendee_stops_at_its_next_step() -> None:
    table = FleetTable(io.StringIO(), [("a", "a")], title="t", live=False)
    progress = RowProgress(table, "a", clock=time.monotonic)
    table.stop.set()
    with pytest.raises(Stopped, match="interrupted before: Validate"), progress.step("Validate"):
        raise AssertionError("not reached")


@pytest.fixture(autouse=True)
def no_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("NETPOL_LAB_NO_SPINNER", raising=False)
