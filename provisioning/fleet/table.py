"""The fleet's progress: one row per attendee (step, elapsed, ✓/✗), many labs at once.

On a terminal the table is redrawn in place a few times a second: a summary line, then the
attendees still running and those that failed (as many as fit), then how many are done. In a
log (no terminal, or ``CI`` set) each attendee prints one line when it finishes, in the
``✓ title (12.3s)`` form of every other step line, so a CI log reads like any ``invoke up``.

Each attendee's lab runs the one lab pipeline with a ``RowProgress``: a quiet ``Progress``
whose steps move that attendee's row instead of printing.
"""

from __future__ import annotations

import io
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from provisioning.errors import LabError
from provisioning.progress import FAIL, OK, Progress, StepHandle, want_spinner

RUNNING, WAITING = "…", " "


class Stopped(LabError):
    """Raised at an attendee's next step once the run was interrupted (Ctrl-C)."""


@dataclass
class Row:
    key: str
    label: str
    mark: str = WAITING
    step: str = "waiting"
    started: float | None = None
    seconds: float = 0.0
    detail: str = ""


class FleetTable:
    """The rows of one fleet operation; thread-safe."""

    def __init__(
        self,
        stream: TextIO,
        rows: Sequence[tuple[str, str]],  # (key, label)
        *,
        title: str,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.title = title
        self.live = want_spinner(stream) if live is None else live
        self.clock = clock
        self.rows = {key: Row(key, label) for key, label in rows}
        self.started = clock()
        self.stop = threading.Event()  # set on Ctrl-C: attendees stop at their next step
        self._lock = threading.Lock()
        self._drawn = 0
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    # --- updates from the attendees' threads ---------------------------------------------

    def begin(self, key: str) -> None:
        with self._lock:
            row = self.rows[key]
            row.mark, row.step, row.started = RUNNING, "starting", self.clock()

    def step(self, key: str, title: str) -> None:
        with self._lock:
            self.rows[key].step = title

    def finish(self, key: str, ok: bool, detail: str) -> None:
        with self._lock:
            row = self.rows[key]
            row.mark = OK if ok else FAIL
            row.seconds = self.clock() - (row.started or self.clock())
            row.detail = detail
            line = f"{row.mark} {row.label}: {detail} ({row.seconds:.1f}s)"
        if not self.live:
            self._write(line + "\n")

    # --- drawing ---------------------------------------------------------------------------

    def __enter__(self) -> FleetTable:
        if self.live:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="fleet-table")
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._done.set()
            self._thread.join()
            self._draw()

    def _loop(self) -> None:
        while not self._done.wait(0.25):
            self._draw()

    def counts(self) -> dict[str, int]:
        with self._lock:
            marks = [r.mark for r in self.rows.values()]
        return {
            "done": marks.count(OK),
            "failed": marks.count(FAIL),
            "running": marks.count(RUNNING),
            "waiting": marks.count(WAITING),
        }

    def lines(self, height: int = 40) -> list[str]:
        """What the live view shows: the summary, then running and failed rows that fit."""
        c = self.counts()
        now = self.clock()
        head = (
            f"{self.title}: {c['done']} ✓, {c['failed']} ✗, {c['running']} running, "
            f"{c['waiting']} waiting ({now - self.started:.0f}s)"
        )
        with self._lock:
            rows = list(self.rows.values())
        shown = [r for r in rows if r.mark in (RUNNING, FAIL)]
        out = [head]
        for r in shown[: max(height - 2, 1)]:
            elapsed = r.seconds if r.mark == FAIL else now - (r.started or now)
            what = r.detail if r.mark == FAIL else r.step
            out.append(f"  {r.mark} {r.label:<28} {elapsed:6.0f}s  {what}"[:160])
        if len(shown) > height - 2:
            out.append(f"  … and {len(shown) - (height - 2)} more")
        return out

    def _draw(self) -> None:
        height = shutil.get_terminal_size((100, 40)).lines - 1
        lines = self.lines(height)
        text = ""
        if self._drawn:
            text += f"\x1b[{self._drawn}F"  # back to the first line drawn
        text += "\x1b[J" + "\n".join(lines) + "\n"
        self._drawn = len(lines)
        self._write(text)

    def _write(self, text: str) -> None:
        with self._lock:
            self.stream.write(text)
            self.stream.flush()


class RowProgress(Progress):
    """A lab pipeline's ``Progress`` that moves one table row and prints nothing; its step
    records are kept (the JSON document and the failure summary use them)."""

    def __init__(self, table: FleetTable, key: str, *, clock: Callable[[], float]) -> None:
        super().__init__(io.StringIO(), spinner=False, quiet=True, clock=clock)
        self.table = table
        self.key = key
        self.warnings: list[str] = []
        self.lines: list[str] = []  # what a lab run prints (a validation table): kept, not shown

    def write(self, line: str) -> None:
        if len(self.lines) < 400:
            self.lines.append(line)

    @contextmanager
    def step(self, title: str) -> Iterator[StepHandle]:
        if self.table.stop.is_set():
            raise Stopped("interrupted before: " + title)
        self.table.step(self.key, title)
        with super().step(title) as handle:
            yield handle

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        self.write(f"! warning: {text}")
