"""The desired lab, as one frozen value: what provider, engine, names, images and timeouts.

``LabSpec`` is built by ``provisioning.profiles.resolve`` from built-in defaults, a profile,
Invoke configuration and command-line flags (in that order of precedence). Everything
downstream (plan, providers, engines, workload) takes a ``LabSpec`` and nothing half-typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from provisioning import versions

PROVIDERS = ("kind", "aks", "existing")
ENGINES = ("calico", "cilium", "none", "azure")

TOOL = "netpol-lab"
FIELD_MANAGER = TOOL
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_LAB = "netpol-lab.io/lab"
LABEL_ENGINE = "netpol-lab.io/engine"


# The cluster DNS pods: CoreDNS keeps the historical k8s-app=kube-dns label on kind and on AKS.
CLUSTER_DNS_NAMESPACE = "kube-system"
CLUSTER_DNS_LABELS: dict[str, str] = {"k8s-app": "kube-dns"}


def lab_labels(lab: str) -> dict[str, str]:
    """The labels every object the tool creates carries."""
    return {LABEL_MANAGED_BY: TOOL, LABEL_LAB: lab}


def lab_selector(lab: str) -> str:
    """A label selector matching exactly what this lab created."""
    return f"{LABEL_MANAGED_BY}={TOOL},{LABEL_LAB}={lab}"


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for each phase before giving up with a clear message."""

    cluster: float = 300.0
    engine: float = 600.0
    workload: float = 300.0


@dataclass(frozen=True)
class KindSettings:
    node_image: str = versions.KIND_NODE_IMAGE
    workers: int = 1
    pod_subnet: str = versions.KIND_POD_SUBNET
    service_subnet: str = versions.KIND_SERVICE_SUBNET
    # Extra node labels (a workshop fleet's id and expiry); not a profile key. The tool's own
    # ownership labels always win over these.
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AksSettings:
    subscription_id: str | None = None  # falls back to AZURE_SUBSCRIPTION_ID
    resource_group: str | None = None  # default: "<name>-rg"
    location: str = "westeurope"
    node_count: int = 2
    vm_size: str = "Standard_D2s_v5"
    kubernetes_version: str | None = None  # None: the region's default, non-preview version
    tags: dict[str, str] = field(default_factory=dict)

    def group_for(self, cluster_name: str) -> str:
        return self.resource_group or f"{cluster_name}-rg"


@dataclass(frozen=True)
class ExistingSettings:
    """A cluster the user already has: their kubeconfig (read, never written) and context."""

    kubeconfig: Path | None = None
    context: str | None = None  # None: the kubeconfig's current-context


# Every file the tool writes in a lab's folder (``<state root>/<lab>/``), and what it holds.
# Teardown removes these names (those it wrote) and nothing else; the folder only when empty.
LAB_FILES: dict[str, str] = {
    "state.json": "the lab record: provider, engine, scenario, whether the tool made the cluster",
    "kubeconfig": "credentials for the lab's cluster (mode 0600)",
    "kind-config.yaml": "the kind cluster configuration passed to `kind create cluster`",
    "cilium-values.yaml": "the Helm values Cilium was installed with",
    "lock": "held while a task changes the lab: the holder's PID and command",
    "fleet.json": "a workshop fleet's record: mode, attendees, expiry, how far each lab got",
}


@dataclass(frozen=True)
class LabSpec:
    """Everything that describes one lab."""

    name: str = "netpol-lab"
    provider: str = "kind"
    engine: str = "calico"
    scenario: str = "aks-demo"
    # A workshop exercise whose baseline the lab holds: its scenario, extra policies and pods.
    exercise: str | None = None
    profile: str | None = None  # the profile file it came from, for messages
    timeouts: Timeouts = field(default_factory=Timeouts)
    kind: KindSettings = field(default_factory=KindSettings)
    aks: AksSettings = field(default_factory=AksSettings)
    existing: ExistingSettings = field(default_factory=ExistingSettings)
    # Appended to the lab's namespace names ("demo" -> "demo-<lab>") on clusters the lab shares
    # with other workloads, so they can never collide with the user's own namespaces.
    namespace_suffix: str = ""
    # Extra labels and annotations on every object the lab applies (a workshop fleet's id and
    # expiry); not profile keys. The tool's own labels win over these.
    object_labels: dict[str, str] = field(default_factory=dict)
    object_annotations: dict[str, str] = field(default_factory=dict)
    state_root: Path = field(default_factory=lambda: default_state_root())
    # Which top-level settings a profile, the Invoke configuration or a flag gave explicitly;
    # the others may follow the existing lab (see profiles.follow_lab).
    explicit: frozenset[str] = frozenset()

    @property
    def state_dir(self) -> Path:
        """Where this lab keeps its own files (kubeconfig, state)."""
        return self.state_root / self.name

    @property
    def kubeconfig(self) -> Path:
        """The kubeconfig the lab talks to its cluster with: the user's own file on an existing
        cluster (read only), else the lab's file that the tool writes."""
        if self.existing.kubeconfig is not None:
            return self.existing.kubeconfig
        return self.lab_file("kubeconfig")

    @property
    def kube_context(self) -> str | None:
        return self.existing.context

    def namespace(self, logical: str) -> str:
        """The real name of one of the lab's namespaces (``demo``, ``other``) in its cluster."""
        return f"{logical}{self.namespace_suffix}"

    def lab_file(self, name: str) -> Path:
        """One of the files the tool writes in the lab's folder (only those in ``LAB_FILES``)."""
        if name not in LAB_FILES:
            raise ValueError(f"{name!r} is not one of the lab's files: {sorted(LAB_FILES)}")
        return self.state_dir / name


def default_state_root() -> Path:
    """``$NETPOL_LAB_HOME`` or ``$XDG_STATE_HOME/netpol-lab`` or ``~/.local/state/netpol-lab``."""
    import os

    if home := os.environ.get("NETPOL_LAB_HOME"):
        try:
            return Path(home).expanduser().absolute()  # `~` expanded; relative to where it runs
        except RuntimeError:  # `~nosuchuser/...`: no such home directory
            from provisioning.errors import UsageError

            raise UsageError(
                f"NETPOL_LAB_HOME={home!r}: no such user's home folder; give a full path"
            ) from None
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / TOOL
