"""The lab's own files: its kubeconfig, a small record of what the tool created, and a lock.

Where: ``<state root>/<lab>/``, the state root being ``$NETPOL_LAB_HOME``, else
``$XDG_STATE_HOME/netpol-lab``, else ``~/.local/state/netpol-lab``. The files the tool may write
there are listed, by name, in ``spec.LAB_FILES``; the names it actually wrote are kept in that
folder's ``netpol-lab-files.json``. Teardown removes exactly those, and the folder only when it is
then empty: a file the tool did not write is never removed, whatever its name, and is never
overwritten either (writing over it is refused with the path named).

The record is written *before* a cluster is created, so an interrupted ``up`` still leaves a note
that the cluster is the tool's: ``down`` can clean it and ``up`` can resume. Every write goes to a
temporary file in the same folder that is then renamed over the old one, so a crash leaves the old
file or the new one, never half of one. Files are mode 0600: the kubeconfig holds cluster-admin
credentials. ``lab_lock`` keeps two runs from changing one lab at once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from provisioning.errors import UsageError
from provisioning.spec import LAB_FILES, LabSpec

MANIFEST = "netpol-lab-files.json"
LOCK = "lock"
_TOOL = "netpol-lab"


def state_root_source() -> str:
    """Where the state root came from, for messages."""
    if os.environ.get("NETPOL_LAB_HOME"):
        return "NETPOL_LAB_HOME"
    if os.environ.get("XDG_STATE_HOME"):
        return "XDG_STATE_HOME"
    return "the default state folder"


def _write_failed(path: Path, exc: OSError) -> UsageError:
    return UsageError(
        f"cannot write {path}: {exc.strerror or exc}",
        hint=f"the lab's files live under {state_root_source()} ({_root_of(path)}); "
        "point NETPOL_LAB_HOME at a folder you can write to",
    )


def _root_of(path: Path) -> Path:
    from provisioning.spec import default_state_root

    return (
        default_state_root()
        if os.environ.get("NETPOL_LAB_HOME") is None
        else Path(os.environ["NETPOL_LAB_HOME"])
    )


def _folder_problem(spec: LabSpec) -> UsageError | None:
    """A state root or lab folder that exists but is not a folder."""
    for path, what in ((spec.state_root, "state root"), (spec.state_dir, "lab folder")):
        if path.exists() and not path.is_dir():
            if what == "state root":
                return UsageError(
                    f"{state_root_source()} points at {path}, which is a file, not a folder",
                    hint="set NETPOL_LAB_HOME to a folder; it is created if missing",
                )
            return UsageError(
                f"the lab folder {path} is a file, not a folder",
                hint="move that file away or choose another --name",
            )
        if not path.exists():
            break
    return None


def check_state_folder(spec: LabSpec) -> None:
    """Fail with one line when the lab's files cannot live where they are meant to."""
    if problem := _folder_problem(spec):
        raise problem


def write_private(path: Path, content: str | bytes) -> None:
    """Write a file only the user can read (0600) atomically, creating its folder (0700)."""
    data = content.encode() if isinstance(content, str) else content
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_failed(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates the file 0600
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _write_failed(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- which files are ours -----------------------------------------------------------------


def _manifest_path(spec: LabSpec) -> Path:
    return spec.state_dir / MANIFEST


def owned_files(spec: LabSpec) -> set[str]:
    """The names in the lab folder that this tool wrote (from its manifest).

    A lab folder from before the manifest existed holds a valid record of this lab: then the
    tool's file names present in it are taken as the tool's.
    """
    path = _manifest_path(spec)
    try:
        data = json.loads(path.read_text())
        names = data.get("files") if isinstance(data, dict) else None
        if isinstance(names, list):
            return {n for n in names if isinstance(n, str) and n in LAB_FILES}
        return set()
    except FileNotFoundError:
        pass
    except (OSError, ValueError):
        return set()
    record = _read_record(spec, strict=False)
    if record is not None and record.lab == spec.name:
        return {n for n in LAB_FILES if n != LOCK and (spec.state_dir / n).is_file()}
    return set()


def _save_manifest(spec: LabSpec, names: set[str]) -> None:
    path = _manifest_path(spec)
    if not names:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    doc = {
        "tool": _TOOL,
        "about": "the files in this folder that netpol-lab wrote; `invoke down` removes these",
        "files": sorted(names),
    }
    write_private(path, json.dumps(doc, indent=2) + "\n")


def claim(spec: LabSpec, name: str) -> Path:
    """Note that the tool is about to write lab file ``name``; return its path.

    Refuses (one line) when a file of that name exists that the tool did not write: it belongs
    to the user and is neither overwritten nor, later, removed.
    """
    check_state_folder(spec)
    path = spec.lab_file(name)
    owned = owned_files(spec)
    if name in owned:
        return path
    if path.exists() or path.is_symlink():
        raise UsageError(
            f"{path} exists and was not written by netpol-lab; leaving it alone",
            hint="move it away, or choose another --name or NETPOL_LAB_HOME",
        )
    _save_manifest(spec, owned | {name})
    return path


def write_lab_file(spec: LabSpec, name: str, content: str | bytes) -> Path:
    """Write one of the lab's own files (by its name in ``LAB_FILES``), atomically, 0600."""
    path = claim(spec, name)
    write_private(path, content)
    return path


# --- the record ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LabRecord:
    """What the tool remembers about one lab between runs."""

    lab: str
    provider: str
    engine: str
    cluster_created: bool  # the tool created (or began creating) the cluster
    phase: str  # "creating", "created", "ready"
    resource_group_created: bool = False  # AKS: the tool created the resource group
    scenario: str | None = None  # the scenario whose policies were last applied


def record_path(spec: LabSpec) -> Path:
    return spec.lab_file("state.json")


def load_record(spec: LabSpec) -> LabRecord | None:
    """The lab's record, or None when there is none (or it is damaged: a damaged record must not
    block teardown; ownership then comes from the cluster). A record that cannot be read at all
    (a folder, no permission, a state root that is a file) is one line saying so."""
    return _read_record(spec, strict=True)


def _read_record(spec: LabSpec, *, strict: bool) -> LabRecord | None:
    path = spec.state_dir / "state.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        if not strict:
            return None
        if problem := _folder_problem(spec):
            raise problem from None
        if isinstance(exc, IsADirectoryError):
            raise UsageError(
                f"the lab record {path} is a folder, not a file",
                hint="move that folder away; the tool writes its record there",
            ) from None
        if isinstance(exc, OSError) and exc.errno == errno.EACCES:
            raise UsageError(
                f"cannot read the lab record {path}: permission denied",
                hint="fix its permissions (it should be yours, mode 0600)",
            ) from None
        return None  # unreadable bytes: as damaged
    try:
        data = json.loads(text)
        known = {f.name for f in fields(LabRecord)}
        if not isinstance(data, dict) or not known.issuperset(data):
            return None
        record = LabRecord(**data)
    except (ValueError, TypeError):
        return None
    if not all(isinstance(v, str) for v in (record.lab, record.provider, record.engine)):
        return None
    return record


def save_record(spec: LabSpec, record: LabRecord) -> None:
    write_lab_file(spec, "state.json", json.dumps(asdict(record), indent=2) + "\n")


def remember_scenario(spec: LabSpec) -> None:
    """Note which scenario's policies the lab now carries (later runs default to it)."""
    record = load_record(spec)
    if record is not None and record.scenario != spec.scenario:
        save_record(spec, replace(record, scenario=spec.scenario))


# --- teardown -----------------------------------------------------------------------------


def forget(spec: LabSpec) -> list[str]:
    """Remove the lab's files after teardown: exactly the ones the tool wrote (and temporary
    files of its own interrupted writes), then the folder if nothing else is in it. Returns the
    names removed."""
    directory = spec.state_dir
    if not directory.is_dir():
        return []
    removed = []
    owned = owned_files(spec)
    for name in sorted(owned):
        path = directory / name
        if path.is_symlink() or not path.is_file():
            continue  # the tool writes regular files only; anything else is not its own
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(name)
    for leftover in directory.glob(".*.tmp"):  # write_private's temp files: .<name>.<random>.tmp
        stem = leftover.name[1:].rsplit(".", 2)[0]
        if stem in LAB_FILES or stem == MANIFEST:
            with contextlib.suppress(OSError):
                leftover.unlink()
    with contextlib.suppress(OSError):
        _save_manifest(spec, set())
    _remove_if_empty(directory)
    return removed


def _remove_if_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):
        directory.rmdir()  # fails on a non-empty folder: the user's files keep it


# --- one run at a time --------------------------------------------------------------------


@contextlib.contextmanager
def lab_lock(
    spec: LabSpec,
    command: str,
    *,
    note: Callable[[str], None] | None = None,
    optional: bool = False,
) -> Iterator[None]:
    """Hold the lab's lock while a task changes it. A second run exits 2 naming the holder (its
    PID and command); a lock left by a process that is gone is taken over, with a note.

    The lock is an advisory ``flock`` on ``<lab>/lock``, so the kernel releases it when its
    holder dies, however it dies; the file's content only names the holder for messages.
    With ``optional`` (``down``), a lab folder that does not exist and cannot be created means
    there is no state of the tool's to guard: the task runs without the lock.
    """
    import fcntl

    check_state_folder(spec)
    path = spec.lab_file(LOCK)
    try:
        spec.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        if optional:
            yield
            return
        raise _write_failed(spec.state_dir, exc) from None
    while True:
        _refuse_foreign_lock(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise _write_failed(path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise UsageError(
                f"lab {spec.name} is busy: {holder}",
                hint="wait for it to finish, or stop that process, then run this again",
            ) from None
        # The file may have been removed and re-created between open and flock by a run that
        # just finished: hold the lock only on the file that is at the path now.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        previous = _read_holder(fd)
        if previous and previous.get("pid") not in (None, os.getpid()) and note:
            note(
                f"took over the lock of lab {spec.name} left by PID {previous.get('pid')} "
                f"(`{previous.get('command')}`), which is no longer running"
            )
        from datetime import datetime, timezone

        holder = {
            "tool": _TOOL,
            "pid": os.getpid(),
            "command": command,
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                os.unlink(path)
        os.close(fd)
        if spec.state_dir.is_dir() and not owned_files(spec):
            with contextlib.suppress(OSError):
                _save_manifest(spec, set())
        _remove_if_empty(spec.state_dir)


def _refuse_foreign_lock(path: Path) -> None:
    """A file named ``lock`` that holds something other than this tool's note is the user's."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UsageError(
            f"{path} exists and was not written by netpol-lab; leaving it alone",
            hint="move it away, or choose another --name or NETPOL_LAB_HOME",
        )
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:4096]
    except FileNotFoundError:
        return
    except OSError:
        return
    if not text.strip():
        return  # created an instant ago by another run, before it wrote its note
    try:
        ours = json.loads(text).get("tool") == _TOOL
    except (ValueError, AttributeError):
        ours = False
    if not ours:
        raise UsageError(
            f"{path} exists and was not written by netpol-lab; leaving it alone",
            hint="move it away, or choose another --name or NETPOL_LAB_HOME",
        )


def _read_holder(fd: int) -> dict | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _holder(fd: int) -> str:
    data = _read_holder(fd)
    if not data:
        return "another netpol-lab run holds its lock"
    return f"PID {data.get('pid')} is running `{data.get('command')}` (since {data.get('since')})"
