"""``down``: remove exactly what the lab created, and nothing the user made.

Only objects carrying the tool's labels are deleted, and only a cluster the tool created (its
nodes carry the lab's labels, or the lab record says the tool began creating it). A second run
finds nothing and says so quietly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provisioning.errors import OperationError
from provisioning.lab.confirm import require_confirmation
from provisioning.lab.readiness import Check, wait_for
from provisioning.lab.state import forget, load_record
from provisioning.progress import Progress
from provisioning.providers.kind.provider import KindProvider
from provisioning.spec import LabSpec, lab_selector


@dataclass(frozen=True)
class DownResult:
    removed: tuple[str, ...]
    kept: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        return {"removed": list(self.removed), "kept": list(self.kept)}


def down(
    spec: LabSpec,
    provider: KindProvider,
    progress: Progress,
    *,
    keep_cluster: bool = False,
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
    poll_interval: float = 2.0,
    sleep: Callable[[float], None] | None = None,
) -> DownResult:
    record = load_record(spec)
    names = provider.clusters()
    if isinstance(names, str):
        if record is None:
            forget(spec)
            return DownResult(())  # the tool never created anything here
        raise OperationError(
            f"cannot check lab {spec.name!r}: {names}",
            hint="fix that (see `invoke doctor`) and run `invoke down` again",
        )
    if spec.name not in names:
        forget(spec)
        return DownResult(())

    observed = provider.observe(spec)
    if observed.owned is False:
        raise OperationError(
            f"kind cluster {spec.name!r} was not created by netpol-lab; leaving it alone",
            hint="if it is yours to remove: kind delete cluster --name " + spec.name,
        )
    if observed.owned is None:
        raise OperationError(
            f"kind cluster {spec.name!r} does not answer and no record says netpol-lab created "
            "it; leaving it alone",
            hint=f"check it with `docker ps`; to remove it: kind delete cluster --name {spec.name}",
        )

    if keep_cluster:
        return _remove_lab_objects(spec, provider, progress, poll_interval, sleep)

    require_confirmation(
        f"Delete kind cluster {spec.name!r} and everything in it", yes=yes, confirm=confirm
    )
    with progress.step(f"Delete kind cluster {spec.name}"):
        provider.delete(spec)
    forget(spec)
    return DownResult((f"kind cluster {spec.name}",))


def _remove_lab_objects(
    spec: LabSpec,
    provider: KindProvider,
    progress: Progress,
    poll_interval: float,
    sleep: Callable[[float], None] | None,
) -> DownResult:
    kube = provider.kube_factory(spec.kubeconfig)
    return delete_lab_namespaces(
        kube,
        spec,
        progress,
        kept=f"kind cluster {spec.name}",
        poll_interval=poll_interval,
        sleep=sleep,
    )


def delete_lab_namespaces(
    kube: Any,
    spec: LabSpec,
    progress: Progress,
    *,
    kept: str,
    poll_interval: float = 2.0,
    sleep: Callable[[float], None] | None = None,
) -> DownResult:
    """``down --keep-cluster`` on any provider: delete only namespaces with this lab's labels
    (their pods and policies go with them) and wait until they have terminated."""
    selector = lab_selector(spec.name)
    namespaces = [
        n["metadata"]["name"] for n in kube.list("v1", "Namespace", label_selector=selector)
    ]
    if not namespaces:
        return DownResult((), kept=(kept,))
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
    return DownResult(tuple(f"namespace {n}" for n in namespaces), kept=(kept,))
