"""``fleet kubeconfigs --out DIR``: one kubeconfig per attendee, re-issued as often as needed.

Mode namespaces: the attendee's ServiceAccount (``fleet/rbac.py``) gets a token from a
TokenRequest that lives until the fleet expires (``fleet/kubeconfig.py``); the kubeconfig names
the shared cluster as the instructor's kubeconfig does (server, CA) and the attendee's demo
namespace as its namespace. Nothing is stored in the cluster: a lost kubeconfig is simply issued
again, and the old token keeps working until the fleet expires or ``fleet down`` deletes its
ServiceAccount.

Mode clusters: the attendee's cluster is theirs alone, so their kubeconfig is a copy of the
lab's own (kind's, or AKS's user credentials).

The files are ``DIR/<lab>.kubeconfig``, mode 0600. A file of that name is replaced only when it
is an attendee kubeconfig of that same lab (its current context is the one the tool names);
anything else there is the user's and is refused with one line.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provisioning.errors import OperationError, UsageError
from provisioning.fleet.kubeconfig import (
    MIN_EXPIRATION_SECONDS,
    attendee_kubeconfig,
    issued_token,
    token_request,
    write_kubeconfig,
)
from provisioning.fleet.plan import FleetSpec, parse_time, rfc3339
from provisioning.fleet.rbac import SERVICE_ACCOUNT, service_account_namespace
from provisioning.fleet.roster import Attendee
from provisioning.fleet.run import Seams, attendee_spec, cluster_access

MAX_KUBECONFIG = 1 << 20
SHORTENED_AFTER = dt.timedelta(minutes=1)


def file_name(lab: str) -> str:
    return f"{lab}.kubeconfig"


def user_name(lab: str) -> str:
    return f"{lab}-attendee"


def cluster_endpoint(kubeconfig: Path, context: str | None) -> tuple[str, str, str | None, bool]:
    """(cluster name, server, CA data, insecure) of ``context`` (or the current context) in
    ``kubeconfig``, as the instructor's client reaches the cluster. A CA given as a file is
    embedded (the attendee does not have that file)."""
    from provisioning.documents import load_file, read_at_most, shown_path

    where = shown_path(kubeconfig)
    config = load_file(kubeconfig, what="kubeconfig", limit=MAX_KUBECONFIG)
    if not isinstance(config, dict):
        raise UsageError(f"{where}: not a kubeconfig (expected a mapping)")
    name = context or config.get("current-context")
    contexts = {c.get("name"): c.get("context") for c in _named(config, "contexts")}
    if not isinstance(name, str) or not isinstance(contexts.get(name), dict):
        raise UsageError(f"{where}: no context {name!r} to take the cluster's address from")
    cluster_name = contexts[name].get("cluster")
    clusters = {c.get("name"): c.get("cluster") for c in _named(config, "clusters")}
    cluster = clusters.get(cluster_name)
    if not isinstance(cluster, dict) or not isinstance(cluster.get("server"), str):
        raise UsageError(f"{where}: context {name} names no cluster with a server")
    ca = cluster.get("certificate-authority-data")
    if ca is None and isinstance(cluster.get("certificate-authority"), str):
        path = Path(cluster["certificate-authority"])
        if not path.is_absolute():
            path = kubeconfig.parent / path  # client-go resolves it beside the kubeconfig
        try:
            ca = base64.b64encode(read_at_most(path, MAX_KUBECONFIG)).decode()
        except OSError as exc:
            raise UsageError(
                f"{where}: cannot read certificate-authority {shown_path(path)} ({exc.strerror})"
            ) from None
    if ca is not None and not isinstance(ca, str):
        raise UsageError(f"{where}: certificate-authority-data of {cluster_name} is not text")
    insecure = cluster.get("insecure-skip-tls-verify") is True
    return str(cluster_name), cluster["server"], ca, insecure


def _named(config: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = config.get(key)
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _replaceable(path: Path, lab: str) -> bool:
    """Whether ``path`` is absent or an attendee kubeconfig of ``lab`` the tool wrote (its
    current context names the attendee; anything unreadable or not YAML is not ours)."""
    from provisioning.kube import current_context

    if not path.exists() and not path.is_symlink():
        return True
    if path.is_symlink() or not path.is_file():
        return False
    current = current_context(path)
    return current is not None and current.startswith(f"{user_name(lab)}@")


def issue_kubeconfigs(
    fleet: FleetSpec,
    attendees: Sequence[Attendee],
    seams: Seams,
    out: Path,
) -> list[dict[str, Any]]:
    """Write one kubeconfig per attendee in ``out``; returns one row per attendee (path, token
    expiry, or the one line why it could not be issued)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: not a folder")
    planned = []
    for attendee in attendees:
        lab = fleet.lab_name(attendee)
        path = out / file_name(lab)
        if not _replaceable(path, lab):
            raise UsageError(
                f"--out: {path} exists and is not {attendee.id}'s kubeconfig from this tool",
                hint="choose an empty folder, or move that file away",
            )
        planned.append((attendee, lab, path))
    if fleet.mode == "clusters":
        return [_copy(fleet, a, i, lab, path) for i, (a, lab, path) in enumerate(planned)]
    remaining = (fleet.expires_at - seams.now()).total_seconds()
    if remaining < MIN_EXPIRATION_SECONDS:
        left = "has expired" if remaining <= 0 else f"expires in {math.ceil(remaining / 60)}m"
        raise UsageError(
            f"fleet {fleet.id} {left}: an attendee token lives at least 10 minutes",
            hint=f"remove it with `invoke fleet down --fleet {fleet.id}`",
        )
    kubeconfig, context = cluster_access(fleet)
    cluster_name, server, ca, insecure = cluster_endpoint(kubeconfig, context)
    first = attendee_spec(fleet, attendees[0]) if attendees else None
    kube = seams.make_provider(first, True).kube(first) if first is not None else None
    rows = []
    for attendee, lab, path in planned:
        namespace = service_account_namespace(lab)
        try:
            answer = kube.request_token(namespace, SERVICE_ACCOUNT, token_request(remaining))
        except OperationError as exc:
            rows.append({"id": attendee.id, "lab": lab, "path": None, "error": str(exc)})
            continue
        token, expires = issued_token(answer)
        config = attendee_kubeconfig(
            cluster_name=cluster_name,
            server=server,
            ca_data=ca,
            insecure=insecure,
            namespace=namespace,
            user=user_name(lab),
            token=token,
        )
        write_kubeconfig(path, config)
        row: dict[str, Any] = {"id": attendee.id, "lab": lab, "path": str(path)}
        row["token_expires"] = expires
        moment = parse_time(expires)
        # The server counts from its own clock in whole seconds: a token ending within a minute
        # of the fleet is the one asked for; earlier, the server shortened it.
        if moment is not None and moment < fleet.expires_at - SHORTENED_AFTER:
            row["note"] = (
                f"the API server shortened the token: it expires {expires}, before the fleet "
                f"({rfc3339(fleet.expires_at)}); issue it again then"
            )
        rows.append(row)
    return rows


def _copy(fleet: FleetSpec, attendee: Attendee, index: int, lab: str, path: Path) -> dict:

    from provisioning.documents import load_file

    spec = attendee_spec(fleet, attendee, index)
    source = spec.kubeconfig
    if not source.is_file():
        return {"id": attendee.id, "lab": lab, "path": None, "error": f"lab {lab} is not up"}
    config = load_file(source, what="kubeconfig", limit=MAX_KUBECONFIG)
    if not isinstance(config, dict):
        return {"id": attendee.id, "lab": lab, "path": None, "error": f"{source}: not a mapping"}
    # The copy names the attendee (as ``_replaceable`` checks) and keeps the lab's context.
    contexts = _named(config, "contexts")
    current = config.get("current-context")
    for c in contexts:
        if c.get("name") == current:
            c["name"] = f"{user_name(lab)}@{current}"
            config["current-context"] = c["name"]
    write_kubeconfig(path, config)
    return {"id": attendee.id, "lab": lab, "path": str(path), "token_expires": None}
