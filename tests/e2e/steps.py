"""Run one e2e step (a command) within its budget, name it when it overruns, log it for the report.

Each step runs in its own process group (``start_new_session``), so a step that overruns is
stopped with everything it started (``kubectl``, ``helm``, ``kind`` under ``invoke``), not just the
Python process at the top. ``communicate(timeout=...)`` raises ``TimeoutExpired`` without losing
output, and a second ``communicate`` after the kill collects what the step had printed (Python docs,
``subprocess.Popen.communicate``). A step's standard input is ``/dev/null``: a command that would
ask a question (``invoke up`` or ``down`` wanting a confirmation) gets no terminal, so it fails at
once instead of waiting for an answer until its budget runs out. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.e2e.budget import StepBudget

TAIL_LINES = 40  # lines of stdout/stderr quoted in a failure message (the log has everything)
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL for an overrunning step


class StepFailed(AssertionError):
    """A step exited non-zero or overran its budget; the message names the step."""


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    kept = (text or "").rstrip("\n").splitlines()[-lines:]
    return "\n".join(f"  | {line}" for line in kept) or "  | (nothing)"


def _stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the step's process group; SIGKILL it after KILL_GRACE or once the leader is gone
    (children that ignored SIGTERM may still be in the group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class StepRunner:
    """Runs an engine's steps in order, each within its budget, logging each to ``log_dir``."""

    def __init__(
        self,
        budgets: Mapping[str, StepBudget],
        *,
        cwd: Path,
        log_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.budgets = dict(budgets)
        self.cwd = cwd
        self.log_dir = log_dir
        self.env = dict(env) if env is not None else None
        self.records: list[dict[str, Any]] = []
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)

    def run(
        self, key: str, argv: Sequence[str], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        budget = self.budgets[key]
        start = time.monotonic()
        proc = subprocess.Popen(
            list(argv),
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        overran = False
        try:
            out, err = proc.communicate(timeout=budget.seconds)
        except subprocess.TimeoutExpired:
            overran = True
            _stop_group(proc)
            try:
                out, err = proc.communicate(timeout=KILL_GRACE)
            except subprocess.TimeoutExpired:  # a grandchild in another group holds the pipes
                out, err = "", "(output lost: the pipes stayed open after the step was stopped)"
        except BaseException:
            # pytest-timeout's signal method fails the test from inside communicate(); Ctrl-C too.
            _stop_group(proc)
            raise
        elapsed = time.monotonic() - start
        result = subprocess.CompletedProcess(list(argv), proc.returncode, out or "", err or "")
        self._record(budget, result, elapsed, overran)
        where = f" (log: {self._log_path(budget)})" if self.log_dir else ""
        if overran:
            raise StepFailed(
                f"step '{budget.label}' exceeded its {budget.seconds:g} s budget "
                f"({budget.breakdown()}) and was stopped after {elapsed:.0f} s{where}\n"
                f"stdout:\n{_tail(result.stdout)}\nstderr:\n{_tail(result.stderr)}"
            )
        if check and result.returncode != 0:
            raise StepFailed(
                f"step '{budget.label}' exited {result.returncode} after {elapsed:.0f} s "
                f"(budget {budget.seconds:g} s){where}\n"
                f"stdout:\n{_tail(result.stdout)}\nstderr:\n{_tail(result.stderr)}"
            )
        return result

    def _log_path(self, budget: StepBudget) -> Path:
        assert self.log_dir is not None
        index = list(self.budgets).index(budget.key) + 1
        return self.log_dir / f"{index:02d}-{budget.key}.log"

    def _record(
        self,
        budget: StepBudget,
        result: subprocess.CompletedProcess[str],
        elapsed: float,
        overran: bool,
    ) -> None:
        record = {
            **budget.as_dict(),
            "command": shlex.join(result.args),
            "elapsed": round(elapsed, 1),
            "exit": None if overran else result.returncode,
            "overran": overran,
        }
        self.records.append(record)
        if self.log_dir is None:
            return
        header = "\n".join(
            [
                f"step: {budget.label}",
                f"command: {record['command']}",
                f"budget: {budget.seconds:g} s = {budget.breakdown()}",
                f"elapsed: {elapsed:.1f} s",
                "result: "
                + ("stopped, budget exceeded" if overran else f"exit {result.returncode}"),
            ]
        )
        self._log_path(budget).write_text(
            f"{header}\n\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )

    def write_summary(self) -> None:
        """``steps.json``: every step run, its budget and how long it really took."""
        if self.log_dir is not None:
            (self.log_dir / "steps.json").write_text(json.dumps(self.records, indent=2) + "\n")
