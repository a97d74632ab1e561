"""Standard output that cannot change a task's verdict.

``invoke up --json | true`` closes the pipe before the document is written; ``plan --json >
/dev/full`` has nowhere to put it. Neither may turn a failed run into exit 0, nor a good one into a
traceback. ``StdoutGuard`` stands in for ``sys.stdout`` while a task runs: a closed reader stops
the printing silently (the task goes on and its exit status stands), any other write failure is
kept and reported once, as one line, when the task ends. Either way file descriptor 1 is then
pointed at ``/dev/null``, so the interpreter's last flush at exit has nothing left to fail on.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

_documents = 0


def note_document() -> None:
    """A task printed its JSON document (so a failure need not print another)."""
    global _documents
    _documents += 1


class _Guarded:
    def __init__(self, stream: Any, guard: StdoutGuard) -> None:
        self._stream = stream
        self._guard = guard

    def write(self, text: str) -> int:
        if not self._guard.closed:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._guard.failed(exc)
        return len(text)

    def flush(self) -> None:
        if not self._guard.closed:
            try:
                self._stream.flush()
            except OSError as exc:
                self._guard.failed(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class StdoutGuard:
    """``with StdoutGuard() as guard: ...; problem = guard.finish()``."""

    def __init__(self) -> None:
        self.closed = False
        self.error: OSError | None = None
        self._original: Any = None
        self._start = 0

    @property
    def documents(self) -> int:
        return _documents - self._start

    def __enter__(self) -> StdoutGuard:
        self._original = sys.stdout
        self._start = _documents
        sys.stdout = _Guarded(self._original, self)
        return self

    def __exit__(self, *exc: object) -> None:
        if sys.stdout is not self._original:
            sys.stdout = self._original

    def failed(self, exc: OSError) -> None:
        import errno

        self.closed = True
        if exc.errno != errno.EPIPE and self.error is None:
            self.error = exc
        self._silence()

    def _silence(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._original.fileno())
            os.close(devnull)

    def finish(self) -> str | None:
        """Flush what is left; one line describing a write failure, or None."""
        if not self.closed:
            try:
                self._original.flush()
            except OSError as exc:
                self.failed(exc)
        if self.error is None:
            return None
        return (
            f"could not write to standard output: {self.error.strerror or self.error} "
            "(the output was lost; free some space or send it elsewhere)"
        )


def check_output_path(value: str, *, flag: str) -> None:
    """Refuse (exit 2) an output path that cannot be written, before any work is done."""
    from pathlib import Path

    from provisioning.errors import UsageError

    if not value:
        raise UsageError(f"{flag} is empty; give the path of the file to write")
    path = Path(value)
    if path.is_dir():
        raise UsageError(
            f"{flag} {value}: is a folder; give a file path, such as {path / 'report.html'}"
        )
    try:
        parent = path.absolute().parent
    except OSError as exc:
        raise UsageError(f"{flag} {value}: {exc.strerror or exc}") from None
    if not parent.is_dir():
        raise UsageError(
            f"{flag} {value}: folder {parent} does not exist; create it or choose another path"
        )
    target = path if path.exists() else parent
    if not os.access(target, os.W_OK):
        raise UsageError(
            f"{flag} {value}: {target} is not writable; choose a path you can write to"
        )
