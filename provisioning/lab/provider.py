"""The provider seam: the one small protocol the shared pipeline talks to.

In the spirit of kind's ``pkg/cluster/internal/providers/provider.go`` (kubernetes-sigs/kind
v0.31.0), where docker, podman and nerdctl hide behind one ``Provider`` interface: here kind, AKS
and a cluster the user already has hide behind ``Provider``. The pipeline (observe -> plan ->
confirm -> execute -> re-observe -> validate), the plan type, the step table, ``status`` and
``down`` are written once, in ``provisioning.lab``; everything specific to one provider lives in
its folder under ``provisioning.providers`` and is reached through this protocol only.

A provider answers five questions and performs the cluster's own steps:

* what the run needs before it starts (``preflight``), what is there (``observe``) and what
  must change in the cluster and its engine (``plan_cluster``, which returns those steps with
  the provider's own details);
* how to do each of those steps (``actions``: step key -> function of the pipeline context),
  and what to do once the cluster is reachable (``connect``);
* how to talk to the cluster (``kube``, ``kubectl_args``) and which engine runs in it
  (``engine``);
* what ``status`` shows beyond the shared part (``status_details``) and how ``down`` removes the
  cluster (``teardown_kube``, ``delete_cluster``);
* what the machine and the account must have (``doctor``), and which images it can preload
  (``preload``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from provisioning.doctor import Finding
    from provisioning.lab.engine import EngineSettings
    from provisioning.lab.observe import ObservedLab
    from provisioning.lab.pipeline import Context
    from provisioning.lab.plan import PlanStep
    from provisioning.lab.teardown import DownResult
    from provisioning.progress import Progress
    from provisioning.providers import ProviderInfo
    from provisioning.spec import LabSpec

Action = Callable[["Context", "PlanStep"], None]


@dataclass(frozen=True)
class ClusterPlan:
    """The provider's part of a plan: the cluster and engine steps, and what to show with them.

    ``fresh``: the cluster is new or recreated, so every lab object is created anew.
    ``lines`` replace the step lines of the steps whose action is in ``shown_by_lines`` in the
    text view (AKS shows each ARM request there). ``details`` go into the plan's JSON document
    under the provider's name.
    """

    steps: tuple[PlanStep, ...]
    artifacts: Mapping[str, Any] = field(default_factory=dict)
    blocked: str | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    confirmation: str = ""  # what `up` asks before a destructive step ("This run would ...")
    confirmation_note: str = ""  # how the plan text says it ("This plan ...")
    fresh: bool = False
    lines: tuple[str, ...] = ()
    shown_by_lines: frozenset[str] = frozenset()
    details: Mapping[str, Any] = field(default_factory=dict)
    images: tuple[tuple[str, str, bool | None], ...] = ()
    native: Any = None  # the provider's own plan object (AKS: the ARM requests), for callers


class Provider(Protocol):
    """What the shared pipeline needs from a provider; see the module docstring."""

    info: ProviderInfo

    def preflight(self, spec: LabSpec) -> None:
        """What ``up`` and ``down`` need before anything is shown or done (an account, a
        kubeconfig file): a UsageError naming the setting, else nothing."""
        ...

    def engine(self, spec: LabSpec) -> EngineSettings:
        """The policy engine as the pipeline sees it: what installing it takes (may be
        nothing), whether it enforces NetworkPolicy, warnings to show."""
        ...

    def observe(self, spec: LabSpec) -> ObservedLab:
        """What is there now; never raises for a missing tool or account (``unobserved``)."""
        ...

    def plan_cluster(
        self, spec: LabSpec, observed: ObservedLab, engine: EngineSettings
    ) -> ClusterPlan: ...

    def actions(self) -> Mapping[str, Action]:
        """The functions that carry out this provider's plan steps, by step action key."""
        ...

    def connect(self, ctx: Context) -> None:
        """After the cluster steps: make the lab's kubeconfig current and wait until the
        cluster can take the workload (nothing to do when the steps already did)."""
        ...

    def kube(self, spec: LabSpec) -> Any:
        """The ``KubeApi`` of the lab's cluster (built lazily; the kubeconfig may not exist
        yet when this is called)."""
        ...

    def kubectl_args(self, spec: LabSpec) -> tuple[str, ...]:
        """kubectl's global flags that reach the lab's cluster (``--kubeconfig``, ``--context``)."""
        ...

    def status_details(
        self, spec: LabSpec, observed: ObservedLab
    ) -> tuple[dict[str, Any], list[str]]:
        """The provider's part of ``status``: a JSON-able mapping and the lines people see."""
        ...

    def teardown_kube(self, spec: LabSpec) -> tuple[Any | None, str]:
        """For ``down`` that keeps the cluster: the kube of a cluster that is the lab's (None:
        there is no cluster) and how to name the cluster kept. Raises OperationError when the
        cluster is not the lab's to touch."""
        ...

    def delete_cluster(
        self,
        spec: LabSpec,
        progress: Progress,
        *,
        yes: bool,
        confirm: Callable[[str], bool] | None,
        no_wait: bool,
    ) -> DownResult:
        """``down``: remove the cluster the tool created, and only that; safe to run twice."""
        ...

    def doctor(self, spec: LabSpec) -> list[Finding]:
        """This provider's checks of the machine and the account."""
        ...

    def preload(self, spec: LabSpec, progress: Progress) -> Any:
        """Cache every image the lab needs (kind); others say why they need not."""
        ...
