"""What is actually there: the observed state of a lab, as pure data for the planner.

Providers fill in the cluster part (exists? ours? which engine?); ``observe_objects`` reads the
lab's own objects through the Kubernetes seam, selecting strictly by the tool's labels.

Namespaced kinds are listed inside the lab's own namespaces only (``lab_namespaces``), never
across all namespaces: on a cluster the user already has, the lab must get by with rights in its
own namespaces plus cluster-wide rights on namespaces (``providers/existing/access.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioning.errors import OperationError
from provisioning.lab.objects import observed_hash, ref
from provisioning.lab.readiness import pod_ready
from provisioning.spec import LabSpec, lab_labels, lab_selector

# The kinds the lab itself applies (engines' own objects are observed by their readiness check).
LAB_KINDS = (
    ("v1", "Namespace"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)
# Cluster-scoped policies a scenario may apply; their names start with ``<lab>-`` (the
# templates' rule, workload/policies.py), and only such names with the lab's labels are the lab's.
LAB_CLUSTER_KINDS = (
    ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy"),
    ("projectcalico.org/v3", "GlobalNetworkPolicy"),
)
POLICY_KINDS = {"NetworkPolicy", *(kind for _, kind in LAB_CLUSTER_KINDS)}
API_VERSIONS = {kind: version for version, kind in (*LAB_KINDS, *LAB_CLUSTER_KINDS)}


@dataclass(frozen=True)
class ObservedLab:
    """The state ``plan`` compares the desired lab against."""

    observed: bool  # False: could not look (no kind/Docker, offline); plan from nothing
    reason: str = ""  # why not, or what was partial
    cluster_exists: bool = False
    owned: bool | None = None  # True: the tool's; False: someone else's; None: cannot tell
    engine: str | None = None  # the engine the cluster was created for
    engine_installed: bool = False
    engine_ready: bool = False
    engine_detail: str = ""
    api_reachable: bool = False
    objects: dict[str, str] = field(default_factory=dict)  # ref -> spec hash ("" if none)
    pods_ready: dict[str, bool] = field(default_factory=dict)  # "ns/name" -> Ready
    scenario: str | None = None  # scenario label on the lab's policies
    half_created: bool = False  # an earlier `up` was interrupted while creating the cluster
    usage: bool = False  # not observed because of the user's settings (exit 2), not the machine
    hint: str = ""  # what to do about ``reason``
    # The provider's own observation (AKS: the ARM cluster; existing: the engine detection),
    # handed back to it by the pipeline; not part of the JSON document.
    details: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def unobserved(cls, reason: str, *, usage: bool = False, hint: str = "") -> ObservedLab:
        return cls(observed=False, reason=reason, usage=usage, hint=hint)

    def as_dict(self) -> dict[str, Any]:
        return {
            "observed": self.observed,
            "reason": self.reason,
            "cluster_exists": self.cluster_exists,
            "owned": self.owned,
            "engine": self.engine,
            "engine_installed": self.engine_installed,
            "engine_ready": self.engine_ready,
            "engine_detail": self.engine_detail,
            "api_reachable": self.api_reachable,
            "objects": dict(sorted(self.objects.items())),
            "pods_ready": dict(sorted(self.pods_ready.items())),
            "scenario": self.scenario,
            "half_created": self.half_created,
        }


SCENARIO_LABEL = "netpol-lab.io/scenario"


@dataclass(frozen=True)
class ObjectState:
    objects: dict[str, str]
    pods_ready: dict[str, bool]
    scenario: str | None


def lab_namespaces(spec: LabSpec) -> tuple[str, ...]:
    """The namespaces the lab creates, as the cluster names them, in the order it creates them:
    the canary's and the demo's (``demo``, ``other``; an exercise's extra pods live in those).

    Only these names are ever observed, changed or deleted as the lab's: a namespace that
    merely carries the lab's labels (copied, or left by a lab of the same name on the cluster
    before it was used as an existing one) is not the lab's to delete. Plain names, so ``down``
    works even when a template or the exercises file is broken.
    """
    from provisioning.lab.canary import CANARY_NAMESPACE
    from provisioning.workload.demo import NAMESPACES

    return tuple(spec.namespace(n) for n in (CANARY_NAMESPACE, *NAMESPACES))


def lab_cluster_objects(
    kube: Any, spec: LabSpec, unavailable: list[str] | None = None
) -> list[dict[str, Any]]:
    """The lab's cluster-scoped objects: by its labels, and named ``<lab>-...`` (a copied label
    alone does not make an object the lab's). A kind whose CRD is not installed has none.

    A kind whose API answers 503 (an aggregated API server that is down, as Calico's can be
    during an upgrade) is skipped and named in ``unavailable`` when given, else raised."""
    from provisioning.kube import KubeError

    selector = lab_selector(spec.name)
    found = []
    for api_version, kind in LAB_CLUSTER_KINDS:
        try:
            listed = kube.list(api_version, kind, label_selector=selector)
        except KubeError as exc:
            # 404: the CRD is not there (the engine does not offer the kind); 403: on a cluster
            # the user already has, no right to list them -- then the lab cannot have made any.
            if exc.status in (403, 404):
                continue
            if exc.status == 503 and unavailable is not None:
                unavailable.append(kind)
                continue
            raise
        found += [obj for obj in listed if is_lab_cluster_object(obj, spec)]
    return found


def is_lab_cluster_object(obj: Mapping[str, Any], spec: LabSpec) -> bool:
    """A cluster-scoped object is the lab's when it carries the lab's labels (what
    ``lab_selector`` asks the server for) and its name is ``<lab>-...``."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    return lab_labels(spec.name).items() <= labels.items() and str(meta.get("name", "")).startswith(
        f"{spec.name}-"
    )


def observe_objects(kube: Any, spec: LabSpec) -> ObjectState:
    """The lab's namespaces, pods, services and policies, found by the tool's labels only.

    Namespaces are listed cluster-wide by the lab's labels; pods, services and policies in each
    of ``lab_namespaces`` (by the same labels), so no list spans namespaces that are not the
    lab's. Listing in a namespace that does not exist yet finds nothing, as on the API server.
    """
    selector = lab_selector(spec.name)
    namespaces = lab_namespaces(spec)
    unavailable: list[str] = []  # cluster-scoped kinds whose API answered 503: not seen
    objects: dict[str, str] = {}
    pods_ready: dict[str, bool] = {}
    scenarios: set[str] = set()
    for api_version, kind in LAB_KINDS:
        if kind == "Namespace":
            found = [
                n
                for n in kube.list(api_version, kind, label_selector=selector)
                if (n.get("metadata") or {}).get("name") in namespaces
            ]
        else:
            found = [
                obj
                for ns in namespaces
                for obj in kube.list(api_version, kind, ns, label_selector=selector)
            ]
        if kind == "NetworkPolicy":
            found += lab_cluster_objects(kube, spec, unavailable)
        for obj in found:
            objects[ref(obj)] = observed_hash(obj) or ""
            meta = obj.get("metadata", {})
            if kind == "Pod":
                pods_ready[f"{meta.get('namespace')}/{meta.get('name')}"] = pod_ready(obj)
            if obj.get("kind") in POLICY_KINDS and (
                s := (meta.get("labels") or {}).get(SCENARIO_LABEL)
            ):
                scenarios.add(s)
    scenario = scenarios.pop() if len(scenarios) == 1 else None
    return ObjectState(objects, pods_ready, scenario)


def safe_observe_objects(kube: Any, spec: LabSpec) -> tuple[ObjectState | None, str]:
    """Like ``observe_objects`` but an unreachable API becomes a reason, not an exception."""
    try:
        return observe_objects(kube, spec), ""
    except OperationError as exc:
        return None, str(exc)
