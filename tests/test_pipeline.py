"""`up`, `plan` and `down` end to end on the simulated machine (tests/fake_world.py).

The real pipeline, providers, engines, workload and policies run; only the subprocesses and the
Kubernetes API are simulated behind their seams.
"""

from __future__ import annotations

import io
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.errors import CommandError, OperationError, UsageError
from provisioning.lab import pipeline
from provisioning.lab.objects import HASH_ANNOTATION
from provisioning.lab.state import load_record
from provisioning.lab.teardown import down
from provisioning.progress import Progress
from provisioning.providers.kind.provider import KindProvider
from provisioning.spec import LABEL_LAB, LABEL_MANAGED_BY, KindSettings, LabSpec
from tests.fake_world import World


def make(world: World, tmp_path: Path, **spec_fields: object) -> pipeline.Context:
    spec = LabSpec(state_root=tmp_path / "state", **spec_fields)  # type: ignore[arg-type]
    provider = KindProvider(world, kube_factory=world.kube_factory())
    progress = Progress(io.StringIO(), spinner=False)
    ctx = pipeline.build_context(spec, world, progress, provider=provider)
    now = [0.0]  # simulated time: waits and the canary's deadline pass without real sleeping
    ctx.clock = lambda: now[0]
    ctx.sleep = lambda s: now.__setitem__(0, now[0] + max(s, 0.25))
    return ctx


class ClusterOf:
    """The lab's simulated cluster, looked up when used (it exists only once `up` made it)."""

    def __init__(self, world: World, name: str = "netpol-lab") -> None:
        self.world, self.name = world, name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.world.clusters[self.name], attr)


def network(world: World, *, enforcing: bool = True, name: str = "netpol-lab") -> Any:
    """The simulated dataplane: connections decided from the cluster's own pods and policies."""
    from tests.fake_network import PolicyNetwork

    return PolicyNetwork(ClusterOf(world, name), enforcing=enforcing)


class ForgetsIntruderDenial:
    """An engine with a bug: it enforces policies (the canary passes) but lets demo/intruder
    through wherever a policy should stop it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def run(self, probes, timeout):  # type: ignore[no-untyped-def]
        from provisioning.validation.probe import Outcome, ProbeResult

        results = self.inner.run(probes, timeout)
        return [
            ProbeResult(r.probe, Outcome.CONNECTED, "", 0.01)
            if r.probe.source.name == "intruder"
            else r
            for r in results
        ]


def commands(world: World, tool: str) -> list[str]:
    return [" ".join(c) for c in world.calls if c[0] == tool]


def test_up_calico_from_nothing_builds_the_whole_lab(tmp_path: Path) -> None:
    world = World()
    ctx = make(world, tmp_path, engine="calico", name="lab1")
    result = pipeline.up(ctx)

    assert result.executed
    kind = commands(world, "kind")
    create = next(c for c in kind if c.startswith("kind create cluster"))
    assert "--name lab1" in create and "--wait" not in create
    assert f"--kubeconfig {ctx.spec.kubeconfig}" in create
    config = yaml.safe_load((ctx.spec.state_dir / "kind-config.yaml").read_text())
    assert config["networking"]["disableDefaultCNI"] is True
    assert config["networking"]["podSubnet"] == "10.244.0.0/16"
    assert {n["labels"]["netpol-lab.io/lab"] for n in config["nodes"]} == {"lab1"}

    kubectl = commands(world, "kubectl")
    assert "operator-crds.yaml" in kubectl[0] and "--server-side" in kubectl[0]
    assert "tigera-operator.yaml" in kubectl[1]
    assert "wait --for=condition=established" in kubectl[2]
    assert not commands(world, "helm")

    cluster = world.clusters["lab1"]
    installation = cluster.get("operator.tigera.io/v1", "Installation", "default")
    assert installation["spec"]["calicoNetwork"]["ipPools"][0]["cidr"] == "10.244.0.0/16"
    for obj in cluster.list("v1", "Namespace", label_selector=f"{LABEL_LAB}=lab1"):
        assert obj["metadata"]["labels"][LABEL_MANAGED_BY] == "netpol-lab"
    pods = cluster.list("v1", "Pod", label_selector=f"{LABEL_LAB}=lab1")
    assert {f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods} == {
        "demo/server",
        "demo/client",
        "demo/intruder",
        "other/client",
    }
    policy = cluster.get("networking.k8s.io/v1", "NetworkPolicy", "demo-policy", "demo")
    assert policy["metadata"]["labels"][LABEL_LAB] == "lab1"
    assert HASH_ANNOTATION in policy["metadata"]["annotations"]

    assert stat.S_IMODE(ctx.spec.kubeconfig.stat().st_mode) == 0o600
    assert load_record(ctx.spec).phase == "ready"
    assert all(r.ok for r in ctx.progress.records)
    assert result.after is not None and result.after.engine_ready
    assert result.after.scenario == "aks-demo"


def test_second_up_changes_nothing(tmp_path: Path) -> None:
    world = World()
    pipeline.up(make(world, tmp_path))
    world.calls.clear()
    cluster = world.clusters["netpol-lab"]
    cluster.calls.clear()

    ctx = make(world, tmp_path)
    result = pipeline.up(ctx)

    assert result.plan.changes == ()
    assert not [c for c in world.calls if c[:2] in (("kind", "create"), ("kind", "delete"))]
    assert not commands(world, "kubectl") and not commands(world, "helm")
    assert [c for c in cluster.calls if c.verb in ("apply", "delete")] == []


def test_cilium_and_none_use_helm_values_and_none_warns(tmp_path: Path) -> None:
    world = World()
    pipeline.up(make(world, tmp_path, engine="cilium", name="c"))
    assert world.clusters["c"].cilium_values["policyEnforcementMode"] == "default"
    assert world.clusters["c"].cilium_values["ipam"] == {"mode": "kubernetes"}

    ctx = make(world, tmp_path, engine="none", name="n")
    pipeline.up(ctx)
    assert world.clusters["n"].cilium_values["policyEnforcementMode"] == "never"
    assert "NOT enforced" in ctx.progress.stream.getvalue()  # type: ignore[attr-defined]


def test_cilium_cli_used_when_helm_is_missing(tmp_path: Path) -> None:
    world = World(programs={"docker", "kind", "kubectl", "cilium"})
    pipeline.up(make(world, tmp_path, engine="cilium"))
    install = commands(world, "cilium")
    assert install and install[0].startswith("cilium install --version")
    env = world.envs[[c[0] for c in world.calls].index("cilium")]
    assert env["KUBECONFIG"].endswith("kubeconfig")


def test_engine_change_needs_confirmation_then_recreates(tmp_path: Path) -> None:
    world = World()
    pipeline.up(make(world, tmp_path, engine="calico"))
    world.calls.clear()

    with pytest.raises(UsageError, match="--yes"):
        pipeline.up(make(world, tmp_path, engine="cilium"))
    assert not [c for c in world.calls if c[:2] == ("kind", "delete")]

    with pytest.raises(UsageError, match="cancelled"):
        pipeline.up(make(world, tmp_path, engine="cilium"), confirm=lambda _q: False)

    asked: list[str] = []
    pipeline.up(make(world, tmp_path, engine="cilium"), confirm=lambda q: asked.append(q) or True)
    assert "calico -> cilium" in asked[0]
    kinds = [c[1] for c in world.calls if c[0] == "kind"]
    assert kinds.index("delete") < kinds.index("create")
    assert world.clusters["netpol-lab"].cni == "cilium"


def test_switching_scenario_prunes_the_old_policies(tmp_path: Path) -> None:
    world = World()
    pipeline.up(make(world, tmp_path, scenario="aks-demo"))
    ctx = make(world, tmp_path, scenario="namespace-isolation")
    result = pipeline.up(ctx)
    step = next(s for s in result.plan.steps if s.action == "apply-policies")
    assert ("-", "NetworkPolicy/demo/demo-policy") in step.items
    cluster = world.clusters["netpol-lab"]
    names = {p["metadata"]["name"] for p in cluster.list("networking.k8s.io/v1", "NetworkPolicy")}
    assert "demo-policy" not in names and names
    # Nothing else was touched: the workload is as it was.
    workload = next(s for s in result.plan.steps if s.action == "deploy-workload")
    assert workload.marker == "="


def test_a_users_own_policy_is_never_pruned(tmp_path: Path) -> None:
    world = World()
    pipeline.up(make(world, tmp_path, scenario="aks-demo"))
    cluster = world.clusters["netpol-lab"]
    cluster.apply(
        [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "mine", "namespace": "demo"},
                "spec": {"podSelector": {}},
            }
        ]
    )
    pipeline.up(make(world, tmp_path, scenario="open"))
    names = {p["metadata"]["name"] for p in cluster.list("networking.k8s.io/v1", "NetworkPolicy")}
    assert names == {"mine"}


def test_changed_pod_is_replaced_not_patched(tmp_path: Path) -> None:
    world = World()
    pipeline.up(make(world, tmp_path))
    cluster = world.clusters["netpol-lab"]
    pod = cluster.get("v1", "Pod", "client", "demo")
    pod["metadata"]["annotations"][HASH_ANNOTATION] = "stale"
    cluster.seed(pod)
    cluster.calls.clear()
    result = pipeline.up(make(world, tmp_path))
    step = next(s for s in result.plan.steps if s.action == "deploy-workload")
    assert ("~", "Pod/demo/client") in step.items
    verbs = [(c.verb, c.kind, c.name) for c in cluster.calls if c.verb in ("delete", "apply")]
    assert verbs.index(("delete", "Pod", "client")) < verbs.index(("apply", "Pod", "client"))


def test_interrupted_up_resumes_and_down_cleans(tmp_path: Path) -> None:
    world = World()
    world.interrupt.add("kubectl --kubeconfig")  # Ctrl-C during the engine install
    with pytest.raises(KeyboardInterrupt):
        pipeline.up(make(world, tmp_path))
    spec = make(world, tmp_path).spec
    assert load_record(spec).phase == "created"

    world.calls.clear()
    result = pipeline.up(make(world, tmp_path))
    assert next(s.action for s in result.plan.changes) == "install-engine"
    assert not [c for c in world.calls if c[:2] == ("kind", "create")]

    # Interrupted again, this time so early the API never answers: the record still proves
    # the cluster is ours, so down removes it.
    world2 = World()
    world2.interrupt.add("kubectl --kubeconfig")
    with pytest.raises(KeyboardInterrupt):
        pipeline.up(make(world2, tmp_path / "b"))
    world2.clusters["netpol-lab"].unreachable = True
    ctx = make(world2, tmp_path / "b")
    removed = down(ctx.spec, ctx.provider, ctx.progress, yes=True)
    assert removed.removed == ("kind cluster netpol-lab",)
    assert "netpol-lab" not in world2.clusters


def test_down_removes_the_cluster_and_is_quiet_the_second_time(tmp_path: Path) -> None:
    world = World()
    ctx = make(world, tmp_path)
    pipeline.up(ctx)
    with pytest.raises(UsageError, match="--yes"):
        down(ctx.spec, ctx.provider, ctx.progress)
    assert "netpol-lab" in world.clusters

    assert down(ctx.spec, ctx.provider, ctx.progress, yes=True).removed
    assert world.clusters == {}
    assert not ctx.spec.state_dir.exists()
    world.calls.clear()
    assert down(ctx.spec, ctx.provider, ctx.progress, yes=True).removed == ()
    assert [c[:3] for c in world.calls] == [("kind", "get", "clusters")]


def test_down_keep_cluster_removes_only_lab_namespaces(tmp_path: Path) -> None:
    world = World()
    ctx = make(world, tmp_path)
    pipeline.up(ctx)
    cluster = world.clusters["netpol-lab"]
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "users-own"}}])
    result = down(ctx.spec, ctx.provider, ctx.progress, keep_cluster=True, poll_interval=0)
    assert set(result.removed) == {"namespace canary", "namespace demo", "namespace other"}
    names = {n["metadata"]["name"] for n in cluster.list("v1", "Namespace")}
    assert names == {"default", "kube-system", "calico-system", "users-own"}  # the operator's
    assert "netpol-lab" in world.clusters


def test_a_cluster_the_tool_did_not_create_is_never_touched(tmp_path: Path) -> None:
    world = World()
    world.user_cluster("netpol-lab")
    ctx = make(world, tmp_path)
    with pytest.raises(UsageError, match="not created by netpol-lab"):
        pipeline.up(ctx, yes=True)
    with pytest.raises(OperationError, match="not created by netpol-lab"):
        down(ctx.spec, ctx.provider, ctx.progress, yes=True)
    assert "netpol-lab" in world.clusters
    assert not [c for c in world.calls if c[:2] in (("kind", "delete"), ("kind", "create"))]


def test_plan_offline_plans_from_nothing_and_up_refuses(tmp_path: Path) -> None:
    world = World(programs={"kubectl"})
    ctx = make(world, tmp_path)
    plan = pipeline.plan_for(ctx)
    assert [s.marker for s in plan.steps] == ["+", "+", "+", "+"]
    assert "kind is not installed" in plan.notes[0]
    with pytest.raises(OperationError, match="kind is not installed"):
        pipeline.up(ctx)
    assert not ctx.spec.state_dir.exists() or not any(ctx.spec.state_dir.iterdir())


def test_docker_down_is_reported_by_plan(tmp_path: Path) -> None:
    world = World(docker_running=False)
    plan = pipeline.plan_for(make(world, tmp_path))
    assert "`kind get clusters` failed" in plan.notes[0]


def test_failed_kind_create_names_a_pasteable_command(tmp_path: Path) -> None:
    world = World()
    world.fail["kind create cluster"] = (1, "ERROR: failed to create cluster: boom\nline 2")
    ctx = make(world, tmp_path)
    with pytest.raises(CommandError) as info:
        pipeline.up(ctx)
    assert "kind create cluster --name netpol-lab --config" in str(info.value)
    assert info.value.tail().endswith("line 2")
    assert ctx.progress.records[-1].ok is False


def test_engine_timeout_says_what_it_waited_for(tmp_path: Path) -> None:
    world = World(lag=10**9)  # the engine never settles
    ctx = make(world, tmp_path)
    ctx.spec = replace(ctx.spec, timeouts=replace(ctx.spec.timeouts, engine=5))
    ticks = iter(range(0, 10**6, 3))
    ctx.clock = lambda: float(next(ticks))
    with pytest.raises(OperationError, match="timed out after 5s waiting for"):
        pipeline.up(ctx)


def test_workers_setting_reaches_the_kind_config(tmp_path: Path) -> None:
    world = World()
    ctx = make(world, tmp_path, kind=KindSettings(workers=3))
    pipeline.up(ctx)
    config = yaml.safe_load((ctx.spec.state_dir / "kind-config.yaml").read_text())
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker", "worker"]


def test_up_validates_last_and_passes_when_traffic_matches(tmp_path: Path) -> None:
    world = World()
    ctx = make(world, tmp_path, scenario="aks-demo")
    ctx.probe_executor = network(world)
    result = pipeline.up(ctx, validate=True)
    assert result.plan.steps[-1].action == "validate"
    assert ctx.validation is not None and ctx.probe_executor.rounds >= 2
    assert ctx.canary.enforced == "yes"  # checked first, in its own namespace
    assert ctx.progress.records[-2].title.startswith("Canary")
    assert ctx.progress.records[-1].title.startswith("Validate")
    cluster = world.clusters["netpol-lab"]
    assert not [p for p in cluster.list("v1", "Pod") if "canary" in p["metadata"]["name"]]


def test_an_engine_that_enforces_nothing_is_reported_as_such_before_any_probe(
    tmp_path: Path,
) -> None:
    """Calico installed but enforcing nothing: "policies are not enforced here", with the
    canary's evidence, not a table of mismatching probes."""
    world = World()
    ctx = make(world, tmp_path, scenario="aks-demo", engine="calico")
    ctx.probe_executor = network(world, enforcing=False)
    with pytest.raises(OperationError, match="policies are not enforced here") as err:
        pipeline.up(ctx, validate=True)
    assert "still connected" in str(err.value)
    assert ctx.canary.enforced == "no" and ctx.validation is None  # no probe matrix was run
    assert ctx.progress.records[-1].ok is False


def test_up_fails_when_a_policy_is_not_enforced(tmp_path: Path) -> None:
    world = World()
    ctx = make(world, tmp_path, scenario="aks-demo", engine="calico")
    # calico enforces (the canary passes) but "forgot" to stop the intruder
    ctx.probe_executor = ForgetsIntruderDenial(network(world))
    ctx.deadline = 0  # no re-probing: the mismatch is final
    with pytest.raises(OperationError, match="validation failed"):
        pipeline.up(ctx, validate=True)
    table = ctx.progress.stream.getvalue()  # type: ignore[attr-defined]
    assert "demo/intruder" in table
    assert "✗ Validate" in table and "✓ Validate" not in table
    assert ctx.progress.records[-1].ok is False  # what `up --json` reports for the step


def test_engine_none_validates_unenforced_policies_and_keeps_stated_checks(
    tmp_path: Path,
) -> None:
    """On `none` every probe connects, as expected; the scenario's stated denials are still
    checked against what the policies say, so they agree rather than fail the lab."""
    world = World()
    ctx = make(world, tmp_path, scenario="aks-demo", engine="none")
    ctx.probe_executor = network(world, enforcing=False)
    pipeline.up(ctx, validate=True)
    assert ctx.canary.enforced == "no"  # reported as not enforced, as engine none says
    assert "policies are not enforced here (engine none)" in ctx.progress.stream.getvalue()  # type: ignore[attr-defined]
    report = ctx.validation
    assert report.stated and all(s.agrees for s in report.stated)
    assert any(not s.stated.allowed for s in report.stated)  # a stated deny, still agreeing


def test_up_interrupted_inside_kind_create_recreates_without_asking(tmp_path: Path) -> None:
    world = World()
    world.interrupt.add("kind create cluster")
    with pytest.raises(KeyboardInterrupt):
        pipeline.up(make(world, tmp_path))
    assert load_record(make(world, tmp_path).spec).phase == "creating"
    # kind left node containers behind: the cluster is listed but its API never came up.
    world.user_cluster("netpol-lab").unreachable = True

    result = pipeline.up(make(world, tmp_path))  # no --yes needed: nothing of value is lost
    first = result.plan.steps[0]
    assert (first.marker, first.action, first.destructive) == ("-/+", "recreate-cluster", False)
    kinds = [c[1] for c in world.calls if c[0] == "kind"]
    assert kinds.index("delete") < len(kinds) - 1 - kinds[::-1].index("create")
    assert load_record(make(world, tmp_path).spec).phase == "ready"


def test_a_stale_record_never_claims_a_cluster_whose_nodes_say_otherwise(tmp_path: Path) -> None:
    """An old 'creating' record must not make a same-named cluster of the user's ours."""
    world = World()
    world.interrupt.add("kind create cluster")
    with pytest.raises(KeyboardInterrupt):
        pipeline.up(make(world, tmp_path))
    world.user_cluster("netpol-lab")  # the user's own cluster, API answering, no lab labels
    ctx = make(world, tmp_path)
    with pytest.raises(UsageError, match="not created by netpol-lab"):
        pipeline.up(ctx, yes=True)
    with pytest.raises(OperationError, match="not created by netpol-lab"):
        down(ctx.spec, ctx.provider, ctx.progress, yes=True)
    assert "netpol-lab" in world.clusters


# --- the simulated machine answers like the real tools (issue 9, section 4) ----------------


def test_kind_names_nodes_as_kind_does_and_logs_on_stderr(tmp_path: Path) -> None:
    world = World()
    ctx = make(world, tmp_path, name="lab1", kind=KindSettings(workers=2))
    pipeline.up(ctx)
    nodes = {n["metadata"]["name"] for n in world.clusters["lab1"].list("v1", "Node")}
    assert nodes == {"lab1-control-plane", "lab1-worker", "lab1-worker2"}
    create = world.run(
        ["kind", "create", "cluster", "--name", "lab1", "--config", "x"], check=False
    )
    assert create.stdout == "" and "already exist" in create.stderr
    assert world.run(["kind", "delete", "cluster", "--name", "lab1"]).stdout == ""
    empty = world.run(["kind", "get", "clusters"])
    assert empty.stdout == "" and "No kind clusters found." in empty.stderr


def test_kind_refuses_unknown_config_fields_like_its_strict_decoder(tmp_path: Path) -> None:
    from tests.fake_world import kind_config_errors

    config = tmp_path / "kind.yaml"
    config.write_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n"
        "  disableDefaultCni: true\nnodes:\n- role: control-plane\n  lables: {a: b}\n"
    )
    assert kind_config_errors(config.read_text()) == [
        "line 4: field disableDefaultCni not found in type v1alpha4.Networking",
        "line 7: field lables not found in type v1alpha4.Node",
    ]
    world = World()
    argv = ["kind", "create", "cluster", "--name", "x", "--config", str(config)]
    result = world.run([*argv, "--kubeconfig", str(tmp_path / "kc")], check=False)
    assert result.returncode == 1 and "x" not in world.clusters
    assert result.stderr.startswith(
        "ERROR: failed to create cluster: unable to decode config: yaml: unmarshal errors:\n"
        "  line 4: field disableDefaultCni not found"
    )


def test_calico_reports_the_four_tigerastatus_the_operator_creates(tmp_path: Path) -> None:
    world = World()
    pipeline.up(make(world, tmp_path, engine="calico"))
    cluster = world.clusters["netpol-lab"]
    names = {s["metadata"]["name"] for s in cluster.list("operator.tigera.io/v1", "TigeraStatus")}
    assert names == {"calico", "ippools", "apiserver", "tiers"}


def test_calico_waits_while_tiers_is_degraded_until_the_api_server_is_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tigera/operator v1.42.3 pkg/controller/tiers/tiers_controller.go (#4489): "tiers" is
    Degraded "Waiting for Tigera API server to be ready" until the API server is up; the lab
    is not ready before it is Available."""
    from provisioning.lab.readiness import tigerastatus_available
    from provisioning.providers.kind import engines

    polls: list[tuple[bool, dict | None]] = []  # (check done, the "tiers" TigeraStatus)
    real = engines.readiness_check

    def recording(engine: str, kube: Any):  # type: ignore[no-untyped-def]
        check = real(engine, kube)

        def wrapped():  # type: ignore[no-untyped-def]
            result = check()
            polls.append((result.done, kube.get("operator.tigera.io/v1", "TigeraStatus", "tiers")))
            return result

        return wrapped

    monkeypatch.setattr(engines, "readiness_check", recording)
    world = World(apiserver_lag=3)  # the API server takes a few polls to come up
    ctx = make(world, tmp_path, engine="calico")
    pipeline.up(ctx)

    degraded = [
        (done, tiers) for done, tiers in polls if tiers and not tigerastatus_available(tiers)
    ]
    assert degraded and not any(done for done, _ in degraded)  # waited while Degraded
    condition = {c["type"]: c for c in degraded[0][1]["status"]["conditions"]}["Degraded"]
    assert condition["status"] == "True"
    assert condition["message"] == "Waiting for Tigera API server to be ready"
    done, tiers = polls[-1]
    assert done and tiers is not None and tigerastatus_available(tiers)
    assert load_record(ctx.spec).phase == "ready"


def test_cilium_envoy_is_a_daemonset_the_wait_covers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from provisioning.providers.kind import engines

    seen: list[str] = []
    real = engines.readiness_check

    def recording(engine: str, kube: object):  # type: ignore[no-untyped-def]
        check = real(engine, kube)

        def wrapped():  # type: ignore[no-untyped-def]
            result = check()
            seen.append(result.detail)
            return result

        return wrapped

    monkeypatch.setattr(engines, "readiness_check", recording)
    world = World(envoy_lag=4)  # envoy's pods come up after the agent's
    ctx = make(world, tmp_path, engine="cilium")
    pipeline.up(ctx)
    assert any("DaemonSet kube-system/cilium-envoy: 0/1 ready" in d for d in seen)
    cluster = world.clusters["netpol-lab"]
    for name in ("cilium", "cilium-envoy"):
        ds = cluster.get("apps/v1", "DaemonSet", name, "kube-system")
        assert "replicas" not in ds["spec"]  # DaemonSets have none
        assert ds["status"]["numberAvailable"] == cluster.node_count


def test_helm_announces_a_first_install_on_stdout(tmp_path: Path) -> None:
    world = World()
    ctx = make(world, tmp_path, engine="cilium")
    pipeline.up(ctx)
    argv = next(a.argv for a in ctx.engine.actions if a.argv[:1] == ("helm",))
    again = world.run(argv)
    assert again.stdout.startswith('Release "cilium" has been upgraded. Happy Helming!\n')
    assert "REVISION: 2" in again.stdout
    # A cluster with no release yet: what the pipeline's first install saw.
    fresh = World()
    fresh.interrupt.add("helm upgrade")
    with pytest.raises(KeyboardInterrupt):
        pipeline.up(make(fresh, tmp_path / "b", engine="cilium"))
    fresh_argv = next(
        a.argv
        for a in make(fresh, tmp_path / "b", engine="cilium").engine.actions
        if a.argv[:1] == ("helm",)
    )
    result = fresh.run(fresh_argv)
    assert result.stdout.startswith('Release "cilium" does not exist. Installing it now.\n')
    assert "REVISION: 1" in result.stdout and result.stderr == ""


def test_kubectl_wait_on_a_missing_crd_is_the_servers_not_found(tmp_path: Path) -> None:
    world = World()
    world.interrupt.add("kubectl --kubeconfig")  # stop before the CRDs are applied
    with pytest.raises(KeyboardInterrupt):
        pipeline.up(make(world, tmp_path, engine="calico"))
    ctx = make(world, tmp_path, engine="calico")
    wait = next(a.argv for a in ctx.engine.actions if "wait" in a.argv)
    result = world.run(wait, check=False)
    assert result.stderr == (
        "Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "
        '"installations.operator.tigera.io" not found'
    )


def test_the_simulated_tools_report_the_pinned_versions() -> None:
    """The fakes imitate the pinned releases: kind v0.31.0 (pkg/cmd/kind/version/version.go
    DisplayVersion) and the kubectl of the pinned node image's Kubernetes release
    (kubernetes/kubectl pkg/cmd/version/version.go at kubernetes-1.35.0)."""
    from provisioning import doctor, versions
    from provisioning.providers.kind import doctor as kind_doctor

    world = World()
    kind = world.run(["kind", "version"])
    assert kind.stdout == f"kind {versions.KIND_VERSION} go1.25.5 linux/amd64\n"
    assert kind_doctor.parse_kind_version(kind.stdout) == kind_doctor.parse_kind_version(
        versions.KIND_VERSION
    )
    kubectl = world.run(["kubectl", "version", "--client"])
    node = versions.node_kubernetes_version()
    assert doctor.parse_kubectl_client_version(kubectl.stdout) == node
    assert kubectl.stdout == (
        "Client Version: v{}.{}.{}\nKustomize Version: v5.7.1\n".format(*node)
    )


def test_plan_lists_the_images_and_whether_each_is_cached(tmp_path: Path) -> None:
    from provisioning import versions
    from provisioning.lab.plan import render_text

    world = World(images={versions.AGNHOST_IMAGE})
    plan = pipeline.plan_for(make(world, tmp_path, engine="cilium"))
    cached = {entry["image"]: entry["cached"] for entry in plan.as_dict()["images"]}
    assert cached[versions.AGNHOST_IMAGE] is True
    assert cached[versions.KIND_NODE_IMAGE] is False
    assert all(cached[i] is False for i in versions.engine_images("cilium"))
    text = render_text(plan, artifacts=False)
    assert f"cached  {versions.AGNHOST_IMAGE}  (demo workload)" in text
    assert "to pull from registries during `up`; `invoke preload` caches them" in text
    world.docker_running = False
    unknown = pipeline.plan_for(make(world, tmp_path, engine="cilium"))
    assert {e["cached"] for e in unknown.as_dict()["images"]} == {None}
