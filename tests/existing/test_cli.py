"""``invoke ... --provider existing --kubeconfig K`` as a user runs it, against a real socket.

The real tasks (tasks.py, through Invoke's own ``Program``, in this process), the real
``ClientKube`` and the real pipeline talk HTTP to the API emulator (tests/kube_emulator.py),
seeded with an engine fixture and a user's own objects. The emulator runs in its ``kubelet``
mode (pods written become Running and Ready with an IP) and ``namespace_controller`` mode
(deleting a namespace deletes what is in it). The one seam replaced is where ``kubectl exec``
would run the probes (``pipeline.probe_executor``): a ``PolicyNetwork`` decides each connection
from what the emulator holds, read over HTTP with its own credentials, so its reads are told
apart from the tool's by the bearer token.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.kube import ClientKube
from provisioning.lab import pipeline
from provisioning.spec import LABEL_LAB, LABEL_MANAGED_BY, TOOL, lab_labels
from tests.fake_network import PolicyNetwork
from tests.kube_emulator import SSAR_PATH, KubeEmulator, Recorded, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
LAB = "mylab"
USER_TOKEN = "users-token"
NETWORK_TOKEN = "dataplane-token"
NAMESPACES = [f"canary-{LAB}", f"demo-{LAB}", f"other-{LAB}"]

# fixture -> (engine as detected, NetworkPolicy enforced, the analyzer model the lab picks)
DETECTED = {
    "antrea.yaml": ("antrea", "yes", "reference"),
    "aws-vpc-cni-network-policy.yaml": ("aws-vpc-cni", "yes", "reference"),
    "aws-vpc-cni.yaml": ("aws-vpc-cni", "no", "none"),
    "azure-npm.yaml": ("azure-npm", "yes", "azure"),
    "calico-manifest.yaml": ("calico", "yes", "calico"),
    "calico-operator.yaml": ("calico", "yes", "calico"),
    "canal.yaml": ("canal", "yes", "calico"),
    "cilium-never.yaml": ("cilium", "no", "none"),
    "cilium.yaml": ("cilium", "yes", "cilium"),
    "eks-auto-mode.yaml": ("aws-vpc-cni", "unknown", "reference"),
    "flannel.yaml": ("flannel", "unknown", "reference"),
    "gke-anetd.yaml": ("gke-dataplane-v2", "yes", "cilium"),
    "k3s-no-netpol.yaml": ("k3s", "no", "none"),
    "k3s.yaml": ("k3s", "yes", "reference"),
    "kindnet-old.yaml": ("kindnet", "no", "none"),
    "kindnet.yaml": ("kindnet", "yes", "reference"),
    "kube-network-policies.yaml": ("kube-network-policies", "yes", "reference"),
    "kube-router.yaml": ("kube-router", "yes", "reference"),
    "terway-policy.yaml": ("terway", "yes", "reference"),
    "terway.yaml": ("terway", "no", "none"),
}


def test_every_fixture_is_run_through_the_cli() -> None:
    assert {p.name for p in FIXTURES.glob("*.yaml")} == set(DETECTED)


# --- running invoke ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """``invoke`` in this process: Invoke's ``Program`` loads tasks.py from the repository."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> Ran:
        from invoke import Program

        self.capsys.readouterr()  # what came before is not this run's
        code = 0
        try:
            Program().run(["invoke", "--search-root", str(ROOT), *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = self.capsys.readouterr()
        return Ran(code, captured.out, captured.err)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the user's cluster ------------------------------------------------------------------------


def load(fixture: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((FIXTURES / fixture).read_text()) if d]


def namespace(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": dict(labels or {})},
    }


def users_own() -> list[dict[str, Any]]:
    """A namespace named like the lab's without the suffix, one of another lab, a pod, a policy."""
    other = lab_labels("otherlab")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "server", "namespace": "demo", "labels": {"app": "server"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.29"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.99.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny-all", "namespace": "demo"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    return [namespace("demo"), pod, policy, namespace("demo-otherlab", other)]


def seed(emu: KubeEmulator, objects: list[dict[str, Any]]) -> None:
    """The objects as the engine and the user created them: namespaces first (those given,
    then any other an object names), then the rest."""
    for obj in objects:
        if obj["kind"] == "Namespace":
            emu.seed(obj)
    present = {k[3] for k in emu.objects if k[:3] == ("v1", "", "namespaces")}
    for obj in objects:
        ns = obj["metadata"].get("namespace")
        if ns and ns not in present:
            emu.seed(namespace(ns))
            present.add(ns)
        if obj["kind"] == "ClusterRole":
            emu.seed(obj, plural="clusterroles", namespaced=False)
        elif obj["kind"] != "Namespace":
            emu.seed(obj)


def is_labs(obj: Mapping[str, Any]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return labels.get(LABEL_MANAGED_BY) == TOOL and labels.get(LABEL_LAB) == LAB


def not_labs(emu: KubeEmulator) -> dict[Any, Any]:
    return json.loads(json.dumps({str(k): v for k, v in emu.objects.items() if not is_labs(v)}))


def tools(emu: KubeEmulator) -> list[Recorded]:
    """The requests the tool sent (not the network's reads)."""
    return [r for r in emu.requests if r.headers.get("authorization") == f"Bearer {USER_TOKEN}"]


@dataclass
class Cluster:
    emu: KubeEmulator
    kubeconfig: Path
    tmp_path: Path

    def network(self, *, enforcing: bool, engine: str = "reference") -> PolicyNetwork:
        """The dataplane, reading the emulator with its own credentials."""
        path = self.tmp_path / "network-kubeconfig"
        write_kubeconfig(path, {"net": self.emu.url}, current="net", token=NETWORK_TOKEN)
        return PolicyNetwork(ClientKube(path), enforcing, engine=engine)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("NETPOL_LAB_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("CI", "true")  # no spinner
    monkeypatch.chdir(tmp_path)
    return Cli(capsys)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with KubeEmulator(kubelet=True, namespace_controller=True) as emu:
        seed(emu, [namespace("default"), namespace("kube-system")])
        path = tmp_path / "users-kubeconfig"
        # The current context is another cluster (down): only --context users reaches this one.
        write_kubeconfig(
            path,
            {"users": emu.url, "elsewhere": f"http://127.0.0.1:{closed_port()}"},
            current="users",
            token=USER_TOKEN,
        )
        yield Cluster(emu, path, tmp_path)


def on(cluster: Cluster, *more: str) -> list[str]:
    return ["--provider", "existing", "--name", LAB, "--kubeconfig", str(cluster.kubeconfig), *more]


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Install a network as the probe executor; a short canary wait (real time passes here)."""

    def install(network: PolicyNetwork) -> PolicyNetwork:
        monkeypatch.setattr(pipeline, "probe_executor", lambda ctx: network)
        real = pipeline.build_context

        def quick(*args: Any, **kwargs: Any) -> pipeline.Context:
            ctx = real(*args, **kwargs)
            ctx.canary_deadline, ctx.poll_interval = 1.0, 0.1
            return ctx

        monkeypatch.setattr(pipeline, "build_context", quick)
        return network

    return install


# --- plan and status on every engine -----------------------------------------------------------


@pytest.mark.parametrize("fixture", sorted(DETECTED))
def test_plan_and_status_json_name_the_detected_engine(
    cli: Cli, cluster: Cluster, fixture: str
) -> None:
    name, enforced, model = DETECTED[fixture]
    seed(cluster.emu, [*load(fixture), *users_own()])
    before = not_labs(cluster.emu)

    ran = cli("plan", *on(cluster), "--json")
    assert ran.code == 0, ran.err
    plan = ran.json()
    steps = [(s["marker"], s["action"]) for s in plan["steps"]]
    assert steps[:2] == [("=", "keep-cluster"), ("=", "keep-engine")]
    assert {a for _, a in steps[2:]} <= set(pipeline.SHARED_ACTIONS)
    assert plan["steps"][1]["title"] == f"engine {model}"
    assert f"{name} found in the cluster" in plan["steps"][1]["detail"]

    ran = cli("status", *on(cluster), "--json")
    assert ran.code == 0, ran.err
    doc = ran.json()
    assert doc["existing"]["detected_engine"] == model
    detection = doc["existing"]["detection"]
    assert (detection["enforced"], [e["name"] for e in detection["engines"]]) == (enforced, [name])
    assert all(e["evidence"] for e in detection["engines"])
    assert doc["existing"]["context"] is None
    assert doc["objects"] == {}  # no lab yet

    assert not_labs(cluster.emu) == before
    assert not [r for r in tools(cluster.emu) if r.method != "GET"]  # plan and status only read


# --- up, validate, down ------------------------------------------------------------------------


def test_up_validate_down_on_an_enforcing_engine(cli: Cli, cluster: Cluster, probes: Any) -> None:
    seed(cluster.emu, [*load("calico-operator.yaml"), *users_own()])
    network = probes(cluster.network(enforcing=True, engine="calico"))
    before = not_labs(cluster.emu)

    ran = cli("up", *on(cluster))
    assert ran.code == 0, ran.err
    assert f"✓ Lab {LAB} is up on existing: engine calico, scenario aks-demo." in ran.err
    assert "enforced: yes" in ran.err  # the canary's verdict
    assert "policies are not enforced here" not in ran.err
    assert network.rounds > 0
    assert not_labs(cluster.emu) == before
    for name in NAMESPACES:
        ns = cluster.emu.objects[("v1", "", "namespaces", name)]
        assert lab_labels(LAB).items() <= ns["metadata"]["labels"].items()
    pods = {(k[1], k[3]): v for k, v in cluster.emu.objects.items() if k[2] == "pods"}
    lab_pods = {k for k, v in pods.items() if is_labs(v)}
    assert lab_pods == {
        (f"demo-{LAB}", "server"),
        (f"demo-{LAB}", "client"),
        (f"demo-{LAB}", "intruder"),
        (f"other-{LAB}", "client"),
    }
    assert all(pods[k]["status"]["phase"] == "Running" for k in lab_pods)

    # The tool's own requests: every write in the lab's namespaces, no list across namespaces
    # of pods, services or policies.
    sent = tools(cluster.emu)
    for request in sent:
        if request.method != "GET":
            assert any(f"/namespaces/{n}" in request.path for n in NAMESPACES), request.path
    cluster_wide = {
        "/api/v1/pods",
        "/api/v1/services",
        "/apis/networking.k8s.io/v1/networkpolicies",
    }
    assert not [r.path for r in sent if r.path in cluster_wide]

    ran = cli("validate", *on(cluster))
    assert ran.code == 0, ran.err
    assert "mismatch" not in ran.out.lower() or "0 mismatch" in ran.out.lower()

    ran = cli("status", *on(cluster), "--json")
    doc = ran.json()
    assert sum(k.startswith("Pod/") for k in doc["objects"]) == 4
    assert doc["scenario"] == "aks-demo" and all(doc["pods_ready"].values())

    ran = cli("down", *on(cluster))
    assert ran.code == 0, ran.err
    assert f"✓ Removed: {', '.join(f'namespace {n}' for n in NAMESPACES)}" in ran.err
    assert not [v for v in cluster.emu.objects.values() if is_labs(v)]
    assert not_labs(cluster.emu) == before  # the user's namespaces, pod and policy untouched

    ran = cli("down", *on(cluster))
    assert ran.code == 0, ran.err
    assert f"Nothing to remove for lab {LAB}." in ran.err
    assert not_labs(cluster.emu) == before


def test_up_on_a_cluster_without_enforcement_says_not_enforced(
    cli: Cli, cluster: Cluster, probes: Any
) -> None:
    seed(cluster.emu, load("kindnet-old.yaml"))
    probes(cluster.network(enforcing=False))

    ran = cli("up", *on(cluster))
    assert ran.code == 0, ran.err
    assert "policies are not enforced here" in ran.err
    assert "enforced: no" in ran.err  # the canary found it out
    assert f"✓ Lab {LAB} is up on existing: engine none" in ran.err
    assert cli("down", *on(cluster)).code == 0


def test_a_namespace_the_lab_did_not_create_blocks_up_with_one_line(
    cli: Cli, cluster: Cluster, probes: Any
) -> None:
    seed(cluster.emu, [*load("cilium.yaml"), namespace(f"demo-{LAB}", {"team": "payments"})])
    probes(cluster.network(enforcing=True, engine="cilium"))
    before = not_labs(cluster.emu)

    ran = cli("up", *on(cluster))
    assert ran.code == 2, ran.err
    [line] = [line for line in ran.err.splitlines() if line.startswith("✗")]
    assert f"namespace demo-{LAB} exists" in line and "choose another --name" in line
    assert not [r for r in tools(cluster.emu) if r.method != "GET"]
    assert not_labs(cluster.emu) == before


def test_context_picks_the_cluster(cli: Cli, cluster: Cluster) -> None:
    seed(cluster.emu, load("cilium.yaml"))
    path = cluster.kubeconfig
    config = yaml.safe_load(path.read_text())
    config["current-context"] = "elsewhere"
    path.write_text(yaml.safe_dump(config))

    ran = cli("status", *on(cluster), "--json")
    assert ran.code == 1
    assert "could not reach the cluster" in ran.json()["reason"]

    ran = cli("status", *on(cluster, "--context", "users"), "--json")
    assert ran.code == 0, ran.err
    assert ran.json()["existing"]["context"] == "users"
    assert ran.json()["existing"]["detected_engine"] == "cilium"


def test_later_runs_reach_the_cluster_the_lab_was_made_on(
    cli: Cli, cluster: Cluster, probes: Any
) -> None:
    """The record keeps the kubeconfig and the context (the current-context named): a later
    ``down`` without them, after the user switched current-context, still removes the lab on
    its cluster; one that names another kubeconfig or context is refused, and the record kept."""
    seed(cluster.emu, load("calico-operator.yaml"))
    probes(cluster.network(enforcing=True, engine="calico"))
    assert cli("up", *on(cluster, "--no-validate")).code == 0
    record = json.loads((cluster.tmp_path / "state" / LAB / "state.json").read_text())
    assert (record["kubeconfig"], record["context"]) == (str(cluster.kubeconfig), "users")

    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["current-context"] = "elsewhere"  # the user moves on to another cluster
    cluster.kubeconfig.write_text(yaml.safe_dump(config))

    ran = cli("status", "--name", LAB, "--json")
    assert ran.code == 0, ran.err
    assert f"using kubeconfig {cluster.kubeconfig} of the existing lab {LAB}" in ran.err
    assert ran.json()["existing"]["context"] == "users"

    other = cluster.tmp_path / "other-kubeconfig"
    other.write_text(cluster.kubeconfig.read_text())
    for flags in (("--kubeconfig", str(other)), ("--context", "elsewhere")):
        ran = cli("down", "--provider", "existing", "--name", LAB, *flags)
        assert ran.code == 2
        [line] = ran.err.strip().splitlines()
        assert f"lab {LAB} runs on the cluster of {cluster.kubeconfig} (context 'users')" in line
        assert "drop --kubeconfig and --context" in line
    assert [v for v in cluster.emu.objects.values() if is_labs(v)]  # nothing removed

    ran = cli("down", "--name", LAB)
    assert ran.code == 0, ran.err
    assert f"✓ Removed: {', '.join(f'namespace {n}' for n in NAMESPACES)}" in ran.err
    assert not [v for v in cluster.emu.objects.values() if is_labs(v)]
    assert not (cluster.tmp_path / "state" / LAB / "state.json").exists()


def test_a_moved_kubeconfig_can_be_given_again(cli: Cli, cluster: Cluster, probes: Any) -> None:
    seed(cluster.emu, load("cilium.yaml"))
    probes(cluster.network(enforcing=True, engine="cilium"))
    assert cli("up", *on(cluster, "--no-validate")).code == 0
    moved = cluster.tmp_path / "moved-kubeconfig"
    cluster.kubeconfig.rename(moved)

    ran = cli("status", "--name", LAB)
    assert ran.code == 2
    assert f"--kubeconfig {cluster.kubeconfig}: no such file" in ran.err

    ran = cli("down", "--provider", "existing", "--name", LAB, "--kubeconfig", str(moved))
    assert ran.code == 0, ran.err
    assert f"the kubeconfig {cluster.kubeconfig} lab {LAB} was made with is gone" in ran.err
    assert not [v for v in cluster.emu.objects.values() if is_labs(v)]


@pytest.mark.parametrize("task", ["validate", "reset", "check"])
def test_a_lab_that_is_not_up_is_one_line(cli: Cli, cluster: Cluster, task: str) -> None:
    seed(cluster.emu, load("cilium.yaml"))
    args = ("--exercise", "client-only") if task == "check" else ()
    ran = cli(task, *on(cluster), *args)
    assert ran.code == 2, ran.out + ran.err
    [line] = ran.err.strip().splitlines()
    assert f"lab '{LAB}' is not up" in line
    assert not [r for r in tools(cluster.emu) if r.method != "GET"]


def test_plan_without_a_usable_kubeconfig_fails(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "folder-kubeconfig"
    bad.mkdir()
    ran = cli("plan", "--provider", "existing", "--name", LAB, "--kubeconfig", str(bad))
    assert ran.code == 2
    [line] = ran.err.strip().splitlines()
    assert line.startswith(f"✗ --kubeconfig {bad}: no such file")


# --- doctor ------------------------------------------------------------------------------------


@pytest.fixture
def kubectl_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kubectl for doctor's check: `kubectl version --client` as kubernetes/kubectl
    pkg/cmd/version/version.go (kubernetes-1.35.0) prints it."""
    import os
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(
        "#!/bin/sh\necho 'Client Version: v1.35.0'\necho 'Kustomize Version: v5.7.1'\n"
    )
    kubectl.chmod(0o755)
    monkeypatch.setenv("PATH", os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent)]))


def test_doctor_all_allowed_is_ready(cli: Cli, cluster: Cluster, kubectl_on_path: None) -> None:
    seed(cluster.emu, load("calico-operator.yaml"))
    ran = cli("doctor", *on(cluster))
    assert ran.code == 0, ran.out + ran.err
    assert ran.out.rstrip().endswith("ready for a lab")
    for ns in NAMESPACES:
        assert f"permissions in namespace {ns}: all 17 allowed" in ran.out
    assert "permissions for DNS checks: all 1 allowed: pods in kube-system: list" in ran.out
    reviews = [json.loads(r.body)["spec"]["resourceAttributes"] for r in cluster.emu.reviews()]
    assert {"verb": "list", "group": "", "resource": "pods", "namespace": "kube-system"} in reviews
    assert all(r.path == SSAR_PATH for r in tools(cluster.emu) if r.method == "POST")


def test_doctor_names_denied_exec_and_fails(
    cli: Cli, cluster: Cluster, kubectl_on_path: None
) -> None:
    def no_exec(attrs: Mapping[str, Any]) -> bool | dict[str, Any]:
        if attrs.get("subresource") == "exec":
            return {"allowed": False, "denied": True, "reason": "no exec for you"}
        return True

    cluster.emu.access = no_exec
    seed(cluster.emu, load("calico-operator.yaml"))
    ran = cli("doctor", *on(cluster), "--json")
    assert ran.code == 1
    doc = ran.json()
    assert doc["ready"] is False
    failed = {c["check"]: c for c in doc["checks"] if c["status"] == "fail"}
    assert set(failed) == {f"permissions in namespace {ns}" for ns in NAMESPACES}
    for check in failed.values():
        assert check["detail"] == "missing pods/exec: create, get"

    ran = cli("doctor", *on(cluster))
    assert ran.code == 1
    assert "not allowed: create pods/exec in namespace demo-mylab (no exec for you)" in ran.out


def test_doctor_without_the_dns_pods_only_warns(
    cli: Cli, cluster: Cluster, kubectl_on_path: None
) -> None:
    cluster.emu.access = lambda attrs: (
        attrs.get("namespace") != "kube-system" or (attrs.get("resource") != "pods")
    )
    seed(cluster.emu, load("calico-operator.yaml"))
    ran = cli("doctor", *on(cluster), "--json")
    assert ran.code == 0, ran.out + ran.err
    [dns] = [c for c in ran.json()["checks"] if c["check"] == "permissions for DNS checks"]
    assert dns["status"] == "warn"
    assert "stand-in for the cluster DNS pods" in dns["detail"]


# --- one-line errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["up", "plan", "status", "down", "doctor", "validate"])
def test_missing_kubeconfig_names_the_flag(cli: Cli, task: str) -> None:
    ran = cli(task, "--provider", "existing", "--name", LAB)
    assert ran.code == 2
    [line] = ran.err.strip().splitlines()
    assert line.startswith("✗ --provider existing needs --kubeconfig PATH")


@pytest.mark.parametrize("task", ["up", "down"])
def test_kubeconfig_that_is_not_there(cli: Cli, tmp_path: Path, task: str) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    ran = cli(task, "--provider", "existing", "--name", LAB, "--kubeconfig", str(missing))
    assert ran.code == 2
    [line] = ran.err.strip().splitlines()
    assert line.startswith(f"✗ --kubeconfig {missing}: no such file")


def test_engine_is_refused(cli: Cli, cluster: Cluster) -> None:
    ran = cli("up", *on(cluster, "--engine", "calico"))
    assert ran.code == 2
    [line] = ran.err.strip().splitlines()
    assert line.startswith("✗ --engine: provider existing never installs or changes an engine")
    assert not cluster.emu.requests


def test_unreachable_api_is_one_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "users-kubeconfig"
    write_kubeconfig(
        path, {"gone": f"http://127.0.0.1:{closed_port()}"}, current="gone", token=USER_TOKEN
    )
    ran = cli("up", "--provider", "existing", "--name", LAB, "--kubeconfig", str(path))
    assert ran.code == 1
    # The progress of the observe step, then the error: one line, the last.
    [line] = [line for line in ran.err.splitlines() if line.startswith("✗")]
    assert ran.err.rstrip().splitlines()[-1] == line
    assert line.startswith("✗ could not reach the cluster of")
    assert "refused" in line.lower()
    assert "Traceback" not in ran.err and not ran.out
    assert not (tmp_path / "state" / LAB / "state.json").exists()  # nothing recorded

    ran = cli("down", "--provider", "existing", "--name", LAB, "--kubeconfig", str(path))
    assert ran.code == 1
    [line] = ran.err.strip().splitlines()
    assert line.startswith("✗ cannot reach the cluster of") and "nothing was removed" in line


@pytest.mark.parametrize(
    ("fixture", "enforcing"), [("kindnet-old.yaml", False), ("antrea.yaml", True)]
)
def test_later_runs_give_no_engine_advice(
    cli: Cli, cluster: Cluster, probes: Any, fixture: str, enforcing: bool
) -> None:
    seed(cluster.emu, load(fixture))
    probes(cluster.network(enforcing=enforcing))
    assert cli("up", *on(cluster, "--skip-canary")).code == 0
    for task in ("status", "down"):
        ran = cli(task, *on(cluster))
        assert ran.code == 0, ran.err
        assert "--engine" not in ran.err, ran.err


def test_control_characters_in_a_path_or_context_are_escaped(cli: Cli, tmp_path: Path) -> None:
    """A newline or a terminal escape in --kubeconfig or --context cannot forge a second line."""
    odd = tmp_path / "a\nforged line \x1b[2J"
    ran = cli("up", "--provider", "existing", "--name", LAB, "--kubeconfig", str(odd))
    assert ran.code == 2
    [line] = ran.err.strip().splitlines()
    assert "\x1b" not in line and "\\n" in line and "\\x1b" in line


def test_solve_applies_only_to_the_exercise_the_lab_holds(
    cli: Cli, cluster: Cluster, probes: Any
) -> None:
    seed(cluster.emu, load("calico-operator.yaml"))
    probes(cluster.network(enforcing=True, engine="calico"))
    ran = cli("exercise", "start", "client-only", *on(cluster))
    assert ran.code == 0, ran.err
    assert "Check your work: invoke check --exercise client-only" in ran.out

    ran = cli("exercise", "solve", "deny-all-ingress", *on(cluster))
    assert ran.code == 2
    [line] = ran.err.strip().splitlines()[-1:]
    assert (
        f"lab '{LAB}' holds the baseline of exercise 'client-only', not the baseline of "
        "exercise 'deny-all-ingress'" in line
    )
    assert "invoke exercise start deny-all-ingress" in line

    ran = cli("exercise", "solve", "client-only", *on(cluster))
    assert ran.code == 0, ran.err
    assert "✓ Applied the reference solution of client-only." in ran.err
    ran = cli("check", "--exercise", "client-only", *on(cluster), "--json")
    assert ran.code == 0, ran.out + ran.err


def test_an_empty_policies_flag_is_refused_not_taken_for_a_live_check(cli: Cli) -> None:
    ran = cli("check", "--exercise", "client-only", "--policies", "")
    assert ran.code == 2
    [line] = ran.err.strip().splitlines()
    assert line.startswith("✗ --policies: empty")
