"""Policy engines on kind: what to install, with which settings, and when it counts as ready.

Everything here is a pure function of the ``LabSpec`` (golden-tested); running the actions is the
pipeline's job. Sources for each choice are cited next to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioning import versions
from provisioning.errors import choice_error
from provisioning.lab.engine import Action, EngineSettings
from provisioning.lab.readiness import (
    Check,
    all_ready,
    calico_ready,
    cilium_ready,
    first_pending,
    node_ready,
)
from provisioning.spec import FIELD_MANAGER, LabSpec, lab_labels

KIND_ENGINES = ("calico", "cilium", "none")
CILIUM_INSTALLERS = ("helm", "cilium")


def kind_engine(spec: LabSpec, *, cilium_installer: str = "helm") -> EngineSettings:
    """The engine settings for a kind lab. ``cilium_installer`` is 'helm' or 'cilium' (CLI)."""
    if spec.engine == "calico":
        return _calico(spec)
    if spec.engine in ("cilium", "none"):
        return _cilium(spec, installer=cilium_installer, enforce=spec.engine == "cilium")
    raise choice_error("engine on kind", spec.engine, KIND_ENGINES)


def _networking(spec: LabSpec) -> dict[str, Any]:
    # Every engine replaces kindnet: since kind v0.24 kindnet enforces NetworkPolicy itself
    # (kubernetes-sigs/kind PR #3612), so keeping it would mix two enforcers.
    return {
        "disableDefaultCNI": True,
        "podSubnet": spec.kind.pod_subnet,
        "serviceSubnet": spec.kind.service_subnet,
    }


def _kubectl(spec: LabSpec, *args: str) -> tuple[str, ...]:
    return ("kubectl", "--kubeconfig", str(spec.kubeconfig), *args)


def calico_custom_resources(spec: LabSpec) -> tuple[dict[str, Any], ...]:
    """The operator's Installation (IP pool = kind's pod subnet) and APIServer resources.

    Shape from Calico's published ``custom-resources.yaml`` (operator.tigera.io/v1); the pool CIDR
    must equal kind's ``podSubnet`` or pods get addresses kube-proxy and kind do not route.
    """
    labels = lab_labels(spec.name)
    installation = {
        "apiVersion": "operator.tigera.io/v1",
        "kind": "Installation",
        "metadata": {"name": "default", "labels": labels},
        "spec": {
            "calicoNetwork": {
                "ipPools": [
                    {
                        "name": "default-ipv4-ippool",
                        "blockSize": 26,
                        "cidr": spec.kind.pod_subnet,
                        "encapsulation": "VXLANCrossSubnet",
                        "natOutgoing": "Enabled",
                        "nodeSelector": "all()",
                    }
                ]
            }
        },
    }
    apiserver = {
        "apiVersion": "operator.tigera.io/v1",
        "kind": "APIServer",
        "metadata": {"name": "default", "labels": labels},
        "spec": {},
    }
    return (installation, apiserver)


# Server-side apply: idempotent on re-runs, and the only way for manifests too large for
# client-side apply's last-applied annotation ("metadata.annotations: Too long").
_SSA = ("apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}")


def _calico(spec: LabSpec) -> EngineSettings:
    # The CRD bundle is too large for client-side apply, so both manifests use _SSA.
    # Calico v3.32 enforces ClusterNetworkPolicy with no switch, and operator-crds.yaml carries its
    # CRD (policy.networking.k8s.io_clusternetworkpolicies.yaml, bundle-version v0.2.0): nothing
    # to add here (projectcalico/calico manifests/operator-crds.yaml @ v3.32.1;
    # docs/cluster-policy-engines.md).
    actions = (
        Action(
            f"apply Calico {versions.CALICO_VERSION} operator CRDs",
            argv=_kubectl(spec, *_SSA, "-f", versions.CALICO_OPERATOR_CRDS_URL),
        ),
        Action(
            f"apply the Tigera operator ({versions.CALICO_VERSION})",
            argv=_kubectl(spec, *_SSA, "-f", versions.CALICO_OPERATOR_URL),
        ),
        Action(
            "wait for the operator CRDs to be established",
            argv=_kubectl(
                spec,
                "wait",
                "--for=condition=established",
                "--timeout=120s",
                "crd/installations.operator.tigera.io",
                "crd/apiservers.operator.tigera.io",
            ),
        ),
        Action(
            f"apply Installation (IP pool {spec.kind.pod_subnet}) and APIServer",
            objects=calico_custom_resources(spec),
        ),
    )
    return EngineSettings(
        engine="calico",
        summary=f"Calico {versions.CALICO_VERSION} via the Tigera operator",
        enforces=True,
        kind_networking=_networking(spec),
        actions=actions,
        readiness=(
            "every TigeraStatus reports Available (Calico operator docs)",
            "every node reports Ready (the CNI is up)",
        ),
        needs=("kubectl",),
        cluster_network_policy=True,  # v3.32: always on, CRD in operator-crds.yaml
        calico_api=True,  # the APIServer applied below serves projectcalico.org/v3
    )


def cilium_values(spec: LabSpec, *, enforce: bool) -> dict[str, Any]:
    """Helm values for Cilium on kind (docs.cilium.io, "Getting Started Using Kind").

    ``ipam.mode=kubernetes`` uses the podCIDRs kind's controller-manager allocates;
    ``image.pullPolicy=IfNotPresent`` lets images preloaded into the nodes (provisioning/
    preload.py, `kind load image-archive`) be used.
    ``policyEnforcementMode=never`` is how engine ``none`` gets pod networking without enforcement
    (docs.cilium.io/en/stable/security/policy/intro/, "Policy Enforcement Modes").
    ``k8sClusterNetworkPolicy.enabled=true`` makes Cilium (from 1.20) enforce ClusterNetworkPolicy
    (policy.networking.k8s.io/v1alpha2): cilium/charts cilium-1.20.0.tgz cilium/values.yaml:
    1294-1296 (default false), rendered as cilium-config ``enable-k8s-cluster-network-policy:
    "true"`` (templates/cilium-configmap.yaml:988-990) and the agent's RBAC on
    clusternetworkpolicies (templates/cilium-agent/clusterrole.yaml:157-165). Engine ``none``
    leaves it off: it enforces nothing, so the agent has no reason to watch those policies.
    """
    values: dict[str, Any] = {
        "ipam": {"mode": "kubernetes"},
        "image": {"pullPolicy": "IfNotPresent"},
        "operator": {"replicas": 1},
        "policyEnforcementMode": "default" if enforce else "never",
    }
    if enforce:
        values["k8sClusterNetworkPolicy"] = {"enabled": True}
    return values


def cluster_network_policy_crd_actions(spec: LabSpec) -> tuple[Action, ...]:
    """Install the ClusterNetworkPolicy CRD that Cilium 1.20 needs but does not install.

    cilium/cilium PR #47227 (Documentation/network/kubernetes/policy.rst): "You also must install
    the Custom Resource Definition (CRD) from sigs.k8s.io/network-policy-api", with the
    network-policy-api v0.2.0 standard CRD (``versions.CLUSTER_NETWORK_POLICY_CRD_URL``). The
    1.20.0 chart has no value that installs it (its operator may update no such CRD,
    templates/cilium-operator/clusterrole.yaml). Applied, then waited for, before Cilium starts,
    so the agent finds the API it is told to watch.
    """
    return (
        Action(
            f"apply the ClusterNetworkPolicy CRD (network-policy-api "
            f"{versions.NETWORK_POLICY_API_VERSION}, standard channel)",
            argv=_kubectl(spec, *_SSA, "-f", versions.CLUSTER_NETWORK_POLICY_CRD_URL),
        ),
        Action(
            "wait for the ClusterNetworkPolicy CRD to be established",
            argv=_kubectl(
                spec,
                "wait",
                "--for=condition=established",
                "--timeout=120s",
                f"crd/{versions.CLUSTER_NETWORK_POLICY_CRD}",
            ),
        ),
    )


def _cilium(spec: LabSpec, *, installer: str, enforce: bool) -> EngineSettings:
    import yaml

    values_path = str(spec.lab_file("cilium-values.yaml"))
    values = yaml.safe_dump(cilium_values(spec, enforce=enforce), sort_keys=True)
    if installer == "helm":
        install = Action(
            f"install Cilium {versions.CILIUM_VERSION} with Helm",
            argv=(
                "helm",
                "upgrade",
                "--install",
                "cilium",
                "cilium",
                "--repo",
                versions.CILIUM_HELM_REPO,
                "--version",
                versions.CILIUM_VERSION,
                "--namespace",
                "kube-system",
                "--kubeconfig",
                str(spec.kubeconfig),
                "--values",
                values_path,
            ),
            files=((values_path, values),),
        )
    elif installer == "cilium":
        # `cilium install` fails when Cilium is there already; the pipeline runs install
        # actions only when the engine is not installed, so re-runs just wait for readiness.
        install = Action(
            f"install Cilium {versions.CILIUM_VERSION} with the cilium CLI",
            argv=(
                "cilium",
                "install",
                "--version",
                versions.CILIUM_VERSION,
                "--values",
                values_path,
            ),
            env=(("KUBECONFIG", str(spec.kubeconfig)),),
            files=((values_path, values),),
        )
    else:
        raise choice_error("cilium installer", installer, CILIUM_INSTALLERS)
    # Engine cilium enforces ClusterNetworkPolicy too, so its CRD must be served first; engine
    # none enforces nothing and installs no CRD (a ClusterNetworkPolicy is then refused by the
    # API server rather than accepted and silently ignored).
    crd = cluster_network_policy_crd_actions(spec) if enforce else ()
    warnings: tuple[str, ...] = ()
    if not enforce:
        warnings = (
            "engine 'none': NetworkPolicy objects are accepted but NOT enforced; every "
            "connection stays allowed (Cilium runs with policyEnforcementMode=never)",
        )
    return EngineSettings(
        engine="cilium" if enforce else "none",
        summary=(
            f"Cilium {versions.CILIUM_VERSION}"
            + ("" if enforce else " as plain CNI, policy enforcement off")
        ),
        enforces=enforce,
        kind_networking=_networking(spec),
        actions=(*crd, install),
        readiness=(
            "DaemonSets kube-system/cilium and, where the chart deploys it, "
            "kube-system/cilium-envoy rolled out on every node",
            "Deployment kube-system/cilium-operator available",
            "every node reports Ready (the CNI is up)",
        ),
        warnings=warnings,
        needs=(installer, "kubectl") if enforce else (installer,),
        # Cilium 1.20 with k8sClusterNetworkPolicy.enabled and the CRD applied above; none: off.
        cluster_network_policy=enforce,
        calico_api=False,
    )


# --- readiness against a live cluster ------------------------------------------------------


def readiness_check(engine: str, kube: Any) -> Callable[[], Check]:
    """A check for ``readiness.wait_for`` on kind: the engine's components and all nodes."""
    component = {"calico": calico_ready, "cilium": cilium_ready, "none": cilium_ready}.get(engine)
    parts = [] if component is None else [lambda: component(kube)]
    return lambda: first_pending(
        *parts, lambda: all_ready("nodes", kube.list("v1", "Node"), node_ready)
    )


def installed_check(engine: str, kube: Any) -> bool:
    """Did the install actions complete? (Their last object exists.) Resumes interrupted runs."""
    from provisioning.errors import OperationError

    try:
        if engine == "calico":
            return kube.get("operator.tigera.io/v1", "Installation", "default") is not None
        if engine in ("cilium", "none"):
            return kube.get("apps/v1", "DaemonSet", "cilium", "kube-system") is not None
    except OperationError:
        return False  # e.g. the operator's CRDs are not there yet
    return False
