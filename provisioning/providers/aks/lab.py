"""The AKS lab end to end: ``up``, ``status`` and ``down`` for ``--provider aks``.

Strings together the plan of ``provisioning.providers.aks.provider`` with the shared lab steps:
confirmation before node pools are reimaged, the ARM operations with progress, the user
kubeconfig in the lab's own file (0600), the lab record, nodes Ready, then the kind pipeline's
own workload, policy and validation actions through a ``pipeline.Context`` whose provider is
``AksProvider``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from provisioning.errors import LabError, UsageError
from provisioning.lab.confirm import require_confirmation
from provisioning.lab.observe import ObservedLab, observe_objects
from provisioning.lab.plan import (
    object_steps,
)
from provisioning.lab.readiness import Check
from provisioning.lab.state import (
    LabRecord,
    forget,
    load_record,
    remember_scenario,
    save_record,
    write_lab_file,
)
from provisioning.lab.status import status_document
from provisioning.lab.teardown import DownResult, delete_lab_namespaces
from provisioning.progress import Progress, StepHandle
from provisioning.providers.aks.gateway import resolve_subscription
from provisioning.providers.aks.provider import (
    VALIDATE_STEP,
    AksLabPlan,
    AksProvider,
    GatewayFactory,
    KubeFactory,
    NoCommands,
    aks_engine,
    configured_subscription,
    default_gateway_factory,
    default_kube_factory,
    lab_objects,
    no_subscription_error,
    observed_plan,
)
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
from provisioning.providers.aks.transitions import CREATE, REPAIR, UPDATE, stopped_reason
from provisioning.spec import LabSpec

if TYPE_CHECKING:
    from provisioning.lab.pipeline import Context


# --- up --------------------------------------------------------------------------------------


def lab_up(
    spec: LabSpec,
    progress: Progress,
    *,
    yes: bool,
    confirm: Callable[[str], bool] | None,
    gateway_factory: GatewayFactory | None = None,
    kube_factory: KubeFactory | None = None,
    poll_interval: float = 5.0,
    validate: bool = True,
    probe_timeout: float = 2.0,
    deadline: float = 60.0,
    probe_executor: Any = None,
) -> dict[str, Any]:
    """Create, update or repair the AKS lab, deploy the demo and the scenario's policies, and
    (``validate``) probe it: a mismatch prints the table and raises OperationError.

    Returns a JSON-able document: the plan, the steps run, the validation report (None when not
    validated) and the lab as observed afterwards. ``probe_executor`` None: kubectl exec.
    """
    from provisioning.providers.aks.apply import apply_cluster, ensure_group

    workload, policies = lab_objects(spec)
    subscription = resolve_subscription(spec.aks.subscription_id)
    gateway = (gateway_factory or default_gateway_factory)(subscription)
    provider = AksProvider(gateway, kube_factory or default_kube_factory)
    group = spec.aks.group_for(spec.name)

    with progress.step(f"Observe AKS lab {spec.name} in resource group {group}") as h:
        plan = observed_plan(spec, provider, subscription, workload, policies, validate=validate)
        for line in plan.cluster.lines():
            if not line.startswith("! "):
                h.note(line)
    if plan.blocked:
        raise UsageError(plan.blocked)
    if plan.cluster.current is not None and plan.cluster.current.entra_id:
        # Before any change: without kubelogin the lab could not use the cluster afterwards.
        require_kubelogin(group, spec.name, "uses Microsoft Entra ID")
    if plan.needs_confirmation:
        question = f"This run would {plan.confirmation_question()}. Continue"
        require_confirmation(question, yes=yes, confirm=confirm)
    for warning in plan.warnings:
        progress.warn(warning)

    t = plan.cluster.transition
    group_created = False
    if t.action == CREATE:
        with progress.step(f"Resource group {group} ({spec.aks.location})") as h:
            group_created = ensure_group(gateway, plan.cluster)
            h.note("created, tagged as netpol-lab's" if group_created else "exists, left as is")
        # Recorded before the long create: an interrupted up is still known to be ours.
        _record(spec, "creating", group_created=group_created)
    cluster = plan.cluster.current
    if t.action in (CREATE, UPDATE, REPAIR):
        with progress.step(_cluster_title(plan)) as h:
            cluster = apply_cluster(gateway, spec, plan.cluster, progress=_arm_progress(h))
            h.note(f"provisioningState {cluster.provisioning_state}, engine {cluster.engine}")
    assert cluster is not None

    with progress.step(f"Fetch the user kubeconfig of {spec.name}") as h:
        kubeconfig = gateway.user_kubeconfig(group, spec.name)
        login = kubelogin_mode(kubeconfig)
        if login is not None:
            require_kubelogin(group, spec.name, "gave an Entra ID kubeconfig")
        write_lab_file(spec, "kubeconfig", kubeconfig)
        h.note(
            f"kubeconfig: {spec.kubeconfig} (mode 0600; your current kubectl context is unchanged)"
        )
        if login == "devicecode":
            h.note(
                "it signs in through kubelogin with a device code; to use your az login "
                f"instead: kubelogin convert-kubeconfig -l azurecli --kubeconfig {spec.kubeconfig}"
            )
    _record(spec, "created", group_created=group_created)

    ctx = _context(spec, provider, progress, workload, policies, poll_interval)
    wait_nodes(ctx, expect=sum(p.count for p in cluster.node_pools) or spec.aks.node_count)
    _record(spec, "ready", group_created=group_created)

    # Re-read the lab's objects now: an engine update reimages nodes, so pods may be gone.
    state = observe_objects(ctx.kube, spec)
    pods_ready = state.pods_ready
    if t.action in (UPDATE, REPAIR):
        # Bare pods on reimaged nodes do not come back on their own; recreate those not Ready.
        stale = {p for p, ready in pods_ready.items() if not ready}
        pods_ready = {p: r for p, r in pods_ready.items() if p not in stale}
        objects = {
            ref: ("" if _pod_key(ref) in stale else digest) for ref, digest in state.objects.items()
        }
    else:
        objects = state.objects
    from provisioning.lab.pipeline import run_steps

    run_steps(ctx, object_steps(spec, workload, policies, objects, pods_ready))
    # The lab now carries the scenario's policies, also when they were already in place.
    remember_scenario(spec)

    validation = None
    if validate:
        validation = run_validate_step(ctx, probe_timeout, deadline, probe_executor)

    after = provider.lab_state(spec, provider.cluster(spec))
    return {
        "lab": spec.name,
        "provider": "aks",
        "subscription": subscription,
        "resourceGroup": group,
        "resourceGroupCreated": _group_created(spec, group_created),
        "kubeconfig": str(spec.kubeconfig),
        "plan": plan.as_dict(),
        "executed": True,
        "steps": [r.as_dict() for r in progress.records],
        "validation": validation,
        "after": after.as_dict(),
    }


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


def run_validate_step(
    ctx: Context, probe_timeout: float, deadline: float, probe_executor: Any
) -> dict[str, Any]:
    """The shared validate step; the report as a document. Raises OperationError on mismatch."""
    from provisioning.lab.pipeline import validate_lab
    from provisioning.report.json_report import report_document

    ctx.probe_timeout, ctx.deadline = probe_timeout, deadline
    if probe_executor is None:
        # The context's runner runs nothing; the probes alone exec into the pods with kubectl.
        from provisioning.runner import SubprocessRunner
        from provisioning.validation.probe_kubectl import KubectlExecutor

        probe_executor = KubectlExecutor(SubprocessRunner(), ctx.spec.kubeconfig)
    ctx.probe_executor = probe_executor
    validate_lab(ctx, VALIDATE_STEP)
    return report_document(ctx.validation)


def _cluster_title(plan: AksLabPlan) -> str:
    spec, t = plan.spec, plan.cluster.transition
    if t.action == CREATE:
        return f"Create AKS cluster {spec.name} ({plan.steps[0].detail})"
    if t.action == REPAIR:
        return f"Repair AKS cluster {spec.name} ({t.steps[0].summary})"
    return f"Update AKS cluster {spec.name}: engine {t.current_engine} -> {t.target_engine}"


def _pod_key(ref: str) -> str:
    parts = ref.split("/")
    return f"{parts[1]}/{parts[2]}" if parts[0] == "Pod" and len(parts) == 3 else ""


def _arm_progress(handle: StepHandle) -> Callable[[float, str], None]:
    def report(elapsed: float, state: str) -> None:
        handle.update(f"provisioningState {state} ({elapsed:.0f}s)")

    return report


def _group_created(spec: LabSpec, now: bool) -> bool:
    previous = load_record(spec)
    # An earlier, interrupted up may have created the group; this run then finds it existing.
    return now or bool(previous and previous.provider == "aks" and previous.resource_group_created)


def _record(spec: LabSpec, phase: str, *, group_created: bool) -> None:
    previous = load_record(spec)
    save_record(
        spec,
        LabRecord(
            lab=spec.name,
            provider="aks",
            engine=spec.engine,
            cluster_created=True,  # created now, or carrying this lab's tags (checked in plan)
            phase=phase,
            resource_group_created=_group_created(spec, group_created),
            # Until this run's policies are applied, the lab carries the previous scenario.
            scenario=previous.scenario if previous and previous.provider == "aks" else None,
        ),
    )


def _context(
    spec: LabSpec,
    provider: AksProvider,
    progress: Progress,
    workload: list[dict[str, Any]],
    policies: list[dict[str, Any]],
    poll_interval: float,
) -> Context:
    from provisioning.lab.pipeline import Context

    return Context(
        spec,
        NoCommands(),
        provider,
        progress,
        aks_engine(spec),
        workload,
        policies,
        poll_interval=poll_interval,
    )


def wait_nodes(ctx: Context, *, expect: int) -> Check:
    """The managed engine's agents rolled out and every node Ready (engines.aks_readiness_check)."""
    from provisioning.providers.kind.engines import aks_readiness_check

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


# --- status ----------------------------------------------------------------------------------


def lab_status(
    spec: LabSpec,
    *,
    gateway_factory: GatewayFactory | None = None,
    kube_factory: KubeFactory | None = None,
) -> dict[str, Any]:
    """The lab as it is now, JSON-able; ``render_status_text`` turns it into lines."""
    subscription = configured_subscription(spec)
    group = spec.aks.group_for(spec.name)
    aks: dict[str, Any] = {"subscription": subscription, "resourceGroup": group, "cluster": None}
    if subscription is None:
        observed = ObservedLab.unobserved(f"could not observe: {no_subscription_error()}")
        return {**status_document(spec, observed), "aks": aks}
    provider = AksProvider(
        (gateway_factory or default_gateway_factory)(subscription),
        kube_factory or default_kube_factory,
    )
    try:
        cluster = provider.cluster(spec)
    except LabError as exc:
        observed = ObservedLab.unobserved(f"could not observe: {exc}")
        return {**status_document(spec, observed), "aks": aks}
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
    return {**status_document(spec, provider.lab_state(spec, cluster)), "aks": aks}


def render_status_text(doc: Mapping[str, Any]) -> str:
    """The human view of a ``lab_status`` document."""
    aks = doc.get("aks") or {}
    lines = [f"Lab {doc['lab']} (aks, resource group {aks.get('resourceGroup')})"]
    if not doc.get("observed"):
        return "\n".join([*lines, f"  {doc.get('reason')}"]) + "\n"
    cluster = aks.get("cluster")
    if not cluster:
        lines.append(
            f"  cluster:    none (create it with `invoke up --provider aks --name {doc['lab']}`)"
        )
        return "\n".join(lines) + "\n"
    owner = "created by netpol-lab" if doc.get("owned") else "NOT created by netpol-lab"
    pools = ", ".join(f"{p['name']} {p['count']} x {p['vmSize']}" for p in cluster["nodePools"])
    lines += [
        f"  cluster:    {cluster['name']} in {cluster['location']}, {owner}, "
        f"provisioningState {cluster['provisioningState']}, "
        f"{str(cluster.get('powerState') or 'Running').lower()}, Kubernetes "
        f"{cluster['kubernetesVersion']}",
        f"  engine:     {cluster['engine']} (networkPlugin {cluster['networkPlugin']}, "
        f"{cluster['networkPluginMode']}, dataplane {cluster['networkDataplane']}, "
        f"networkPolicy {cluster['networkPolicy']})",
        f"  node pools: {pools or '(none)'}",
    ]
    if doc.get("reason"):
        lines.append(f"  note:       {doc['reason']}")
    if doc.get("owned") and doc.get("api_reachable"):
        objects = doc.get("objects") or {}
        kinds = [key.split("/", 1)[0] for key in objects]
        ready = sum(1 for r in (doc.get("pods_ready") or {}).values() if r)
        lines.append(
            f"  objects:    {kinds.count('Namespace')} namespaces, {kinds.count('Pod')} pods "
            f"({ready} ready), {kinds.count('NetworkPolicy')} NetworkPolicies"
        )
        lines.append(f"  scenario:   {doc.get('scenario') or '(no policies applied)'}")
    if doc.get("kubeconfig"):
        lines.append(f"  kubeconfig: export KUBECONFIG={doc['kubeconfig']}  # to use kubectl")
    return "\n".join(lines) + "\n"


# --- down ------------------------------------------------------------------------------------


def lab_down(
    spec: LabSpec,
    progress: Progress,
    *,
    yes: bool,
    confirm: Callable[[str], bool] | None,
    no_wait: bool = False,
    keep_cluster: bool = False,
    gateway_factory: GatewayFactory | None = None,
    kube_factory: KubeFactory | None = None,
    poll_interval: float = 5.0,
) -> DownResult:
    """Remove what the lab created in Azure (or, with ``keep_cluster``, only its namespaces).

    Only resources carrying the tool's tags for this lab are deleted; a second run finds nothing
    and returns ``DownResult(())`` without a word.
    """
    subscription = resolve_subscription(spec.aks.subscription_id)
    gateway = (gateway_factory or default_gateway_factory)(subscription)
    provider = AksProvider(gateway, kube_factory or default_kube_factory)
    group = spec.aks.group_for(spec.name)
    cluster = provider.cluster(spec)
    if cluster is not None and not cluster.owned_by(spec.name):
        raise not_owned_error(group, spec.name, spec.name)  # before anything is asked
    if keep_cluster:
        if cluster is None:
            return DownResult(())
        if cluster.stopped:  # its API server is deallocated: nothing to talk to
            raise UsageError(stopped_reason(cluster))
        if cluster.entra_id:
            require_kubelogin(group, spec.name, "uses Microsoft Entra ID")
        return _remove_lab_namespaces(spec, provider, progress, poll_interval)

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


def _remove_lab_namespaces(
    spec: LabSpec, provider: AksProvider, progress: Progress, poll_interval: float
) -> DownResult:
    """``down --keep-cluster``: delete only the namespaces carrying this lab's labels."""
    assert provider.gateway is not None
    if not spec.kubeconfig.exists():  # e.g. another machine ran up: fetch it the same way
        group = spec.aks.group_for(spec.name)
        write_lab_file(spec, "kubeconfig", provider.gateway.user_kubeconfig(group, spec.name))
    return delete_lab_namespaces(
        provider.kube_factory(spec.kubeconfig),
        spec,
        progress,
        kept=f"AKS cluster {spec.name}",
        poll_interval=poll_interval,
    )
