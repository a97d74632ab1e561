"""The terminal report: a summary, expected vs. observed truth tables, then every difference.

Cells: ``.`` allowed (observed: connected), ``r`` refused (reached, nothing listening, so the
network allowed it), ``X`` blocked, ``E`` probe error. A marker after an observed cell flags it:
``!`` disagrees with the expectation, ``~`` disagrees but is loopback traffic (not counted).
When the lab has egress policies, a DNS section follows: one line per client. Lab pods left out
of the probe plan (and a run that probed nothing) are listed first: they fail validation.
"""

from __future__ import annotations

from collections.abc import Callable

from provisioning.report.matrix import (
    Grid,
    cell_state,
    dns_title,
    expected_word,
    grids,
    observed_word,
)
from provisioning.validation.probe import Outcome
from provisioning.validation.validate import ProbeCheck, ValidationReport

OBSERVED_MARK = {
    Outcome.CONNECTED: ".",
    Outcome.REFUSED: "r",
    Outcome.BLOCKED: "X",
    Outcome.ERROR: "E",
    Outcome.RESOLVED: ".",
    Outcome.DNS_FAILED: "X",
}
STATE_MARK = {"match": " ", "mismatch": "!", "error": "!", "ignored": "~"}


def summary_line(report: ValidationReport) -> str:
    counted = [c for c in report.checks if report.counts(c)]
    matched = sum(1 for c in counted if c.status == "match")
    where = f"lab {report.lab}" if report.lab else "lab"
    context = ", ".join(
        p
        for p in (
            f"engine {report.engine}" if report.engine else "",
            f"scenario {report.scenario}" if report.scenario else "",
        )
        if p
    )
    head = f"{where} ({context})" if context else where
    verdict = "PASS" if report.ok else "FAIL"
    converged = report.converged_after
    if not report.all_checks:
        timing = "nothing was probed"
    elif converged is not None:
        timing = f"converged after {converged:.1f}s"
    else:
        timing = f"not converged within the {report.deadline:g}s deadline"
    if report.left_out:
        timing += f"; {len(report.left_out)} pod(s) not probed"
    dns = ""
    if report.dns:
        resolved_ok = sum(1 for c in report.dns if c.status == "match")
        dns = f", DNS {resolved_ok}/{len(report.dns)} clients as expected"
    return (
        f"{verdict} {head}: {matched}/{len(counted)} probes as expected{dns}; {timing}; "
        f"{report.rounds} round(s), {report.elapsed:.1f}s in all, probe timeout "
        f"{report.probe_timeout:g}s"
    )


def _table(grid: Grid, cell: Callable[[ProbeCheck], str]) -> list[str]:
    width = max(len(s) for s in (*grid.sources, "from \\ to"))
    col = max(3, *(len(d) for d in grid.destinations))
    header = " | ".join(d.center(col) for d in grid.destinations)
    lines = ["from \\ to".ljust(width) + " | " + header]
    lines.append("-" * width + "-+-" + "-+-".join("-" * col for _ in grid.destinations))
    for src in grid.sources:
        cells = []
        for dst in grid.destinations:
            check = grid.cells.get((src, dst))
            cells.append((cell(check) if check else "").center(col))
        lines.append(src.ljust(width) + " | " + " | ".join(cells))
    return lines


def difference_line(report: ValidationReport, check: ProbeCheck) -> str:
    state = cell_state(report, check)
    tries = len(check.attempts)
    observed = observed_word(check.observed)
    extra = f" ({check.detail})" if check.detail and check.observed is Outcome.ERROR else ""
    note = " [loopback: reported, not counted]" if state == "ignored" else ""
    why = f"\n    {check.expected.explanation}" if (check.expected.explanation) else ""
    return (
        f"{'~' if state == 'ignored' else '✗'} {check.probe.key}: expected "
        f"{expected_word(check)}, observed {observed}{extra} after {tries} attempt(s){note}{why}"
    )


def dns_lines(report: ValidationReport) -> list[str]:
    """The DNS section: each client's expected and observed resolution, differences marked."""
    width = max(len(s) for s in (*(c.probe.source.key for c in report.dns), "client"))
    lines = [dns_title(report), f"{'client'.ljust(width)} | expected | observed"]
    lines.append("-" * width + "-+----------+-" + "-" * 12)
    for c in report.dns:
        observed = observed_word(c.observed) + ("" if c.status == "match" else " !")
        lines.append(f"{c.probe.source.key.ljust(width)} | {expected_word(c):<8} | {observed}")
    return lines


def render_table(report: ValidationReport) -> str:
    lines = [summary_line(report), ""]
    if report.problems:
        lines += [f"✗ {problem}" for problem in report.problems]
        lines.append("")
    for grid in grids(report):
        lines.append(f"port {grid.title}: expected (. allow, X deny)")
        lines += _table(grid, lambda c: "." if c.expected.allowed else "X")
        lines.append("")
        lines.append(
            f"port {grid.title}: observed (. connected, r refused, X blocked, E error;"
            " ! differs, ~ loopback differs)"
        )
        lines += _table(
            grid, lambda c: OBSERVED_MARK[c.observed] + STATE_MARK[cell_state(report, c)]
        )
        lines.append("")
    if report.dns:
        lines += dns_lines(report)
        lines.append("")
    differing = [c for c in report.all_checks if c.status != "match"]
    if differing:
        lines.append("differences:")
        lines += [difference_line(report, c) for c in differing]
    elif report.all_checks:  # with nothing probed, "no differences" would claim too much
        lines.append("no differences: every probe did what the policies say.")
    slow = [c for c in report.all_checks if c.status == "match" and len(c.attempts) > 1]
    if slow:
        lines.append("")
        lines.append("converged after re-probing (enforcement lag):")
        lines += [
            f"  {c.probe.key}: {expected_word(c)} after {len(c.attempts)} attempts, "
            f"{c.matched_at:.1f}s"
            for c in slow
        ]
    if report.stated:
        lines.append("")
        lines.append("stated expectations:")
        lines += [("  ✓ " if s.agrees else "  ✗ ") + s.message for s in report.stated]
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines).rstrip() + "\n"
