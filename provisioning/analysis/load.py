"""Reading the ``analyze`` inputs from files: cluster model, policies, probes.

Every problem becomes a ``UsageError`` naming the file (and document, policy and field).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from provisioning.documents import cut, gc_paused, load_file, shown
from provisioning.errors import UsageError

from .calico import is_calico_object
from .calico_engine import CalicoItem, read_calico
from .cluster_policy import API_VERSION as CNP_API
from .cluster_policy import KIND as CNP_KIND
from .cluster_policy import ClusterPolicy, parse_cluster_policy
from .model import ClusterModel, Probe
from .policy import Policy, parse_policy

POLICY_SUFFIXES = (".yaml", ".yml", ".json")


def load_cluster(path: str | Path) -> ClusterModel:
    """The ``--cluster`` file (JSON or YAML)."""
    with gc_paused():
        data = _read_one(Path(path), "--cluster")
        return ClusterModel.from_dict(data, source=str(path))


def load_probes(path: str | Path) -> list[Probe]:
    """The ``--probes`` file: a JSON (or YAML) list of ``{from, to, port, protocol}``."""
    data = _read_one(Path(path), "--probes")
    if not isinstance(data, list):
        raise UsageError(f"{path}: must be a list of probes like {_PROBE_EXAMPLE}")
    return [Probe.from_dict(item, f"{path}: probes[{i}]") for i, item in enumerate(data)]


_PROBE_EXAMPLE = '[{"from": "x/a", "to": "y/b", "port": 80, "protocol": "TCP"}]'


def load_policies(
    path: str | Path, *, require_type: bool = False, cluster_wide: bool = False
) -> list[Any]:
    """Every NetworkPolicy under ``path`` (a file, or a directory searched recursively), and
    with ``cluster_wide`` every ClusterNetworkPolicy too (``invoke analyze`` reads both).

    A file holds one object, a multi-document YAML stream, a JSON array or a ``kind: List``.
    """
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in POLICY_SUFFIXES)
        if not files:
            raise UsageError(f"{root}: no policy files (*.yaml, *.yml, *.json) in this directory")
    else:
        files = [root]  # reading it says what is wrong: missing, a link loop, unreadable
    policies = []
    with gc_paused():
        for file in files:
            policies.extend(
                _policies_in(file, require_type=require_type, cluster_wide=cluster_wide)
            )
    return policies


def _policies_in(
    file: Path, *, require_type: bool = False, cluster_wide: bool = False
) -> Iterator[Policy | ClusterPolicy | CalicoItem]:
    """With ``require_type``, an object must name its apiVersion and kind, as ``kubectl apply``
    requires of a file; the analyzer alone also takes bare NetworkPolicy bodies."""
    for where, obj in _objects(file):
        if require_type and isinstance(obj, dict):
            missing = [k for k in ("apiVersion", "kind") if not obj.get(k)]
            if missing:
                raise UsageError(
                    f"{where}: no {' and no '.join(missing)}; kubectl apply refuses it",
                    hint="start it with apiVersion: networking.k8s.io/v1 and kind: NetworkPolicy",
                )
        kind = obj.get("kind") if isinstance(obj, dict) else None
        if cluster_wide and kind == CNP_KIND:
            yield parse_cluster_policy(obj, source=where)
            continue
        if cluster_wide and is_calico_object(obj):
            yield read_calico(obj, source=where)
            continue
        if kind is not None and kind != "NetworkPolicy":
            taken = (
                f"networking.k8s.io/v1 NetworkPolicy, {CNP_API}/{CNP_KIND} and "
                "projectcalico.org/v3 objects"
                if cluster_wide
                else "networking.k8s.io/v1 NetworkPolicy objects only"
            )
            raise UsageError(
                f"{where}: a {cut(kind) if isinstance(kind, str) else shown(kind)} "
                "is not a NetworkPolicy",
                hint=f"--policies takes {taken}",
            )
        yield parse_policy(obj, source=where)


def _objects(file: Path) -> Iterator[tuple[str, Any]]:
    """(location, object) for each object in the file, lists and ``kind: List`` flattened."""
    docs = load_file(file, what="--policies", multi=True)
    for n, doc in enumerate(docs):
        label = f"{file}" if len(docs) == 1 else f"{file} (document {n + 1})"
        if isinstance(doc, dict) and doc.get("kind") == "List":
            items = doc.get("items") or []
            if not isinstance(items, list):
                raise UsageError(f"{label}: items: must be a list of NetworkPolicy objects")
            yield from ((f"{label} items[{i}]", item) for i, item in enumerate(items))
        elif isinstance(doc, list):
            yield from ((f"{label} [{i}]", item) for i, item in enumerate(doc))
        elif isinstance(doc, dict):
            yield label, doc
        else:
            raise UsageError(f"{label}: expected a NetworkPolicy object, got {type(doc).__name__}")


def _read_one(path: Path, flag: str) -> Any:
    return load_file(path, what=flag)
