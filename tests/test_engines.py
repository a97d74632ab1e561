"""Engine settings and the kind config are pure functions of the spec: golden-tested."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from provisioning import versions
from provisioning.errors import UsageError
from provisioning.lab import pipeline
from provisioning.progress import Progress
from provisioning.providers.aks.provider import aks_readiness_check
from provisioning.providers.kind import engines
from provisioning.providers.kind.provider import KindProvider, kind_config
from provisioning.spec import LabSpec
from tests.fake_kube import FakeKube
from tests.fake_world import HELM_VERSION, World
from tests.golden_files import assert_golden

STATE = Path("/state")


@pytest.mark.parametrize(
    ("engine", "installer"),
    [("calico", "helm"), ("cilium", "helm"), ("cilium", "cilium"), ("none", "helm")],
)
def test_engine_settings_golden(engine: str, installer: str) -> None:
    spec = LabSpec(engine=engine, state_root=STATE)
    settings = engines.kind_engine(spec, cilium_installer=installer)
    assert_golden(f"engines/{engine}-{installer}.json", settings.as_dict())
    assert_golden(f"engines/kind-config-{engine}.json", kind_config(spec, settings))


def test_every_engine_disables_kindnet_because_it_enforces_policies() -> None:
    for engine in engines.KIND_ENGINES:
        settings = engines.kind_engine(LabSpec(engine=engine, state_root=STATE))
        assert settings.kind_networking["disableDefaultCNI"] is True


def test_calico_pool_follows_the_pod_subnet() -> None:
    from provisioning.spec import KindSettings

    spec = LabSpec(state_root=STATE, kind=KindSettings(pod_subnet="10.42.0.0/16"))
    (installation, _) = engines.calico_custom_resources(spec)
    assert installation["spec"]["calicoNetwork"]["ipPools"][0]["cidr"] == "10.42.0.0/16"
    assert engines.kind_engine(spec).kind_networking["podSubnet"] == "10.42.0.0/16"


def test_only_none_disables_enforcement() -> None:
    spec = LabSpec(state_root=STATE)
    assert engines.cilium_values(spec, enforce=True)["policyEnforcementMode"] == "default"
    assert engines.cilium_values(spec, enforce=False)["policyEnforcementMode"] == "never"
    assert engines.kind_engine(LabSpec(engine="none", state_root=STATE)).enforces is False


@pytest.mark.parametrize("installer", engines.CILIUM_INSTALLERS)
def test_cilium_applies_the_cluster_network_policy_crd_before_installing_cilium(
    installer: str,
) -> None:
    """Cilium 1.20 enforces ClusterNetworkPolicy only with k8sClusterNetworkPolicy.enabled and
    the network-policy-api v0.2.0 CRD installed by the user (cilium/cilium PR #47227)."""
    spec = LabSpec(engine="cilium", state_root=STATE)
    settings = engines.kind_engine(spec, cilium_installer=installer)
    apply, wait, install = settings.actions
    assert apply.argv[3:] == (
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=netpol-lab",
        "-f",
        versions.CLUSTER_NETWORK_POLICY_CRD_URL,
    )
    assert apply.argv[:3] == ("kubectl", "--kubeconfig", str(spec.kubeconfig))
    assert wait.argv[3:] == (
        "wait",
        "--for=condition=established",
        "--timeout=120s",
        "crd/clusternetworkpolicies.policy.networking.k8s.io",
    )
    assert install.argv[0] == ("helm" if installer == "helm" else "cilium")
    ((_, values),) = install.files
    assert yaml.safe_load(values)["k8sClusterNetworkPolicy"] == {"enabled": True}
    assert "kubectl" in settings.needs


def test_engine_none_neither_enables_nor_installs_cluster_network_policy() -> None:
    """Engine none enforces nothing: no k8sClusterNetworkPolicy value, no CRD action."""
    spec = LabSpec(engine="none", state_root=STATE)
    assert "k8sClusterNetworkPolicy" not in engines.cilium_values(spec, enforce=False)
    for installer in engines.CILIUM_INSTALLERS:
        settings = engines.kind_engine(spec, cilium_installer=installer)
        (install,) = settings.actions
        assert versions.CLUSTER_NETWORK_POLICY_CRD_URL not in install.argv
        ((_, values),) = install.files
        assert "k8sClusterNetworkPolicy" not in yaml.safe_load(values)


def test_calico_installs_no_separate_cluster_network_policy_crd() -> None:
    """Calico v3.32's operator-crds.yaml carries the ClusterNetworkPolicy CRD itself."""
    settings = engines.kind_engine(LabSpec(engine="calico", state_root=STATE))
    argvs = [a.argv for a in settings.actions]
    assert not any(versions.CLUSTER_NETWORK_POLICY_CRD_URL in argv for argv in argvs)


def _up(world: World, tmp_path: Path, engine: str) -> None:
    spec = LabSpec(engine=engine, name=engine, state_root=tmp_path / "state")
    provider = KindProvider(world, kube_factory=world.kube_factory())
    ctx = pipeline.build_context(
        spec, world, Progress(io.StringIO(), spinner=False), provider=provider
    )
    now = [0.0]  # simulated time: waits pass without real sleeping
    ctx.clock = lambda: now[0]
    ctx.sleep = lambda s: now.__setitem__(0, now[0] + max(s, 0.25))
    pipeline.up(ctx)


@pytest.mark.parametrize("engine", ["cilium", "calico", "none"])
def test_the_simulated_lab_serves_cluster_network_policy_where_the_engine_enforces_it(
    engine: str, tmp_path: Path
) -> None:
    """On the simulated machine the CRD appears when its manifest is applied (network-policy-api
    for cilium, before helm runs; Calico's operator-crds.yaml), and not at all for none."""
    from provisioning.kube import KubeError

    world = World()
    _up(world, tmp_path, engine)
    cluster = world.clusters[engine]
    cnp = ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy")
    applied = [i for i, c in enumerate(world.calls) if versions.CLUSTER_NETWORK_POLICY_CRD_URL in c]
    if engine == "none":
        assert applied == []
        assert "k8sClusterNetworkPolicy" not in cluster.cilium_values
        with pytest.raises(KubeError) as refused:
            cluster.list(*cnp)
        assert refused.value.status == 404
        return
    assert cluster.list(*cnp) == []  # served: the CRD exists
    if engine == "cilium":
        helm = next(i for i, c in enumerate(world.calls) if c[0] == "helm")
        assert len(applied) == 1 and applied[0] < helm
        assert cluster.cilium_values["k8sClusterNetworkPolicy"] == {"enabled": True}
    else:
        assert applied == []


def test_azure_and_unknown_installers_are_refused() -> None:
    with pytest.raises(UsageError, match="unknown engine on kind 'azure'"):
        engines.kind_engine(LabSpec(engine="azure", state_root=STATE))
    with pytest.raises(UsageError, match="unknown cilium installer 'kubectl'"):
        engines.kind_engine(LabSpec(engine="cilium", state_root=STATE), cilium_installer="kubectl")


def test_plan_from_nothing_golden() -> None:
    world = World(programs=set())
    spec = LabSpec(state_root=STATE)
    ctx = pipeline.build_context(
        spec, world, Progress(io.StringIO(), spinner=False), provider=KindProvider(world)
    )
    plan = pipeline.plan_for(ctx)
    doc = plan.as_dict()
    assert_golden("plan/calico-from-nothing.json", json.loads(json.dumps(doc, default=str)))


def test_readiness_reports_what_is_missing() -> None:
    kube = FakeKube()
    check = engines.readiness_check("calico", kube)()
    assert not check.done and "tigerastatus 'calico'" in check.detail
    check = engines.readiness_check("cilium", kube)()
    assert not check.done and "DaemonSet kube-system/cilium" in check.detail
    assert engines.installed_check("calico", kube) is False


def test_aks_readiness_waits_for_the_managed_engines_agents() -> None:
    kube = FakeKube()
    kube.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}})
    kube.seed(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "n1"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
    )
    assert aks_readiness_check("none", kube, nodes=1)().done
    assert not aks_readiness_check("none", kube, nodes=2)().done
    waiting = aks_readiness_check("azure", kube, nodes=1)()
    assert not waiting.done and "kube-system/azure-npm" in waiting.detail
    kube.seed(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "azure-npm", "namespace": "kube-system"},
            "status": {
                "desiredNumberScheduled": 1,
                "updatedNumberScheduled": 1,
                "numberAvailable": 1,
                "observedGeneration": 1,
            },
        }
    )
    assert aks_readiness_check("azure", kube, nodes=1)().done
    assert "tigerastatus 'calico'" in aks_readiness_check("calico", kube, nodes=1)().detail


def test_cilium_waits_for_envoy_when_the_chart_deploys_it() -> None:
    kube = FakeKube()
    kube.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}})
    rolled = {
        "desiredNumberScheduled": 1,
        "updatedNumberScheduled": 1,
        "numberAvailable": 1,
        "observedGeneration": 1,
    }
    for name, status in (("cilium", rolled), ("cilium-envoy", {**rolled, "numberAvailable": 0})):
        kube.seed(
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": name, "namespace": "kube-system"},
                "status": status,
            }
        )
    check = engines.readiness_check("cilium", kube)()
    assert not check.done and "cilium-envoy" in check.detail


def test_calico_waits_for_all_four_tigerastatus_of_its_installation() -> None:
    """tigera/operator v1.42.3 creates calico, ippools, apiserver and tiers for an Installation +
    APIServer ("tiers" since v1.42.0, #4489, and Available last); three Available ones are not
    enough."""
    kube = FakeKube()
    available = {"conditions": [{"type": "Available", "status": "True"}]}

    def report(name: str) -> None:
        kube.seed(
            {
                "apiVersion": "operator.tigera.io/v1",
                "kind": "TigeraStatus",
                "metadata": {"name": name},
                "status": available,
            }
        )

    for name in ("calico", "apiserver"):
        report(name)
    check = engines.calico_ready(kube)
    assert not check.done and "'ippools'" in check.detail
    # AKS brings its own Installation: only "calico" is required there.
    assert engines.calico_ready(kube, required=("calico",)).done
    report("ippools")
    check = engines.calico_ready(kube)
    assert not check.done and check.detail == "waiting for tigerastatus 'tiers' to appear"
    report("tiers")
    assert engines.calico_ready(kube).done


def test_the_e2e_workflow_pins_the_helm_the_fakes_imitate_and_verifies_kind() -> None:
    """Without ``version`` azure/setup-helm installs the newest Helm (maybe Helm 4) while the fakes
    imitate helm v3.21.4; the kind binary is checked against the .sha256sum its release publishes
    (kubernetes-sigs/kind hack/release/build/cross.sh @ v0.31.0)."""
    workflow = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "e2e.yml"
    (job,) = yaml.safe_load(workflow.read_text())["jobs"].values()
    helm = [s for s in job["steps"] if s.get("uses", "").startswith("azure/setup-helm@")]
    assert len(helm) == 1 and helm[0].get("with", {}).get("version") == HELM_VERSION
    (kind,) = [s["run"] for s in job["steps"] if "kind-linux-amd64" in s.get("run", "")]
    lines = [line.strip() for line in kind.splitlines()]
    download = lines.index('curl -fsSLO "https://kind.sigs.k8s.io/dl/${version}/kind-linux-amd64"')
    digest = lines.index(
        'curl -fsSLO "https://kind.sigs.k8s.io/dl/${version}/kind-linux-amd64.sha256sum"'
    )
    check = lines.index("sha256sum --check kind-linux-amd64.sha256sum")
    install = next(i for i, line in enumerate(lines) if "/usr/local/bin/kind" in line)
    assert download < check and digest < check < install


def test_aks_calico_readiness_ignores_statuses_the_lab_does_not_manage() -> None:
    """On AKS only the operator's "calico" status decides; a "tiers" status that stays Degraded
    (no APIServer there) must not block the lab forever."""
    from provisioning.providers.kind.engines import calico_ready
    from tests.fake_kube import FakeKube

    kube = FakeKube()
    for name, available in (("calico", "True"), ("tiers", "False")):
        kube.seed(
            {
                "apiVersion": "operator.tigera.io/v1",
                "kind": "TigeraStatus",
                "metadata": {"name": name},
                "status": {"conditions": [{"type": "Available", "status": available}]},
            }
        )
    assert calico_ready(kube, required=("calico",), only_required=True).done
    assert not calico_ready(kube, required=("calico",)).done
