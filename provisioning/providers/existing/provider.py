"""The ``existing`` provider: a lab on a cluster the user already has, which it never changes.

EKS, GKE, ACK, an AKS cluster made elsewhere, k3d, minikube, a kind cluster made by hand: the
user gives its kubeconfig (``--kubeconfig``, read and never written) and optionally a context.
The provider

* never creates, changes or deletes the cluster or its engine: its plan has no cluster step
  that changes anything, and it has no actions;
* detects the NetworkPolicy engine from what runs in the cluster (``detect.py``) and says
  whether policies will be enforced (yes / no / unknown) with the evidence; the lab's analyzer
  models that engine;
* puts the lab's namespaces under names with the lab's name as a suffix (``demo-<lab>``), so
  they never collide with the user's own, and refuses a namespace of that name that the lab did
  not create;
* checks in ``doctor`` every permission the lab needs (SelfSubjectAccessReview, ``access.py``).

``down`` removes only the lab's namespaces, found by the lab's labels.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioning.documents import shown_path
from provisioning.errors import LabError, OperationError, UsageError
from provisioning.lab.engine import EngineSettings
from provisioning.lab.observe import ObservedLab, safe_observe_objects
from provisioning.lab.plan import SAME, PlanStep
from provisioning.lab.provider import Action, ClusterPlan
from provisioning.providers import REGISTRY
from provisioning.spec import LABEL_LAB, LABEL_MANAGED_BY, TOOL, LabSpec

if TYPE_CHECKING:
    from provisioning.doctor import Finding
    from provisioning.lab.pipeline import Context
    from provisioning.lab.teardown import DownResult
    from provisioning.progress import Progress
    from provisioning.providers.existing.detect import Detection
    from provisioning.runner import Runner

KubeFactory = Callable[[Path, "str | None"], Any]

# The analyzer's model for each engine the detection names; engines it has no model of are
# analyzed as the Kubernetes reference semantics (what NetworkPolicy means by the spec).
ANALYZER_MODEL = {
    "calico": "calico",
    "canal": "calico",  # Canal is Calico's policy engine over flannel
    "cilium": "cilium",
    "gke-dataplane-v2": "cilium",  # GKE Dataplane V2 (anetd) is built on Cilium
    "azure-npm": "azure",
}


def lab_namespaces(spec: LabSpec) -> list[str]:
    """Every namespace the lab creates in the cluster (the demo's and the canary's)."""
    from provisioning.lab.observe import lab_namespaces as created

    return list(created(spec))


def default_kube_factory(kubeconfig: Path, context: str | None) -> Any:
    from provisioning.kube import ClientKube

    return ClientKube(kubeconfig, context)


def analyzer_engine(detection: Detection) -> str:
    """The engine the analyzer models: the enforcing engine's model, ``none`` when nothing
    enforces, ``reference`` for an engine it has no model of or when it cannot tell."""
    if detection.enforced == "no":
        return "none"
    deciding = [m for m in detection.engines if m.enforced == "yes"] or list(detection.engines)
    if not deciding:
        return "reference"
    return ANALYZER_MODEL.get(deciding[0].name, "reference")


def detection_document(detection: Detection) -> dict[str, Any]:
    return {
        "enforced": detection.enforced,
        "reason": detection.reason,
        "engines": [
            {
                "name": m.name,
                "enforced": m.enforced,
                "reason": m.reason,
                "evidence": list(m.evidence),
            }
            for m in detection.engines
        ],
        "could_not_read": list(detection.gaps),
    }


def _enforces_cnp(model: str, detection: Detection) -> bool | None:
    """False where the analyzer's profile of the engine found says it never does (or nothing
    enforces at all), else None: cannot be told from the cluster."""
    from provisioning.analysis.engines import ENGINES

    if detection.enforced == "no":
        return False
    profile = ENGINES.get(model)
    if profile is not None and model != "reference" and not profile.cluster_network_policy:
        return False
    return None


@dataclass
class ExistingProvider:
    """``Provider`` for a cluster the user already has."""

    kube_factory: KubeFactory = default_kube_factory
    runner: Runner | None = None  # only for doctor's kubectl check
    info = REGISTRY["existing"]
    _detection: Detection | None = field(default=None, repr=False)
    _detection_error: str = field(default="", repr=False)
    _detection_failed_for: str = field(default="", repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def kube(self, spec: LabSpec) -> Any:
        return self.kube_factory(self._kubeconfig(spec), spec.kube_context)

    def _kubeconfig(self, spec: LabSpec) -> Path:
        path = spec.existing.kubeconfig
        if path is None:
            raise UsageError(
                "--provider existing needs --kubeconfig PATH: the kubeconfig of your cluster "
                "(read, never written); --context NAME picks a context in it"
            )
        return path

    def _where(self, spec: LabSpec) -> str:
        context = shown_path(spec.kube_context, 120) if spec.kube_context else "its current context"
        return f"{shown_path(spec.existing.kubeconfig)} ({context})"

    def preflight(self, spec: LabSpec) -> None:
        """The user's kubeconfig must be a readable file."""
        path = self._kubeconfig(spec)
        if not path.is_file():
            raise UsageError(
                f"--kubeconfig {shown_path(path)}: no such file; give the kubeconfig of the "
                "cluster to run the lab on"
            )

    def detection(self, spec: LabSpec) -> Detection | None:
        """The engine detection, read once per run; None when the API could not be read.

        One provider may serve many labs on the same cluster at once (a workshop fleet's
        attendees), so the reading is made under a lock, and a failed reading is kept for the
        lab it failed for only: one attendee's API error must not decide the engine of the
        whole room; the next lab reads it again.
        """
        with self._lock:
            failed_here = bool(self._detection_error) and self._detection_failed_for == spec.name
            if self._detection is None and not failed_here:
                from provisioning.providers.existing.detect import detect

                try:
                    self._detection = detect(self.kube(spec))
                    self._detection_error = ""
                except LabError as exc:
                    self._detection_error = str(exc)
                    self._detection_failed_for = spec.name
            return self._detection

    # --- engine, observe, plan ------------------------------------------------------------

    def engine(self, spec: LabSpec) -> EngineSettings:
        detection = self.detection(spec)
        if detection is None:
            return EngineSettings(
                engine="reference",
                summary="the cluster's engine (not detected: the API did not answer)",
                enforces=False,
                kind_networking={},
                actions=(),
                readiness=(),
            )
        model = analyzer_engine(detection)
        names = ", ".join(detection.names) or "no known engine"
        warnings: tuple[str, ...] = ()
        if detection.enforced == "no":
            warnings = (
                f"policies are not enforced here: {detection.reason}; the lab still runs, and "
                "validation expects every connection to be allowed",
            )
        elif detection.enforced == "unknown":
            warnings = (
                f"whether policies are enforced here is unknown ({detection.reason}); the "
                "canary before validation finds out",
            )
        return EngineSettings(
            engine=model,
            summary=f"{names} found in the cluster (NetworkPolicy enforced: "
            f"{detection.enforced}; analyzed as {model}); never installed or changed",
            enforces=detection.enforced == "yes",
            kind_networking={},
            actions=(),
            readiness=("the cluster's own engine, as found",),
            warnings=warnings,
            # An engine that never enforces ClusterNetworkPolicy (Azure NPM), or none at all,
            # says no; whether a Calico or Cilium here is new enough (3.32, 1.20 with its flag)
            # is not detected. Calico's own API only where Calico runs.
            cluster_network_policy=_enforces_cnp(model, detection),
            calico_api=None if "calico" in detection.names else False,
        )

    def observe(self, spec: LabSpec) -> ObservedLab:
        try:
            path = self._kubeconfig(spec)
        except UsageError as exc:
            return ObservedLab.unobserved(str(exc), usage=True)
        if not path.is_file():
            return ObservedLab.unobserved(
                f"--kubeconfig {shown_path(path)}: no such file",
                usage=True,
                hint="give the kubeconfig of the cluster to run the lab on",
            )
        kube = self.kube(spec)
        try:
            version = kube.server_version()
        except LabError as exc:
            return ObservedLab.unobserved(
                f"could not reach the cluster of {self._where(spec)}: {exc}",
                hint="check the kubeconfig, the context and the network "
                "(`invoke doctor --provider existing` says more)",
            )
        detection = self.detection(spec)
        state, problem = safe_observe_objects(kube, spec)
        foreign = self._foreign_namespaces(kube, spec)
        return ObservedLab(
            observed=True,
            reason=problem,
            cluster_exists=True,
            owned=True,  # the lab's objects are the tool's; the cluster itself stays the user's
            engine=analyzer_engine(detection) if detection else None,
            engine_installed=True,
            engine_ready=True,
            engine_detail=(
                f"{', '.join(detection.names) or 'no known engine'}; NetworkPolicy enforced: "
                f"{detection.enforced} ({detection.reason})"
                if detection
                else f"not detected: {self._detection_error}"
            ),
            api_reachable=state is not None,
            objects=state.objects if state else {},
            pods_ready=state.pods_ready if state else {},
            scenario=state.scenario if state else None,
            details={"server_version": version, "foreign_namespaces": foreign},
        )

    def _foreign_namespaces(self, kube: Any, spec: LabSpec) -> list[str]:
        """The lab's namespace names that exist in the cluster without the lab's labels."""
        foreign = []
        for name in lab_namespaces(spec):
            try:
                found = kube.get("v1", "Namespace", name)
            except LabError:
                continue
            labels = ((found or {}).get("metadata") or {}).get("labels") or {}
            if found is not None and (
                labels.get(LABEL_MANAGED_BY) != TOOL or labels.get(LABEL_LAB) != spec.name
            ):
                foreign.append(name)
        return foreign

    def plan_cluster(
        self, spec: LabSpec, observed: ObservedLab, engine: EngineSettings
    ) -> ClusterPlan:
        where = self._where(spec)
        notes = ("an existing cluster: the lab never creates, changes or deletes it or its engine",)
        foreign = (observed.details or {}).get("foreign_namespaces") or []
        if foreign:
            return ClusterPlan(
                (),
                blocked=f"namespace {', '.join(foreign)} exists in the cluster of {where} and "
                f"was not created by lab {spec.name!r}; the lab never takes over a namespace: "
                "choose another --name",
                notes=notes,
            )
        server = (observed.details or {}).get("server_version") or "not reached"
        steps = (
            PlanStep(SAME, "keep-cluster", "existing cluster", f"{where}, Kubernetes {server}"),
            PlanStep(SAME, "keep-engine", f"engine {engine.engine}", engine.summary),
        )
        return ClusterPlan(
            steps,
            warnings=engine.warnings,
            notes=notes,
            details={
                "existing": {
                    "kubeconfig": str(spec.existing.kubeconfig),
                    "context": spec.kube_context,
                    "namespaces": lab_namespaces(spec),
                }
            },
        )

    # --- execute --------------------------------------------------------------------------

    def actions(self) -> Mapping[str, Action]:
        return {}  # nothing of the cluster's is ever changed

    def connect(self, ctx: Context) -> None:
        from provisioning.lab.pipeline import record

        record(ctx, "ready")  # the lab's own record: down and later runs know it

    def kubectl_args(self, spec: LabSpec) -> tuple[str, ...]:
        context = ("--context", spec.kube_context) if spec.kube_context else ()
        return ("--kubeconfig", str(spec.existing.kubeconfig), *context)

    # --- status, down, doctor -------------------------------------------------------------

    def status_details(
        self, spec: LabSpec, observed: ObservedLab
    ) -> tuple[dict[str, Any], list[str]]:
        detection = self.detection(spec)
        details: dict[str, Any] = {
            "kubeconfig": str(spec.existing.kubeconfig),
            "context": spec.kube_context,
            "namespaces": lab_namespaces(spec),
            "server_version": (observed.details or {}).get("server_version"),
            "detected_engine": analyzer_engine(detection) if detection else None,
            "detection": detection_document(detection) if detection else None,
        }
        lines = [f"cluster:    {self._where(spec)}, yours: never changed by netpol-lab"]
        if detection is None:
            lines.append(f"engine:     not detected ({self._detection_error or 'not read'})")
        else:
            lines.append(
                f"engine:     {', '.join(detection.names) or 'no known engine'} found; "
                f"NetworkPolicy enforced: {detection.enforced} ({detection.reason})"
            )
            for match in detection.engines:
                lines.append(f"            {match.name}: {'; '.join(match.evidence)}")
        lines.append(f"namespaces: {', '.join(details['namespaces'])}")
        return details, lines

    def teardown_kube(self, spec: LabSpec) -> tuple[Any | None, str]:
        kube = self.kube(spec)
        try:
            kube.server_version()
        except LabError as exc:
            raise OperationError(
                f"cannot reach the cluster of {self._where(spec)}: {exc}",
                hint="nothing was removed; fix the access and run `invoke down` again",
            ) from None
        return kube, f"cluster of {self._where(spec)} (yours, never changed)"

    def delete_cluster(
        self,
        spec: LabSpec,
        progress: Progress,
        *,
        yes: bool,
        confirm: Callable[[str], bool] | None,
        no_wait: bool,
    ) -> DownResult:
        raise UsageError("an existing cluster is never deleted by netpol-lab")

    def doctor(self, spec: LabSpec) -> list[Finding]:
        from provisioning.doctor import FAIL, OK, Finding, check_kubectl
        from provisioning.runner import SubprocessRunner

        findings = [check_kubectl(self.runner or SubprocessRunner())]
        observed = self.observe(spec)
        if not observed.observed:
            findings.append(
                Finding("cluster", FAIL, observed.reason, observed.hint or "fix the access")
            )
            return findings
        version = (observed.details or {}).get("server_version")
        findings.append(
            Finding("cluster", OK, f"{self._where(spec)} answers, Kubernetes {version}")
        )
        from provisioning.providers.existing import access

        findings += access.findings(access.check_access(self.kube(spec), spec))
        detection = self.detection(spec)
        if detection is not None:
            findings.append(
                Finding(
                    "policy engine",
                    OK if detection.enforced == "yes" else "warn",
                    f"{', '.join(detection.names) or 'no known engine'} found; NetworkPolicy "
                    f"enforced: {detection.enforced} ({detection.reason})",
                    ""
                    if detection.enforced == "yes"
                    else "the lab runs, but policies are "
                    "shown as not enforced; install an engine to see them work",
                    required=False,
                    data=detection_document(detection),
                )
            )
        return findings

    def preload(self, spec: LabSpec, progress: Progress) -> Any:
        raise UsageError(
            "preload caches images for kind nodes; an existing cluster pulls the lab's images "
            "from their registries (nothing to preload for --provider existing)"
        )


def make(
    spec: LabSpec,
    *,
    runner: Runner | None = None,
    kube_factory: Callable[..., Any] | None = None,
    **_: Any,
) -> ExistingProvider:
    return ExistingProvider(kube_factory or default_kube_factory, runner=runner)
