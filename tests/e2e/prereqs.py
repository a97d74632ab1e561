"""What an end-to-end run needs on this machine, and why it cannot run when something is missing.

Shared by the pytest fixture (``conftest.py``, one skip reason per engine) and the one-command
runner (``run.py``, one line and no report when the machine cannot run kind at all). Standard
library only: the workflow calls the runner before the project is installed.
"""

from __future__ import annotations

import shutil
import subprocess

# Every engine runs on kind and is installed or checked with kubectl.
COMMON_TOOLS = ("docker", "kind", "kubectl")


def docker_answers() -> bool:
    """True when a Docker engine answers ``docker info`` (the CLI alone is not enough)."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def missing_tools() -> str | None:
    """Why no engine can run here (Docker, kind or kubectl missing, Docker not answering)."""
    for program in COMMON_TOOLS:
        if shutil.which(program) is None:
            return f"{program} is not installed"
    if not docker_answers():
        return "no Docker engine answers (`docker info` failed)"
    return None


def missing_for_engine(engine: str) -> str | None:
    """What only ``engine`` needs beyond the common tools: helm or the cilium CLI for Cilium."""
    if engine in ("cilium", "none") and not (shutil.which("helm") or shutil.which("cilium")):
        return "neither helm nor the cilium CLI is installed"
    return None
