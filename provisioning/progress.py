"""Progress output for long operations: one line per step with ✓/✗ and elapsed time.

On a terminal a spinner line shows the step, its elapsed time and what it is waiting for.
In CI logs (no TTY, or ``CI`` set) there is no spinner: a start line, occasional "still waiting"
lines, and the result line. Progress goes to stderr so stdout stays clean for ``--json``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
OK, FAIL, WARN, SKIP = "✓", "✗", "!", "="


@dataclass
class StepRecord:
    """What happened in one step; kept for JSON output and for tests."""

    title: str
    ok: bool | None = None
    seconds: float = 0.0
    detail: str = ""
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "step": self.title,
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "detail": self.detail,
            "notes": list(self.notes),
        }


def want_spinner(stream: TextIO) -> bool:
    """A spinner only on an interactive terminal and never in CI."""
    if os.environ.get("CI") or os.environ.get("NETPOL_LAB_NO_SPINNER"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class StepHandle:
    """Given to the body of a step: report what it is waiting for, add notes."""

    def __init__(self, progress: Progress, record: StepRecord, started: float) -> None:
        self._progress = progress
        self.record = record
        self.started = started
        self._last_log = started
        self.failed = False

    def update(self, detail: str) -> None:
        """What the step is doing now ("waiting for tigerastatus calico: Progressing")."""
        self.record.detail = detail
        now = self._progress.clock()
        # Without a spinner, say so only now and then so CI logs stay readable.
        if not self._progress.spinner and now - self._last_log >= self._progress.log_every:
            self._last_log = now
            self._progress.write(f"  … {detail} ({now - self.started:.0f}s)")

    def note(self, text: str) -> None:
        """A line printed under the result line (e.g. where the kubeconfig was written)."""
        self.record.notes.append(text)

    def fail(self) -> None:
        """Mark the step failed (✗) although its body returns normally, e.g. a check whose
        report is printed before the error is raised."""
        self.failed = True

    @property
    def elapsed(self) -> float:
        return self._progress.clock() - self.started


class Progress:
    """Prints step lines; collects StepRecords."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        spinner: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        log_every: float = 15.0,
        quiet: bool = False,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.spinner = want_spinner(self.stream) if spinner is None else spinner
        self.clock = clock
        self.log_every = log_every
        self.quiet = quiet
        self.records: list[StepRecord] = []
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def info(self, text: str) -> None:
        self.write(text)

    def warn(self, text: str) -> None:
        self.write(f"{WARN} warning: {text}")

    @contextmanager
    def step(self, title: str) -> Iterator[StepHandle]:
        record = StepRecord(title)
        self.records.append(record)
        started = self.clock()
        handle = StepHandle(self, record, started)
        stop = threading.Event()
        spinner_thread = None
        if self.spinner and not self.quiet:
            spinner_thread = threading.Thread(
                target=self._spin, args=(handle, stop), daemon=True, name="spinner"
            )
            spinner_thread.start()
        else:
            self.write(f"… {title}")
        try:
            yield handle
        except BaseException:
            record.ok = False
            raise
        else:
            record.ok = not handle.failed
        finally:
            stop.set()
            if spinner_thread:
                spinner_thread.join()
                self._clear_line()
            record.seconds = self.clock() - started
            mark = OK if record.ok else FAIL
            self.write(f"{mark} {title} ({record.seconds:.1f}s)")
            for note in record.notes:
                self.write(f"  {note}")

    def _spin(self, handle: StepHandle, stop: threading.Event) -> None:
        frame = 0
        while not stop.wait(0.1):
            detail = f" · {handle.record.detail}" if handle.record.detail else ""
            line = f"{SPINNER_FRAMES[frame % len(SPINNER_FRAMES)]} {handle.record.title}"
            line = f"{line} ({handle.elapsed:.0f}s){detail}"
            with self._lock:
                self.stream.write("\r\x1b[2K" + line[:200])
                self.stream.flush()
            frame += 1

    def _clear_line(self) -> None:
        with self._lock:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
