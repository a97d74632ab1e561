"""The AKS part of ``up``: carry out an ``AksPlan`` through the gateway, exactly as planned.

Create: the resource group (only if missing, tagged as the tool's), then the cluster with
``If-None-Match: *``. Update: one full PUT per step, each with the ETag of the cluster as the
previous step left it. A refused plan raises before any call. Confirmation (``--yes``) is the
caller's job: ``plan.transition.needs_confirmation`` says when to ask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provisioning.aks.body import update_body
from provisioning.aks.tags import merged_tags
from provisioning.aks.transitions import CREATE, NOOP, UPDATE
from provisioning.errors import OperationError, UsageError

if TYPE_CHECKING:
    from provisioning.aks.gateway import AksGateway, Progress
    from provisioning.aks.observed import ObservedCluster
    from provisioning.aks.plan import AksPlan
    from provisioning.spec import LabSpec


def apply_plan(
    gateway: AksGateway, spec: LabSpec, plan: AksPlan, *, progress: Progress | None = None
) -> ObservedCluster:
    """Run ``plan`` and return the cluster as ARM reports it afterwards."""
    t = plan.transition
    if t.refused:
        raise UsageError(t.reason)
    if not plan.observed:
        raise UsageError(
            "this plan was made without looking at Azure; re-run plan with credentials"
        )
    if t.action == CREATE:
        cluster_request = plan.requests[-1]
        if "kubernetesVersion" not in cluster_request.body.get("properties", {}):
            raise OperationError(
                "the create plan has no Kubernetes version; plan with "
                "AksGateway.default_kubernetes_version(location) or aks.kubernetes_version"
            )
        gateway.ensure_group(plan.group, plan.location, merged_tags(spec.aks.tags, spec.name))
        return gateway.create_cluster(plan.group, plan.name, cluster_request.body, progress)
    current = plan.current
    if current is None:  # NOOP and UPDATE are only planned for an observed cluster
        raise OperationError(f"plan for {plan.name!r} has no observed cluster; re-run plan")
    if t.action == NOOP:
        return current
    assert t.action == UPDATE
    for step in t.steps:
        current = gateway.update_cluster(
            plan.group, plan.name, update_body(current, step), current.etag, progress
        )
    return current
