"""The instructor's dashboard: one self-contained HTML page for the projector.

``render_html`` turns the document ``fleet status --json`` prints into a page: a header (fleet,
mode, provider, engine, exercise or scenario, how many labs are ready, done and failed, how long
until the fleet expires, when the document was generated) and one card per attendee, in the
document's order. ``write_dashboard`` writes it atomically, so a browser reloading the file
(``<meta http-equiv="refresh">``, every ``refresh`` seconds) while ``fleet status --watch`` rewrites
it never sees half a page.

Rules the page keeps:

- Nothing external: no fonts, stylesheets or scripts from elsewhere (workshop Wi-Fi), no script
  at all; the CSS is inline and the fonts are the system's.
- Deterministic: the same document gives the same bytes. "expires in" is ``expires`` minus
  ``generated`` from the document, never the wall clock.
- Every string from the document is HTML-escaped (attendee names come from a roster file). Long
  values are cut for display with an ellipsis, the full value in a ``title`` attribute.
- Legible from the back of the room and for colour-blind viewers: large type, dark text on light
  cards, and every state shown three ways: a colour, a symbol and a word (``STATES``).
- Up to 200 attendees: the cards sit in a CSS grid that wraps (``auto-fill``); past
  ``DENSE_FROM`` attendees the cards get smaller.

The document (built by the fleet status code; only the keys below are read, all optional except
that their types are as shown when present)::

    fleet, mode, provider, engine, scenario, exercise (str or null)
    expires, generated: ISO 8601 UTC ("2026-12-01T15:00:00Z")
    attendees: [{id, name, lab, state, detail, pods_ready, pods, policies,
                 check: null | {exercise, met, goals, done, failing: [str]}}]
    summary: {attendees, ready, done, failed, not_up}  (counted from attendees when missing)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from provisioning.documents import cut
from provisioning.errors import UsageError

NAME_CHARS = 40  # a display name is cut to this many characters (the title has it whole)
LINE_CHARS = 70  # a detail line or failing goal
TITLE_CHARS = 500  # bound on any title attribute (roster names are at most 80)
DENSE_FROM = 49  # more attendees than fit one projector screen at full size: smaller cards

# state -> (symbol, word, css class). Colour, symbol and word together, so no state depends on
# telling red from green.
STATES: dict[str, tuple[str, str, str]] = {
    "done": ("✓", "done", "done"),
    "failed": ("✗", "failed", "failed"),
    "working": ("…", "in progress", "working"),
    "ready": ("○", "ready", "ready"),
    "not-up": ("!", "not up", "notup"),
    "unreachable": ("?", "unreachable", "unreach"),
}
_UNKNOWN = ("?", "", "unknown")
_TROUBLE = ("failed", "not-up", "unreachable")

_CSS = """
*{box-sizing:border-box}
html{font-size:18px}
html.dense{font-size:14px}
body{margin:0;padding:.9rem 1.1rem;background:#f6f8fa;color:#111;
font-family:"DejaVu Sans","Liberation Sans",Verdana,system-ui,sans-serif;line-height:1.25}
header{padding-bottom:.6rem;margin-bottom:.8rem;border-bottom:4px solid #111}
.title{display:flex;flex-wrap:wrap;align-items:baseline;gap:.2rem 1.5rem}
h1{margin:0;font-size:2.3rem;line-height:1.1}
.meta{font-size:1.3rem;color:#222}
.status{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;
gap:.5rem 2rem;margin-top:.55rem}
.counts{display:flex;flex-wrap:wrap;gap:.5rem}
.count{font-size:1.35rem;font-weight:700;padding:.2rem .7rem;border-radius:.4rem;
border:3px solid currentColor;background:#fff;white-space:nowrap}
.times{display:flex;flex-wrap:wrap;gap:.3rem 1.5rem;font-size:1.25rem}
.expires{font-weight:700}
.expires.soon,.expires.gone{color:#a40e26}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(16.5rem,1fr));gap:.6rem}
.card{background:#fff;border:3px solid #d0d7de;border-left-width:.8rem;border-radius:.5rem;
padding:.45rem .6rem .5rem;min-width:0}
.top{display:flex;align-items:center;gap:.5rem;min-width:0}
.sym{flex:none;width:2.2rem;height:2.2rem;border-radius:50%;color:#fff;font-size:1.4rem;
font-weight:700;line-height:2.2rem;text-align:center}
.who{min-width:0;flex:1}
.name{font-size:1.3rem;font-weight:700;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sub{font-size:.85rem;color:#333;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.word{font-weight:700;text-transform:uppercase;letter-spacing:.03em}
.line{margin-top:.3rem;font-size:1rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.why{white-space:normal;display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:2}
.goal{font-size:.85rem;color:#a40e26;font-family:"DejaVu Sans Mono","Liberation Mono",monospace}
.progress{display:flex;align-items:center;gap:.5rem;margin-top:.35rem}
.bar{flex:1;height:.95rem;border:2px solid #111;border-radius:.3rem;background:#fff;
overflow:hidden}
.bar>span{display:block;height:100%;background:#111}
.ratio{flex:none;font-size:1.1rem;font-weight:700;min-width:2.6rem;text-align:right}
footer{margin-top:.8rem;font-size:.9rem;color:#333}
.s-done{border-color:#1a7f37}.s-done .sym{background:#1a7f37}.s-done .word{color:#116329}
.s-done .bar>span{background:#1a7f37}
.s-failed{border-color:#cf222e;background:#fff0ef}.s-failed .sym{background:#cf222e}
.s-failed .word{color:#a40e26}
.s-working{border-color:#bf8700}.s-working .sym{background:#9a6700;line-height:1.7rem}
.s-working .word{color:#7d4e00}.s-working .bar>span{background:#9a6700}
.s-ready{border-color:#0969da}.s-ready .sym{background:#0969da}.s-ready .word{color:#0550ae}
.s-ready .bar>span{background:#0969da}
.s-notup{border-color:#57606a;border-style:dashed dashed dashed solid;background:#eaeef2}
.s-notup .sym{background:#424a53}.s-notup .word{color:#24292f}
.s-unreach{border-color:#8250df;border-style:dashed dashed dashed solid;background:#f5f0ff}
.s-unreach .sym{background:#6639ba}.s-unreach .word{color:#512a97}
.s-unknown .sym{background:#6e7781}
.c-ready{color:#0550ae}.c-done{color:#116329}.c-failed{color:#a40e26}.c-notup{color:#24292f}
.dense .grid{grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:.45rem}
"""


def render_html(doc: Mapping[str, Any], *, refresh: int | None = 10) -> str:
    """The dashboard page for ``doc``; it reloads itself every ``refresh`` seconds unless None."""
    if refresh is not None and (isinstance(refresh, bool) or int(refresh) < 1):
        raise ValueError(f"refresh must be a whole number of seconds >= 1 or None, got {refresh!r}")
    attendees: Sequence[Mapping[str, Any]] = doc.get("attendees") or []
    fleet = _text(doc.get("fleet")) or "fleet"
    dense = len(attendees) >= DENSE_FROM
    head = [
        "<!DOCTYPE html>",
        f'<html lang="en" class="{"dense" if dense else "normal"}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
    ]
    if refresh is not None:
        head.append(f'<meta http-equiv="refresh" content="{int(refresh)}">')
    head += [
        f"<title>Fleet {escape(cut(fleet, NAME_CHARS))}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
    ]
    cards = [_card(a, fleet) for a in attendees]
    footer = (
        f"{len(attendees)} attendee{'' if len(attendees) == 1 else 's'} · "
        "✓ done · ✗ failed · … in progress · ○ ready · ! not up · ? unreachable"
    )
    if refresh is not None:
        footer += f" · this page reloads every {int(refresh)} s"
    body = [
        _header(doc, fleet, attendees),
        f'<main class="grid" aria-label="attendees">{"".join(cards)}</main>',
        f"<footer>{escape(footer)}</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(head + body) + "\n"


def write_dashboard(path: Path, doc: Mapping[str, Any], *, refresh: int | None = 10) -> Path:
    """Write the page to ``path`` atomically (``lab.state.write_private``), mode 0644 so a web
    server or another user may read it. Returns ``path``."""
    from provisioning.lab.state import write_private

    def failed(where: Path, exc: OSError) -> UsageError:
        return UsageError(f"cannot write the dashboard {where}: {exc.strerror or exc}")

    path = Path(path)
    data = render_html(doc, refresh=refresh).encode("utf-8")
    write_private(path, data, mode=0o644, folder_mode=0o755, failed=failed)
    return path


# --- header -----------------------------------------------------------------------------------


def _header(doc: Mapping[str, Any], fleet: str, attendees: Sequence[Mapping[str, Any]]) -> str:
    meta = []
    for key in ("mode", "provider", "engine"):
        value = _text(doc.get(key))
        if value:
            meta.append(_short(value, 30))
    exercise, scenario = _text(doc.get("exercise")), _text(doc.get("scenario"))
    if exercise:
        meta.append(f"exercise <b>{_short(exercise, 40)}</b>")
    if scenario:
        meta.append(
            f"scenario {_short(scenario, 40)}"
            if exercise
            else f"scenario <b>{_short(scenario, 40)}</b>"
        )

    counts = _counts(doc.get("summary"), attendees)
    total = counts["attendees"]
    badges = [
        f'<span class="count c-ready" data-count="ready">{counts["ready"]}/{total} ready</span>',
        f'<span class="count c-done" data-count="done">✓ {counts["done"]} done</span>',
        f'<span class="count c-failed" data-count="failed">✗ {counts["failed"]} failed</span>',
    ]
    if counts["not_up"]:
        badges.append(
            f'<span class="count c-notup" data-count="not_up">! {counts["not_up"]} not up</span>'
        )

    expires_text, expires_class = _expiry(doc.get("expires"), doc.get("generated"))
    generated = _text(doc.get("generated"))
    generated_text = _when(generated) if generated else "unknown"
    return (
        '<header><div class="title">'
        f'<h1 title="{_attr(fleet)}">Fleet {escape(cut(fleet, NAME_CHARS))}</h1>'
        f'<div class="meta">{" · ".join(meta)}</div>'
        '</div><div class="status">'
        f'<div class="counts">{"".join(badges)}</div>'
        '<div class="times">'
        f'<span class="expires {expires_class}">{escape(expires_text)}</span>'
        f'<span class="generated">generated at {escape(generated_text)}</span>'
        "</div></div></header>"
    )


def _counts(summary: Any, attendees: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    states = [_text(a.get("state")) for a in attendees]
    counted = {
        "attendees": len(attendees),
        "ready": sum(s in ("ready", "working", "done") for s in states),
        "done": states.count("done"),
        "failed": states.count("failed"),
        "not_up": sum(s in ("not-up", "unreachable") for s in states),
    }
    if isinstance(summary, Mapping):
        for key in counted:
            value = summary.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                counted[key] = value
    return counted


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def _when(value: str) -> str:
    when = _parse_time(value)
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else cut(value, 40)


def _expiry(expires: Any, generated: Any) -> tuple[str, str]:
    """("expires in 4h 30m", css class) from the document's own two times."""
    end, now = _parse_time(expires), _parse_time(generated)
    if expires is None or expires == "":
        return "no expiry set", ""
    if end is None or now is None:
        return f"expires {cut(str(expires), 40)}", ""
    left = int((end - now).total_seconds())
    if left <= 0:
        return "expired", "gone"
    at = end.strftime("%H:%M UTC")
    if left < 60:
        return f"expires in under 1m ({at})", "soon"
    hours, minutes = divmod(left // 60, 60)
    return f"expires in {hours}h {minutes}m ({at})", "soon" if left < 30 * 60 else ""


# --- one attendee -----------------------------------------------------------------------------


def _card(att: Mapping[str, Any], fleet: str) -> str:
    ident = _text(att.get("id"))
    name = _text(att.get("name")) or ident or "?"
    state = _text(att.get("state"))
    symbol, word, css = STATES.get(state, _UNKNOWN)
    if not word:
        word = cut(state, 14) or "unknown"
    lab = _text(att.get("lab"))
    if lab == f"{fleet}-{ident}":
        lab = ""  # the usual name says nothing the id does not
    sub = " · ".join(v for v in (ident if name != ident else "", lab) if v)
    detail = _text(att.get("detail"))
    check = att.get("check")
    lines = []
    if isinstance(check, Mapping):
        # The bar says what "5 of 6 goals met" says; the detail stays on hover, unless it is
        # why the lab is not usable.
        lines.append(_progress(check, detail))
        if detail and state in _TROUBLE:
            lines.append(_line("detail why", detail))
        failing = check.get("failing") or []
        if failing:
            more = f" (+{len(failing) - 1})" if len(failing) > 1 else ""
            lines.append(_line("goal", f"✗ {_text(failing[0])}", suffix=more))
    else:
        if _int(att.get("pods")) or not detail:
            lines.append(f'<div class="line pods">{escape(_pods(att))}</div>')
        if detail:
            lines.append(_line("detail why" if state in _TROUBLE else "detail", detail))
    return (
        f'<article class="card attendee s-{css}" data-attendee="{_attr(ident)}" '
        f'data-state="{_attr(state)}">'
        '<div class="top">'
        f'<span class="sym" aria-hidden="true">{symbol}</span>'
        '<div class="who">'
        f'<div class="name" title="{_attr(name)}">{escape(cut(name, NAME_CHARS))}</div>'
        f'<div class="sub"><span class="word">{escape(word)}</span>'
        f"{' · ' + _short(sub, 48) if sub else ''}</div>"
        "</div>"
        "</div>"
        f"{''.join(lines)}"
        "</article>"
    )


def _progress(check: Mapping[str, Any], detail: str) -> str:
    goals = _int(check.get("goals"))
    met = min(max(_int(check.get("met")), 0), max(goals, 0))
    percent = (100 * met // goals) if goals > 0 else 0
    title = f' title="{_attr(detail)}"' if detail else ""
    return (
        f'<div class="progress"{title}>'
        f'<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="{goals}" '
        f'aria-valuenow="{met}"><span style="width:{percent}%"></span></div>'
        f'<span class="ratio">{met}/{goals}</span>'
        "</div>"
    )


def _pods(att: Mapping[str, Any]) -> str:
    pods, ready, policies = att.get("pods"), att.get("pods_ready"), att.get("policies")
    parts = []
    if isinstance(pods, int) and isinstance(ready, int):
        parts.append(f"pods {ready}/{pods} ready")
    elif isinstance(pods, int):
        parts.append(f"{pods} pods")
    if isinstance(policies, int):
        parts.append(f"{policies} polic{'y' if policies == 1 else 'ies'}")
    return " · ".join(parts) or "no pods yet"


# --- text -------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _attr(text: str) -> str:
    return escape(cut(text, TITLE_CHARS), quote=True)


def _short(text: str, limit: int) -> str:
    """Escaped, cut to ``limit``; wrapped in a span with the whole value as title when cut."""
    if len(text) <= limit:
        return escape(text)
    return f'<span title="{_attr(text)}">{escape(cut(text, limit))}</span>'


def _line(kind: str, text: str, *, suffix: str = "") -> str:
    shown = cut(text, LINE_CHARS)
    title = f' title="{_attr(text)}"' if shown != text else ""
    return f'<div class="line {kind}"{title}>{escape(shown)}{escape(suffix)}</div>'
