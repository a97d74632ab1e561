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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioning.errors import OperationError
from provisioning.lab.engine import EngineSettings
from provisioning.lab.observe import ObservedLab, safe_observe_objects
from provisioning.lab.plan import CHANGE, CREATE, REPLACE, SAME, PlanStep
from provisioning.lab.provider import Action, ClusterPlan
from provisioning.lab.state import (
    claim,
    discard,
    forget,
    load_record,
    note_written,
    owned_files,
    write_lab_file,
)
from provisioning.providers import REGISTRY
from provisioning.providers.kind.engines import installed_check, readiness_check
from provisioning.runner import Runner
from provisioning.spec import LABEL_ENGINE, LABEL_LAB, TOOL, LabSpec

if TYPE_CHECKING:
    from provisioning.doctor import Finding
    from provisioning.lab.pipeline import Context
    from provisioning.lab.teardown import DownResult
    from provisioning.progress import Progress

# Kubelets may not set labels under kubernetes.io, so nodes carry the tool's own prefix.
NODE_LABEL_MANAGED_BY = "netpol-lab.io/managed-by"

KubeFactory = Callable[[Path], Any]


def default_kube_factory(kubeconfig: Path) -> Any:
    from provisioning.kube import ClientKube

    return ClientKube(kubeconfig)


def node_labels(spec: LabSpec) -> dict[str, str]:
    own = {NODE_LABEL_MANAGED_BY: TOOL, LABEL_LAB: spec.name, LABEL_ENGINE: spec.engine}
    return {**spec.kind.labels, **own}


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
    info = REGISTRY["kind"]
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

    def cluster_labels(self, name: str, state_root: Path) -> dict[str, str] | None:
        """The first node's labels of kind cluster ``name`` (None when its API does not
        answer), read through a private kubeconfig: ``fleet sweep`` looks at every cluster on
        the host, most of which have no lab folder."""
        spec = LabSpec(name=name, state_root=state_root)
        kube = self.kube_factory(self._private_kubeconfig(spec))
        try:
            nodes = kube.list("v1", "Node")
        except OperationError:
            return None
        return dict((nodes[0].get("metadata", {}).get("labels") or {}) if nodes else {})

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

    # --- the Provider protocol (provisioning.lab.provider) ---------------------------------

    def preflight(self, spec: LabSpec) -> None:
        """Nothing: what kind needs (Docker, kind) is found by ``observe`` and ``doctor``."""

    def engine(self, spec: LabSpec) -> EngineSettings:
        from provisioning.providers.kind.engines import kind_engine

        return kind_engine(spec, cilium_installer=cilium_installer(self.runner))

    def plan_cluster(
        self, spec: LabSpec, observed: ObservedLab, engine: EngineSettings
    ) -> ClusterPlan:
        return plan_cluster(spec, observed, engine, images=self._images(spec))

    def _images(self, spec: LabSpec) -> tuple[tuple[str, str, bool | None], ...]:
        from provisioning.providers.kind.preload import image_status

        return tuple(
            (image.ref, image.purpose, cached) for image, cached in image_status(spec, self.runner)
        )

    def actions(self) -> Mapping[str, Action]:
        return ACTIONS

    def connect(self, ctx: Context) -> None:
        """Nothing: the cluster steps wrote the kubeconfig and waited for the engine."""

    def kube(self, spec: LabSpec) -> Any:
        return self.kube_factory(spec.kubeconfig)

    def kubectl_args(self, spec: LabSpec) -> tuple[str, ...]:
        return ("--kubeconfig", str(spec.kubeconfig))

    def status_details(
        self, spec: LabSpec, observed: ObservedLab
    ) -> tuple[dict[str, Any], list[str]]:
        return {}, []

    def teardown_kube(self, spec: LabSpec) -> tuple[Any | None, str]:
        if self._ours(spec) is None:
            return None, ""
        return self.kube(spec), f"kind cluster {spec.name}"

    def _ours(self, spec: LabSpec) -> ObservedLab | None:
        """The lab's cluster as observed, None when there is none; raises when it is not ours."""
        names = self.clusters()
        if isinstance(names, str):
            if load_record(spec) is None:
                return None  # the tool never created anything here
            raise OperationError(
                f"cannot check lab {spec.name!r}: {names}",
                hint="fix that (see `invoke doctor`) and run `invoke down` again",
            )
        if spec.name not in names:
            return None
        observed = self.observe(spec)
        if observed.owned is False:
            raise OperationError(
                f"kind cluster {spec.name!r} was not created by netpol-lab; leaving it alone",
                hint="if it is yours to remove: kind delete cluster --name " + spec.name,
            )
        if observed.owned is None:
            raise OperationError(
                f"kind cluster {spec.name!r} does not answer and no record says netpol-lab "
                "created it; leaving it alone",
                hint=f"check it with `docker ps`; to remove it: kind delete cluster --name "
                f"{spec.name}",
            )
        return observed

    def delete_cluster(
        self,
        spec: LabSpec,
        progress: Progress,
        *,
        yes: bool,
        confirm: Callable[[str], bool] | None,
        no_wait: bool,
    ) -> DownResult:
        from provisioning.lab.confirm import require_confirmation
        from provisioning.lab.teardown import DownResult

        if self._ours(spec) is None:
            forget(spec)
            return DownResult(())
        require_confirmation(
            f"Delete kind cluster {spec.name!r} and everything in it", yes=yes, confirm=confirm
        )
        with progress.step(f"Delete kind cluster {spec.name}"):
            self.delete(spec)
        forget(spec)
        return DownResult((f"kind cluster {spec.name}",))

    def doctor(self, spec: LabSpec) -> list[Finding]:
        from provisioning.providers.kind.doctor import run_checks

        return run_checks(self.runner, engine=spec.engine, node_image=spec.kind.node_image)

    def preload(self, spec: LabSpec, progress: Progress) -> Any:
        from provisioning.providers.kind.preload import preload

        return preload(spec, self.runner, self, progress)


def make(
    spec: LabSpec,
    *,
    runner: Runner,
    kube_factory: KubeFactory | None = None,
    read_only: bool = False,
    **_: Any,
) -> KindProvider:
    return KindProvider(runner, kube_factory or default_kube_factory, read_only=read_only)


def cilium_installer(runner: Runner) -> str:
    """Helm when the machine has it, else the cilium CLI; Helm is what plans show by default."""
    if runner.which("helm") is None and runner.which("cilium") is not None:
        return "cilium"
    return "helm"


def cluster_summary(spec: LabSpec) -> str:
    image = spec.kind.node_image.split("@")[0]
    return f"kind, 1 control-plane + {spec.kind.workers} worker(s), {image}"


# --- plan ------------------------------------------------------------------------------------


def plan_cluster(
    spec: LabSpec,
    observed: ObservedLab,
    engine: EngineSettings,
    *,
    images: tuple[tuple[str, str, bool | None], ...] = (),
) -> ClusterPlan:
    """The cluster and engine steps of a kind lab. Pure: no I/O."""
    artifacts = {f"kind config ({config_path(spec)})": kind_config(spec, engine)}
    blocked = None
    if observed.cluster_exists and observed.owned is False:
        blocked = (
            f"kind cluster {spec.name!r} exists but was not created by netpol-lab "
            "(its nodes lack the netpol-lab.io labels); choose another --name, or remove it "
            f"yourself (kind delete cluster --name {spec.name})"
        )
    elif observed.cluster_exists and observed.owned is None:
        blocked = (
            f"kind cluster {spec.name!r} exists but its API does not answer and "
            "nothing records that netpol-lab created it; check it with `docker ps` and "
            "`kind get clusters`, or choose another --name"
        )
    if blocked:
        return ClusterPlan((), artifacts, blocked=blocked, warnings=engine.warnings, images=images)

    steps: list[PlanStep] = []
    fresh = True
    if not observed.cluster_exists:
        steps.append(
            PlanStep(CREATE, "create-cluster", f"create cluster {spec.name}", cluster_summary(spec))
        )
    elif observed.half_created:
        # Nothing of value can be in a cluster whose creation never finished: no confirmation.
        steps.append(
            PlanStep(
                REPLACE,
                "recreate-cluster",
                f"recreate cluster {spec.name}",
                "its creation was interrupted, so it is deleted and created again",
            )
        )
    elif observed.engine != spec.engine:
        steps.append(
            PlanStep(
                REPLACE,
                "recreate-cluster",
                f"recreate cluster {spec.name}",
                f"engine {observed.engine or 'unknown'} -> {spec.engine}: the CNI of a running "
                "kind cluster cannot be swapped, so the cluster and everything in it is deleted "
                "and created again",
                destructive=True,
            )
        )
    else:
        fresh = False
        steps.append(
            PlanStep(SAME, "keep-cluster", f"cluster {spec.name}", f"exists, engine {spec.engine}")
        )

    if fresh or not observed.engine_installed:
        steps.append(
            PlanStep(CREATE, "install-engine", f"install engine {spec.engine}", engine.summary)
        )
    elif not observed.engine_ready:
        steps.append(
            PlanStep(
                CHANGE, "wait-engine", f"wait for engine {spec.engine}", observed.engine_detail
            )
        )
    else:
        steps.append(PlanStep(SAME, "keep-engine", f"engine {spec.engine}", "ready"))
    return ClusterPlan(
        tuple(steps),
        artifacts,
        warnings=engine.warnings,
        fresh=fresh,
        images=images,
        confirmation_note="deletes a cluster",
    )


# --- actions ---------------------------------------------------------------------------------


def create_cluster(ctx: Context, step: PlanStep) -> None:
    import yaml

    from provisioning.lab.pipeline import record

    spec = ctx.spec
    provider = ctx.provider
    assert isinstance(provider, KindProvider)
    with ctx.progress.step(f"Create kind cluster {spec.name} ({cluster_summary(spec)})") as h:
        # Recorded first: an interrupted create is still known to be ours, so down can clean it.
        record(ctx, "creating")
        provider.create(spec, yaml.safe_dump(kind_config(spec, ctx.engine), sort_keys=False))
        ctx.reset_kube()
        record(ctx, "created")
        h.note(
            f"kubeconfig: {spec.kubeconfig} (mode 0600; your current kubectl context is unchanged)"
        )
        from provisioning.providers.kind.preload import load_cached_images

        # Before the engine is installed, so its pods find their images (after `preload`).
        loaded, problems = load_cached_images(spec, ctx.runner)
        for image in loaded:
            h.note(f"loaded {image} from the local Docker into the nodes")
        for problem in problems:
            ctx.progress.warn(f"{problem}; the nodes will pull it from its registry")


def recreate_cluster(ctx: Context, step: PlanStep) -> None:
    provider = ctx.provider
    assert isinstance(provider, KindProvider)
    with ctx.progress.step(f"Delete kind cluster {ctx.spec.name} ({step.detail.split(':')[0]})"):
        provider.delete(ctx.spec)
    create_cluster(ctx, step)


def install_engine(ctx: Context, step: PlanStep) -> None:
    from provisioning.lab.objects import with_hash

    for warning in ctx.engine.warnings:
        ctx.progress.warn(warning)
    for action in ctx.engine.actions:
        with ctx.progress.step(action.title[:1].upper() + action.title[1:]):
            for path, content in action.files:
                write_lab_file(ctx.spec, Path(path).name, content)
            if action.argv:
                ctx.runner.run(action.argv, env=dict(action.env), timeout=ctx.spec.timeouts.engine)
            if action.objects:
                ctx.kube.apply([with_hash(o) for o in action.objects])
    wait_engine(ctx, step)


def wait_engine(ctx: Context, step: PlanStep) -> None:
    from provisioning.lab.pipeline import record
    from provisioning.providers.kind import engines

    with ctx.progress.step(f"Wait for {ctx.spec.engine} and all nodes to be ready") as h:
        done = ctx.wait(
            engines.readiness_check(ctx.spec.engine, ctx.kube),
            ctx.spec.timeouts.engine,
            h,
            hint="see `invoke status`; on small machines raise timeouts.engine",
        )
        h.note(done.detail)
    record(ctx, "ready")


ACTIONS: Mapping[str, Action] = {
    "create-cluster": create_cluster,
    "recreate-cluster": recreate_cluster,
    "install-engine": install_engine,
    "wait-engine": wait_engine,
}
