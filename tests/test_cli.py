"""The Invoke tasks as a user runs them: exit codes, one-line errors, JSON on stdout.

Each test runs `invoke` in a subprocess from the repository root, with a PATH holding only the
virtualenv's programs (so no kind, Docker or kubectl is found) and a private state directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def invoke(
    *args: str, tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)
    full_env = {
        "PATH": bin_dir,
        "HOME": str(tmp_path),
        "NETPOL_LAB_HOME": str(tmp_path / "state"),
        "CI": "true",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_list_shows_every_task_with_help(tmp_path: Path) -> None:
    result = invoke("--list", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in (
        "up",
        "plan",
        "status",
        "down",
        "doctor",
        "validate",
        "preload",
        "scenarios",
        "profiles",
        "analyze",
    ):
        assert f"  {name} " in result.stdout


def test_list_does_not_import_heavy_libraries(tmp_path: Path) -> None:
    code = (
        "import sys, runpy; sys.argv=['invoke','--list']\n"
        "import invoke.program\n"
        "try:\n    runpy.run_module('invoke', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy=[m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in "
        "('kubernetes','azure','jinja2','provisioning.analysis','provisioning.lab.pipeline'))]\n"
        "print('HEAVY', heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Available tasks:" in result.stdout, result.stdout + result.stderr  # it did list
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("engine", "marker"),
    [("calico", "tigera-operator.yaml"), ("cilium", "helm"), ("none", "never")],
)
def test_plan_json_offline(tmp_path: Path, engine: str, marker: str) -> None:
    result = invoke("plan", f"--engine={engine}", "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["engine"] == engine
    assert doc["observed"]["observed"] is False
    assert "kind is not installed" in doc["notes"][0]
    config = next(v for k, v in doc["artifacts"].items() if k.startswith("kind config"))
    assert config["networking"]["disableDefaultCNI"] is True
    assert marker in json.dumps(doc["artifacts"]["engine"])
    assert [s["marker"] for s in doc["steps"]] == ["+", "+", "+", "+", "+"]
    assert doc["steps"][-1]["action"] == "validate"


def test_plan_text_shows_markers_and_artifacts(tmp_path: Path) -> None:
    result = invoke("plan", "--engine=cilium", "--scenario=zero-trust", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "+ install engine cilium" in result.stdout
    assert "--- kind config" in result.stdout and "disableDefaultCNI: true" in result.stdout
    assert "kind: NetworkPolicy" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("up", "--engine=azure"), "it runs only on aks"),
        (("up", "--engine=bogus"), "unknown engine 'bogus'; choose one of: azure, calico, cilium"),
        (("plan", "--provider=gke"), "unknown provider 'gke'; choose one of: aks, existing, kind"),
        (("plan", "--scenario=nope"), "unknown scenario 'nope'; choose one of:"),
        (("plan", "--profile=nope"), "unknown profile 'nope'; choose one of:"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    result = invoke(*args, tmp_path=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_broken_profile_names_file_and_key(tmp_path: Path) -> None:
    profile = tmp_path / "broken.yaml"
    profile.write_text("engine: calico\ntimeouts:\n  engnie: 5m\n")
    result = invoke("plan", f"--profile={profile}", tmp_path=tmp_path)
    assert result.returncode == 2
    assert str(profile) in result.stderr and "'timeouts.engnie'" in result.stderr


def test_up_without_kind_fails_with_advice(tmp_path: Path) -> None:
    result = invoke("up", tmp_path=tmp_path)
    assert result.returncode == 1
    assert "kind is not installed" in result.stderr and "invoke doctor" in result.stderr
    assert "Traceback" not in result.stderr


def test_invoke_configuration_layer_via_environment(tmp_path: Path) -> None:
    result = invoke("plan", "--json", tmp_path=tmp_path, env={"INVOKE_LAB_ENGINE": "cilium"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["engine"] == "cilium"
    # A flag still wins over the configuration.
    result = invoke(
        "plan", "--json", "--engine=none", tmp_path=tmp_path, env={"INVOKE_LAB_ENGINE": "cilium"}
    )
    assert json.loads(result.stdout)["engine"] == "none"


def test_status_and_down_without_kind(tmp_path: Path) -> None:
    # Not observed is not "all is well": exit 1, the document still printed, doctor named.
    status = invoke("status", "--json", tmp_path=tmp_path)
    assert status.returncode == 1 and json.loads(status.stdout)["observed"] is False
    assert "invoke doctor" in status.stderr
    down = invoke("down", tmp_path=tmp_path)
    assert down.returncode == 0 and "Nothing to remove" in down.stderr


def test_doctor_reports_and_fails_without_tools(tmp_path: Path) -> None:
    result = invoke("doctor", "--json", tmp_path=tmp_path)
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["ready"] is False
    assert {c["check"] for c in doc["checks"]} >= {"docker", "kind", "kubectl"}


def test_scenarios_and_profiles_lists(tmp_path: Path) -> None:
    scenarios = invoke("scenarios", "--json", tmp_path=tmp_path)
    listed = {s["name"]: s for s in json.loads(scenarios.stdout)}
    assert {"open", "aks-demo", "zero-trust", "namespace-isolation"} <= set(listed)
    # What a scenario needs of the engine, beyond NetworkPolicy, is said before a plan refuses.
    assert listed["aks-demo"]["needs"] == []
    assert listed["cluster-guardrails"]["needs"] == [
        "ClusterNetworkPolicy: kind with engine calico or cilium"
    ]
    assert listed["calico-global-dns"]["needs"] == [
        "Calico GlobalNetworkPolicy: kind with engine calico"
    ]
    profiles = invoke("profiles", tmp_path=tmp_path)
    assert "kind-calico" in profiles.stdout


def test_analyze_task_end_to_end(tmp_path: Path) -> None:
    data = ROOT / "tests" / "analysis" / "data"
    args = (
        "analyze",
        "--cluster",
        str(data / "demo-cluster.json"),
        "--policies",
        str(data / "demo-policies.yaml"),
    )
    summary = invoke(*args, "--format", "summary", tmp_path=tmp_path)
    assert summary.returncode == 0, summary.stderr
    doc = json.loads(summary.stdout)
    assert set(doc) == {"engine", "probes", "allowed", "denied", "seconds"}
    assert doc["allowed"] + doc["denied"] == doc["probes"] > 0
    bad = invoke(*args, "--engine", "bogus", tmp_path=tmp_path)
    assert bad.returncode == 2 and "choose one of: azure, calico, cilium, none" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_aks_plan_without_credentials_shows_the_arm_body(tmp_path: Path) -> None:
    result = invoke("plan", "--provider", "aks", "--engine", "cilium", "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    put = next(r for r in doc["cluster"]["requests"] if "managedClusters" in r["path"])
    assert put["headers"] == {"If-None-Match": "*"}
    profile = put["body"]["properties"]["networkProfile"]
    assert profile["networkDataplane"] == "cilium" and profile["networkPluginMode"] == "overlay"
    assert profile["networkPolicy"] == "cilium" and profile["networkPlugin"] == "azure"
    assert "no Azure subscription given" in doc["notes"][0]


def test_aks_up_and_down_without_subscription_exit_2(tmp_path: Path) -> None:
    for args in (("up", "--provider", "aks"), ("down", "--provider", "aks", "--yes")):
        result = invoke(*args, tmp_path=tmp_path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "AZURE_SUBSCRIPTION_ID" in lines[0]


def test_analyze_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """`invoke analyze --format json | head`: the reader leaving is not an error."""
    pods = [
        {
            "namespace": "demo",
            "name": f"p{i}",
            "labels": {"app": f"a{i % 5}"},
            "ip": f"10.244.0.{i + 1}",
            "ports": [{"port": 80}],
        }
        for i in range(120)
    ]
    cluster = tmp_path / "cluster.json"
    cluster.write_text(json.dumps({"namespaces": {"demo": {}}, "pods": pods}))
    policies = tmp_path / "policies.yaml"
    policies.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: p, namespace: demo}\nspec: {podSelector: {}}\n"
    )
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "CI": "true"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "analyze",
            "--cluster",
            str(cluster),
            "--policies",
            str(policies),
            "--format",
            "json",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100)  # the first bytes arrive, then the reader leaves
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_validate_output_to_a_missing_directory_is_refused_before_probing(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state" / "netpol-lab"
    state.mkdir(parents=True)
    (state / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    result = invoke(
        "validate", "--output", str(tmp_path / "no" / "such" / "r.xml"), tmp_path=tmp_path
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_status_exits_1_when_the_labs_api_does_not_answer(tmp_path: Path) -> None:
    """A kind cluster that exists but whose API server does not answer is not "all is well"."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "
        "'https://127.0.0.1:9'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n"
        "  context: {cluster: c, user: u}\ncurrent-context: x\n"
    )
    # A stand-in kind: the cluster is listed, its kubeconfig points at a port nobody serves.
    # Outputs as kind prints them (kubernetes-sigs/kind @ v0.31.0): `get clusters` one name per
    # line on stdout (pkg/cmd/kind/get/clusters/clusters.go), `get kubeconfig` the kubeconfig on
    # stdout (pkg/cmd/kind/get/kubeconfig/kubeconfig.go), `version` "kind v<version> go<go>
    # <os>/<arch>" (pkg/cmd/kind/version/version.go).
    (bin_dir / "kind").write_text(
        "#!/bin/sh\n"
        'case "$1 $2" in\n'
        '  "get clusters") echo netpol-lab ;;\n'
        f'  "get kubeconfig") printf "%s" "{kubeconfig}" ;;\n'
        '  "version") echo "kind v0.31.0 go1.25.5 linux/amd64" ;;\n'
        "esac\n"
    )
    (bin_dir / "kind").chmod(0o755)
    path = f"{bin_dir}:{Path(sys.executable).parent}"
    result = invoke("status", tmp_path=tmp_path, env={"PATH": path})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "does not answer" in result.stderr and "invoke doctor" in result.stderr
    assert "Traceback" not in result.stderr
