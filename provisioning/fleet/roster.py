"""Who is in the room: attendee ids from ``--attendees N`` or a ``--roster FILE``.

An attendee id becomes part of Kubernetes names (a lab ``<fleet>-<id>``, its namespaces
``canary-<fleet>-<id>`` and the like, at most 63 characters: a DNS-1123 label), so ids are
lower-case letters, digits and '-', start and end alphanumeric, at most ``MAX_ID`` characters,
and unique. A display name is free text for the instructor's tables (one line, bounded).

A roster file is either structured (``.yaml``/``.yml``/``.json``: a list of ids, or of
``{id, name}`` mappings) or plain text: one attendee per line, ``id`` or ``id, Display Name``;
blank lines and ``#`` comments are skipped. Every problem is one line naming the file and the
entry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.documents import SMALL_MAX_BYTES, cut, parse_yaml, read_text, shown
from provisioning.errors import UsageError

MAX_ID = 20  # canary-<fleet up to 20>-<id up to 20>: 7 + 20 + 1 + 20 < 63
MAX_NAME = 80
MAX_ATTENDEES = 200
_ID_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Attendee:
    id: str
    name: str = ""

    @property
    def display(self) -> str:
        return self.name or self.id


def numbered(count: Any, *, where: str = "--attendees") -> tuple[Attendee, ...]:
    """``att01`` .. ``attNN`` (zero-padded to the width of ``count``)."""
    if isinstance(count, str) and count.strip().isdigit():
        count = int(count.strip())
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_ATTENDEES:
        raise UsageError(
            f"{where}: expected a number of attendees from 1 to {MAX_ATTENDEES}, got {shown(count)}"
        )
    width = max(2, len(str(count)))
    return tuple(Attendee(f"att{i:0{width}d}") for i in range(1, count + 1))


def load_roster(path: str | Path) -> tuple[Attendee, ...]:
    """The attendees of a roster file (see the module docstring)."""
    file = Path(path)
    text = read_text(file, what="--roster", limit=SMALL_MAX_BYTES)
    if file.suffix in (".yaml", ".yml", ".json"):
        data = parse_yaml(text, source=f"--roster {file}")
        if not isinstance(data, list):
            raise UsageError(
                f"--roster {file}: expected a list of attendee ids or {{id, name}} mappings, "
                f"got {type(data).__name__}"
            )
        entries = [_entry(item, f"--roster {file} [{i}]") for i, item in enumerate(data)]
    else:
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            ident, _, name = (part.strip() for part in line.partition(","))
            entries.append(_entry({"id": ident, "name": name}, f"--roster {file} line {number}"))
    return check_attendees(entries, source=f"--roster {file}")


def check_attendees(attendees: Sequence[Attendee], *, source: str) -> tuple[Attendee, ...]:
    if not attendees:
        raise UsageError(f"{source}: no attendees; list one id per line")
    if len(attendees) > MAX_ATTENDEES:
        raise UsageError(f"{source}: {len(attendees)} attendees, at most {MAX_ATTENDEES}")
    seen: set[str] = set()
    for attendee in attendees:
        if attendee.id in seen:
            raise UsageError(f"{source}: attendee id {attendee.id!r} is listed twice")
        seen.add(attendee.id)
    return tuple(attendees)


def _entry(item: Any, where: str) -> Attendee:
    if isinstance(item, str | int) and not isinstance(item, bool):
        item = {"id": str(item)}
    if not isinstance(item, dict):
        raise UsageError(f"{where}: expected an id or {{id, name}}, got {type(item).__name__}")
    unknown = sorted(str(k) for k in item if k not in ("id", "name"))
    if unknown:
        raise UsageError(f"{where}: unknown key {shown(unknown[0])}; allowed: id, name")
    ident, name = item.get("id"), item.get("name") or ""
    if not isinstance(ident, str) or not ident:
        raise UsageError(f"{where}: id is missing")
    if not _ID_RE.match(ident) or len(ident) > MAX_ID:
        raise UsageError(
            f"{where}: id {shown(ident)} must be lower-case letters, digits and '-', start and "
            f"end with a letter or digit, at most {MAX_ID} characters (it becomes part of "
            "namespace names)"
        )
    if not isinstance(name, str) or not name.isprintable() or len(name) > MAX_NAME:
        raise UsageError(
            f"{where}: name must be one printable line of at most {MAX_NAME} characters, got "
            f"{shown(cut(str(name), 40))}"
        )
    return Attendee(ident, name)
