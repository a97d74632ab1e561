"""What of the end-to-end machinery can be checked without Docker: step budgets, the step runner,
the kubectl pin derived from the node image, the workflow, and the one-command runner's report
folder and skip line (real subprocesses, with stub docker/kind/kubectl/invoke/pytest on PATH)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from provisioning import versions
from provisioning.profiles import config_layer
from provisioning.spec import Timeouts
from provisioning.validation.probe_kubectl import KubectlExecutor
from tests.e2e import budget, run
from tests.e2e.budget import Allowances, StepBudget
from tests.e2e.steps import StepFailed, StepRunner

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "e2e.yml"


# --- budgets ----------------------------------------------------------------------------------


ALLOWANCES = Allowances(
    cluster=300, engine=600, workload=300, canary=244, validation=92, overhead=60
)


def test_each_step_budget_is_the_sum_of_its_phases_plus_the_overhead() -> None:
    budgets = budget.step_budgets("calico", ALLOWANCES)

    assert list(budgets) == [key for key, _, _ in budget.STEPS]
    first = budgets["up-first"]
    assert first.seconds == 300 + 600 + 300 + 244 + 92 + 60 == 1596
    assert first.breakdown() == (
        "cluster 300 + engine 600 + workload 300 + canary 244 + validation 92 + overhead 60"
    )
    assert "up --engine calico" in first.label
    assert budgets["status"].seconds == 60
    assert budgets["validate-html"].seconds == 92 + 60
    # `up` runs the enforcement canary before validating, also when nothing else changes.
    assert budgets["up-again"].seconds == budgets["up-switch"].seconds == 244 + 92 + 60 == 396
    assert budgets["down-keep"].seconds == 300 + 60  # namespaces terminate within workload
    assert budgets["down"].seconds == 300 + 60  # kind delete within the cluster timeout
    assert budgets["kubectl-pods"].label == "kubectl get pods -A -l netpol-lab.io/lab=e2e-calico"
    total = sum(b.seconds for b in budgets.values())
    assert total == 1596 + 152 + 2 * 396 + 4 * 60 + 2 * 360 == 3500
    assert budget.whole_test_timeout(budgets) == total + budget.TEST_MARGIN == 3560


def test_the_existing_flow_has_its_own_steps_with_the_same_allowances() -> None:
    budgets = budget.step_budgets(budget.EXISTING, ALLOWANCES)

    assert list(budgets) == [key for key, _, _ in budget.EXISTING_STEPS]
    # The hand-made cluster gets what the lab gives its own kind cluster.
    assert budgets["kind-create"].breakdown() == "cluster 300 + overhead 60"
    assert "kind create cluster --name e2e-existing-<random>" in budgets["kind-create"].label
    assert budgets["kindnet-ready"].breakdown() == "engine 600 + overhead 60"
    assert budgets["user-pod-ready"].breakdown() == "workload 300 + overhead 60"
    # The lab creates no cluster and installs no engine there: up is workload, canary, validation.
    assert budgets["up"].breakdown() == ("workload 300 + canary 244 + validation 92 + overhead 60")
    assert "--provider existing" in budgets["up"].label
    assert budgets["down"].breakdown() == "workload 300 + overhead 60"  # namespaces only
    assert budgets["kind-delete"].breakdown() == "cluster 300 + overhead 60"
    assert budgets["lab-namespaces"].label.endswith("-l netpol-lab.io/lab=e2e-existing")
    assert budget.whole_test_timeout(budgets) == 3788 + budget.TEST_MARGIN


def _step_keys(test_file: str) -> set[str]:
    """Every step key a test file runs (`steps.run("key", ...)`)."""
    source = (ROOT / "tests" / "e2e" / test_file).read_text()
    return set(re.findall(r"steps\.run\(\s*\"([a-z-]+)\"", source))


@pytest.mark.parametrize(
    ("test_file", "steps"),
    [("test_kind_lab.py", budget.STEPS), ("test_existing_lab.py", budget.EXISTING_STEPS)],
)
def test_every_step_a_test_runs_has_a_budget_and_every_budget_a_step(test_file, steps) -> None:
    # A key without a budget would only fail on a real cluster (KeyError in StepRunner.run).
    assert _step_keys(test_file) == {key for key, _, _ in steps}


@pytest.mark.parametrize("engine", ["cilium", budget.EXISTING])
def test_allowances_are_the_lab_spec_timeouts_and_the_validation_deadline(engine) -> None:
    allowances = budget.allowances_for(engine, layers=[])
    defaults = Timeouts()
    margin = {f.name: f.default for f in dataclasses.fields(KubectlExecutor)}["exec_margin"]
    assert (allowances.cluster, allowances.engine, allowances.workload) == (
        defaults.cluster,
        defaults.engine,
        defaults.workload,
    )
    # `up`/`validate` defaults: --deadline 60s, --probe-timeout 2s; one more round after it.
    assert allowances.validation == 60 + 2 + margin
    # The canary's three waits (pods Ready, policy in effect, clean-up), each within the
    # deadline (run_canary's default 30 s is smaller), and two probes that may outlast them.
    assert allowances.canary == 3 * 60 + 2 * (2 + margin)


def test_the_existing_allowances_follow_the_invoke_configuration_too() -> None:
    longer = {"timeouts": {"workload": "10m"}}
    budgets = budget.budgets_for(budget.EXISTING, layers=[(config_layer("invoke.yaml"), longer)])
    assert budgets["down"].seconds == 600 + budget.STEP_OVERHEAD
    assert budgets["user-pod-ready"].seconds == 600 + budget.STEP_OVERHEAD


def test_budgets_follow_timeouts_from_the_invoke_configuration() -> None:
    longer = {"timeouts": {"cluster": "10m", "engine": "15m", "workload": "10m"}}
    budgets = budget.budgets_for("calico", layers=[(config_layer("invoke.yaml"), longer)])
    default = budget.allowances_for("calico", layers=[])
    probing = default.canary + default.validation
    assert budgets["up-first"].seconds == 600 + 900 + 600 + probing + budget.STEP_OVERHEAD
    assert budgets["down"].seconds == 600 + budget.STEP_OVERHEAD


def test_the_invoke_configuration_is_read_like_invoke_does(monkeypatch) -> None:
    # INVOKE_LAB_PROFILE reaches `invoke up` through Invoke's shell-env layer; the budget too.
    monkeypatch.setenv("INVOKE_LAB_PROFILE", "ci-kind-calico")
    assert {"profile": "ci-kind-calico"} in [values for _, values in budget.invoke_layers()]
    allowances = budget.allowances_for("calico")
    assert (allowances.cluster, allowances.engine, allowances.workload) == (600, 900, 600)


def test_the_e2e_test_carries_its_summed_budget_as_a_signal_timeout_marker() -> None:
    from tests.e2e import test_kind_lab

    params = test_kind_lab._engine_params()
    assert [p.values[0] for p in params] == test_kind_lab.ENGINES
    for param in params:
        (mark,) = [m for m in param.marks if m.name == "timeout"]
        engine = param.values[0]
        assert mark.args == (budget.whole_test_timeout(test_kind_lab.BUDGETS[engine]),)
        assert mark.args[0] > 120 * 10  # far above the global 120 s it replaces
        assert mark.kwargs == {"method": "signal"}


def test_the_existing_test_carries_its_summed_budget_as_a_signal_timeout_marker() -> None:
    from tests.e2e import test_existing_lab

    marks = {m.name: m for m in test_existing_lab.pytestmark}
    assert "e2e" in marks
    assert marks["timeout"].args == (budget.whole_test_timeout(test_existing_lab.BUDGETS),)
    assert marks["timeout"].kwargs == {"method": "signal"}
    assert budget.budgets_for(budget.EXISTING) == test_existing_lab.BUDGETS


def _collect(engines: str | None) -> list[str]:
    """The e2e test ids pytest collects, opted in, on a machine without Docker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPOL_LAB_E2E")}
    env["NETPOL_LAB_E2E"] = "1"
    if engines is not None:
        env["NETPOL_LAB_E2E_ENGINES"] = engines
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--co", "tests/e2e"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted(line for line in result.stdout.splitlines() if "::" in line)


KIND_TEST = "tests/e2e/test_kind_lab.py::test_up_converges_and_down_removes_everything"
EXISTING_TEST = (
    "tests/e2e/test_existing_lab.py::"
    "test_existing_provider_runs_the_lab_on_a_hand_made_kind_cluster_and_changes_nothing_else"
)


@pytest.mark.parametrize(
    ("engines", "collected"),
    [
        # Unset: test_kind_lab.py's own default (calico, cilium, none) and the existing test.
        (None, [*(f"{KIND_TEST}[{e}]" for e in ("calico", "cilium", "none")), EXISTING_TEST]),
        ("existing", [EXISTING_TEST]),  # test_kind_lab's [existing] case is deselected
        ("calico", [f"{KIND_TEST}[calico]"]),
        ("none,existing", [EXISTING_TEST, f"{KIND_TEST}[none]"]),
    ],
)
def test_the_engines_choose_the_tests_and_existing_runs_only_its_own(engines, collected) -> None:
    assert _collect(engines) == sorted(collected)


def test_without_opt_in_the_e2e_tests_skip_quickly() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPOL_LAB_E2E")}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests/e2e"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 skipped" in result.stdout  # calico, cilium, none, existing
    assert "end-to-end tests are opt-in" in result.stdout
    assert time.monotonic() - started < 60


# --- the step runner --------------------------------------------------------------------------


def _budget(seconds: float, key: str = "step") -> dict[str, StepBudget]:
    return {key: StepBudget(key, f"the {key} step", seconds, (("overhead", seconds),))}


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie is dead, waiting for init to reap it


def test_an_overrunning_step_is_named_and_its_whole_process_group_stopped(tmp_path) -> None:
    steps = StepRunner(_budget(1.0, "slow"), cwd=tmp_path, log_dir=tmp_path / "logs")
    pidfile = tmp_path / "grandchild.pid"
    script = f"echo started; sleep 60 & echo $! > {pidfile}; wait"
    started = time.monotonic()
    with pytest.raises(StepFailed) as failure:
        steps.run("slow", ["sh", "-c", script])
    assert time.monotonic() - started < 15
    message = str(failure.value)
    assert message.startswith("step 'the slow step' exceeded its 1 s budget (overhead 1)")
    assert "| started" in message  # what it printed before it was stopped
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while not _gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(grandchild), "the step's background child survived"
    log = (tmp_path / "logs" / "01-slow.log").read_text()
    assert "result: stopped, budget exceeded" in log and "budget: 1 s" in log
    steps.write_summary()
    (record,) = json.loads((tmp_path / "logs" / "steps.json").read_text())
    assert record["overran"] is True and record["exit"] is None and record["seconds"] == 1


def test_a_failing_step_is_named_with_its_output_and_check_false_returns(tmp_path) -> None:
    steps = StepRunner(_budget(30.0), cwd=tmp_path)
    with pytest.raises(StepFailed, match=r"step 'the step step' exited 3 .*budget 30 s"):
        steps.run("step", ["sh", "-c", "echo oops >&2; exit 3"])
    result = steps.run("step", ["sh", "-c", "echo fine; exit 4"], check=False)
    assert (result.returncode, result.stdout) == (4, "fine\n")
    assert [r["exit"] for r in steps.records] == [3, 4]


def test_a_step_reads_no_terminal(tmp_path) -> None:
    # stdin is /dev/null: a command asking for a confirmation reads EOF at once, it never waits.
    steps = StepRunner(_budget(30.0), cwd=tmp_path)
    started = time.monotonic()
    result = steps.run("step", ["sh", "-c", "read answer; echo read-status:$?"], check=False)
    assert result.stdout == "read-status:1\n"
    assert time.monotonic() - started < 10


# --- kubectl matching the node image ----------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "want"),
    [
        ("kindest/node:v1.36.1@sha256:" + "a" * 64, "v1.36.1"),
        ("kindest/node:v1.35.0", "v1.35.0"),
        ("docker.io/kindest/node:v1.37.2@sha256:" + "0" * 64, "v1.37.2"),
    ],
)
def test_kubectl_version_is_the_node_image_kubernetes_release(image, want) -> None:
    assert run.kubectl_version_for(image) == want


@pytest.mark.parametrize(
    "image", ["kindest/node:latest", "kindest/node@sha256:" + "a" * 64, "nginx:v1.2.3"]
)
def test_an_unreadable_node_image_is_refused(image) -> None:
    with pytest.raises(ValueError, match="cannot read a Kubernetes version"):
        run.kubectl_version_for(image)


def test_the_pinned_kubectl_follows_versions_py_from_a_bare_interpreter() -> None:
    tag = versions.KIND_NODE_IMAGE.split("@")[0].rsplit(":", 1)[1]
    # -S: no site-packages, as in the workflow before anything is installed.
    result = subprocess.run(
        [sys.executable, "-S", "-m", "tests.e2e.run", "--kubectl-version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == f"{tag}\n" and result.stdout.startswith("v1.")


def test_kubectl_skew_is_one_minor_either_way() -> None:
    image = "kindest/node:v1.36.1"

    def client(version: str) -> str:
        return json.dumps({"clientVersion": {"gitVersion": version}})

    assert run.kubectl_skew(client("v1.35.9"), image)["within_one_minor"] is True
    assert run.kubectl_skew(client("v1.37.0"), image)["within_one_minor"] is True
    assert run.kubectl_skew(client("v1.34.0"), image) == {
        "cluster": "v1.36.1",
        "client": "v1.34.0",
        "within_one_minor": False,
    }
    assert run.kubectl_skew("not json", image)["within_one_minor"] is None


def test_the_workflow_installs_that_kubectl_verified_and_runs_the_one_command() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    (job,) = doc["jobs"].values()
    steps = job["steps"]
    runs = [s.get("run", "") for s in steps]

    def index(fragment: str) -> int:
        (found,) = [i for i, text in enumerate(runs) if fragment in text]
        return found

    kubectl = runs[index("--kubectl-version")]
    assert "python3 -m tests.e2e.run --kubectl-version" in kubectl
    assert 'dl.k8s.io/release/${version}/bin/linux/amd64/kubectl"' in kubectl
    assert 'dl.k8s.io/release/${version}/bin/linux/amd64/kubectl.sha256"' in kubectl
    assert 'echo "$(cat kubectl.sha256)  kubectl" | sha256sum --check' in kubectl
    assert "install -o root -g root -m 0755 kubectl /usr/local/bin/kubectl" in kubectl
    e2e = index("-m tests.e2e.run --engines")
    assert index("--kubectl-version") < e2e
    assert "--report e2e-report" in runs[e2e] and "--no-skip" in runs[e2e]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["if"] == "always()" and upload["with"]["path"] == "e2e-report/"
    assert "${{ matrix.engine }}" in upload["with"]["name"]  # v4: names unique per run
    # Every runner engine, the pseudo-engine existing included, is a job of its own.
    engines = job["strategy"]["matrix"]["engine"]
    assert engines == list(run.E2E_ENGINES) and budget.EXISTING in engines
    assert "--engines ${{ matrix.engine }}" in runs[e2e]
    # Clean-up after a killed job: the lab by `invoke down` for the engines; for existing, the
    # test's own hand-made clusters, by the name prefix the test gives them.
    cleanup = steps[index("invoke down")]
    assert cleanup["if"] == "always() && matrix.engine != 'existing'"
    assert "--name e2e-${{ matrix.engine }}" in cleanup["run"]
    hand_made = steps[index(f"grep '^{budget.existing_cluster_prefix()}'")]
    assert hand_made["if"] == "always() && matrix.engine == 'existing'"
    prefix = budget.existing_cluster_prefix()
    assert (
        f"kind get clusters | grep '^{prefix}' | xargs -r -n1 kind delete cluster --name"
        in (hand_made["run"])
    )
    # The workshop fleet's test runs in the calico job, opted in, and cleans up its own cluster.
    from tests.e2e import test_fleet

    fleet = steps[index("tests/e2e/test_fleet.py")]
    assert fleet["if"] == "matrix.engine == 'calico'"
    assert fleet["env"] == {"NETPOL_LAB_E2E": "1", "NETPOL_LAB_E2E_FLEET": "1"}
    fleet_cleanup = steps[index("grep '^e2e-fleet-'")]
    assert fleet_cleanup["if"] == "always() && matrix.engine == 'calico'"
    # The job outlives every engine's test timeout (calico's: with the fleet's), so the tests'
    # budgets trip first.
    for engine in engines:
        test_timeout = budget.whole_test_timeout(budget.budgets_for(engine, layers=[]))
        if engine == "calico":
            test_timeout += budget.whole_test_timeout(test_fleet.BUDGETS)
        assert job["timeout-minutes"] * 60 > test_timeout + 10 * 60, engine


# --- the one-command runner -------------------------------------------------------------------


def _stub(bin_dir: Path, name: str, body: str, interpreter: str = "/bin/sh") -> None:
    path = bin_dir / name
    path.write_text(f"#!{interpreter}\n" + textwrap.dedent(body))
    path.chmod(0o755)


def _machine(tmp_path: Path, *, docker_answers: bool = True, kubectl: str = "") -> Path:
    """A PATH with stub docker, kind, kubectl and helm, and stub invoke and pytest commands."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    info = (
        "echo 29.1.0"
        if docker_answers
        else "echo 'Cannot connect to the Docker daemon' >&2; exit 1"
    )
    # Each stub prints what its tool prints for the command the runner gives it:
    # docker `info --format {{.ServerVersion}}` and `version` (docker/cli v29.1.0
    # cli/command/system/info.go, version.go: the client block starts "Client: Docker Engine");
    # kind `version` (kubernetes-sigs/kind pkg/cmd/kind/version/version.go @ v0.31.0:
    # "kind v<version> go<go version> <os>/<arch>"); kubectl `version --client -o json`
    # (kubernetes/kubectl pkg/cmd/version/version.go @ kubernetes-1.35.0: {"clientVersion": ...});
    # helm `version --short` (helm/helm cmd/helm/version.go @ v3.21.4: "v<version>+g<commit>").
    _stub(
        bin_dir,
        "docker",
        f"""\
        case "$1" in
          info) {info};;
          version) echo "Client: Docker Engine - stub"; echo " Version: 29.1.0";;
        esac
        """,
    )
    _stub(bin_dir, "kind", f'echo "kind {versions.KIND_VERSION} go1.25.5 linux/amd64"\n')
    version = kubectl or run.pinned_kubectl_version()
    _stub(bin_dir, "kubectl", f"""echo '{{"clientVersion": {{"gitVersion": "{version}"}}}}'\n""")
    _stub(bin_dir, "helm", 'echo "v3.19.0+gstub"\n')
    _stub(
        bin_dir,
        "stub-invoke",
        f"""\
        echo "$@" >> {tmp_path}/invoke-calls
        case "$1" in
          doctor) echo '{{"ready": true, "checks": [{{"name": "docker", "ok": true}}]}}';;
          *) echo "unexpected invoke $*" >&2; exit 9;;
        esac
        """,
    )
    # The stub pytest writes what the real e2e test would for calico only, as if cilium's test
    # failed early, and exits with STUB_PYTEST_EXIT.
    _stub(
        bin_dir,
        "stub-pytest",
        f"""\
        import json, os, sys
        from pathlib import Path
        args = sys.argv[1:]
        Path({str(tmp_path)!r}, "pytest-call.json").write_text(json.dumps({{
            "args": args,
            "cwd": os.getcwd(),
            "env": {{k: v for k, v in os.environ.items() if k.startswith("NETPOL_LAB_E2E")}},
        }}))
        junit = next(a.split("=", 1)[1] for a in args if a.startswith("--junitxml="))
        skipped = int(os.environ.get("STUB_PYTEST_SKIPPED", "0"))
        Path(junit).write_text(
            '<?xml version="1.0"?><testsuites><testsuite name="netpol-lab-e2e" tests="2" '
            f'failures="1" errors="0" skipped="{{skipped}}"></testsuite></testsuites>'
        )
        report = Path(os.environ["NETPOL_LAB_E2E_REPORT"])
        (report / "status-calico.json").write_text("{{}}")
        (report / "validation-calico.html").write_text("<!DOCTYPE html>")
        (report / "steps" / "calico").mkdir(parents=True)
        (report / "steps" / "calico" / "steps.json").write_text("[]")
        print("stub pytest: 1 failed, 1 passed")
        sys.exit(int(os.environ.get("STUB_PYTEST_EXIT", "1")))
        """,
        interpreter=sys.executable,
    )
    return bin_dir


def _runner(args: list[str], bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NETPOL_LAB_E2E", "INVOKE_"))}
    return subprocess.run(
        [sys.executable, "-m", "tests.e2e.run", *args],
        cwd=ROOT,
        env={
            **base,
            "PATH": str(bin_dir),
            "NETPOL_LAB_E2E_PYTEST": "stub-pytest",
            "NETPOL_LAB_E2E_INVOKE": "stub-invoke",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


def test_the_runner_leaves_a_report_folder_and_exits_with_pytests_status(tmp_path) -> None:
    bin_dir = _machine(tmp_path)
    report = tmp_path / "report"
    result = _runner(["--engines", "calico,cilium", "--report", str(report)], bin_dir)
    assert result.returncode == 1, result.stdout + result.stderr  # the stub pytest's status
    out = result.stdout

    # pytest ran on tests/e2e, from the repository, opted in, with JUnit into the folder.
    call = json.loads((tmp_path / "pytest-call.json").read_text())
    assert call["cwd"] == str(ROOT)
    assert {
        k: v
        for k, v in call["env"].items()
        if k not in ("NETPOL_LAB_E2E_PYTEST", "NETPOL_LAB_E2E_INVOKE")
    } == {
        "NETPOL_LAB_E2E": "1",
        "NETPOL_LAB_E2E_ENGINES": "calico,cilium",
        "NETPOL_LAB_E2E_REPORT": str(report),
    }
    assert call["args"][-1] == "tests/e2e" and call["args"][2:4] == ["-m", "e2e"]
    assert f"--junitxml={report / 'junit.xml'}" in call["args"]
    assert ET.parse(report / "junit.xml").getroot().tag == "testsuites"
    assert "stub pytest: 1 failed, 1 passed" in (report / "pytest.log").read_text()
    assert "stub pytest: 1 failed, 1 passed" in out  # shown as it runs, too

    # doctor per engine, from `invoke doctor --engine E --json`.
    assert (tmp_path / "invoke-calls").read_text().splitlines() == [
        "doctor --engine calico --json",
        "doctor --engine cilium --json",
    ]
    assert json.loads((report / "doctor-cilium.json").read_text())["ready"] is True
    assert "e2e: doctor (calico): ready" in out

    # tool versions, the pins, and kubectl within one minor of the node image.
    tools = json.loads((report / "tools.json").read_text())
    assert tools["tools"]["kind"]["output"] == f"kind {versions.KIND_VERSION} go1.25.5 linux/amd64"
    assert tools["tools"]["helm"]["output"] == "v3.19.0+gstub"
    assert tools["tools"]["git"]["error"] == "not installed"
    assert tools["pins"]["KIND_NODE_IMAGE"] == versions.KIND_NODE_IMAGE
    assert tools["kubectl_skew"]["within_one_minor"] is True
    assert "warning: kubectl" not in out

    # budgets, printed and kept.
    first = budget.budgets_for("calico")["up-first"]
    line = f"{first.label}: {first.seconds:g} s = {first.breakdown()}"
    assert line in out and line in (report / "budgets.txt").read_text()
    kept = json.loads((report / "budgets.json").read_text())
    assert kept["cilium"]["test_timeout"] == budget.whole_test_timeout(budget.budgets_for("cilium"))

    # the summary says what is there and what is missing (cilium "stopped early").
    summary = (report / "SUMMARY.md").read_text()
    assert "| validation-calico.html | the validation matrix of lab e2e-calico | yes |" in summary
    assert (
        "| validation-cilium.html | the validation matrix of lab e2e-cilium | MISSING |" in summary
    )
    assert "- tests: 2, failures: 1, errors: 0, skipped: 0" in summary
    assert "- pytest exit status: 1 (some tests failed)" in summary
    assert "e2e: not in the report: status-cilium.json, validation-cilium.html" in out
    assert out.rstrip().endswith(f"e2e: report folder {report} (attach it to a bug report)")


def test_the_runner_leaves_doctor_of_existing_to_the_test(tmp_path) -> None:
    # existing's cluster does not exist before its test makes it: no `invoke doctor --engine
    # existing` (not an engine), the test writes doctor-existing.json with --provider existing.
    bin_dir = _machine(tmp_path)
    report = tmp_path / "report"
    args = ["--engines", "calico,existing", "--report", str(report)]
    result = _runner(args, bin_dir, STUB_PYTEST_EXIT="0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "invoke-calls").read_text().splitlines() == ["doctor --engine calico --json"]
    assert "e2e: doctor (existing): run by the test once its kind cluster exists" in result.stdout
    call = json.loads((tmp_path / "pytest-call.json").read_text())
    assert call["env"]["NETPOL_LAB_E2E_ENGINES"] == "calico,existing"
    assert "existing:" in (report / "budgets.txt").read_text()
    kept = json.loads((report / "budgets.json").read_text())
    assert kept["existing"]["test_timeout"] == budget.whole_test_timeout(
        budget.budgets_for(budget.EXISTING)
    )
    summary = (report / "SUMMARY.md").read_text()
    assert (
        "| doctor-existing.json | `invoke doctor --provider existing --json` on the test's "
        "cluster | MISSING |"
    ) in summary
    assert "| status-existing.json | `invoke status --json` of lab e2e-existing | MISSING |" in (
        summary
    )


@pytest.mark.parametrize(
    ("engines", "names"),
    [
        (
            ["calico", "none"],
            [
                "test_up_converges_and_down_removes_everything[calico]",
                "test_up_converges_and_down_removes_everything[none]",
            ],
        ),
        (
            ["none", "existing"],
            [
                "test_up_converges_and_down_removes_everything[none]",
                "test_existing_provider_runs_the_lab_on_a_hand_made_kind_cluster_and_changes_"
                "nothing_else",
            ],
        ),
    ],
)
def test_the_runners_pytest_command_works_with_the_real_pytest(
    tmp_path, monkeypatch, engines, names
) -> None:
    # The exact command line and environment the runner uses, on a machine without Docker:
    # every engine's test skips with its reason, and the JUnit XML says so.
    monkeypatch.delenv(run.PYTEST_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker, kind or kubectl
    report = tmp_path / "report"
    report.mkdir()
    result = subprocess.run(
        run.pytest_argv(report),
        cwd=ROOT,
        env=run.pytest_env(report, engines),
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 skipped" in result.stdout
    assert run.junit_counts(report / "junit.xml") == {
        "tests": 2,
        "failures": 0,
        "errors": 0,
        "skipped": 2,
    }
    cases = ET.parse(report / "junit.xml").getroot().iter("testcase")
    reasons = {c.get("name"): c.find("skipped").get("message") for c in cases}
    assert reasons == dict.fromkeys(names, "docker is not installed")


def test_the_runner_warns_when_kubectl_is_out_of_skew(tmp_path) -> None:
    bin_dir = _machine(tmp_path, kubectl="v1.20.0")
    report = tmp_path / "report"
    result = _runner(
        ["--engines", "calico", "--report", str(report)], bin_dir, STUB_PYTEST_EXIT="0"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    want = run.pinned_kubectl_version()
    assert "e2e: warning: kubectl v1.20.0 is more than one minor version away from the " in (
        result.stdout
    )
    assert f"install kubectl {want}" in result.stdout
    assert json.loads((report / "tools.json").read_text())["kubectl_skew"]["client"] == "v1.20.0"


def test_no_skip_turns_a_skipped_test_into_a_failure(tmp_path) -> None:
    bin_dir = _machine(tmp_path)
    args = ["--engines", "calico", "--report", str(tmp_path / "r"), "--no-skip"]
    result = _runner(args, bin_dir, STUB_PYTEST_EXIT="0", STUB_PYTEST_SKIPPED="1")
    assert result.returncode == 1
    assert "e2e: --no-skip: a test was skipped" in result.stdout


@pytest.mark.parametrize(
    ("present", "docker_answers", "reason"),
    [
        ((), True, "docker is not installed"),
        (("docker",), True, "kind is not installed"),
        (("docker", "kind"), True, "kubectl is not installed"),
        (("docker", "kind", "kubectl"), False, "no Docker engine answers (`docker info` failed)"),
    ],
)
def test_without_docker_or_kind_the_runner_skips_in_one_line(
    tmp_path, present, docker_answers, reason
) -> None:
    full = _machine(tmp_path, docker_answers=docker_answers)
    bin_dir = tmp_path / "partial"
    bin_dir.mkdir()
    for name in present:
        (bin_dir / name).symlink_to(full / name)
    report = tmp_path / "report"
    args = ["--engines", "calico", "--report", str(report)]

    skipped = _runner(args, bin_dir)
    line = f"e2e: skipped: {reason} (the end-to-end run needs Docker, kind and kubectl)\n"
    assert (skipped.returncode, skipped.stdout, skipped.stderr) == (0, line, "")
    assert not report.exists()
    assert not (tmp_path / "pytest-call.json").exists()

    strict = _runner([*args, "--no-skip"], bin_dir)
    assert strict.returncode == 1
    assert strict.stdout == line.replace("skipped", "cannot run", 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engines", "azure"], "--engines: 'azure' is not an e2e engine"),
        (["--engines", ","], "--engines: name at least one of calico, cilium, none, existing"),
    ],
)
def test_wrong_arguments_exit_2_in_one_line(tmp_path, args, message) -> None:
    result = _runner(args, _machine(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"e2e: {message}") and result.stderr.count("\n") == 1


def test_a_used_report_folder_is_refused(tmp_path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    (report / "junit.xml").write_text("old")
    result = _runner(["--report", str(report)], _machine(tmp_path))
    assert result.returncode == 2
    assert "exists and is not an empty folder" in result.stderr
    assert (report / "junit.xml").read_text() == "old"
