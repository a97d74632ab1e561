"""The AKS part of ``up``: carry out an ``AksPlan`` through the gateway, exactly as planned.

Create: the resource group (only if missing, tagged as the tool's), then the cluster with
``If-None-Match: *``. Update: one full PUT per step, each with the ETag of the cluster as the
previous step left it. Repair: one full PUT of the cluster's own configuration (If-Match), which
makes AKS reconcile a cluster left Failed. A refused plan raises before any call. Confirmation
(``--yes``) is the caller's job: ``plan.transition.needs_confirmation`` says when to ask.

``ensure_group`` and ``apply_cluster`` are the two halves of ``apply_plan``, for a caller that
records between them that the group is the tool's before the long cluster operation starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provisioning.errors import OperationError, UsageError
from provisioning.providers.aks.body import update_body
from provisioning.providers.aks.transitions import CREATE, NOOP, REPAIR, UPDATE

if TYPE_CHECKING:
    from provisioning.providers.aks.gateway import AksGateway, Progress
    from provisioning.providers.aks.observed import ObservedCluster
    from provisioning.providers.aks.plan import AksPlan
    from provisioning.spec import LabSpec


def apply_plan(
    gateway: AksGateway, spec: LabSpec, plan: AksPlan, *, progress: Progress | None = None
) -> ObservedCluster:
    """Run ``plan`` and return the cluster as ARM reports it afterwards."""
    ensure_group(gateway, plan)
    return apply_cluster(gateway, spec, plan, progress=progress)


def ensure_group(gateway: AksGateway, plan: AksPlan) -> bool:
    """The plan's resource group request, if it has one; True when the tool created the group.

    An existing group is left untouched (``AksGateway.ensure_group`` looks before it writes).
    """
    _check(plan)
    request = plan.group_request
    if request is None:
        return False
    return gateway.ensure_group(plan.group, request.body["location"], request.body["tags"])


def apply_cluster(
    gateway: AksGateway, spec: LabSpec, plan: AksPlan, *, progress: Progress | None = None
) -> ObservedCluster:
    """The plan's cluster requests (the group must exist); the cluster as ARM reports it after.

    Each long-running operation may take ``spec.timeouts.cluster`` seconds; past that an
    OperationError says how to resume (the operation goes on in Azure).
    """
    _check(plan)
    t = plan.transition
    timeout = spec.timeouts.cluster
    if t.action == CREATE:
        cluster_request = plan.requests[-1]
        if "kubernetesVersion" not in cluster_request.body.get("properties", {}):
            raise OperationError(
                "the create plan has no Kubernetes version; plan with "
                "AksGateway.default_kubernetes_version(location) or aks.kubernetes_version"
            )
        return gateway.create_cluster(
            plan.group, plan.name, cluster_request.body, progress, timeout=timeout
        )
    current = plan.current
    if current is None:  # NOOP, UPDATE and REPAIR are only planned for an observed cluster
        raise OperationError(f"plan for {plan.name!r} has no observed cluster; re-run plan")
    if t.action == NOOP:
        return current
    assert t.action in (UPDATE, REPAIR)
    for step in t.steps:
        current = gateway.update_cluster(
            plan.group,
            plan.name,
            update_body(current, step),
            current.etag,
            progress,
            timeout=timeout,
        )
    return current


def _check(plan: AksPlan) -> None:
    """Refuse before any call: a refused plan, or one made without looking at Azure."""
    if plan.transition.refused:
        raise UsageError(plan.transition.reason)
    if not plan.observed:
        raise UsageError(
            "this plan was made without looking at Azure; re-run plan with credentials"
        )
