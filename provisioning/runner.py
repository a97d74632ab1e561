"""The subprocess seam: every external command (kind, kubectl, helm, cilium, docker) runs here.

Code above this seam builds argv lists and reads results; tests swap in a fake runner that records
commands and replays recorded outputs, so everything above it runs for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from provisioning.errors import CommandError, OperationError


@dataclass(frozen=True)
class Result:
    """What a finished command printed and returned."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        """stdout and stderr together, for error messages."""
        return "\n".join(part for part in (self.stdout, self.stderr) if part)


class Runner(Protocol):
    """Runs one command to completion. ``check=True`` raises ``CommandError`` on non-zero exit."""

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Result: ...

    def which(self, program: str) -> str | None: ...


@dataclass
class SubprocessRunner:
    """The real runner. ``env`` entries are added to the inherited environment."""

    extra_env: Mapping[str, str] = field(default_factory=dict)

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Result:
        argv = [str(a) for a in argv]
        merged = {**os.environ, **self.extra_env, **(env or {})}
        try:
            proc = subprocess.run(
                argv,
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=merged,
                check=False,
            )
        except FileNotFoundError as exc:
            raise OperationError(
                f"{argv[0]} is not installed or not on PATH",
                hint="run `invoke doctor` to see what is missing and how to install it",
            ) from exc
        except subprocess.TimeoutExpired as exc:
            out = _text(exc.stdout) + _text(exc.stderr)
            raise CommandError(argv, -1, out, hint=f"timed out after {timeout:.0f}s") from exc
        result = Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
        if check and not result.ok:
            raise CommandError(argv, proc.returncode, result.output)
        return result

    def which(self, program: str) -> str | None:
        return shutil.which(program)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
