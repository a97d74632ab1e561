"""Validation reports: one ``ValidationReport`` rendered as a table, JSON, JUnit XML or HTML.

Every format is a pure function of the report, so the same run can be printed, saved for a CI
system and put on a projector. ``render(report, fmt)`` is the one call the tasks need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provisioning.errors import choice_error

if TYPE_CHECKING:
    from provisioning.validation.validate import ValidationReport

FORMATS = ("table", "json", "junit", "html")


def render(report: ValidationReport, fmt: str = "table") -> str:
    """The report in ``fmt`` (one of ``FORMATS``); an unknown format is a ``UsageError``."""
    if fmt == "table":
        from provisioning.report.table import render_table

        return render_table(report)
    if fmt == "json":
        from provisioning.report.json_report import render_json

        return render_json(report)
    if fmt == "junit":
        from provisioning.report.junit import render_junit

        return render_junit(report)
    if fmt == "html":
        from provisioning.report.html import render_html

        return render_html(report)
    raise choice_error("report format", fmt, FORMATS)
