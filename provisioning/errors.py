"""The few exception types the toolkit raises, and the exit codes tasks map them to.

A user-facing failure is one line: what was wrong, where, and what to do. ``tasks.py`` turns
these into ``invoke.Exit`` with the exit code below, so users never see a traceback for them.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

EXIT_FAILED = 1
EXIT_USAGE = 2


class LabError(Exception):
    """Base class: a failure the user should read as one clear message."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UsageError(LabError):
    """Bad usage or configuration: unknown choice, broken profile, invalid template. Exit 2."""

    exit_code = EXIT_USAGE


class OperationError(LabError):
    """An operation failed while it ran (a cluster call, a wait that timed out). Exit 1."""

    exit_code = EXIT_FAILED


class Interrupted(LabError):
    """Ctrl-C at a point where nothing had been changed yet (a confirmation question). Exit 130."""

    exit_code = 130


class CommandError(OperationError):
    """An external command exited non-zero; carries a command the user can paste and its output."""

    def __init__(
        self, argv: Sequence[str], returncode: int, output: str, *, hint: str | None = None
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        super().__init__(
            f"command failed with exit code {returncode}: {pretty_command(argv)}", hint=hint
        )

    def tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the command's combined output."""
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def pretty_command(argv: Sequence[str]) -> str:
    """A shell-pasteable rendering of ``argv``."""
    return shlex.join(str(a) for a in argv)


def choice_error(what: str, value: str, choices: Sequence[str], *, where: str = "") -> UsageError:
    """The standard 'unknown X' message: names the bad value and lists the valid ones."""
    from provisioning.documents import shown

    place = f"{where}: " if where else ""
    return UsageError(
        f"{place}unknown {what} {shown(value)}; choose one of: {', '.join(sorted(choices))}"
    )
