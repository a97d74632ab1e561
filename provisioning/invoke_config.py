"""The ``lab:`` settings of Invoke's configuration, each with where it came from.

Invoke merges its configuration files (system ``/etc/invoke.yaml``, user ``~/.invoke.yaml``, the
project's ``invoke.yaml`` beside ``tasks.py``, a runtime ``-f FILE``) and ``INVOKE_*`` environment
variables (pyinvoke docs, "Configuration": the hierarchy, lowest first: defaults, collection,
system, user, project, environment, runtime file, overrides). This module reads the ``lab``
section of each layer separately so a bad value is reported with its source: the file and key,
or the environment variable. The collection declares no ``lab`` defaults, so a ``lab:`` that is
a string or a list reaches this code (and gets one line) instead of failing inside Invoke's merge.

``precheck`` runs when ``tasks.py`` is imported, before Invoke loads the project's configuration
file or a runtime file: Invoke reads them with an unbounded YAML loader and formats their whole
content for its debug log, so an alias bomb there would exhaust memory before any task ran.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from provisioning.errors import UsageError

FILE_LAYERS = (
    ("_system", "_system_path"),
    ("_user", "_user_path"),
    ("_project", "_project_path"),
)
ENV_PREFIX = "INVOKE_LAB_"


def _runtime_files(argv: Sequence[str], environ: Mapping[str, str]) -> list[Path]:
    """The runtime file Invoke will load: ``-f FILE``, ``-fFILE``, ``-f=FILE``, ``--config FILE``,
    ``--config=FILE``, or ``$INVOKE_RUNTIME_CONFIG``."""
    found = []
    for i, arg in enumerate(argv):
        if arg in ("-f", "--config") and i + 1 < len(argv):
            found.append(Path(argv[i + 1]))
        elif arg.startswith("--config="):
            found.append(Path(arg.split("=", 1)[1]))
        elif arg.startswith("-f") and len(arg) > 2 and not arg.startswith("--"):
            found.append(Path(arg[2:].removeprefix("=")))
    if not found and environ.get("INVOKE_RUNTIME_CONFIG"):
        found.append(Path(environ["INVOKE_RUNTIME_CONFIG"]))
    return found


def _first_existing(prefix: Path) -> Path | None:
    for suffix in ("yaml", "yml", "json"):
        candidate = prefix.parent / f"{prefix.name}.{suffix}"
        try:
            if candidate.exists() or candidate.is_symlink():
                return candidate
        except OSError:
            return None
    return None


def check_file(path: Path) -> None:
    """A configuration file that is bounded, parseable, and whose ``lab`` is a mapping."""
    from provisioning.documents import SMALL_MAX_BYTES, load_file

    data = load_file(path, limit=SMALL_MAX_BYTES)
    if data is None:
        return
    if not isinstance(data, dict):
        raise UsageError(
            f"{path}: an Invoke configuration file must be a mapping, got {type(data).__name__}"
        )
    _mapping(data.get("lab"), str(path))


def precheck(
    project: str | Path,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Exit 2 with one line when a configuration file Invoke is about to load is unusable.

    The project file and the runtime file are loaded by Invoke after ``tasks.py`` is imported,
    so checking them here (bounds, aliases, the ``lab`` section) comes first. The system and
    user files (``/etc/invoke.*``, ``~/.invoke.*``) were loaded before it, so an alias bomb there
    has already cost Invoke its memory; checking them still turns a ``lab:`` that is not a
    mapping into one line instead of Invoke's merge error with the project file.
    Python configuration files (``invoke.py``) are Invoke's own business and left alone.
    """
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME") or "~").expanduser()
    candidates = [
        _first_existing(Path(project) / "invoke"),
        *_runtime_files(argv, environ),
        _first_existing(Path("/etc/invoke")),
        _first_existing(home / ".invoke"),
    ]
    for path in candidates:
        if path is None or path.suffix not in (".yaml", ".yml", ".json"):
            continue
        try:
            check_file(path)
        except UsageError as exc:
            print(f"✗ {exc}", file=sys.stderr)
            raise SystemExit(2) from None


def lab_layers(config: Any, keys: Sequence[str], environ: Mapping[str, str] | None = None) -> list:
    """The ``lab`` settings of every configuration layer, lowest precedence first, as
    ``(where, values)`` pairs for ``profiles.resolve(layers=...)``."""
    from provisioning.profiles import config_layer

    environ = os.environ if environ is None else environ
    layers: list = []
    for data_attr, path_attr in FILE_LAYERS:
        data = getattr(config, data_attr, None) or {}
        if "lab" in data:
            label = str(getattr(config, path_attr, None) or f"Invoke {data_attr[1:]} configuration")
            layers.append((config_layer(label), _mapping(data["lab"], label)))
    env = {}
    for key in keys:
        if (value := environ.get(ENV_PREFIX + key.upper())) is not None:
            env[key] = value
    if env:
        layers.append((lambda key: f"{ENV_PREFIX}{key.upper()}", env))
    runtime = getattr(config, "_runtime", None) or {}
    if "lab" in runtime:
        label = str(getattr(config, "_runtime_path", None) or "the runtime configuration file")
        layers.append((config_layer(label), _mapping(runtime["lab"], label)))
    overrides = getattr(config, "_overrides", None) or {}
    if isinstance(overrides.get("lab"), dict):
        layers.append((config_layer("Invoke overrides"), overrides["lab"]))
    return layers


def _mapping(value: Any, label: str) -> Mapping[str, Any]:
    from provisioning.documents import shown

    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(
            f"{label}: key 'lab' must be a mapping of lab settings (engine, provider, name, "
            f"scenario, profile, ...), got {type(value).__name__} {shown(value)}"
        )
    return dict(value)
