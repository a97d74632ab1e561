"""The picture: a self-contained HTML page of the matrix for an instructor's projector.

Green is allowed, red blocked, as observed; a mismatch gets a thick dashed outline and a "≠"
with what was expected; grey is a probe that could not run. A DNS section (when the lab has
egress policies) shows one cell per client in the same colours. No scripts, no external assets,
so it renders the same offline and in any browser. Lab pods that were not probed (and a run that
probed nothing) are listed in red above the matrix: they fail validation.
"""

from __future__ import annotations

from html import escape

from provisioning.report.matrix import (
    Grid,
    cell_state,
    dns_title,
    expected_word,
    grids,
    observed_word,
)
from provisioning.report.table import summary_line
from provisioning.validation.probe import Outcome
from provisioning.validation.validate import ValidationReport

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; background: #fff; color: #111; }
h1 { font-size: 28px; margin: 0 0 4px; } .summary { font-size: 18px; margin: 0 0 18px; }
.pass { color: #1a7f37; } .fail { color: #c62828; }
table { border-collapse: separate; border-spacing: 6px; margin: 8px 0 22px; }
th { font-size: 16px; padding: 4px 10px; text-align: center; }
th.src { text-align: right; }
td { width: 150px; height: 62px; text-align: center; font-size: 16px; font-weight: 600;
     border-radius: 8px; border: 4px solid transparent; }
td.allowed { background: #2e9e4f; color: #fff; }
td.refused { background: #8fd19e; color: #0b3d1a; }
td.blocked { background: #d93636; color: #fff; }
td.error { background: #9e9e9e; color: #fff; }
td.empty { background: #f2f2f2; }
td.mismatch, td.probe-error { border: 5px dashed #111; }
td.ignored { border: 4px dotted #555; }
.expect { display: block; font-size: 13px; font-weight: 400; }
.legend span { display: inline-block; padding: 4px 10px; margin-right: 8px; border-radius: 6px; }
ul.diff li, ul.problems li { margin: 4px 0; }
ul.problems { color: #c62828; font-size: 18px; }
"""

_CLASS = {
    Outcome.CONNECTED: "allowed",
    Outcome.REFUSED: "refused",
    Outcome.BLOCKED: "blocked",
    Outcome.ERROR: "error",
    Outcome.RESOLVED: "allowed",
    Outcome.DNS_FAILED: "blocked",
}
_LABEL = {
    Outcome.CONNECTED: "allowed",
    Outcome.REFUSED: "refused",
    Outcome.BLOCKED: "blocked",
    Outcome.ERROR: "error",
    Outcome.RESOLVED: "resolved",
    Outcome.DNS_FAILED: "DNS failed",
}


def _grid(report: ValidationReport, grid: Grid) -> str:
    head = "".join(f"<th>{escape(d)}</th>" for d in grid.destinations)
    rows = []
    for src in grid.sources:
        cells = []
        for dst in grid.destinations:
            check = grid.cells.get((src, dst))
            if check is None:
                cells.append('<td class="empty"></td>')
                continue
            state = cell_state(report, check)
            css = [_CLASS[check.observed]]
            mark = ""
            if state == "mismatch":
                css.append("mismatch")
                mark = f'<span class="expect">≠ expected {check.expected.verdict}</span>'
            elif state == "error":
                css.append("probe-error")
                mark = '<span class="expect">probe failed</span>'
            elif state == "ignored":
                css.append("ignored")
                mark = '<span class="expect">loopback, not counted</span>'
            title = f"{check.probe.key}: expected {check.expected.verdict}, observed " + (
                observed_word(check.observed)
            )
            cells.append(
                f'<td class="{" ".join(css)}" title="{escape(title)}">'
                f"{_LABEL[check.observed]}{mark}</td>"
            )
        rows.append(f'<tr><th class="src">{escape(src)}</th>{"".join(cells)}</tr>')
    return (
        f"<h2>port {escape(grid.title)}</h2>"
        f'<table><tr><th class="src">from \\ to</th>{head}</tr>{"".join(rows)}</table>'
    )


def _dns(report: ValidationReport) -> str:
    """One row per client: the cell coloured by what was observed, marked when it differs."""
    rows = []
    for check in report.dns:
        state = cell_state(report, check)
        css = [_CLASS[check.observed]]
        mark = ""
        if state == "mismatch":
            css.append("mismatch")
            mark = f'<span class="expect">≠ expected {check.expected.dns_verdict}</span>'
        elif state == "error":
            css.append("probe-error")
            mark = '<span class="expect">check failed</span>'
        title = f"{check.probe.key}: {check.expected.explanation}"
        rows.append(
            f'<tr><th class="src">{escape(check.probe.source.key)}</th>'
            f'<td class="{" ".join(css)}" title="{escape(title)}">'
            f"{_LABEL[check.observed]}{mark}</td></tr>"
        )
    return (
        f"<h2>{escape(dns_title(report))}</h2>"
        f'<table><tr><th class="src">client</th><th>DNS</th></tr>{"".join(rows)}</table>'
    )


def render_html(report: ValidationReport) -> str:
    verdict = "pass" if report.ok else "fail"
    diffs = [c for c in report.all_checks if cell_state(report, c) in ("mismatch", "error")]
    diff_items = "".join(
        f"<li><b>{escape(c.probe.key)}</b>: expected {expected_word(c)}, observed "
        f"{escape(observed_word(c.observed))}. {escape(c.expected.explanation)}</li>"
        for c in diffs
    )
    stated = "".join(
        f"<li>{'✓' if s.agrees else '✗'} {escape(s.message)}</li>" for s in report.stated
    )
    problems = "".join(f"<li>✗ {escape(p)}</li>" for p in report.problems)
    notes = "".join(f"<li>{escape(n)}</li>" for n in report.notes)
    title = f"NetworkPolicy lab {report.lab}".strip()
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="summary {verdict}">{escape(summary_line(report))}</p>'
        '<p class="legend"><span style="background:#2e9e4f;color:#fff">allowed</span>'
        '<span style="background:#8fd19e">refused (reached)</span>'
        '<span style="background:#d93636;color:#fff">blocked</span>'
        '<span style="background:#9e9e9e;color:#fff">probe error</span>'
        '<span style="border:4px dashed #111">differs from the policies</span></p>'
        + (
            f'<h2 class="fail">Not probed</h2><ul class="problems">{problems}</ul>'
            if problems
            else ""
        )
        + "".join(_grid(report, g) for g in grids(report))
        + (_dns(report) if report.dns else "")
        + (f'<h2>Differences</h2><ul class="diff">{diff_items}</ul>' if diff_items else "")
        + (f"<h2>Stated expectations</h2><ul>{stated}</ul>" if stated else "")
        + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
        + "</body></html>\n"
    )
