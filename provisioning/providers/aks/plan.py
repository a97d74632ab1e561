"""The AKS part of ``plan``: the transition plus the exact ARM requests ``up`` would send.

Pure: built from the spec and what was observed (or nothing, when ``plan`` runs without
credentials), so ``invoke plan --provider aks --json`` can print the request bodies offline.
``apply_plan`` in ``provisioning.providers.aks.apply`` then sends exactly these requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from provisioning.providers.aks.body import cluster_body, update_body
from provisioning.providers.aks.observed import ObservedCluster
from provisioning.providers.aks.tags import merged_tags
from provisioning.providers.aks.transitions import (
    CREATE,
    REPAIR,
    UPDATE,
    Transition,
    plan_transition,
)

if TYPE_CHECKING:
    from provisioning.spec import LabSpec

CLUSTER_PATH = (
    "/subscriptions/{subscription}/resourceGroups/{group}/providers/"
    "Microsoft.ContainerService/managedClusters/{name}"
)
GROUP_PATH = "/subscriptions/{subscription}/resourcegroups/{group}"


@dataclass(frozen=True)
class PlannedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: Mapping[str, Any]
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.headers:
            out["headers"] = dict(self.headers)
        out["body"] = self.body
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class AksPlan:
    group: str
    name: str
    location: str
    transition: Transition
    requests: tuple[PlannedRequest, ...] = ()
    current: ObservedCluster | None = None
    observed: bool = True  # False: planned without looking at Azure (no credentials)

    @property
    def group_request(self) -> PlannedRequest | None:
        """The resource group PUT of a create plan; None when the group was seen to exist."""
        if self.transition.action != CREATE or len(self.requests) < 2:
            return None
        return self.requests[0]

    def as_dict(self) -> dict[str, Any]:
        return {
            "resourceGroup": self.group,
            "cluster": self.name,
            "location": self.location,
            "observed": self.observed,
            **self.transition.as_dict(),
            "requests": [r.as_dict() for r in self.requests],
        }

    def lines(self) -> list[str]:
        """Human-readable plan: ``+`` create, ``~`` change, ``-`` remove, ``!`` warning."""
        t = self.transition
        where = f"cluster {self.name} in {self.group} ({self.location})"
        if t.action == CREATE:
            out = [f"+ {where}: create with engine {t.target_engine}"]
        elif t.action == UPDATE:
            out = [f"~ {where}: engine {t.current_engine} -> {t.target_engine}"]
            out += [f"    {i}. {s.summary}" for i, s in enumerate(t.steps, 1)]
            out += [f"       {n}" for s in t.steps for n in s.notes]
        elif t.action == REPAIR:
            out = [f"~ {where}: {t.steps[0].summary} (engine {t.target_engine})"]
        elif t.refused:
            out = [f"x {where}: refused: {t.reason}"]
        else:
            out = [f"= {where}: already runs {t.target_engine}"]
        if not self.observed:
            out.append("  (Azure not consulted: without credentials the cluster is assumed absent)")
        out += [f"! {w}" for w in t.warnings]
        return out


def plan_cluster(
    spec: LabSpec,
    current: ObservedCluster | None,
    *,
    kubernetes_version: str | None = None,
    group_exists: bool | None = None,
    subscription: str | None = None,
    observed: bool = True,
    today: date | None = None,
    pods: int | None = None,
) -> AksPlan:
    """The plan for ``spec`` given the observed cluster (None: it does not exist).

    ``group_exists`` None means unknown (offline plan): the group request is listed with a note.
    ``pods``: the cluster's pod count when known (the Azure NPM scale warning).
    """
    aks = spec.aks
    group = aks.group_for(spec.name)
    names = {"subscription": subscription or "{subscription}", "group": group, "name": spec.name}
    cluster_path = CLUSTER_PATH.format(**names)
    transition = plan_transition(current, spec.engine, lab=spec.name, today=today, pods=pods)
    requests: list[PlannedRequest] = []
    if transition.action == CREATE:
        if group_exists is not True:
            requests.append(
                PlannedRequest(
                    "PUT",
                    GROUP_PATH.format(**names),
                    {},
                    {"location": aks.location, "tags": merged_tags(aks.tags, spec.name)},
                    note="only when the group does not exist; an existing group is not touched",
                )
            )
        requests.append(
            PlannedRequest(
                "PUT",
                cluster_path,
                {"If-None-Match": "*"},
                cluster_body(spec, kubernetes_version),
                note=""
                if kubernetes_version
                else "kubernetesVersion left out: AKS uses the region's default version",
            )
        )
    elif transition.action in (UPDATE, REPAIR) and current is not None:
        state = current
        for i, step in enumerate(transition.steps):
            body = update_body(state, step)
            etag = state.etag if i == 0 else "<ETag after the previous step>"
            requests.append(
                PlannedRequest("PUT", cluster_path, {"If-Match": f'"{etag}"'}, body, step.summary)
            )
            # The next step starts from the result of this one.
            state = ObservedCluster.from_rest(current.group, body)
    return AksPlan(
        group,
        spec.name,
        aks.location,
        transition,
        tuple(requests),
        current=current,
        observed=observed,
    )
