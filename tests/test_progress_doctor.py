"""Progress lines (spinner on a terminal, plain lines in CI) and the doctor's checks."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from provisioning import doctor
from provisioning.progress import Progress, want_spinner
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
    findings = doctor.run_checks(World(), engine="cilium", proc=proc, cgroup_root=cgroup)
    assert [f.status for f in findings] == ["ok"] * 6, doctor.render(findings)
    assert doctor.healthy(findings)
    assert "kind v0.32.0" in doctor.render(findings)


def test_doctor_says_how_to_fix_each_problem(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "sys/fs/inotify").mkdir(parents=True)
    (proc / "sys/fs/inotify/max_user_watches").write_text("8192\n")
    (proc / "sys/fs/inotify/max_user_instances").write_text("128\n")
    world = World(programs={"docker", "kubectl"}, docker_running=False)
    findings = doctor.run_checks(world, engine="cilium", proc=proc, cgroup_root=tmp_path)
    by_name = {f.name: f for f in findings}
    assert by_name["docker"].status == "fail" and "systemctl start docker" in by_name["docker"].fix
    assert by_name["kind"].status == "fail" and "v0.32.0" in by_name["kind"].fix
    assert by_name["helm or cilium CLI"].status == "fail"
    assert by_name["inotify limits"].status == "warn"
    assert "max_user_watches=524288" in by_name["inotify limits"].fix
    assert by_name["cgroup version"].status == "fail"
    assert not doctor.healthy(findings)
    text = doctor.render(findings)
    assert "fix: sudo sysctl" in text and "not ready:" in text


def test_helm_is_optional_for_calico() -> None:
    finding = doctor.check_cilium_installer(World(programs={"kind"}), "calico")
    assert finding.status == "skip" and not finding.required


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("kind v0.32.0 go1.24.2 linux/amd64", (0, 32, 0)),
        ("kind version 0.19.0", None),
        ("kind v0.19.0 go1.20 linux/amd64", (0, 19, 0)),
    ],
)
def test_kind_versions(text: str, version: tuple[int, int, int] | None) -> None:
    assert doctor.parse_kind_version(text) == version


def test_old_kind_fails() -> None:
    class Old(World):
        def _kind(self, args: list[str]) -> tuple[int, str]:
            return (0, "kind v0.19.0 go1.20 linux/amd64\n")

    finding = doctor.check_kind(Old())
    assert finding.status == "fail" and "too old" in finding.detail


def test_kind_older_than_the_pinned_release_warns() -> None:
    class Older(World):
        def _kind(self, args: list[str]) -> tuple[int, str]:
            return (0, "kind v0.27.0 go1.23 linux/amd64\n")

    finding = doctor.check_kind(Older())
    assert finding.status == "warn" and "older than v0.32.0" in finding.detail
