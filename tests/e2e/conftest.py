"""End-to-end tests on real kind clusters: opt-in, and skipped with a reason when impossible.

They need Docker (an engine that answers), kind, kubectl and, for cilium/none, helm or the cilium
CLI, and they take minutes per engine, so they also need ``NETPOL_LAB_E2E=1``. The one command
that runs them and leaves a report folder is ``python -m tests.e2e.run`` (see ``run.py``); the
GitHub Actions workflow ``.github/workflows/e2e.yml`` runs it for calico, cilium and none.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.prereqs import missing_for_engine, missing_tools


def missing_for(engine: str) -> str | None:
    """Why an e2e test for ``engine`` cannot run here, or None."""
    if os.environ.get("NETPOL_LAB_E2E") != "1":
        return "end-to-end tests are opt-in: set NETPOL_LAB_E2E=1 (they create kind clusters)"
    return missing_tools() or missing_for_engine(engine)


@pytest.fixture
def require_kind():
    def check(engine: str) -> None:
        if reason := missing_for(engine):
            pytest.skip(reason)

    return check


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    """Where the test leaves what a bug report needs: the runner's report folder
    (``NETPOL_LAB_E2E_REPORT``) or, run bare, the test's own temporary directory."""
    if folder := os.environ.get("NETPOL_LAB_E2E_REPORT"):
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path
