"""The whole flow on a real kind cluster, through the same commands a user types.

Run everything, with a report folder: ``python -m tests.e2e.run --engines calico,cilium,none``.
Bare: ``NETPOL_LAB_E2E=1 python -m pytest -m e2e tests/e2e`` (optionally
``NETPOL_LAB_E2E_ENGINES=calico``). Each engine gets its own cluster, removed at the end even when
an assertion fails. Each step is a subprocess with its own time budget (``budget.py``); the test's
pytest-timeout marker is the sum of them plus a margin, replacing the global 120 s for it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.e2e import budget
from tests.e2e.steps import StepRunner

ROOT = Path(__file__).resolve().parents[2]
ENGINES = [
    e for e in os.environ.get("NETPOL_LAB_E2E_ENGINES", "calico,cilium,none").split(",") if e
]

pytestmark = pytest.mark.e2e

BUDGETS = {engine: budget.budgets_for(engine) for engine in ENGINES}


def _engine_params() -> list:
    # method="signal": pytest-timeout then fails the test with pytest.fail() and the run goes on,
    # so the `finally` below still removes the cluster and the JUnit XML is still written; the
    # "thread" method would os._exit() the whole run (pytest-timeout README, "Timeout Methods").
    return [
        pytest.param(
            engine,
            id=engine,
            marks=pytest.mark.timeout(budget.whole_test_timeout(BUDGETS[engine]), method="signal"),
        )
        for engine in ENGINES
    ]


def invoke(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]


@pytest.mark.parametrize("engine", _engine_params())
def test_up_converges_and_down_removes_everything(
    engine: str, require_kind, report_dir: Path
) -> None:
    require_kind(engine)
    name = budget.lab_name(engine)
    lab = ["--engine", engine, "--name", name]
    steps = StepRunner(BUDGETS[engine], cwd=ROOT, log_dir=report_dir / "steps" / engine)
    print(budget.render_table([engine]), end="")
    try:
        up = steps.run(
            "up-first", invoke("up", *lab, "--scenario", "zero-trust", "--yes", "--json")
        )
        doc = json.loads(up.stdout)
        assert doc["executed"] and doc["after"]["engine_ready"], up.stderr
        assert all(step["ok"] for step in doc["steps"])

        status_out = steps.run("status", invoke("status", *lab, "--json")).stdout
        (report_dir / f"status-{engine}.json").write_text(status_out)
        status = json.loads(status_out)
        kubeconfig = status["kubeconfig"]
        assert oct(Path(kubeconfig).stat().st_mode & 0o777) == "0o600"
        assert all(status["pods_ready"].values()) and len(status["pods_ready"]) == 4
        assert status["scenario"] == "zero-trust"

        # The matrix a bug report needs, while the lab is up (exits non-zero on a mismatch).
        html = report_dir / f"validation-{engine}.html"
        steps.run(
            "validate-html", invoke("validate", *lab, "--format", "html", "--output", str(html))
        )
        assert html.read_text().lstrip().lower().startswith("<!doctype html")

        get_pods = ["kubectl", "--kubeconfig", kubeconfig, "get", "pods", "-A"]
        get_pods += ["-l", f"netpol-lab.io/lab={name}", "-o", "json"]
        pods = json.loads(steps.run("kubectl-pods", get_pods).stdout)
        assert len(pods["items"]) == 4

        # A second run observes everything in place and changes nothing.
        again = json.loads(
            steps.run("up-again", invoke("up", *lab, "--scenario", "zero-trust", "--json")).stdout
        )
        assert [s["marker"] for s in again["plan"]["steps"]][:4] == ["="] * 4

        # Switching scenario only touches policies.
        switched = json.loads(
            steps.run("up-switch", invoke("up", *lab, "--scenario", "aks-demo", "--json")).stdout
        )
        markers = {s["action"]: s["marker"] for s in switched["plan"]["steps"]}
        assert markers["deploy-workload"] == "=" and markers["apply-policies"] != "="

        kept = steps.run("down-keep", invoke("down", *lab, "--keep-cluster"))
        assert "namespace demo" in kept.stderr
    finally:
        try:
            steps.run("down", invoke("down", *lab, "--yes"), check=False)
        finally:
            steps.write_summary()
    clusters = steps.run("kind-clusters", ["kind", "get", "clusters"], check=False).stdout.split()
    assert name not in clusters
    quiet = steps.run("down-again", invoke("down", *lab, "--yes"))
    assert "Nothing to remove" in quiet.stderr
    steps.write_summary()
