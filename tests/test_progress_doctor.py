"""Progress lines (spinner on a terminal, plain lines in CI) and the doctor's checks."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from provisioning import doctor, versions
from provisioning.progress import Progress, want_spinner
from provisioning.providers.kind import doctor as kind_doctor
from provisioning.spec import LabSpec
from tests.fake_world import World


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_progress_prints_start_result_and_notes() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(out, spinner=False, clock=clock, log_every=10)
    with progress.step("Create cluster") as step:
        clock.now = 4
        step.update("waiting for nodes")  # under log_every: not printed
        clock.now = 12
        step.update("waiting for nodes 1/2")
        step.note("kubeconfig: /x")
        clock.now = 42.25
    with pytest.raises(RuntimeError), progress.step("Install engine"):
        clock.now = 50
        raise RuntimeError("boom")
    assert out.getvalue().splitlines() == [
        "… Create cluster",
        "  … waiting for nodes 1/2 (12s)",
        "✓ Create cluster (42.2s)",
        "  kubeconfig: /x",
        "… Install engine",
        "✗ Install engine (7.8s)",
    ]
    assert [r.ok for r in progress.records] == [True, False]
    assert progress.records[0].as_dict()["seconds"] == 42.25


def test_spinner_draws_on_a_terminal_and_clears_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("NETPOL_LAB_NO_SPINNER", raising=False)
    out = Tty()
    progress = Progress(out)
    assert progress.spinner
    with progress.step("Wait") as step:
        step.update("tigerastatus 1/3")
        time.sleep(0.35)  # lets the spinner thread draw a few frames
    text = out.getvalue()
    assert "\r\x1b[2K" in text and "Wait" in text and "tigerastatus 1/3" in text
    assert re.fullmatch(r"✓ Wait \(\d+\.\ds\)", text.splitlines()[-1].split("\x1b[2K")[-1])
    assert "… Wait" not in text  # no plain start line when a spinner shows the step


def test_no_spinner_in_ci_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert want_spinner(Tty()) is False
    monkeypatch.delenv("CI")
    assert want_spinner(io.StringIO()) is False


def test_doctor_on_a_ready_machine(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "sys/fs/inotify").mkdir(parents=True)
    (proc / "sys/fs/inotify/max_user_watches").write_text("524288\n")
    (proc / "sys/fs/inotify/max_user_instances").write_text("8192\n")
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "cgroup.controllers").write_text("cpu memory\n")
    findings = kind_doctor.run_checks(World(), engine="cilium", proc=proc, cgroup_root=cgroup)
    assert [f.status for f in findings] == ["ok"] * 7, doctor.render(findings)
    assert doctor.healthy(findings)
    text = doctor.render(findings)
    assert f"tested with {versions.KIND_VERSION}" in text
    assert f"Calico {versions.CALICO_VERSION}, tested on Kubernetes 1.34-1.36" in text


def test_doctor_says_how_to_fix_each_problem(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "sys/fs/inotify").mkdir(parents=True)
    (proc / "sys/fs/inotify/max_user_watches").write_text("8192\n")
    (proc / "sys/fs/inotify/max_user_instances").write_text("128\n")
    world = World(programs={"docker", "kubectl"}, docker_running=False)
    findings = kind_doctor.run_checks(world, engine="cilium", proc=proc, cgroup_root=tmp_path)
    by_name = {f.name: f for f in findings}
    assert by_name["docker"].status == "fail" and "systemctl start docker" in by_name["docker"].fix
    assert by_name["kind"].status == "fail" and versions.KIND_VERSION in by_name["kind"].fix
    assert by_name["helm or cilium CLI"].status == "fail"
    assert by_name["inotify limits"].status == "warn"
    assert "max_user_watches=524288" in by_name["inotify limits"].fix
    assert by_name["cgroup version"].status == "fail"
    assert not doctor.healthy(findings)
    text = doctor.render(findings)
    assert "fix: sudo sysctl" in text and "not ready:" in text


def test_helm_is_optional_for_calico() -> None:
    finding = kind_doctor.check_cilium_installer(World(programs={"kind"}), "calico")
    assert finding.status == "skip" and not finding.required


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("kind v0.31.0 go1.25.5 linux/amd64", (0, 31, 0)),
        ("kind version 0.19.0", None),
        ("kind v0.19.0 go1.20 linux/amd64", (0, 19, 0)),
    ],
)
def test_kind_versions(text: str, version: tuple[int, int, int] | None) -> None:
    assert kind_doctor.parse_kind_version(text) == version


class KindAt(World):
    def __init__(self, version: str) -> None:
        super().__init__()
        self.kind_version = version

    def _kind(self, args: list[str]) -> tuple[int, str, str]:
        return (0, f"kind {self.kind_version} go1.20 linux/amd64\n", "")


def test_kind_min_version_is_node_labels() -> None:
    # Node `labels` in the v1alpha4 config arrived in kind v0.11.0 (kind's config types.go).
    assert versions.KIND_MIN_VERSION == (0, 11, 0)
    old = kind_doctor.check_kind(KindAt("v0.10.0"))
    assert old.status == "fail" and "too old" in old.detail and "v0.11.0" in old.detail
    # v0.11.0 has labels: not a failure, only the warning about an older kind than pinned.
    assert kind_doctor.check_kind(KindAt("v0.11.0")).status == "warn"


def test_kind_older_than_the_pinned_release_warns() -> None:
    finding = kind_doctor.check_kind(KindAt("v0.27.0"))
    assert finding.status == "warn"
    assert f"older than {versions.KIND_VERSION}" in finding.detail
    assert kind_doctor.check_kind(KindAt(versions.KIND_VERSION)).status == "ok"


class KubectlAt(World):
    def __init__(self, output: str) -> None:
        super().__init__()
        self.kubectl_output = output

    def _kubectl(self, args: list[str]) -> tuple[int, str, str]:
        if args[:2] == ["version", "--client"]:
            return 0, self.kubectl_output, ""
        return super()._kubectl(args)


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("Client Version: v1.35.2\nKustomize Version: v5.7.1\n", (1, 35, 2)),
        (
            'Client Version: version.Info{Major:"1", Minor:"23", GitVersion:"v1.23.4", '
            'GitCommit:"e6c093d8"}\n',
            (1, 23, 4),
        ),
        ("error: unknown flag: --client\n", None),
    ],
)
def test_kubectl_client_versions(text: str, version: tuple[int, int, int] | None) -> None:
    assert doctor.parse_kubectl_client_version(text) == version


@pytest.mark.parametrize(
    ("client", "status"),
    [
        ("v1.33.9", "warn"),
        ("v1.34.0", "ok"),
        ("v1.35.1", "ok"),
        ("v1.36.0", "ok"),
        ("v1.37.0", "warn"),
    ],
)
def test_kubectl_skew_against_the_pinned_node_image(client: str, status: str) -> None:
    node = (1, 35, 0)  # the skew rule itself, independent of today's pin
    finding = doctor.check_kubectl(KubectlAt(f"Client Version: {client}\n"), node)
    assert finding.status == status, finding.detail
    if status == "warn":
        assert "version-skew-policy" in finding.detail
        assert "dl.k8s.io/release/v1.35.0/bin" in finding.fix


def test_doctor_warns_on_kubectl_skew_with_the_pinned_image(tmp_path: Path) -> None:
    major, minor, _ = versions.node_kubernetes_version()
    world = KubectlAt(f"Client Version: v{major}.{minor - 2}.0\n")
    findings = kind_doctor.run_checks(world, engine="calico", proc=tmp_path, cgroup_root=tmp_path)
    kubectl = next(f for f in findings if f.name == "kubectl")
    assert kubectl.status == "warn" and f"v{major}.{minor - 2}.0" in kubectl.detail
    assert doctor.healthy([kubectl])  # a skew is a warning, not a failed requirement
    # AKS chooses its own Kubernetes version: no skew check against the kind pin there.
    from provisioning.providers.aks.provider import AksProvider

    aks = doctor.run_checks(AksProvider(runner=world), LabSpec(provider="aks", engine="azure"))
    assert next(f for f in aks if f.name == "kubectl").status == "ok"


def test_pins_are_reported_with_sources_and_ranges() -> None:
    finding = kind_doctor.check_pins()
    assert finding.status == "ok" and not finding.required
    data = finding.as_dict()["data"]
    assert isinstance(data, dict)
    by_name = {p["name"]: p for p in data["pins"]}
    assert by_name["Cilium"]["version"] == versions.CILIUM_VERSION
    assert by_name["Cilium"]["tested_kubernetes"] == "1.33-1.36"
    assert "compatibility.rst" in str(by_name["Cilium"]["tested_source"])
    # Cilium 1.20's range was not read at its tag: the pin must say so, not hide it.
    assert "UNVERIFIED" in str(by_name["Cilium"]["tested_source"])
    crd = by_name["ClusterNetworkPolicy CRD"]
    assert crd["version"] == versions.NETWORK_POLICY_API_VERSION
    assert by_name["kind node image"]["version"] == versions.KIND_NODE_IMAGE
    text = doctor.render([finding])
    assert "tested range from tigera/docs" in text
    assert f"agnhost {versions.AGNHOST_VERSION}" in text


def test_pins_warn_when_the_node_image_leaves_an_engine_range() -> None:
    finding = kind_doctor.check_pins("kindest/node:v1.33.1@sha256:" + "0" * 64)
    assert finding.status == "warn"
    assert "Kubernetes 1.33" in finding.detail and "Calico" in finding.detail
    assert "Cilium" not in finding.detail  # 1.20 is tested on 1.33
    untagged = kind_doctor.check_pins("registry:5000/kindest/node@sha256:" + "0" * 64)
    assert untagged.status == "warn" and "cannot read" in untagged.detail
