"""The kind provider: render the cluster config, observe, create and delete kind clusters.

Ownership: kind cannot label its node containers for us, but its v1alpha4 config can label the
Kubernetes nodes (applied through kubelet ``--node-labels``, so keys avoid the reserved
``kubernetes.io`` prefix). A cluster is the tool's when its nodes carry ``netpol-lab.io/managed-by``
and this lab's name, or, while its API cannot be reached, when the lab record says the tool began
creating it. ``down`` never deletes a cluster that is neither.

The kubeconfig goes to the lab's own file (``kind create cluster --kubeconfig``), so the user's
``~/.kube/config`` and current context are never changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.errors import OperationError
from provisioning.lab.observe import ObservedLab, safe_observe_objects
from provisioning.lab.state import (
    claim,
    discard,
    load_record,
    note_written,
    owned_files,
    write_lab_file,
)
from provisioning.providers.kind.engines import EngineSettings, installed_check, readiness_check
from provisioning.runner import Runner
from provisioning.spec import LABEL_ENGINE, LABEL_LAB, TOOL, LabSpec

# Kubelets may not set labels under kubernetes.io, so nodes carry the tool's own prefix.
NODE_LABEL_MANAGED_BY = "netpol-lab.io/managed-by"

KubeFactory = Callable[[Path], Any]


def default_kube_factory(kubeconfig: Path) -> Any:
    from provisioning.kube import ClientKube

    return ClientKube(kubeconfig)


def node_labels(spec: LabSpec) -> dict[str, str]:
    return {NODE_LABEL_MANAGED_BY: TOOL, LABEL_LAB: spec.name, LABEL_ENGINE: spec.engine}


def kind_config(spec: LabSpec, engine: EngineSettings) -> dict[str, Any]:
    """The kind ``Cluster`` config (kind.x-k8s.io/v1alpha4) for this lab."""
    labels = node_labels(spec)
    nodes = [{"role": "control-plane", "image": spec.kind.node_image, "labels": labels}]
    nodes += [
        {"role": "worker", "image": spec.kind.node_image, "labels": labels}
        for _ in range(spec.kind.workers)
    ]
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": spec.name,
        "networking": dict(engine.kind_networking),
        "nodes": nodes,
    }


def config_path(spec: LabSpec) -> Path:
    return spec.lab_file("kind-config.yaml")


@dataclass
class KindProvider:
    """kind clusters through the subprocess seam; the lab's objects through the Kubernetes seam."""

    runner: Runner
    kube_factory: KubeFactory = default_kube_factory
    name: str = "kind"
    # `plan` and `status` only look: they read the cluster through a private, temporary copy
    # of its kubeconfig and never write (or remove) anything in the lab's folder.
    read_only: bool = False

    # --- observation ----------------------------------------------------------------------

    def clusters(self) -> list[str] | str:
        """Cluster names, or the reason they could not be listed."""
        if self.runner.which("kind") is None:
            return "kind is not installed"
        result = self.runner.run(["kind", "get", "clusters"], check=False, timeout=60)
        if not result.ok:
            last = (result.output.strip().splitlines() or ["no output"])[-1]
            return f"`kind get clusters` failed ({last})"
        # "No kind clusters found." is logged on stderr; stdout lists one name per line
        # (kubernetes-sigs/kind pkg/cmd/kind/get/clusters/clusters.go at v0.31.0).
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]

    def observe(self, spec: LabSpec) -> ObservedLab:
        names = self.clusters()
        if isinstance(names, str):
            return ObservedLab.unobserved(f"could not observe: {names}")
        if spec.name not in names:
            return ObservedLab(observed=True, cluster_exists=False)
        record = load_record(spec)
        recorded_owner = bool(record and record.provider == "kind" and record.cluster_created)
        # `kind create` never returned: nodes may exist without a working control plane.
        interrupted = recorded_owner and record is not None and record.phase == "creating"
        half_created = ObservedLab(
            observed=True,
            reason="an earlier `up` was interrupted while creating the cluster",
            cluster_exists=True,
            owned=True,
            engine=record.engine if record else None,
            half_created=True,
        )
        had_kubeconfig = "kubeconfig" in owned_files(spec)
        if self.read_only:
            kube = self.kube_factory(self._private_kubeconfig(spec))
        else:
            self.export_kubeconfig(spec, check=False)
            kube = self.kube_factory(spec.kubeconfig)
        try:
            nodes = kube.list("v1", "Node")
        except OperationError as exc:
            if interrupted:
                return half_created
            if not recorded_owner and not had_kubeconfig and not self.read_only:
                discard(spec, "kubeconfig")  # owner unknown: leave no file of ours behind
            return ObservedLab(
                observed=True,
                reason=f"cluster exists but its API did not answer: {exc}",
                cluster_exists=True,
                owned=True if recorded_owner else None,
                engine=record.engine if record else None,
            )
        # When the API answers, the nodes' labels decide ownership, whatever a record says.
        labels = (nodes[0].get("metadata", {}).get("labels") or {}) if nodes else {}
        owned = labels.get(NODE_LABEL_MANAGED_BY) == TOOL and labels.get(LABEL_LAB) == spec.name
        if not owned:
            if not had_kubeconfig and not self.read_only:
                discard(spec, "kubeconfig")  # not the lab's cluster: keep no credentials for it
            return ObservedLab(observed=True, cluster_exists=True, owned=False, api_reachable=True)
        if interrupted:
            return half_created
        engine = labels.get(LABEL_ENGINE)
        installed = installed_check(engine or "", kube)
        ready = readiness_check(engine or "", kube)() if installed else None
        state, problem = safe_observe_objects(kube, spec)
        return ObservedLab(
            observed=True,
            reason=problem,
            cluster_exists=True,
            owned=True,
            engine=engine,
            engine_installed=installed,
            engine_ready=bool(ready and ready.done),
            engine_detail=ready.detail if ready else "not installed",
            api_reachable=True,
            objects=state.objects if state else {},
            pods_ready=state.pods_ready if state else {},
            scenario=state.scenario if state else None,
        )

    # --- actions --------------------------------------------------------------------------

    def _private_kubeconfig(self, spec: LabSpec) -> Path:
        """The cluster's kubeconfig in a temporary file only this process can read (removed
        when it exits); the lab's own file when kind cannot give one."""
        import atexit
        import tempfile

        result = self.runner.run(
            ["kind", "get", "kubeconfig", "--name", spec.name], check=False, timeout=60
        )
        if not result.ok:
            return spec.kubeconfig
        fd, name = tempfile.mkstemp(prefix="netpol-lab-kubeconfig-", suffix=".yaml")
        with os.fdopen(fd, "w") as handle:  # mkstemp: mode 0600
            handle.write(result.stdout)
        atexit.register(lambda: Path(name).unlink(missing_ok=True))
        return Path(name)

    def export_kubeconfig(self, spec: LabSpec, *, check: bool = True) -> bool:
        """Write the cluster's kubeconfig to the lab's own file (0600); never the user's."""
        result = self.runner.run(
            ["kind", "get", "kubeconfig", "--name", spec.name], check=check, timeout=60
        )
        if result.ok:
            write_lab_file(spec, "kubeconfig", result.stdout)
        return result.ok

    def create(self, spec: LabSpec, config_yaml: str) -> None:
        path = write_lab_file(spec, "kind-config.yaml", config_yaml)
        claim(spec, "kubeconfig")  # kind writes it (--kubeconfig); it is the lab's file
        # No --wait: with the default CNI disabled the control-plane node only becomes Ready
        # once the engine is installed, and kind's wait (kubernetes-sigs/kind
        # pkg/cluster/internal/create/actions/waitforready/waitforready.go @ v0.31.0) on timeout
        # logs " • WARNING: Timed out waiting for Ready ⚠️" and returns nil: it would burn its
        # timeout and still exit 0.
        self.runner.run(
            [
                "kind",
                "create",
                "cluster",
                "--name",
                spec.name,
                "--config",
                str(path),
                "--kubeconfig",
                str(spec.kubeconfig),
            ],
            timeout=spec.timeouts.cluster,
        )
        spec.kubeconfig.chmod(0o600)
        note_written(spec, "kubeconfig")  # kind wrote it: record which file is the lab's

    def delete(self, spec: LabSpec) -> None:
        # `kind delete cluster` succeeds when the cluster is already gone: idempotent.
        self.runner.run(
            [
                "kind",
                "delete",
                "cluster",
                "--name",
                spec.name,
                "--kubeconfig",
                str(spec.kubeconfig),
            ],
            timeout=spec.timeouts.cluster,
        )
