"""The lab's own files: its kubeconfig, a small record of what the tool created, and a lock.

Where: ``<state root>/<lab>/``, the state root being ``$NETPOL_LAB_HOME``, else
``$XDG_STATE_HOME/netpol-lab``, else ``~/.local/state/netpol-lab``. The files the tool may write
there are listed, by name, in ``spec.LAB_FILES``; the names it actually wrote are kept in that
folder's ``netpol-lab-files.json`` (with ``"tool": "netpol-lab"``, and whether the tool created
the folder). Teardown removes exactly those, and the folder only when the tool created it and it
is then empty: a file or folder the tool did not write is never removed, whatever its name, and
is never overwritten either (writing over it is refused with the path named).

The record is written *before* a cluster is created, so an interrupted ``up`` still leaves a note
that the cluster is the tool's: ``down`` can clean it and ``up`` can resume. Every write goes to a
temporary file in the same folder that is then renamed over the old one, so a crash leaves the old
file or the new one, never half of one. Files are mode 0600: the kubeconfig holds cluster-admin
credentials. ``lab_lock`` keeps two runs from changing one lab at once. Everything read back
(record, manifest, lock) is read within a small bound and checked field by field: a hostile or
damaged file there is treated as not the tool's, never trusted and never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from provisioning.errors import LabError, UsageError
from provisioning.spec import LAB_FILES, LabSpec

MANIFEST = "netpol-lab-files.json"
LOCK = "lock"
_TOOL = "netpol-lab"
_SMALL = 64 * 1024  # record, manifest and lock are a few hundred bytes
# write_private's temporary files: tempfile.mkstemp(prefix=".<name>.netpol-lab-", suffix=".tmp")
# uses 8
# characters of [a-z0-9_] (CPython Lib/tempfile.py, _RandomNameSequence).
_TEMP_RE = re.compile(r"^\.(?P<stem>.+)\.netpol-lab-[a-z0-9_]{8}\.tmp$")
_CREATED_HERE: set[Path] = set()  # lab folders this process created
Identity = tuple[int, int, int, int]  # device, inode, size, modification time (ns)


def state_root_source() -> str:
    """Where the state root came from, for messages."""
    if os.environ.get("NETPOL_LAB_HOME"):
        return "NETPOL_LAB_HOME"
    if os.environ.get("XDG_STATE_HOME"):
        return "XDG_STATE_HOME"
    return "the default state folder"


def _write_failed(path: Path, exc: OSError) -> UsageError:
    from provisioning.spec import default_state_root

    return UsageError(
        f"cannot write {path}: {exc.strerror or exc}",
        hint=f"the lab's files live under {state_root_source()} ({default_state_root()}); "
        "point NETPOL_LAB_HOME at a folder you can write to",
    )


def _kind_of(path: Path) -> str | None:
    """'folder', 'file', 'other', None (absent); never raises (too long, no permission)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        try:
            mode = path.stat().st_mode
        except OSError:
            return "other"
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else "other"


def _folder_problem(spec: LabSpec) -> UsageError | None:
    """A state root or lab folder that exists but is not a folder."""
    for path, what in ((spec.state_root, "state root"), (spec.state_dir, "lab folder")):
        kind = _kind_of(path)
        if kind is None:
            break
        if kind != "folder":
            if what == "state root":
                return UsageError(
                    f"{state_root_source()} points at {path}, which is a file, not a folder",
                    hint="set NETPOL_LAB_HOME to a folder; it is created if missing",
                )
            return UsageError(
                f"the lab folder {path} is a file, not a folder",
                hint="move that file away or choose another --name",
            )
    return None


def check_state_folder(spec: LabSpec) -> None:
    """Fail with one line when the lab's files cannot live where they are meant to."""
    if problem := _folder_problem(spec):
        raise problem


def _ensure_folder(spec: LabSpec) -> None:
    """Create the lab folder (0700) if missing, remembering that this process created it."""
    check_state_folder(spec)
    if spec.state_dir.is_dir():
        return
    try:
        spec.state_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        spec.state_dir.mkdir(mode=0o700)
    except FileExistsError:
        return
    except OSError as exc:
        raise _write_failed(spec.state_dir, exc) from None
    _CREATED_HERE.add(spec.state_dir)
    # Noted at once, so a later run (after this one died) still knows the folder is the tool's.
    _save_manifest(spec, {}, folder_created=True)


def _read_small(path: Path, limit: int = _SMALL) -> str | None:
    """A small file's text (None when absent); a non-regular file, or one past ``limit``
    bytes, reads as a value no check accepts, so it is treated as not the tool's."""
    from provisioning.documents import read_at_most

    kind = _kind_of(path)
    if kind is None:
        return None
    if kind != "file" or path.is_symlink():
        return "\0not a regular file"
    try:
        data = read_at_most(path, limit + 1)
    except FileNotFoundError:
        return None  # removed since we looked (another run released its lock)
    except OSError:
        return "\0unreadable"
    if len(data) > limit:
        return "\0too large"
    return data.decode("utf-8", "replace")


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return "\0not JSON"


def write_private(
    path: Path,
    content: str | bytes,
    *,
    before_rename: Callable[[Identity], None] | None = None,
    mode: int = 0o600,
    folder_mode: int = 0o700,
    failed: Callable[[Path, OSError], LabError] | None = None,
) -> Identity:
    """Write a file only the user can read (0600, or ``mode``) atomically, creating its folder
    (0700, or ``folder_mode``): a reader sees the old file or the new one, never half of one.

    ``before_rename`` gets the new file's identity before it replaces the old one (a rename
    keeps device, inode, size and modification time), so the manifest can know both versions
    at the only moment either may be at the path. Returns that identity. A failure leaves
    neither a partial file nor the temporary one and is one line: ``failed(path, error)``, by
    default the lab folder's.
    """
    failed = failed or _write_failed
    data = content.encode() if isinstance(content, str) else content
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=folder_mode)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_TOOL}-", suffix=".tmp")
    except OSError as exc:
        raise failed(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp creates the file 0600 less the umask; the mode is set whatever the umask.
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            st = os.fstat(handle.fileno())
        ident: Identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if before_rename is not None:
            before_rename(ident)
        os.replace(tmp, path)
        return ident
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise failed(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- which files are ours -----------------------------------------------------------------
#
# The manifest names the lab and the folder it was written in (device and inode), and records,
# for each file the tool wrote, that file's identity (device, inode, size, modification time)
# right after writing it. A file is the tool's only while it still is that file: a user's file
# put in its place, a copied or renamed lab folder, or a folder reached through another lab's
# name is not the tool's, and is neither overwritten nor removed. (A manifest forged down to
# the inode numbers would pass; nothing less does.)


@dataclass(frozen=True)
class _Entry:
    """One file the tool wrote: its identity, and the one a write in progress is putting in
    place (either may be at the path after a crash). Both None: claimed, not yet known."""

    current: Identity | None = None
    pending: Identity | None = None

    def as_json(self) -> dict[str, list[int] | None]:
        return {
            "id": list(self.current) if self.current else None,
            "pending": list(self.pending) if self.pending else None,
        }


def _ident_from(value: Any) -> Identity | None:
    if isinstance(value, list) and len(value) == 4 and all(type(x) is int for x in value):
        return (value[0], value[1], value[2], value[3])
    return None


@dataclass(frozen=True)
class _Manifest:
    files: dict[str, _Entry]  # the tool's files
    folder_created: bool  # the tool created the lab folder
    present: bool  # the manifest file exists and is the tool's
    foreign: bool  # a file of that name exists that is not this lab's manifest


def _identity(path: Path) -> Identity | None:
    try:
        st = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _folder_identity(spec: LabSpec) -> list[int] | None:
    try:
        st = spec.state_dir.stat()
    except OSError:
        return None
    return [st.st_dev, st.st_ino]


def _manifest_path(spec: LabSpec) -> Path:
    return spec.state_dir / MANIFEST


def _drop_manifest(spec: LabSpec) -> None:
    """Remove the manifest (only ever called once it is known to be the tool's)."""
    with contextlib.suppress(FileNotFoundError):
        _manifest_path(spec).unlink()


def _manifest(spec: LabSpec) -> _Manifest:
    path = _manifest_path(spec)
    if _kind_of(path) is None and not path.is_symlink():
        # A lab folder from before the manifest existed: its valid record of this lab makes the
        # tool's file names present in it (and the folder) the tool's.
        if _read_record(spec, strict=False) is not None:
            names = {
                n: _Entry(_identity(spec.state_dir / n))
                for n in LAB_FILES
                if n != LOCK and _kind_of(spec.state_dir / n) == "file"
            }
            return _Manifest(names, True, False, False)
        return _Manifest({}, False, False, False)
    data = _json(_read_small(path))
    files = data.get("files") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or data.get("tool") != _TOOL
        or data.get("lab") != spec.name
        or data.get("folder") != _folder_identity(spec)
        or not isinstance(files, dict)
    ):
        return _Manifest({}, False, False, True)
    names: dict[str, _Entry] = {}
    for name, entry in files.items():
        if not isinstance(name, str) or name not in LAB_FILES or name == LOCK:
            continue
        entry = entry if isinstance(entry, dict) else {}
        names[name] = _Entry(_ident_from(entry.get("id")), _ident_from(entry.get("pending")))
    return _Manifest(names, data.get("folder_created") is True, True, False)


def _still_ours(path: Path, entry: _Entry) -> bool:
    """The file at ``path`` is one the tool wrote (a regular file, never a symlink)."""
    if path.is_symlink() or _kind_of(path) != "file":
        return False
    if entry.current is None and entry.pending is None:
        return True  # claimed just before kind (or an interrupted first write) wrote it
    return _identity(path) in (entry.current, entry.pending)


def owned_files(spec: LabSpec) -> set[str]:
    """The names in the lab folder that this tool wrote and that are still the files it wrote."""
    manifest = _manifest(spec)
    return {n for n, i in manifest.files.items() if _still_ours(spec.state_dir / n, i)}


def _foreign(path: Path) -> UsageError:
    return UsageError(
        f"{path} exists and was not written by netpol-lab; leaving it alone",
        hint="move it away, or choose another --name or NETPOL_LAB_HOME",
    )


def _save_manifest(spec: LabSpec, files: dict[str, _Entry], *, folder_created: bool) -> None:
    current = _manifest(spec)
    if current.foreign:
        raise _foreign(_manifest_path(spec))
    if not files and not folder_created:
        if current.present:
            _drop_manifest(spec)
        return
    doc = {
        "tool": _TOOL,
        "about": "the files in this folder that netpol-lab wrote; `invoke down` removes these",
        "lab": spec.name,
        "folder": _folder_identity(spec),
        "folder_created": folder_created,
        "files": {n: e.as_json() for n, e in sorted(files.items())},
    }
    write_private(_manifest_path(spec), json.dumps(doc, indent=2) + "\n")


def _tool_made_folder(spec: LabSpec, manifest: _Manifest) -> bool:
    return manifest.folder_created or spec.state_dir in _CREATED_HERE


def claim(spec: LabSpec, name: str) -> Path:
    """Note that the tool is about to write lab file ``name``; return its path.

    Refuses (one line) when a file of that name exists that the tool did not write (or that was
    replaced since): it belongs to the user and is neither overwritten nor, later, removed.
    """
    _ensure_folder(spec)
    path = spec.lab_file(name)
    manifest = _manifest(spec)
    if manifest.foreign:
        raise _foreign(_manifest_path(spec))
    exists = _kind_of(path) is not None or path.is_symlink()
    if name in manifest.files:
        if exists and not _still_ours(path, manifest.files[name]):
            raise _foreign(path)
        return path
    if exists:
        raise _foreign(path)
    _save_manifest(
        spec, {**manifest.files, name: _Entry()}, folder_created=_tool_made_folder(spec, manifest)
    )
    return path


def note_written(
    spec: LabSpec, name: str, ident: Identity | None = None, *, pending: bool = False
) -> None:
    """Record the identity of lab file ``name`` (by default: the file now at its path, as after
    kind wrote it). With ``pending``, the identity of a write about to be renamed into place."""
    manifest = _manifest(spec)
    if manifest.foreign or name not in manifest.files:
        return
    ident = ident if ident is not None else _identity(spec.lab_file(name))
    old = manifest.files[name]
    entry = _Entry(old.current, ident) if pending else _Entry(ident, None)
    if entry != old:
        _save_manifest(
            spec, {**manifest.files, name: entry}, folder_created=_tool_made_folder(spec, manifest)
        )


def discard(spec: LabSpec, name: str) -> None:
    """Remove one of the tool's own files (and its manifest entry); the folder if it is then
    empty and the tool's. Nothing happens to a file the tool did not write."""
    manifest = _manifest(spec)
    if manifest.foreign or name not in manifest.files:
        return
    path = spec.lab_file(name)
    if _still_ours(path, manifest.files[name]):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    elif _kind_of(path) is not None:
        return  # replaced by someone else's file: leave it, and its entry
    folder_created = _tool_made_folder(spec, manifest)
    remaining = {n: i for n, i in manifest.files.items() if n != name}
    if remaining or not folder_created or _kind_of(spec.lab_file(LOCK)) is not None:
        _save_manifest(spec, remaining, folder_created=folder_created)
        return
    _drop_manifest(spec)
    _remove_if_empty(spec.state_dir)


def write_lab_file(spec: LabSpec, name: str, content: str | bytes) -> Path:
    """Write one of the lab's own files (by its name in ``LAB_FILES``), atomically, 0600."""
    path = claim(spec, name)
    ident = write_private(
        path, content, before_rename=lambda new: note_written(spec, name, new, pending=True)
    )
    note_written(spec, name, ident)
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
    exercise: str | None = None  # the exercise whose baseline the lab carries, if any
    # A cluster the user already has: the kubeconfig (absolute path) and the context the lab was
    # made in, so later runs (``down`` above all) reach that cluster and no other.
    kubeconfig: str | None = None
    context: str | None = None


def record_path(spec: LabSpec) -> Path:
    return spec.lab_file("state.json")


def load_record(spec: LabSpec) -> LabRecord | None:
    """The lab's record, or None when there is none (or it is damaged: a damaged record must not
    block teardown; ownership then comes from the cluster). A record that cannot be read at all
    (a folder, no permission, a state root that is a file) is one line saying so."""
    return _read_record(spec, strict=True)


def _read_record(spec: LabSpec, *, strict: bool) -> LabRecord | None:
    path = record_path(spec)
    try:
        kind = _kind_of(path)
    except UsageError:
        if strict:
            raise
        return None
    if kind is None:
        return None
    if kind != "file":
        if not strict:
            return None
        if problem := _folder_problem(spec):
            raise problem from None
        if kind == "folder":
            raise UsageError(
                f"the lab record {path} is a folder, not a file",
                hint="move that folder away; the tool writes its record there",
            )
        return None
    if strict and not os.access(path, os.R_OK):
        raise UsageError(
            f"cannot read the lab record {path}: permission denied",
            hint="fix its permissions (it should be yours, mode 0600)",
        )
    return _record_from(_json(_read_small(path)), spec.name)


def _record_from(data: Any, lab: str) -> LabRecord | None:
    """A record only when every field has its type and it names this lab; otherwise damaged
    (or copied from another lab): not trusted, ownership then comes from the cluster."""
    types: dict[str, tuple[type, ...]] = {
        "lab": (str,),
        "provider": (str,),
        "engine": (str,),
        "cluster_created": (bool,),
        "phase": (str,),
        "resource_group_created": (bool,),
        "scenario": (str, type(None)),
        "exercise": (str, type(None)),
        "kubeconfig": (str, type(None)),
        "context": (str, type(None)),
    }
    required = ("lab", "provider", "engine", "cluster_created", "phase")
    if not isinstance(data, dict) or not set(types).issuperset(data):
        return None
    if any(key not in data for key in required):
        return None
    if not all(isinstance(value, types[key]) for key, value in data.items()):
        return None
    if data["lab"] != lab:
        return None
    return LabRecord(**data)


def save_record(spec: LabSpec, record: LabRecord) -> None:
    write_lab_file(spec, record_path(spec).name, json.dumps(asdict(record), indent=2) + "\n")


def remember_scenario(spec: LabSpec) -> None:
    """Note which scenario's policies (and exercise's baseline) the lab now carries; later runs
    default to them."""
    record = load_record(spec)
    if record is not None and (record.scenario, record.exercise) != (spec.scenario, spec.exercise):
        save_record(spec, replace(record, scenario=spec.scenario, exercise=spec.exercise))


# --- teardown -----------------------------------------------------------------------------


def forget(spec: LabSpec) -> list[str]:
    """Remove the lab's files after teardown: exactly the ones the tool wrote (and temporary
    files of its own interrupted writes), then the folder if the tool created it and nothing
    else is in it. Returns the names removed."""
    directory = spec.state_dir
    if _kind_of(directory) != "folder":
        return []
    manifest = _manifest(spec)
    if manifest.foreign:
        return []  # nothing here is provably the tool's
    if not manifest.present and not manifest.files:
        return []  # no manifest and no record of this lab: nothing here is the tool's
    removed = []
    kept = []
    for name, entry in sorted(manifest.files.items()):
        path = directory / name
        if not _still_ours(path, entry):
            if _kind_of(path) is not None:
                kept.append(name)  # replaced by someone's own file since: theirs now
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(name)
    ours = {*manifest.files, MANIFEST, LOCK}
    with contextlib.suppress(OSError):
        for leftover in directory.iterdir():
            match = _TEMP_RE.match(leftover.name)
            if match and match["stem"] in ours and _kind_of(leftover) == "file":
                with contextlib.suppress(OSError):
                    leftover.unlink()
    # kind writes <kubeconfig>.lock (O_EXCL) while it writes the kubeconfig
    # (kubernetes-sigs/kind pkg/cluster/internal/kubeconfig/internal/kubeconfig/lock.go @
    # v0.31.0); one left by a killed kind would block the next `kind create`.
    stale = directory / "kubeconfig.lock"
    if "kubeconfig" in removed and _kind_of(stale) == "file" and not stale.is_symlink():
        with contextlib.suppress(OSError):
            stale.unlink()
    if manifest.present:
        _drop_manifest(spec)
    if not kept and _tool_made_folder(spec, manifest):
        _remove_if_empty(directory)
    return removed


def _remove_if_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):
        directory.rmdir()  # fails on a non-empty folder: the user's files keep it


# --- one run at a time --------------------------------------------------------------------

_HOLDER_BYTES = 512  # the holder note is written padded to this size: never empty, never torn


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
    holder dies, however it dies; the file's content (JSON with ``"tool": "netpol-lab"``) names
    the holder. The file is created with its content in place (written to a temporary file and
    hard-linked), so a ``lock`` that is empty or holds anything else is the user's and is left
    alone. With ``optional`` (``down``), a lab folder that does not exist and cannot be created
    means there is no state of the tool's to guard: the task runs without the lock.
    """
    import fcntl

    try:
        _ensure_folder(spec)
    except UsageError:
        if optional and _kind_of(spec.state_dir) is None:
            yield
            return
        raise
    tool_folder = _tool_made_folder(spec, _manifest(spec))
    path = spec.lab_file(LOCK)
    holder = _holder_note(command)
    while True:
        if _kind_of(path) is None and not path.is_symlink():
            _create_lock(path, holder)
        _refuse_foreign_lock(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue  # released and removed a moment ago: create it again
        except OSError as exc:
            raise _write_failed(path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            busy = _describe(_read_holder(fd))
            os.close(fd)
            raise UsageError(
                f"lab {spec.name} is busy: {busy}",
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
        pid = previous.get("pid") if previous else None
        if type(pid) is int and pid != os.getpid() and note:
            # Holding the flock proves that run is gone, whatever now has its PID.
            command = str(previous.get("command"))[:200] if previous else "?"
            note(
                f"took over the lock of lab {spec.name} left by PID {pid} (`{command}`, since "
                f"{previous.get('since') if previous else '?'}); that run is no longer running"
            )
        os.pwrite(fd, holder, 0)
        yield
    finally:
        # Tidy while still holding the lock (a run that takes it next must find a consistent
        # folder), then release it; the final rmdir is safe at any time: it fails when the
        # folder holds anything, a next run's lock included.
        manifest = _manifest(spec)
        tidy = (tool_folder or _tool_made_folder(spec, manifest)) and not manifest.files
        if tidy and manifest.present:
            with contextlib.suppress(OSError):  # never mask the body's own exception
                _drop_manifest(spec)
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                os.unlink(path)
        os.close(fd)
        if tidy:
            _remove_if_empty(spec.state_dir)


def _holder_note(command: str) -> bytes:
    from datetime import datetime, timezone

    doc = {
        "tool": _TOOL,
        "pid": os.getpid(),
        "command": command[:200],
        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return json.dumps(doc).encode().ljust(_HOLDER_BYTES - 1) + b"\n"


def _create_lock(path: Path, holder: bytes) -> None:
    """Create ``path`` already holding ``holder`` (link a written temporary file into place)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{LOCK}.{_TOOL}-", suffix=".tmp")
    except OSError as exc:
        raise _write_failed(path, exc) from None
    try:
        os.write(fd, holder)
        os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    except OSError as exc:
        raise _write_failed(path, exc) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _refuse_foreign_lock(path: Path) -> None:
    """A ``lock`` that is not a regular file holding this tool's note is the user's."""
    if path.is_symlink():
        raise _foreign(path)
    data = _json(_read_small(path))
    if data is None:
        return  # gone since we looked: the caller creates it again
    if not isinstance(data, dict) or data.get("tool") != _TOOL:
        raise _foreign(path)


def _read_holder(fd: int) -> dict[str, Any] | None:
    try:
        data = json.loads(os.pread(fd, _SMALL, 0).decode("utf-8", "replace") or "null")
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _describe(data: dict[str, Any] | None) -> str:
    if not data:
        return "another netpol-lab run holds its lock"
    return f"PID {data.get('pid')} is running `{data.get('command')}` (since {data.get('since')})"
