"""Asking before destructive steps: one rule for every task and provider.

With ``--yes`` nothing is asked. Otherwise a terminal gets the question (on stderr, so a
``--json`` document on stdout stays clean); with no one to ask, the run stops with a usage error
that says to re-run with ``--yes``. Either way, nothing has been changed when it stops.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from provisioning.errors import Interrupted, UsageError

Confirm = Callable[[str], bool]


def require_confirmation(question: str, *, yes: bool, confirm: Confirm | None) -> None:
    """``question`` is a sentence without the final mark, e.g. "Delete kind cluster 'x'"."""
    if yes:
        return
    if confirm is None:
        raise UsageError(f"{question}: re-run with --yes to confirm (nothing was changed)")
    if not confirm(f"{question}?"):
        raise UsageError("cancelled; nothing was changed")


def terminal_confirm() -> Confirm | None:
    """A confirm function for an interactive terminal, or None when stdin is not one."""
    if not sys.stdin.isatty():
        return None

    def ask(question: str) -> bool:
        sys.stderr.write(f"{question} [y/N] ")
        sys.stderr.flush()
        try:
            answer = sys.stdin.readline()
        except KeyboardInterrupt:
            sys.stderr.write("\n")
            raise Interrupted("interrupted at the question; nothing was changed") from None
        return answer.strip().lower() in ("y", "yes")

    return ask
