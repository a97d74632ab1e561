"""The AKS provider: the lab's cluster in Azure, behind the shared pipeline's ``Provider``.

Azure specifics live beside this module in ``provisioning.providers.aks``: request bodies
(``body``), engine transitions and AKS's rules (``transitions``, ``retirements``), the ARM
gateway over the Azure SDK (``gateway``), tags and teardown. This module turns them into the
provider protocol: observe the cluster through ARM, plan its one step with the exact ARM
requests, run it with progress, fetch the user kubeconfig into the lab's own file (0600), wait
for the nodes, and remove only what carries the lab's tags.

Seams: ``gateway_factory(subscription) -> AksGateway`` (tests: the fake ARM transport) and
``kube_factory(kubeconfig path) -> KubeApi`` (tests: ``FakeKube``). Nothing here imports the Azure
SDK or the kubernetes client at module level.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioning.errors import LabError, OperationError, UsageError
from provisioning.lab.engine import EngineSettings
from provisioning.lab.observe import ObservedLab, safe_observe_objects
from provisioning.lab.plan import CHANGE, REMOVE, SAME, PlanStep
from provisioning.lab.plan import CREATE as PLUS
from provisioning.lab.provider import Action, ClusterPlan
from provisioning.lab.state import forget, write_lab_file
from provisioning.providers import REGISTRY
from provisioning.providers.aks.gateway import SUBSCRIPTION_ENV
from provisioning.providers.aks.plan import AksPlan, plan_cluster
from provisioning.providers.aks.tags import TAG_MANAGED_BY
from provisioning.providers.aks.transitions import (
    CREATE,
    NOOP,
    REIMAGE_WARNING,
    REPAIR,
    UPDATE,
    stopped_reason,
)
from provisioning.spec import TOOL, LabSpec

if TYPE_CHECKING:
    from provisioning.doctor import Finding
    from provisioning.lab.pipeline import Context
    from provisioning.lab.readiness import Check
    from provisioning.lab.teardown import DownResult
    from provisioning.progress import Progress, StepHandle
    from provisioning.providers.aks.gateway import AksGateway
    from provisioning.providers.aks.observed import ObservedCluster
    from provisioning.runner import Runner

GatewayFactory = Callable[[str], "AksGateway"]
KubeFactory = Callable[[Path], Any]

_STEP_MARKERS = {"install-policy": PLUS, "uninstall-policy": REMOVE, "dataplane-upgrade": CHANGE}
NONE_WARNING = (
    "engine none: NetworkPolicy objects are accepted by the API server but NOT enforced; "
    "validation shows every connection as allowed"
)
ENGINE_SUMMARIES = {
    "azure": "Azure Network Policy Manager on Azure CNI, managed by AKS",
    "calico": "Calico on Azure CNI, managed by AKS",
    "cilium": "Azure CNI powered by Cilium (overlay), managed by AKS",
    "none": "Azure CNI overlay without a policy engine",
}


def default_gateway_factory(subscription: str) -> AksGateway:
    from provisioning.providers.aks.gateway import AksGateway

    return AksGateway(subscription)


def default_kube_factory(kubeconfig: Path) -> Any:
    from provisioning.kube import ClientKube

    return ClientKube(kubeconfig)


def configured_subscription(spec: LabSpec) -> str | None:
    """The subscription from the profile or ``AZURE_SUBSCRIPTION_ID``; None when neither is set.

    Looking only at configuration (never at credentials) keeps ``plan`` instant offline.
    """
    return (spec.aks.subscription_id or os.environ.get(SUBSCRIPTION_ENV) or "").strip() or None


def aks_engine(spec: LabSpec) -> EngineSettings:
    """The engine as the shared pipeline sees it: AKS installs it, so there is nothing to run."""
    warnings = () if spec.engine != "none" else (NONE_WARNING,)
    return EngineSettings(
        engine=spec.engine,
        summary=ENGINE_SUMMARIES[spec.engine],
        enforces=spec.engine != "none",
        kind_networking={},
        actions=(),
        readiness=("every node Ready",),
        warnings=warnings,
        # Azure NPM implements networking.k8s.io/v1 only; AKS's managed Calico and Cilium are
        # not documented to enable ClusterNetworkPolicy (docs/cluster-policy-engines.md).
        cluster_network_policy=False,
        calico_api=False,  # no Calico API server on AKS's managed Calico (not documented)
    )


@dataclass(frozen=True)
class AksObservation:
    """What ``observe`` saw in Azure, handed back to ``plan_cluster`` by the pipeline."""

    subscription: str | None
    cluster: ObservedCluster | None


CLUSTER_ACTIONS = frozenset({"create-cluster", "update-cluster", "repair-cluster", "keep-cluster"})


@dataclass
class AksProvider:
    """``Provider`` for AKS: the cluster through the ARM gateway, the lab through its kube."""

    gateway_factory: GatewayFactory = default_gateway_factory
    kube_factory: KubeFactory = default_kube_factory
    runner: Runner | None = None  # only for doctor's kubectl check
    poll_interval: float = 5.0
    info = REGISTRY["aks"]
    _gateways: dict[str, AksGateway] = field(default_factory=dict, repr=False)
    _planned: AksPlan | None = field(default=None, repr=False)

    def gateway(self, subscription: str) -> AksGateway:
        if subscription not in self._gateways:
            self._gateways[subscription] = self.gateway_factory(subscription)
        return self._gateways[subscription]

    def _gateway_for(self, spec: LabSpec) -> AksGateway:
        subscription = configured_subscription(spec)
        if subscription is None:
            from provisioning.providers.aks.gateway import missing_subscription

            raise missing_subscription()
        return self.gateway(subscription)

    def cluster(self, spec: LabSpec) -> ObservedCluster | None:
        return self._gateway_for(spec).observe(spec.aks.group_for(spec.name), spec.name)

    # --- observe and plan -------------------------------------------------------------------

    def preflight(self, spec: LabSpec) -> None:
        """A subscription must be configured (the profile or AZURE_SUBSCRIPTION_ID)."""
        self._gateway_for(spec)

    def engine(self, spec: LabSpec) -> EngineSettings:
        return aks_engine(spec)

    def observe(self, spec: LabSpec) -> ObservedLab:
        subscription = configured_subscription(spec)
        if subscription is None:
            # No subscription: say so at once rather than let DefaultAzureCredential probe.
            from provisioning.providers.aks.gateway import missing_subscription

            return ObservedLab.unobserved(
                f"Azure not consulted: {missing_subscription().message}", usage=True
            )
        try:
            cluster = self.gateway(subscription).observe(spec.aks.group_for(spec.name), spec.name)
        except LabError as exc:
            # Bad credentials or no network: plan still shows the requests, marked unobserved.
            return ObservedLab(
                observed=False,
                reason=f"Azure not consulted ({exc})",
                usage=isinstance(exc, UsageError),
                hint="check the subscription and `az login`, then re-run",
                details=AksObservation(subscription, None),
            )
        return self.lab_state(spec, cluster, subscription)

    def lab_state(
        self, spec: LabSpec, cluster: ObservedCluster | None, subscription: str | None = None
    ) -> ObservedLab:
        """The shared ``ObservedLab`` for an observed cluster (None: it does not exist)."""
        details = AksObservation(subscription or configured_subscription(spec), cluster)
        if cluster is None:
            return ObservedLab(observed=True, cluster_exists=False, details=details)
        owned = cluster.owned_by(spec.name)
        base: dict[str, Any] = {
            "observed": True,
            "cluster_exists": True,
            "owned": owned,
            "engine": cluster.engine,
            # AKS installs and runs the engine itself; its health is the cluster's.
            "engine_installed": True,
            "engine_ready": cluster.provisioning_state.lower() == "succeeded",
            "engine_detail": f"managed by AKS, provisioningState {cluster.provisioning_state}",
            "details": details,
        }
        if not owned:
            return ObservedLab(**base)
        if not spec.kubeconfig.exists():
            return ObservedLab(
                **base,
                reason=f"no lab kubeconfig at {spec.kubeconfig}; `invoke up --provider aks` "
                "writes it",
            )
        state, problem = safe_observe_objects(self.kube_factory(spec.kubeconfig), spec)
        return ObservedLab(
            **base,
            reason=problem,
            api_reachable=state is not None,
            objects=state.objects if state else {},
            pods_ready=state.pods_ready if state else {},
            scenario=state.scenario if state else None,
        )

    def plan_cluster(
        self, spec: LabSpec, observed: ObservedLab, engine: EngineSettings
    ) -> ClusterPlan:
        seen: AksObservation | None = observed.details
        subscription = seen.subscription if seen else None
        if not observed.observed:
            cluster = plan_cluster(
                spec,
                None,
                kubernetes_version=spec.aks.kubernetes_version,
                subscription=subscription,
                observed=False,
            )
        else:
            assert seen is not None and subscription is not None
            gateway = self.gateway(subscription)
            current = seen.cluster
            version = spec.aks.kubernetes_version
            group_exists: bool | None = None
            if current is None:
                group_exists = gateway.group_exists(spec.aks.group_for(spec.name))
                version = version or gateway.default_kubernetes_version(spec.aks.location)
            cluster = plan_cluster(
                spec,
                current,
                kubernetes_version=version,
                group_exists=group_exists,
                subscription=subscription,
                pods=self._pods_for_npm(spec, current),
            )
        self._planned = cluster
        return cluster_plan(spec, cluster, subscription)

    def _pods_for_npm(self, spec: LabSpec, current: ObservedCluster | None) -> int | None:
        """The cluster's pod count when ``up`` would install Azure NPM on it; None when unknown.

        Azure NPM is not supported past 20,000 pods (use-network-policies.md), so the count is
        read only for that change, and only through the lab's kubeconfig (a stopped or
        unreachable cluster gives None: the node count still decides).
        """
        if current is None or spec.engine != "azure" or current.engine == "azure":
            return None
        if current.stopped or not spec.kubeconfig.exists():
            return None
        try:
            return len(self.kube_factory(spec.kubeconfig).list("v1", "Pod"))
        except LabError:
            return None

    # --- execute ----------------------------------------------------------------------------

    def actions(self) -> Mapping[str, Action]:
        return {
            "create-cluster": apply_cluster_step,
            "update-cluster": apply_cluster_step,
            "repair-cluster": apply_cluster_step,
        }

    def connect(self, ctx: Context) -> None:
        """Fetch the user kubeconfig into the lab's file, then wait for the engine and nodes."""
        from provisioning.lab.pipeline import record

        spec = ctx.spec
        group = spec.aks.group_for(spec.name)
        cluster = self.cluster(spec)
        if cluster is None:
            raise OperationError(f"AKS cluster {spec.name!r} in {group!r} is gone")
        if cluster.entra_id:
            require_kubelogin(group, spec.name, "uses Microsoft Entra ID")
        with ctx.progress.step(f"Fetch the user kubeconfig of {spec.name}") as h:
            kubeconfig = self._gateway_for(spec).user_kubeconfig(group, spec.name)
            login = kubelogin_mode(kubeconfig)
            if login is not None:
                require_kubelogin(group, spec.name, "gave an Entra ID kubeconfig")
            write_lab_file(spec, "kubeconfig", kubeconfig)
            ctx.reset_kube()
            h.note(
                f"kubeconfig: {spec.kubeconfig} (mode 0600; your current kubectl context is "
                "unchanged)"
            )
            if login == "devicecode":
                h.note(
                    "it signs in through kubelogin with a device code; to use your az login "
                    "instead: kubelogin convert-kubeconfig -l azurecli --kubeconfig "
                    f"{spec.kubeconfig}"
                )
        record(ctx, "created")
        wait_nodes(ctx, expect=sum(p.count for p in cluster.node_pools) or spec.aks.node_count)
        record(ctx, "ready")

    def kube(self, spec: LabSpec) -> Any:
        return self.kube_factory(spec.kubeconfig)

    def kubectl_args(self, spec: LabSpec) -> tuple[str, ...]:
        return ("--kubeconfig", str(spec.kubeconfig))

    # --- status, down, doctor ---------------------------------------------------------------

    def status_details(
        self, spec: LabSpec, observed: ObservedLab
    ) -> tuple[dict[str, Any], list[str]]:
        seen: AksObservation | None = observed.details
        details = status_details(spec, seen.subscription if seen else None, seen and seen.cluster)
        return details, status_lines(spec, details, observed)

    def teardown_kube(self, spec: LabSpec) -> tuple[Any | None, str]:
        from provisioning.providers.aks.teardown import not_owned_error

        group = spec.aks.group_for(spec.name)
        cluster = self.cluster(spec)
        if cluster is None:
            return None, ""
        if not cluster.owned_by(spec.name):
            raise not_owned_error(group, spec.name, spec.name)
        if cluster.stopped:  # its API server is deallocated: nothing to talk to
            raise UsageError(stopped_reason(cluster))
        if cluster.entra_id:
            require_kubelogin(group, spec.name, "uses Microsoft Entra ID")
        if not spec.kubeconfig.exists():  # e.g. another machine ran up: fetch it the same way
            write_lab_file(
                spec, "kubeconfig", self._gateway_for(spec).user_kubeconfig(group, spec.name)
            )
        return self.kube(spec), f"AKS cluster {spec.name}"

    def delete_cluster(
        self,
        spec: LabSpec,
        progress: Progress,
        *,
        yes: bool,
        confirm: Callable[[str], bool] | None,
        no_wait: bool,
    ) -> DownResult:
        return delete_lab_cluster(self, spec, progress, yes=yes, confirm=confirm, no_wait=no_wait)

    def doctor(self, spec: LabSpec) -> list[Finding]:
        from provisioning.doctor import check_kubectl
        from provisioning.runner import SubprocessRunner

        # AKS picks the cluster's Kubernetes version; the kind pins and skew do not apply.
        return [check_kubectl(self.runner or SubprocessRunner()), check_azure_env()]

    def preload(self, spec: LabSpec, progress: Progress) -> Any:
        raise UsageError(
            "preload caches images for kind nodes; AKS nodes pull the lab's images from their "
            "registries (nothing to preload for --provider aks)"
        )


def make(
    spec: LabSpec,
    *,
    runner: Runner | None = None,
    gateway_factory: GatewayFactory | None = None,
    kube_factory: KubeFactory | None = None,
    poll_interval: float = 5.0,
    **_: Any,
) -> AksProvider:
    return AksProvider(
        gateway_factory or default_gateway_factory,
        kube_factory or default_kube_factory,
        runner=runner,
        poll_interval=poll_interval,
    )


# --- plan ------------------------------------------------------------------------------------


def cluster_plan(spec: LabSpec, cluster: AksPlan, subscription: str | None) -> ClusterPlan:
    """The provider's part of the lab plan: the cluster step with its exact ARM requests."""
    t = cluster.transition
    blocked: str | None = None
    if t.refused:
        blocked = t.reason
    elif cluster.current is not None and not cluster.current.owned_by(spec.name):
        # Same engine means no transition refusal, yet the lab must not move into it either.
        blocked = (
            f"cluster {spec.name!r} in resource group {cluster.group!r} is not tagged "
            f"{TAG_MANAGED_BY}={TOOL} for lab {spec.name!r}; netpol-lab deploys only into "
            "clusters it created; choose another --name or aks.resource_group"
        )
    elif cluster.current is not None and cluster.current.busy:
        # E.g. an interrupted up left the create running: its kubeconfig and nodes are not ready.
        blocked = (
            f"cluster {spec.name!r} in resource group {cluster.group!r} is "
            f"{cluster.current.provisioning_state}; wait until that operation finishes "
            f"(az aks show -g {cluster.group} -n {spec.name}), then re-run"
        )
    artifacts: dict[str, Any] = {}
    for request in cluster.requests:
        text = [f"{k}: {v}" for k, v in request.headers.items()]
        if request.note:
            text.append(f"# {request.note}")
        text.append(json.dumps(request.body, indent=2))
        artifacts[f"{request.method} {request.path}"] = "\n".join(text)
    needs = blocked is None and t.needs_confirmation
    return ClusterPlan(
        () if blocked else (_cluster_step(spec, cluster),),
        artifacts,
        blocked=blocked,
        warnings=(*t.warnings, *aks_engine(spec).warnings),
        confirmation=confirmation_question(spec, cluster) if needs else "",
        confirmation_note=(
            "reimages every node pool" if t.reimages_node_pools else "changes the running cluster"
        ),
        fresh=cluster.current is None,
        lines=tuple(line for line in cluster.lines() if not line.startswith("! ")),
        shown_by_lines=CLUSTER_ACTIONS,
        details={"subscription": subscription, "cluster": cluster.as_dict()},
        native=cluster,
    )


def confirmation_question(spec: LabSpec, cluster: AksPlan) -> str:
    t = cluster.transition
    notes = [n for s in t.steps for n in s.notes if "reimage" in n]
    effect = (
        REIMAGE_WARNING
        if t.reimages_node_pools
        else (notes[0] if notes else "the running cluster changes")
    )
    return (
        f"change AKS cluster {spec.name!r} from engine {t.current_engine} to "
        f"{t.target_engine} in {len(t.steps)} update(s); {effect}"
    )


def _cluster_step(spec: LabSpec, cluster: AksPlan) -> PlanStep:
    t = cluster.transition
    aks = spec.aks
    where = f"{cluster.group} ({cluster.location})"
    if t.action == CREATE:
        return PlanStep(
            PLUS,
            "create-cluster",
            f"create AKS cluster {spec.name} in {where}",
            f"{aks.node_count} x {aks.vm_size}, {ENGINE_SUMMARIES[spec.engine]}",
        )
    if t.action == UPDATE:
        return PlanStep(
            CHANGE,
            "update-cluster",
            f"update AKS cluster {spec.name} in {where}",
            f"engine {t.current_engine} -> {t.target_engine} in {len(t.steps)} update(s)"
            + ("; every node pool is reimaged" if t.reimages_node_pools else ""),
            items=tuple(
                (_STEP_MARKERS.get(s.kind, CHANGE), s.summary.lstrip("+~- ")) for s in t.steps
            ),
            destructive=t.needs_confirmation,
        )
    if t.action == REPAIR:
        return PlanStep(
            CHANGE,
            "repair-cluster",
            f"repair AKS cluster {spec.name} in {where}",
            t.steps[0].summary,
        )
    assert t.action == NOOP
    return PlanStep(
        SAME, "keep-cluster", f"AKS cluster {spec.name} in {where}", f"engine {spec.engine}"
    )


# --- execute ---------------------------------------------------------------------------------


def apply_cluster_step(ctx: Context, step: PlanStep) -> None:
    """Create, update or repair the cluster: exactly the requests the plan showed."""
    from provisioning.lab.pipeline import record
    from provisioning.providers.aks.apply import apply_cluster, ensure_group

    provider = ctx.provider
    assert isinstance(provider, AksProvider) and provider._planned is not None
    planned = provider._planned
    spec = ctx.spec
    group = spec.aks.group_for(spec.name)
    gateway = provider._gateway_for(spec)
    if planned.current is not None and planned.current.entra_id:
        # Before any change: without kubelogin the lab could not use the cluster afterwards.
        require_kubelogin(group, spec.name, "uses Microsoft Entra ID")
    t = planned.transition
    if t.action == CREATE:
        with ctx.progress.step(f"Resource group {group} ({spec.aks.location})") as h:
            created = ensure_group(gateway, planned)
            h.note("created, tagged as netpol-lab's" if created else "exists, left as is")
        # Recorded before the long create: an interrupted up is still known to be ours.
        record(ctx, "creating", resource_group_created=created or None)
    with ctx.progress.step(_cluster_title(spec, planned, step)) as h:
        cluster = apply_cluster(gateway, spec, planned, progress=_arm_progress(h))
        h.note(f"provisioningState {cluster.provisioning_state}, engine {cluster.engine}")
    # An engine update reimages the node pools: bare pods that were on them are gone.
    ctx.nodes_replaced = t.action in (UPDATE, REPAIR)


def _cluster_title(spec: LabSpec, planned: AksPlan, step: PlanStep) -> str:
    t = planned.transition
    if t.action == CREATE:
        return f"Create AKS cluster {spec.name} ({step.detail})"
    if t.action == REPAIR:
        return f"Repair AKS cluster {spec.name} ({t.steps[0].summary})"
    return f"Update AKS cluster {spec.name}: engine {t.current_engine} -> {t.target_engine}"


def _arm_progress(handle: StepHandle) -> Callable[[float, str], None]:
    def report(elapsed: float, state: str) -> None:
        handle.update(f"provisioningState {state} ({elapsed:.0f}s)")

    return report


# DaemonSets AKS runs for a managed engine, all in kube-system: azure-npm (Azure NPM; its addon
# manifest in Azure/azure-container-networking), cilium (Azure CNI powered by Cilium). AKS installs
# Calico through the Tigera operator, so its TigeraStatus reports readiness as on kind.
AKS_ENGINE_DAEMONSETS = {"azure": "azure-npm", "cilium": "cilium"}


def aks_readiness_check(engine: str, kube: Any, *, nodes: int) -> Callable[[], Check]:
    """Readiness on AKS: the managed engine's agents rolled out (where it has some) and at
    least ``nodes`` nodes Ready. ``none`` has no agent: nodes alone."""
    from provisioning.lab.readiness import (
        all_ready,
        calico_ready,
        daemonset_ready,
        first_pending,
        node_ready,
    )

    parts: list[Callable[[], Check]] = []
    if engine == "calico":
        # AKS creates its own Installation (and no APIServer this tool knows of): only the core
        # controller's "calico" status is certain there.
        parts.append(lambda: calico_ready(kube, required=("calico",), only_required=True))
    elif name := AKS_ENGINE_DAEMONSETS.get(engine):
        parts.append(lambda: daemonset_ready(kube, name))
    return lambda: first_pending(
        *parts, lambda: all_ready("nodes", kube.list("v1", "Node"), node_ready, expect=nodes)
    )


def wait_nodes(ctx: Context, *, expect: int) -> Check:
    """The managed engine's agents rolled out and every node Ready (aks_readiness_check)."""

    engine = ctx.spec.engine
    with ctx.progress.step(f"Wait for {engine} and all {expect} nodes to be ready") as h:
        done = ctx.wait(
            aks_readiness_check(engine, ctx.kube, nodes=expect),
            ctx.spec.timeouts.engine,
            h,
            hint=f"see `kubectl --kubeconfig {ctx.spec.kubeconfig} get nodes,ds -A`; "
            "raise timeouts.engine if the nodes are still starting",
        )
        h.note(done.detail)
    return done


def kubelogin_mode(kubeconfig: bytes) -> str | None:
    """The ``--login`` mode when the kubeconfig's user runs kubelogin (exec plugin), else None.

    An Entra ID cluster's user kubeconfig carries ``exec: {command: kubelogin, args: [get-token,
    --login, devicecode, ...]}`` (azure-cli 2.91.0 ``acs/custom.py`` ``uses_kubelogin_devicecode``
    reads the same fields).
    """
    import yaml

    try:
        users = (yaml.safe_load(kubeconfig) or {}).get("users") or [{}]
        exec_info = (users[0].get("user") or {}).get("exec") or {}
    except (yaml.YAMLError, AttributeError, TypeError):
        return None
    if "kubelogin" not in str(exec_info.get("command") or ""):
        return None
    args = [str(a) for a in exec_info.get("args") or []]
    for flag in ("--login", "-l"):
        if flag in args[:-1]:
            return args[args.index(flag) + 1]
    return ""


def require_kubelogin(group: str, name: str, why: str) -> None:
    """A UsageError unless ``kubelogin`` is on PATH: an Entra ID kubeconfig runs it.

    azure-cli 2.91.0 ``acs/custom.py`` (``aks_get_credentials``): "The kubeconfig uses devicecode
    authentication which requires kubelogin. Please install kubelogin ... or run 'az aks
    install-cli' to install both kubectl and kubelogin." (azure-aks-docs
    ``articles/aks/kubelogin-authentication.md``).
    """
    if shutil.which("kubelogin"):
        return
    raise UsageError(
        f"cluster {name!r} in resource group {group!r} {why}, so its kubeconfig runs kubelogin, "
        "which is not on PATH; install it with `az aks install-cli` (or from "
        "https://github.com/Azure/kubelogin) and re-run"
    )


# --- status ----------------------------------------------------------------------------------


def status_details(
    spec: LabSpec, subscription: str | None, cluster: ObservedCluster | None
) -> dict[str, Any]:
    group = spec.aks.group_for(spec.name)
    aks: dict[str, Any] = {"subscription": subscription, "resourceGroup": group, "cluster": None}
    if cluster is not None:
        net = (cluster.raw.get("properties") or {}).get("networkProfile") or {}
        aks["cluster"] = {
            "name": cluster.name,
            "location": cluster.location,
            "provisioningState": cluster.provisioning_state,
            "powerState": cluster.power_state,
            "kubernetesVersion": cluster.kubernetes_version,
            "engine": cluster.engine,
            "networkPlugin": cluster.network_plugin,
            "networkPluginMode": cluster.network_plugin_mode or "node subnet",
            "networkDataplane": cluster.network_dataplane,
            "networkPolicy": net.get("networkPolicy") or "none",
            "nodeResourceGroup": cluster.node_resource_group,
            "nodePools": [
                {"name": p.name, "os": p.os_type, "count": p.count, "vmSize": p.vm_size}
                for p in cluster.node_pools
            ],
            "tags": dict(cluster.tags),
        }
    return aks


def status_lines(spec: LabSpec, aks: Mapping[str, Any], observed: ObservedLab) -> list[str]:
    """The cluster and engine lines of ``status`` for an AKS lab."""
    cluster = aks.get("cluster")
    if not cluster:
        return [
            f"resource group: {aks.get('resourceGroup')}",
            f"cluster:    none (create it with `invoke up --provider aks --name {spec.name}`)",
        ]
    owner = "created by netpol-lab" if observed.owned else "NOT created by netpol-lab"
    pools = ", ".join(f"{p['name']} {p['count']} x {p['vmSize']}" for p in cluster["nodePools"])
    return [
        f"cluster:    {cluster['name']} in {cluster['location']} (resource group "
        f"{aks.get('resourceGroup')}), {owner}, "
        f"provisioningState {cluster['provisioningState']}, "
        f"{str(cluster.get('powerState') or 'Running').lower()}, Kubernetes "
        f"{cluster['kubernetesVersion']}",
        f"engine:     {cluster['engine']} (networkPlugin {cluster['networkPlugin']}, "
        f"{cluster['networkPluginMode']}, dataplane {cluster['networkDataplane']}, "
        f"networkPolicy {cluster['networkPolicy']})",
        f"node pools: {pools or '(none)'}",
    ]


# --- down ------------------------------------------------------------------------------------


def delete_lab_cluster(
    provider: AksProvider,
    spec: LabSpec,
    progress: Progress,
    *,
    yes: bool,
    confirm: Callable[[str], bool] | None,
    no_wait: bool = False,
) -> DownResult:
    """Remove what the lab created in Azure: the cluster and, when the tool created it and
    nothing else is in it, its resource group. Only resources carrying the tool's tags for this
    lab are deleted; a second run finds nothing and returns ``DownResult(())`` without a word.
    """
    from provisioning.lab.confirm import require_confirmation
    from provisioning.lab.teardown import DownResult
    from provisioning.providers.aks.teardown import (
        ABSENT,
        DELETED,
        DELETING,
        KEPT,
        LATER,
        PRESENT,
        not_owned_error,
        teardown,
    )

    gateway = provider._gateway_for(spec)
    group = spec.aks.group_for(spec.name)
    cluster = provider.cluster(spec)
    if cluster is not None and not cluster.owned_by(spec.name):
        raise not_owned_error(group, spec.name, spec.name)  # before anything is asked
    status = gateway.group_status(group, spec.name)
    group_goes = status.exists and status.owned and not status.foreign
    if cluster is None and not group_goes:
        forget(spec)
        kept = (f"resource group {group}",) if status.exists and status.owned else ()
        return DownResult((), kept=kept)

    what = [f"AKS cluster {spec.name!r}"] if cluster is not None else []
    what += [f"resource group {group!r} (created by netpol-lab)"] if group_goes else []
    require_confirmation(f"Delete {' and '.join(what)}", yes=yes, confirm=confirm)

    with progress.step(f"Delete {' and '.join(what)}") as h:
        report = teardown(
            gateway,
            group,
            spec.name,
            lab=spec.name,
            wait=not no_wait,
            progress=_arm_progress(h),
            timeout=spec.timeouts.cluster,
        )
        for line in report.lines():
            h.note(line)
        if no_wait:
            h.note(
                "not waiting: run `invoke down --provider aks` again once the cluster is gone "
                f"(az aks show -g {group} -n {spec.name} finds nothing) to finish"
            )
    if report.group != LATER:
        forget(spec)  # else the next down still has the group to remove
    removed: list[str] = []
    kept: list[str] = []
    started = " (deletion started)"
    if report.cluster in (DELETED, DELETING):
        removed.append(f"AKS cluster {spec.name}" + (started if report.cluster == DELETING else ""))
    if report.group in (DELETED, DELETING):
        removed.append(f"resource group {group}" + (started if report.group == DELETING else ""))
    elif report.group == KEPT:
        kept.append(f"resource group {group}")
    elif report.group == LATER:
        kept.append(f"resource group {group} (until the next down, once the cluster is gone)")
    if report.node_group == PRESENT:
        kept.append(f"node resource group {report.node_group_name}")
    if report.cluster == ABSENT and not removed:
        return DownResult((), kept=tuple(kept))
    return DownResult(tuple(removed), kept=tuple(kept))


def check_azure_env() -> Finding:
    from provisioning.doctor import OK, WARN, Finding

    if os.environ.get(SUBSCRIPTION_ENV):
        return Finding("azure subscription", OK, f"{SUBSCRIPTION_ENV} is set")
    return Finding(
        "azure subscription",
        WARN,
        f"{SUBSCRIPTION_ENV} is not set",
        f"export {SUBSCRIPTION_ENV}=<id> or set aks.subscription_id in the profile; "
        "log in with `az login` (or set AZURE_CLIENT_ID/AZURE_TENANT_ID/"
        "AZURE_CLIENT_SECRET)",
        required=False,
    )
