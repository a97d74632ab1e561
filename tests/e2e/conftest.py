"""End-to-end tests on real kind clusters: opt-in, and skipped with a reason when impossible.

They need Docker (an engine that answers), kind, kubectl and, for cilium/none, helm or the cilium
CLI, and they take minutes per engine, so they also need ``NETPOL_LAB_E2E=1``. The one command
that runs them and leaves a report folder is ``python -m tests.e2e.run`` (see ``run.py``); the
GitHub Actions workflow ``.github/workflows/e2e.yml`` runs it for calico, cilium, none and
existing.

Which flows run: ``NETPOL_LAB_E2E_ENGINES`` (comma-separated; unset: all of ``ALL_ENGINES``).
The kind engines (calico, cilium, none) run ``test_kind_lab.py``, one kind cluster each made by
``invoke up``; the pseudo-engine ``existing`` runs ``test_existing_lab.py``, the lab on a kind
cluster the test makes by hand (``--provider existing``). ``pytest_collection_modifyitems`` below
deselects what was not chosen (deselected, not skipped: the runner's ``--no-skip`` counts skips).

``test_fleet.py`` (a workshop fleet, calico, on its own kind cluster) is not an engine's flow: it
is chosen by ``NETPOL_LAB_E2E_FLEET=1`` (e.g. ``NETPOL_LAB_E2E_FLEET=1 python -m tests.e2e.run
--engines calico``) or by naming its file on pytest's command line, and deselected otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.budget import EXISTING, KIND_ENGINES
from tests.e2e.prereqs import missing_for_engine, missing_tools

ALL_ENGINES = (*KIND_ENGINES, EXISTING)
EXISTING_TEST = "test_existing_lab.py"
FLEET_TEST = "test_fleet.py"
FLEET_ENV = "NETPOL_LAB_E2E_FLEET"


def selected_engines() -> list[str]:
    """The flows chosen by ``NETPOL_LAB_E2E_ENGINES``; all of them when it is unset."""
    value = os.environ.get("NETPOL_LAB_E2E_ENGINES")
    if value is None:
        return list(ALL_ENGINES)
    return [e for e in value.split(",") if e]


def missing_for(engine: str) -> str | None:
    """Why an e2e test for ``engine`` cannot run here, or None."""
    if os.environ.get("NETPOL_LAB_E2E") != "1":
        return "end-to-end tests are opt-in: set NETPOL_LAB_E2E=1 (they create kind clusters)"
    return missing_tools() or missing_for_engine(engine)


def fleet_chosen(config: pytest.Config) -> bool:
    """Whether ``test_fleet.py`` runs: ``NETPOL_LAB_E2E_FLEET=1``, or its file (or a test in it)
    named on the command line."""
    if os.environ.get(FLEET_ENV) == "1":
        return True
    target = (Path(__file__).parent / FLEET_TEST).resolve()
    here = Path(config.invocation_params.dir)
    for arg in config.args:
        path = Path(str(arg).split("::", 1)[0])
        if (here / path).resolve() == target:  # an absolute path stays as it is
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``test_existing_lab.py`` unless ``existing`` is chosen, and ``test_kind_lab``'s
    ``[existing]`` case (it parametrizes over every chosen name; ``existing`` is not an engine
    ``invoke up --engine`` installs, its flow is ``test_existing_lab.py``), and ``test_fleet.py``
    unless ``fleet_chosen``."""
    chosen = selected_engines()
    fleet = fleet_chosen(config)
    here = Path(__file__).parent
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("engine") if callspec is not None else None
        if item.path.parent != here:
            keep.append(item)  # the hook sees the whole session's items
        elif item.path.name == EXISTING_TEST:
            (keep if EXISTING in chosen else drop).append(item)
        elif item.path.name == FLEET_TEST:
            (keep if fleet else drop).append(item)
        else:
            (drop if engine == EXISTING else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


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
