"""End-to-end tests on real kind clusters: opt-in, and skipped with a reason when impossible.

They need Docker (an engine that answers), kind, kubectl and, for cilium/none, helm or the cilium
CLI, and they take minutes per engine, so they also need ``NETPOL_LAB_E2E=1``. The GitHub Actions
workflow ``.github/workflows/e2e.yml`` runs them for calico, cilium and none.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _docker_answers() -> bool:
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


def missing_for(engine: str) -> str | None:
    """Why an e2e test for ``engine`` cannot run here, or None."""
    if os.environ.get("NETPOL_LAB_E2E") != "1":
        return "end-to-end tests are opt-in: set NETPOL_LAB_E2E=1 (they create kind clusters)"
    for program in ("kind", "kubectl"):
        if shutil.which(program) is None:
            return f"{program} is not installed"
    if engine in ("cilium", "none") and not (shutil.which("helm") or shutil.which("cilium")):
        return "neither helm nor the cilium CLI is installed"
    if not _docker_answers():
        return "no Docker engine answers (`docker info` failed)"
    return None


@pytest.fixture
def require_kind():
    def check(engine: str) -> None:
        if reason := missing_for(engine):
            pytest.skip(reason)

    return check
