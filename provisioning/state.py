"""The lab's own files: its kubeconfig and a small record of what the tool created.

The record is written *before* a cluster is created, so an interrupted ``up`` still leaves a note
that the cluster is the tool's: ``down`` can clean it and ``up`` can resume. Files are mode 0600:
the kubeconfig holds cluster-admin credentials.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from provisioning.spec import LabSpec


def write_private(path: Path, content: str | bytes) -> None:
    """Write a file only the user can read (0600), creating its directory (0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = content.encode() if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT


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
    return spec.state_dir / "state.json"


def load_record(spec: LabSpec) -> LabRecord | None:
    path = record_path(spec)
    try:
        data = json.loads(path.read_text())
        return LabRecord(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        # A damaged record must not block teardown; ownership then comes from the cluster.
        return None


def save_record(spec: LabSpec, record: LabRecord) -> None:
    write_private(record_path(spec), json.dumps(asdict(record), indent=2) + "\n")


def remember_scenario(spec: LabSpec) -> None:
    """Note which scenario's policies the lab now carries (later runs default to it)."""
    record = load_record(spec)
    if record is not None and record.scenario != spec.scenario:
        save_record(spec, replace(record, scenario=spec.scenario))


def forget(spec: LabSpec) -> None:
    """Remove the lab's files after teardown (kubeconfig, record, rendered values)."""
    directory = spec.state_dir
    if not directory.exists():
        return
    for child in directory.iterdir():
        if child.is_file():
            child.unlink()
    # If the user put something of their own there, leave it (rmdir fails on a non-empty dir).
    with contextlib.suppress(OSError):
        directory.rmdir()
