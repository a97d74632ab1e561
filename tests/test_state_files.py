"""The tool deletes only what it wrote, writes atomically, and keeps two runs of one lab apart.

Issue 8 §1: user files planted in the state root, in the lab's folder, in a sub-folder of it, and
a file named like one of ours in another lab's folder must survive every task byte for byte:
``down`` with no lab, with a lab, ``--keep-cluster``, twice, after an interrupted ``up``; ``up``
and its resume; ``plan``; ``status``. The real pipeline runs on the simulated machine
(tests/fake_world.py); the lock is tested with real processes.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioning.errors import UsageError
from provisioning.lab import pipeline, state
from provisioning.lab.teardown import down
from provisioning.progress import Progress
from provisioning.providers.kind.provider import KindProvider
from provisioning.spec import LAB_FILES, LabSpec
from tests.fake_world import World

ROOT = Path(__file__).resolve().parents[1]


def ctx_for(world: World, root: Path, name: str = "lab1") -> pipeline.Context:
    spec = LabSpec(state_root=root, name=name)
    provider = KindProvider(world, kube_factory=world.kube_factory())
    ctx = pipeline.build_context(
        spec, world, Progress(io.StringIO(), spinner=False), provider=provider
    )
    ctx.sleep = lambda _s: None
    return ctx


def plant(root: Path) -> dict[Path, bytes]:
    """The user's own files, some in the tool's places, some named like the tool's files."""
    files = {
        root / "notes.txt": b"my notes\n",
        root / "lab1" / "todo.txt": b"todo: finish the workshop\n",
        root / "lab1" / "sub" / "deep.bin": bytes(range(256)),
        root / "other" / "kubeconfig": b"apiVersion: v1\nkind: Config\n# the user's own\n",
        root / "other" / "state.json": b'{"lab": "other", "mine": true}\n',
        root / "notes" / "todo.txt": b"mine\n",
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def assert_intact(files: dict[Path, bytes]) -> None:
    for path, data in files.items():
        assert path.read_bytes() == data, f"{path} was changed or removed"


def ours_left(root: Path, name: str = "lab1") -> set[str]:
    folder = root / name
    if not folder.exists():
        return set()
    return {p.name for p in folder.iterdir() if p.name in LAB_FILES or p.name == state.MANIFEST}


def run_down(ctx: pipeline.Context, **kw: object) -> object:
    return down(ctx.spec, ctx.provider, ctx.progress, yes=True, poll_interval=0, **kw)


# Each scenario runs a sequence of tasks over the planted files; the files must all survive.
def _down_no_lab(world: World, root: Path) -> None:
    run_down(ctx_for(world, root, "notes"))  # the reproduction: a user folder "notes"
    run_down(ctx_for(world, root, "lab1"))


def _down_without_kind(world: World, root: Path) -> None:
    world.programs.discard("kind")
    run_down(ctx_for(world, root, "notes"))
    run_down(ctx_for(world, root, "lab1"))


def _up_then_down_twice(world: World, root: Path) -> None:
    pipeline.up(ctx_for(world, root))
    assert {"state.json", "kubeconfig", "kind-config.yaml"} <= ours_left(root)
    run_down(ctx_for(world, root))
    assert ours_left(root) == set()
    run_down(ctx_for(world, root))


def _keep_cluster(world: World, root: Path) -> None:
    pipeline.up(ctx_for(world, root))
    run_down(ctx_for(world, root), keep_cluster=True)
    assert "lab1" in world.clusters
    run_down(ctx_for(world, root))


def _interrupted_up_resume_and_down(world: World, root: Path) -> None:
    world.interrupt.add("kubectl --kubeconfig")
    with pytest.raises(KeyboardInterrupt):
        pipeline.up(ctx_for(world, root))
    pipeline.up(ctx_for(world, root))  # resume
    run_down(ctx_for(world, root))


def _interrupted_up_then_down(world: World, root: Path) -> None:
    world.interrupt.add("kind create cluster")
    with pytest.raises(KeyboardInterrupt):
        pipeline.up(ctx_for(world, root))
    run_down(ctx_for(world, root))
    assert ours_left(root) == set()


def _plan_and_status(world: World, root: Path) -> None:
    ctx = ctx_for(world, root)
    pipeline.plan_for(ctx, validate=True)
    ctx.provider.observe(ctx.spec)
    pipeline.up(ctx_for(world, root))
    ctx = ctx_for(world, root)
    pipeline.plan_for(ctx, validate=True)
    ctx.provider.observe(ctx.spec)


SCENARIOS: dict[str, Callable[[World, Path], None]] = {
    "down-with-no-lab": _down_no_lab,
    "down-without-kind": _down_without_kind,
    "up-then-down-twice": _up_then_down_twice,
    "down-keep-cluster": _keep_cluster,
    "interrupted-up-resumed-then-down": _interrupted_up_resume_and_down,
    "interrupted-create-then-down": _interrupted_up_then_down,
    "plan-and-status": _plan_and_status,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_planted_user_files_survive_every_task(tmp_path: Path, scenario: str) -> None:
    root = tmp_path / "home"
    files = plant(root)
    SCENARIOS[scenario](World(), root)
    assert_intact(files)
    assert (root / "lab1").is_dir()  # the user's files keep the lab folder


def test_a_users_file_named_like_ours_is_neither_overwritten_nor_removed(tmp_path: Path) -> None:
    root = tmp_path / "home"
    mine = root / "lab1" / "kubeconfig"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"the user's own kubeconfig\n")
    world = World()
    with pytest.raises(UsageError, match=r"lab1/kubeconfig exists and was not written by"):
        pipeline.up(ctx_for(world, root))
    run_down(ctx_for(world, root))
    assert mine.read_bytes() == b"the user's own kubeconfig\n"


def test_down_removes_exactly_the_files_it_wrote_and_then_the_empty_folder(
    tmp_path: Path,
) -> None:
    root = tmp_path / "home"
    world = World()
    ctx = ctx_for(world, root)
    pipeline.up(ctx)
    manifest = json.loads((root / "lab1" / state.MANIFEST).read_text())
    assert set(manifest["files"]) == {"state.json", "kubeconfig", "kind-config.yaml"}
    assert manifest["lab"] == "lab1" and all(e["id"] for e in manifest["files"].values())
    leftover = root / "lab1" / ".kubeconfig.netpol-lab-abc123xy.tmp"  # interrupted write of ours
    leftover.write_text("half")
    run_down(ctx_for(world, root))
    assert not (root / "lab1").exists()
    assert root.is_dir() and list(root.iterdir()) == []  # the state root itself stays


def test_a_lab_folder_from_before_the_manifest_is_still_cleaned(tmp_path: Path) -> None:
    root = tmp_path / "home"
    world = World()
    pipeline.up(ctx_for(world, root))
    (root / "lab1" / state.MANIFEST).unlink()  # as an older version left it
    (root / "lab1" / "todo.txt").write_text("mine")
    run_down(ctx_for(world, root))
    assert {p.name for p in (root / "lab1").iterdir()} == {"todo.txt"}


def test_writes_are_atomic_a_failed_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = LabSpec(state_root=tmp_path, name="lab1")
    state.write_lab_file(spec, "kubeconfig", "old\n")

    def crash(*_a: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state.os, "replace", crash)
    with pytest.raises(UsageError, match=r"cannot write .*: No space left on device"):
        state.write_lab_file(spec, "kubeconfig", "new and longer\n")
    assert spec.kubeconfig.read_text() == "old\n"
    assert sorted(p.name for p in spec.state_dir.iterdir()) == ["kubeconfig", state.MANIFEST]
    assert (spec.kubeconfig.stat().st_mode & 0o777) == 0o600


# --- the lock, with real processes -----------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from provisioning.spec import LabSpec
from provisioning.lab.state import lab_lock
spec = LabSpec(state_root=Path(sys.argv[1]), name="lab1")
with lab_lock(spec, "invoke up --engine cilium"):
    print("held", flush=True)
    time.sleep(60)
"""


def _invoke(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NETPOL_LAB_HOME": str(root), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _hold(root: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_on_a_busy_lab_exits_2_naming_the_holder(tmp_path: Path) -> None:
    root = tmp_path / "home"
    holder = _hold(root)
    try:
        for task in (("down", "--name", "lab1"), ("up", "--name", "lab1", "--no-validate")):
            result = _invoke(root, *task)
            assert result.returncode == 2, result.stderr
            assert f"lab lab1 is busy: PID {holder.pid} is running `invoke up --engine cilium`" in (
                result.stderr
            )
            assert "Traceback" not in result.stderr + result.stdout
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_note(tmp_path: Path) -> None:
    root = tmp_path / "home"
    holder = _hold(root)
    holder.send_signal(signal.SIGKILL)  # dies holding it: no cleanup ran
    holder.wait()
    assert (root / "lab1" / "lock").exists()
    result = _invoke(root, "down", "--name", "lab1")
    assert result.returncode == 0, result.stderr
    assert f"took over the lock of lab lab1 left by PID {holder.pid}" in result.stderr
    assert not (root / "lab1").exists()  # lock released, nothing of ours left, folder gone


def test_the_lock_is_released_when_the_task_ends(tmp_path: Path) -> None:
    root = tmp_path / "home"
    (root / "lab1").mkdir(parents=True)
    (root / "lab1" / "todo.txt").write_text("mine")
    first = _invoke(root, "down", "--name", "lab1")
    second = _invoke(root, "down", "--name", "lab1")
    assert first.returncode == second.returncode == 0
    assert "busy" not in second.stderr
    assert {p.name for p in (root / "lab1").iterdir()} == {"todo.txt"}


def test_a_users_file_named_lock_is_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "home"
    (root / "lab1").mkdir(parents=True)
    (root / "lab1" / "lock").write_text("my padlock inventory\n")
    result = _invoke(root, "down", "--name", "lab1")
    assert result.returncode == 2
    assert "lab1/lock exists and was not written by netpol-lab" in result.stderr
    assert (root / "lab1" / "lock").read_text() == "my padlock inventory\n"


def test_holding_the_lock_in_process_blocks_another_holder(tmp_path: Path) -> None:
    spec = LabSpec(state_root=tmp_path, name="lab1")
    holder = _hold(tmp_path)
    try:  # refused at once (a wait would outlast the holder's 60 s and the test's timeout)
        with pytest.raises(UsageError, match="is busy"), state.lab_lock(spec, "invoke down"):
            pass
    finally:
        holder.kill()
        holder.wait()


WRITER = """
import sys
from pathlib import Path
from provisioning.spec import LabSpec
from provisioning.lab.state import write_lab_file
spec = LabSpec(state_root=Path(sys.argv[1]), name="lab1")
print("writing", flush=True)
n = 0
while True:
    write_lab_file(spec, "kubeconfig", ("ab"[n % 2]) * 4_000_000)
    n += 1
"""


def test_a_writer_killed_at_any_moment_leaves_a_whole_file(tmp_path: Path) -> None:
    """A real process rewriting the kubeconfig in a loop is SIGKILLed mid-run: the file is then
    one whole version (4 MB of 'a' or of 'b'), never a truncated or mixed one."""
    spec = LabSpec(state_root=tmp_path, name="lab1")
    for delay in (0.05, 0.2, 0.45):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        time.sleep(delay)  # when to kill it, not an assertion on speed
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        if spec.kubeconfig.exists():
            data = spec.kubeconfig.read_bytes()
            assert len(data) == 4_000_000 and len(set(data)) == 1, (delay, len(data))
    state.forget(spec)  # its temp files are the tool's own and go too
    assert not spec.state_dir.exists()


def test_ctrl_c_at_a_confirmation_says_nothing_was_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from provisioning.errors import Interrupted
    from provisioning.lab import confirm

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

        def readline(self, *_a: object) -> str:
            raise KeyboardInterrupt

    monkeypatch.setattr(confirm.sys, "stdin", Terminal())
    monkeypatch.setattr(confirm.sys, "stderr", io.StringIO())
    ask = confirm.terminal_confirm()
    assert ask is not None
    with pytest.raises(Interrupted, match="nothing was changed") as info:
        confirm.require_confirmation("Delete kind cluster 'x'", yes=False, confirm=ask)
    assert info.value.exit_code == 130


HOSTILE_FOLDERS: dict[str, dict[str, bytes | None]] = {
    # A user's own file named like our manifest, listing a file it wants us to remove.
    "fake-manifest": {
        "netpol-lab-files.json": b'{"files": ["kubeconfig"], "folder_created": true}\n',
        "kubeconfig": b"the user's kubeconfig\n",
    },
    "manifest-not-json": {"netpol-lab-files.json": b"my notes, not JSON\n"},
    "temp-lookalikes": {
        ".kubeconfig.backup.tmp": b"precious\n",
        ".kubeconfig.backup12.tmp": b"precious too\n",
        ".lock.mybackup.tmp": b"mine\n",
        ".netpol-lab-files.json.20240101.tmp": b"mine too\n",
    },
    # A manifest that says all the right words, written in another folder (or by hand).
    "forged-manifest": {
        "netpol-lab-files.json": b'{"tool": "netpol-lab", "lab": "forged-manifest", '
        b'"folder": [1, 2], "folder_created": true, "files": {"kubeconfig": null}}\n',
        "kubeconfig": b"the user's kubeconfig\n",
    },
    "empty-user-folder": {},
    "state-json-of-another-lab": {
        "state.json": b'{"lab": "elsewhere", "provider": "kind", "engine": "calico", '
        b'"cluster_created": true, "phase": "ready"}\n',
    },
}


@pytest.mark.parametrize("folder", list(HOSTILE_FOLDERS))
def test_down_in_a_users_folder_touches_nothing(tmp_path: Path, folder: str) -> None:
    root = tmp_path / "home"
    planted = {root / folder / name: data for name, data in HOSTILE_FOLDERS[folder].items()}
    (root / folder).mkdir(parents=True)
    for path, data in planted.items():
        path.write_bytes(data or b"")
    for _ in range(2):
        result = _invoke(root, "down", "--name", folder)
        assert result.returncode == 0, result.stderr
    assert (root / folder).is_dir()  # not the tool's folder: never removed, even when empty
    assert sorted(p.name for p in (root / folder).iterdir()) == sorted(HOSTILE_FOLDERS[folder])
    assert_intact({p: d or b"" for p, d in planted.items()})


def test_an_empty_file_named_lock_is_the_users(tmp_path: Path) -> None:
    root = tmp_path / "home"
    (root / "lab1").mkdir(parents=True)
    (root / "lab1" / "lock").write_bytes(b"")
    result = _invoke(root, "down", "--name", "lab1")
    assert result.returncode == 2
    assert "lab1/lock exists and was not written by netpol-lab" in result.stderr
    assert (root / "lab1" / "lock").read_bytes() == b""


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"[" * 100_000, id="deeply-nested"),
        pytest.param(b'{"lab": "lab1", "scenario": ["x"]}', id="wrong-types"),
        pytest.param(bytes(range(256)) * 1000, id="binary"),
        pytest.param(
            b'{"lab": "lab1", "provider": "kind", "engine": "calico", '
            b'"cluster_created": "no", "phase": "ready"}',
            id="string-for-bool",
        ),
    ],
)
def test_a_hostile_record_never_blocks_status_or_down(tmp_path: Path, content: bytes) -> None:
    root = tmp_path / "home"
    (root / "lab1").mkdir(parents=True)
    (root / "lab1" / "state.json").write_bytes(content)
    spec = LabSpec(state_root=root, name="lab1")
    assert state.load_record(spec) is None  # damaged: not trusted
    for task in (("status", "--name", "lab1"), ("down", "--name", "lab1")):
        result = _invoke(root, *task)
        assert "Traceback" not in result.stderr + result.stdout
        assert result.returncode in (0, 1), result.stderr  # 1: status cannot observe (no kind)
    assert (root / "lab1" / "state.json").read_bytes() == content  # not the tool's: kept


def test_observing_a_cluster_that_is_not_the_labs_leaves_no_file_behind(tmp_path: Path) -> None:
    """`status` or `plan` on a kind cluster the tool did not create must not keep its
    credentials (nor a lab folder) around: `down` would refuse to clean them."""
    root = tmp_path / "home"
    world = World()
    world.user_cluster("lab1")
    ctx = ctx_for(world, root)
    observed = ctx.provider.observe(ctx.spec)
    assert observed.owned is False
    assert not (root / "lab1").exists()


def test_a_file_the_user_put_in_place_of_ours_is_theirs(tmp_path: Path) -> None:
    """After `up`, the user replaces the lab's kubeconfig with their own: observing the lab
    (status, plan, down) stops and says so, and the file is left as it is."""
    root = tmp_path / "home"
    world = World()
    pipeline.up(ctx_for(world, root))
    mine = root / "lab1" / "kubeconfig"
    mine.unlink()
    mine.write_bytes(b"my own kubeconfig\n")
    with pytest.raises(UsageError, match="kubeconfig exists and was not written by netpol-lab"):
        ctx_for(world, root).provider.observe(ctx_for(world, root).spec)
    with pytest.raises(UsageError, match="kubeconfig exists and was not written by netpol-lab"):
        run_down(ctx_for(world, root))
    assert mine.read_bytes() == b"my own kubeconfig\n"


def test_a_copied_or_renamed_lab_folder_is_not_the_tools(tmp_path: Path) -> None:
    root = tmp_path / "home"
    world = World()
    pipeline.up(ctx_for(world, root))
    import shutil

    shutil.copytree(root / "lab1", root / "backup")
    (root / "lab1").rename(root / "lab1-renamed")
    for name in ("backup", "lab1-renamed"):
        before = sorted(p.name for p in (root / name).iterdir())
        result = _invoke(root, "down", "--name", name)
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in (root / name).iterdir()) == before


def test_a_hostile_lock_note_is_one_line(tmp_path: Path) -> None:
    root = tmp_path / "home"
    (root / "lab1").mkdir(parents=True)
    (root / "lab1" / "lock").write_text(
        '{"tool": "netpol-lab", "pid": 99999999999999999999, "command": "x"}'
    )
    result = _invoke(root, "down", "--name", "lab1")
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr


def test_a_lock_whose_pid_now_belongs_to_another_process_is_taken_over_with_a_note(
    tmp_path: Path,
) -> None:
    """The flock is free, so its run is gone, even though its PID now names a live process."""
    spec = LabSpec(state_root=tmp_path, name="lab1")
    spec.state_dir.mkdir(parents=True)
    alive = os.getppid()  # certainly running: the process that started this test
    (spec.state_dir / "lock").write_text(
        json.dumps({"tool": "netpol-lab", "pid": alive, "command": "invoke up", "since": "T"})
    )
    notes: list[str] = []
    with state.lab_lock(spec, "invoke down", note=notes.append):
        pass
    assert notes and f"left by PID {alive}" in notes[0] and "no longer running" in notes[0]


def test_plan_and_status_only_look_they_write_nothing_in_the_lab_folder(tmp_path: Path) -> None:
    """Read-only observation reads the cluster through a private temporary kubeconfig: the lab's
    folder stays byte for byte as `up` left it, and no folder appears for a lab not made here."""
    root = tmp_path / "home"
    world = World()
    pipeline.up(ctx_for(world, root))
    before = {p.name: p.read_bytes() for p in (root / "lab1").iterdir()}
    for _ in range(2):
        spec = LabSpec(state_root=root, name="lab1")
        provider = KindProvider(world, kube_factory=world.kube_factory(), read_only=True)
        observed = provider.observe(spec)
        assert observed.owned is True and observed.engine_ready
    assert {p.name: p.read_bytes() for p in (root / "lab1").iterdir()} == before
    world.user_cluster("theirs")
    spec = LabSpec(state_root=root, name="theirs")
    KindProvider(world, kube_factory=world.kube_factory(), read_only=True).observe(spec)
    assert not (root / "theirs").exists()
