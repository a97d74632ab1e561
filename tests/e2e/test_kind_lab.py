"""The whole flow on a real kind cluster, through the same commands a user types.

Run: ``NETPOL_LAB_E2E=1 python -m pytest -m e2e tests/e2e`` (optionally
``NETPOL_LAB_E2E_ENGINES=calico`` to pick engines). Each engine gets its own cluster, removed
at the end even when an assertion fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINES = os.environ.get("NETPOL_LAB_E2E_ENGINES", "calico,cilium,none").split(",")

pytestmark = pytest.mark.e2e


def invoke(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"invoke {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def kubectl(kubeconfig: str, *args: str) -> str:
    return subprocess.run(
        ["kubectl", "--kubeconfig", kubeconfig, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


@pytest.mark.parametrize("engine", ENGINES)
def test_up_converges_and_down_removes_everything(engine: str, require_kind) -> None:
    require_kind(engine)
    name = f"e2e-{engine}"
    lab = ["--engine", engine, "--name", name]
    try:
        up = invoke("up", *lab, "--scenario", "zero-trust", "--yes", "--json")
        doc = json.loads(up.stdout)
        assert doc["executed"] and doc["after"]["engine_ready"], up.stderr
        assert all(step["ok"] for step in doc["steps"])

        status = json.loads(invoke("status", *lab, "--json").stdout)
        kubeconfig = status["kubeconfig"]
        assert oct(Path(kubeconfig).stat().st_mode & 0o777) == "0o600"
        assert all(status["pods_ready"].values()) and len(status["pods_ready"]) == 4
        assert status["scenario"] == "zero-trust"
        pods = json.loads(
            kubectl(
                kubeconfig, "get", "pods", "-A", "-l", f"netpol-lab.io/lab={name}", "-o", "json"
            )
        )
        assert len(pods["items"]) == 4

        # A second run observes everything in place and changes nothing.
        again = json.loads(invoke("up", *lab, "--scenario", "zero-trust", "--json").stdout)
        assert [s["marker"] for s in again["plan"]["steps"]][:4] == ["="] * 4

        # Switching scenario only touches policies.
        switched = json.loads(invoke("up", *lab, "--scenario", "aks-demo", "--json").stdout)
        markers = {s["action"]: s["marker"] for s in switched["plan"]["steps"]}
        assert markers["deploy-workload"] == "=" and markers["apply-policies"] != "="

        kept = invoke("down", *lab, "--keep-cluster")
        assert "namespace demo" in kept.stderr
    finally:
        invoke("down", *lab, "--yes", check=False)
    clusters = subprocess.run(
        ["kind", "get", "clusters"], capture_output=True, text=True, check=False
    ).stdout.split()
    assert name not in clusters
    quiet = invoke("down", *lab, "--yes")
    assert "Nothing to remove" in quiet.stderr
