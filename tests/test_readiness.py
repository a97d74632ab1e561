"""Readiness predicates and the waits built on them."""

from __future__ import annotations

import pytest

from provisioning.errors import OperationError
from provisioning.lab.readiness import (
    Check,
    all_ready,
    daemonset_rolled_out,
    deployment_available,
    pod_problem,
    pod_ready,
    tigerastatus_available,
    wait_for,
)


def pod(name: str, ready: bool, **status: object) -> dict:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "metadata": {"name": name, "namespace": "demo"},
        "status": {"conditions": conditions, **status},
    }


def test_pending_pods_say_why() -> None:
    pulling = pod(
        "server",
        False,
        containerStatuses=[{"name": "main", "state": {"waiting": {"reason": "ErrImagePull"}}}],
    )
    unscheduled = {
        "metadata": {"name": "client", "namespace": "demo"},
        "status": {
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
        },
    }
    check = all_ready(
        "demo pods", [pulling, unscheduled, pod("ok", True)], pod_ready, why=pod_problem
    )
    assert not check.done
    assert "demo/server: ErrImagePull" in check.detail
    assert "demo/client: Unschedulable" in check.detail
    assert pod_problem(pod("ok", True)) is None


def test_rollouts_and_operator_status() -> None:
    ds = {
        "metadata": {"generation": 2},
        "status": {
            "observedGeneration": 2,
            "desiredNumberScheduled": 2,
            "updatedNumberScheduled": 2,
            "numberAvailable": 1,
        },
    }
    assert not daemonset_rolled_out(ds)
    ds["status"]["numberAvailable"] = 2
    assert daemonset_rolled_out(ds)
    ds["status"]["observedGeneration"] = 1  # the controller has not seen the new spec yet
    assert not daemonset_rolled_out(ds)
    dep = {
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }
    assert deployment_available(dep)
    degraded = {
        "status": {
            "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Degraded", "status": "True"},
            ]
        }
    }
    assert not tigerastatus_available(degraded)


def test_wait_reports_the_last_detail_on_timeout_and_tolerates_api_blips() -> None:
    now = [0.0]
    calls = []

    def check() -> Check:
        calls.append(now[0])
        if len(calls) == 1:
            raise OperationError("API did not answer")
        return Check(False, "waiting for nodes: 1/2 ready")

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(OperationError, match="timed out after 10s waiting for nodes: 1/2"):
        wait_for(check, timeout=10, interval=2, clock=lambda: now[0], sleep=sleep)
    assert len(calls) == 6
