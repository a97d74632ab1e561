"""Output formats of ``analyze``: ``table`` (for people), ``json`` and ``summary`` (for tools).

``json`` is streamed result by result, so a large matrix never sits in memory as one string.
``table`` prints one truth table per port/protocol like the upstream e2e tests (sources down,
destinations across, ``.`` allowed, ``X`` denied, ``-`` not probed), then warnings, then, with
``--explain``, one explanation per probe.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TextIO

from .analyzer import Analysis
from .engine import PortKey
from .explain import Result

FORMATS = ("table", "json", "summary")


def write_summary(analysis: Analysis, out: TextIO, explain: bool = False) -> None:
    """One JSON line of counts; objects the engine does not enforce, left out of those counts,
    are said on stderr (stdout stays one document for tools)."""
    import sys

    out.write(json.dumps(analysis.summary()) + "\n")
    for warning in analysis.warnings:
        if "left out of the analysis" in warning:
            print(f"warning: {warning}", file=sys.stderr)


def write_json(analysis: Analysis, out: TextIO, explain: bool = False) -> None:
    """``{"engine", "results": [...], "warnings": [...]}``; explanations are always included."""
    out.write('{"engine": ' + json.dumps(analysis.engine) + ', "results": [')
    for n, result in enumerate(analysis.results()):
        out.write(("\n  " if n == 0 else ",\n  ") + json.dumps(result.to_dict()))
    out.write('\n], "warnings": ' + json.dumps(list(analysis.warnings)) + "}\n")


def write_table(analysis: Analysis, out: TextIO, explain: bool = False) -> None:
    tables: dict[PortKey, dict[tuple[str, str], bool]] = {k: {} for k in analysis.ports}
    sources: dict[PortKey, dict[str, None]] = {k: {} for k in analysis.ports}
    destinations: dict[PortKey, dict[str, None]] = {k: {} for k in analysis.ports}
    explained: list[Result] = []
    for r in analysis.results():
        key = (r.port_number, r.protocol)
        tables[key][r.source, r.destination] = r.allowed
        sources[key][r.source] = None
        destinations[key][r.destination] = None
        if explain:
            explained.append(r)
    out.write(
        f"engine {analysis.engine}: {analysis.probes} probes, {analysis.allowed} allowed, "
        f"{analysis.denied} denied\n"
    )
    for key in analysis.ports:
        _write_grid(out, key, tables[key], list(sources[key]), list(destinations[key]))
    if analysis.warnings:
        out.write("\nwarnings:\n")
        out.writelines(f"  - {w}\n" for w in analysis.warnings)
    if explain:
        out.write("\nexplanations:\n")
        for r in explained:
            loop = " (loopback)" if r.loopback else ""
            name = f" ({r.port})" if isinstance(r.port, str) else ""
            out.write(
                f"  {r.source} -> {r.destination} {r.protocol}/{r.port_number}{name}: "
                f"{r.verdict}{loop}\n"
            )
            out.writelines(f"    {line}\n" for line in r.sentences())


def _write_grid(
    out: TextIO,
    key: PortKey,
    table: dict[tuple[str, str], bool],
    rows: list[str],
    columns: list[str],
) -> None:
    allowed = sum(table.values())
    out.write(
        f"\n{key[1]}/{key[0]}: {allowed} allowed, {len(table) - allowed} denied "
        "(rows: from, columns: to; . allowed, X denied, - not probed)\n"
    )
    width = max(len(c) for c in [*rows, *columns, "-"])
    out.write(" ".join(["-".ljust(width), *(c.ljust(width) for c in columns)]).rstrip() + "\n")
    for src in rows:
        cells = []
        for dst in columns:
            verdict = table.get((src, dst))
            cells.append(("-" if verdict is None else "." if verdict else "X").ljust(width))
        out.write(" ".join([src.ljust(width), *cells]).rstrip() + "\n")


WRITERS: dict[str, Callable[[Analysis, TextIO, bool], None]] = {
    "table": write_table,
    "json": write_json,
    "summary": write_summary,
}
