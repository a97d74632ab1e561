"""Small helpers for plain-dict Kubernetes objects: references and the spec-hash annotation.

Every object the lab applies carries ``netpol-lab.io/spec-hash``, a digest of what the tool
rendered. Comparing it with the freshly rendered object tells whether anything changed, without
diffing server-defaulted fields: this is how re-runs leave matching objects alone.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

HASH_ANNOTATION = "netpol-lab.io/spec-hash"


def ref(obj: Mapping[str, Any]) -> str:
    """``Kind/namespace/name`` (or ``Kind/name`` for cluster-scoped objects)."""
    meta = obj.get("metadata", {})
    ns = meta.get("namespace")
    return (
        f"{obj.get('kind')}/{ns}/{meta.get('name')}"
        if ns
        else f"{obj.get('kind')}/{meta.get('name')}"
    )


def spec_hash(obj: Mapping[str, Any]) -> str:
    body = copy.deepcopy(dict(obj))
    meta = body.get("metadata", {})
    annotations = meta.get("annotations")
    if annotations is not None:
        annotations.pop(HASH_ANNOTATION, None)
        if not annotations:  # with_hash may have created the dict: hash as if it never had
            del meta["annotations"]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def with_hash(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` annotated with its spec hash."""
    out = copy.deepcopy(dict(obj))
    meta = out.setdefault("metadata", {})
    meta.setdefault("annotations", {})[HASH_ANNOTATION] = spec_hash(obj)
    return out


def observed_hash(obj: Mapping[str, Any]) -> str | None:
    return (obj.get("metadata", {}).get("annotations") or {}).get(HASH_ANNOTATION)
