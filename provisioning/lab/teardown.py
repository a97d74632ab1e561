"""``down``: remove exactly what the lab created, and nothing the user made, on every provider.

Only objects carrying the tool's labels are deleted, and only a cluster the tool created (the
provider decides: kind nodes carry the lab's labels, AKS resources its tags; a cluster the user
already has is never deleted). A second run finds nothing and says so quietly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provisioning.lab.provider import Provider
from provisioning.lab.readiness import Check, wait_for
from provisioning.lab.state import forget
from provisioning.progress import Progress
from provisioning.spec import LabSpec, lab_selector


@dataclass(frozen=True)
class DownResult:
    removed: tuple[str, ...]
    kept: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        return {"removed": list(self.removed), "kept": list(self.kept)}


def down(
    spec: LabSpec,
    provider: Provider,
    progress: Progress,
    *,
    keep_cluster: bool = False,
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
    no_wait: bool = False,
    poll_interval: float = 2.0,
    sleep: Callable[[float], None] | None = None,
) -> DownResult:
    """Remove the lab on any provider. The cluster goes only when the provider created it and
    ``keep_cluster`` is not set; otherwise only the lab's namespaces (by its labels) go, which
    is all ``down`` ever does on a cluster the user already has."""
    provider.preflight(spec)
    if keep_cluster or not provider.info.creates_clusters:
        kube, kept = provider.teardown_kube(spec)
        if kube is None:
            forget(spec)
            return DownResult(())
        result = delete_lab_namespaces(
            kube, spec, progress, kept=kept, poll_interval=poll_interval, sleep=sleep
        )
        if not provider.info.creates_clusters:
            forget(spec)  # nothing else of the lab's is left
        return result
    return provider.delete_cluster(spec, progress, yes=yes, confirm=confirm, no_wait=no_wait)


def delete_lab_namespaces(
    kube: Any,
    spec: LabSpec,
    progress: Progress,
    *,
    kept: str,
    poll_interval: float = 2.0,
    sleep: Callable[[float], None] | None = None,
) -> DownResult:
    """``down --keep-cluster`` on any provider: delete only the lab's own namespaces (by name,
    ``observe.lab_namespaces``) that carry this lab's labels (their pods and policies go with
    them) and wait until they have terminated."""
    from provisioning.lab.observe import lab_cluster_objects, lab_namespaces

    selector = lab_selector(spec.name)
    ours = lab_namespaces(spec)
    namespaces = [
        n["metadata"]["name"]
        for n in kube.list("v1", "Namespace", label_selector=selector)
        if n["metadata"]["name"] in ours
    ]
    # Cluster-scoped policies do not go with the namespaces: deleted one by one, first, so no
    # cluster-wide rule outlives the lab.
    unlisted: list[str] = []
    cluster_wide = lab_cluster_objects(kube, spec, unlisted)
    if cluster_wide:
        with progress.step(f"Delete {len(cluster_wide)} cluster-wide lab policies"):
            for obj in cluster_wide:
                kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
    removed = tuple(f"{o['kind']} {o['metadata']['name']}" for o in cluster_wide)
    if not namespaces:
        _unlisted(unlisted, removed)
        return DownResult(removed, kept=(kept,))
    with progress.step(f"Delete lab namespaces {', '.join(namespaces)}") as h:
        for name in namespaces:
            kube.delete("v1", "Namespace", name)

        def gone() -> Check:
            left = [n for n in namespaces if kube.get("v1", "Namespace", n) is not None]
            return Check(not left, f"waiting for namespaces to terminate: {', '.join(left)}")

        wait_for(
            gone,
            timeout=spec.timeouts.workload,
            on_update=h.update,
            interval=poll_interval,
            **({"sleep": sleep} if sleep else {}),
        )
    removed += tuple(f"namespace {n}" for n in namespaces)
    _unlisted(unlisted, removed)
    return DownResult(removed, kept=(kept,))


def _unlisted(kinds: list[str], removed: tuple[str, ...]) -> None:
    """Kinds whose API did not answer: the rest of the lab is gone, these may be left."""
    if kinds:
        from provisioning.errors import OperationError

        done = f"removed {', '.join(removed)}; " if removed else ""
        raise OperationError(
            f"{done}could not list the lab's {' and '.join(kinds)} objects: their API "
            "answered 503 Service Unavailable",
            hint="run `invoke down` again once it answers; for Calico's, check the "
            "calico-apiserver pods in calico-system",
        )
