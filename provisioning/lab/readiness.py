"""Readiness: pure predicates over Kubernetes objects, and one polling loop that waits on them.

Each check returns a ``Check`` (done, what it is waiting for). ``wait_for`` polls a check until it
is done or the timeout passes, reporting the current detail to the progress line, and fails with
a message saying what it waited for, for how long, and what it last saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.errors import OperationError

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Check:
    done: bool
    detail: str


def _conditions(obj: Obj) -> dict[str, Mapping[str, Any]]:
    return {c.get("type", ""): c for c in obj.get("status", {}).get("conditions", []) or []}


def _name(obj: Obj) -> str:
    meta = obj.get("metadata", {})
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


def node_ready(node: Obj) -> bool:
    return _conditions(node).get("Ready", {}).get("status") == "True"


def pod_ready(pod: Obj) -> bool:
    return _conditions(pod).get("Ready", {}).get("status") == "True"


def tigerastatus_available(obj: Obj) -> bool:
    """Calico's operator reports each component in a TigeraStatus; Available=True means ready.

    Source: Calico docs, "Install Calico on kind" / operator reference (TigeraStatus conditions
    Available, Progressing, Degraded).
    """
    conds = _conditions(obj)
    return (
        conds.get("Available", {}).get("status") == "True"
        and conds.get("Degraded", {}).get("status") != "True"
    )


def daemonset_rolled_out(ds: Obj) -> bool:
    """What `kubectl rollout status daemonset` checks: all pods updated and available."""
    status = ds.get("status", {})
    desired = status.get("desiredNumberScheduled", 0)
    return (
        status.get("observedGeneration", 0) >= ds.get("metadata", {}).get("generation", 0)
        and desired > 0
        and status.get("updatedNumberScheduled", 0) == desired
        and status.get("numberAvailable", 0) == desired
    )


def deployment_available(dep: Obj) -> bool:
    """What `kubectl rollout status deployment` checks, in short."""
    status = dep.get("status", {})
    wanted = dep.get("spec", {}).get("replicas", 1)
    return (
        status.get("observedGeneration", 0) >= dep.get("metadata", {}).get("generation", 0)
        and status.get("updatedReplicas", 0) == wanted
        and status.get("availableReplicas", 0) == wanted
        and _conditions(dep).get("Available", {}).get("status") == "True"
    )


def pod_problem(pod: Obj) -> str | None:
    """Why a pod is not Ready yet, as kubectl shows it: ErrImagePull, CrashLoopBackOff,
    Unschedulable... (None when there is nothing to say)."""
    status = pod.get("status", {})
    for container in status.get("containerStatuses", []) or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if reason := waiting.get("reason"):
            return str(reason)
    scheduled = _conditions(pod).get("PodScheduled", {})
    if scheduled.get("status") == "False" and scheduled.get("reason"):
        return str(scheduled["reason"])
    return None


def all_ready(
    what: str,
    objects: Iterable[Obj],
    predicate: Callable[[Obj], bool],
    *,
    expect: int = 1,
    why: Callable[[Obj], str | None] = lambda _o: None,
) -> Check:
    """Every object passes ``predicate`` and there are at least ``expect`` of them.

    ``why`` adds a reason to each object still pending (e.g. ``demo/server: ErrImagePull``), so
    a wait on bad Wi-Fi says what is wrong instead of only what it waits for.
    """
    objs = list(objects)
    if len(objs) < expect:
        return Check(False, f"waiting for {what} to appear ({len(objs)}/{expect})")
    pending = [
        f"{_name(o)}: {reason}" if (reason := why(o)) else _name(o)
        for o in objs
        if not predicate(o)
    ]
    if pending:
        shown = ", ".join(pending[:3]) + (" …" if len(pending) > 3 else "")
        return Check(
            False,
            f"waiting for {what}: {len(objs) - len(pending)}/{len(objs)} ready (not yet: {shown})",
        )
    return Check(True, f"{what}: {len(objs)}/{len(objs)} ready")


def wait_for(
    check: Callable[[], Check],
    *,
    timeout: float,
    on_update: Callable[[str], None] = lambda _d: None,
    interval: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    hint: str = "",
) -> Check:
    """Poll ``check`` until done; raise OperationError naming what it waited for on timeout.

    A check that raises an OperationError (API briefly unreachable while a CNI starts) counts as
    not done yet; the last such error is reported if the wait times out.
    """
    deadline = clock() + timeout
    last = Check(False, "not checked yet")
    while True:
        try:
            last = check()
        except OperationError as exc:
            last = Check(False, f"{exc}")
        if last.done:
            on_update(last.detail)
            return last
        on_update(last.detail)
        if clock() >= deadline:
            raise OperationError(
                f"timed out after {timeout:.0f}s {last.detail}",
                hint=hint or "raise the timeout in the profile (timeouts.*) or see `invoke status`",
            )
        sleep(interval)


# --- engine components, wherever they run (kind installs them; AKS manages them) ------------

# The TigeraStatus objects the operator creates for this lab's Installation + APIServer, read
# in tigera/operator v1.42.3 (the operator projectcalico/calico v3.32.1 ships, its
# manifests/tigera-operator.yaml): pkg/controller/installation/core_controller.go
# status.New(..., "calico"), pkg/controller/ippool/pool_controller.go tigeraStatusName "ippools"
# (reported once an Installation exists), pkg/controller/apiserver/apiserver_controller.go
# "apiserver" (once an APIServer exists), pkg/controller/tiers/tiers_controller.go "tiers"
# (always: internal/controller/controllers.go registers it unconditionally since v1.42.0, commit
# 32ab43e4f "Enable tiers oss (#4489)"; its Reconcile calls OnCRFound() and reports Degraded
# "Waiting for Tigera API server to be ready" until the API server is up, so it is Available
# last). goldmane and whisker report only when their own resources exist.
KIND_CALICO_STATUSES = ("calico", "ippools", "apiserver", "tiers")


def calico_ready(
    kube: Any, required: tuple[str, ...] = KIND_CALICO_STATUSES, *, only_required: bool = False
) -> Check:
    """The ``required`` TigeraStatus objects exist and every TigeraStatus is Available (with
    ``only_required``, every required one: on AKS the operator is Microsoft's, and a status
    such as "tiers" may stay Degraded there without an APIServer the lab does not manage).

    Waiting for each expected name matters: right after the Installation is applied only some
    controllers have reported, and all of those present may already say Available.
    """
    statuses = kube.list("operator.tigera.io/v1", "TigeraStatus")
    present = {s["metadata"]["name"] for s in statuses}
    if missing := [name for name in required if name not in present]:
        shown = ", ".join(f"'{name}'" for name in missing)
        return Check(False, f"waiting for tigerastatus {shown} to appear")
    if only_required:
        statuses = [s for s in statuses if s["metadata"]["name"] in required]
    return all_ready("tigerastatus", statuses, tigerastatus_available)


def daemonset_ready(kube: Any, name: str, *, optional: bool = False) -> Check:
    """DaemonSet kube-system/``name`` rolled out; an ``optional`` one may also be absent."""
    ds = kube.get("apps/v1", "DaemonSet", name, "kube-system")
    if ds is None:
        return Check(optional, f"waiting for DaemonSet kube-system/{name} to appear")
    return all_ready(f"DaemonSet kube-system/{name}", [ds], daemonset_rolled_out)


def cilium_ready(kube: Any) -> Check:
    """The agent, its L7 proxy where deployed and the operator: what `cilium status --wait`
    waits for (Cilium >= 1.16 runs envoy as its own DaemonSet by default)."""
    for check in (
        daemonset_ready(kube, "cilium"),
        daemonset_ready(kube, "cilium-envoy", optional=True),
    ):
        if not check.done:
            return check
    op = kube.get("apps/v1", "Deployment", "cilium-operator", "kube-system")
    return all_ready(
        "Deployment kube-system/cilium-operator", [op] if op else [], deployment_available
    )


def first_pending(*checks: Callable[[], Check]) -> Check:
    """Run checks in order; the first not done explains the wait, else the last one's detail."""
    result = Check(True, "")
    for check in checks:
        result = check()
        if not result.done:
            return result
    return result
