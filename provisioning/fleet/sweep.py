"""``fleet sweep``: remove every fleet whose expiry has passed, and nothing that is not one.

Where fleets are looked for, and what proves that something is an expired fleet's:

1. The fleet records in the state folder (``<state root>/<fleet>/fleet.json``, written only by
   the tool): an expired one is removed with ``fleet down`` (any provider, any mode).
2. The kind clusters on this host (``kind get clusters``): a cluster is swept only when its
   nodes carry the tool's ownership label, a fleet label and an expiry label in the past
   (``fleet/plan.py``: kind's node config takes labels only). A cluster without them, a
   user's, is never touched, whatever its name.
3. A cluster you already have (``--kubeconfig``): namespaces labelled as the tool's, with a
   fleet label and an expiry annotation in the past, are deleted; nothing else is.
4. Azure (``--subscription`` or AZURE_SUBSCRIPTION_ID, when asked with ``--azure``): resource
   groups the tool created and tagged with a fleet and an expiry in the past
   (``providers/aks/sweep.py``).

An expiry that does not parse is never taken as expired. ``dry_run`` lists what would go.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from provisioning.errors import LabError, UsageError
from provisioning.fleet.plan import (
    EXPIRES_ANNOTATION,
    EXPIRES_LABEL,
    FLEET_LABEL,
    check_fleet_id,
    parse_time,
    rfc3339,
)
from provisioning.fleet.record import RECORD, host_spec, load_fleet
from provisioning.fleet.run import Seams, fleet_down, fleet_from_record
from provisioning.lab.state import lab_lock
from provisioning.progress import Progress
from provisioning.spec import LABEL_MANAGED_BY, TOOL, LabSpec

END_OF_TIME = dt.datetime.max.replace(tzinfo=dt.timezone.utc)  # every expiry is before it


@dataclass
class Swept:
    what: str  # "kind cluster ws", "namespace demo-ws-att01", "fleet record ws", ...
    fleet: str
    expires: str
    action: str  # "removed", "would remove", "kept: expires ...", "failed: ..."

    def as_dict(self) -> dict[str, str]:
        return {
            "what": self.what,
            "fleet": self.fleet,
            "expires": self.expires,
            "action": self.action,
        }


def sweep(
    base: LabSpec,
    seams: Seams,
    progress: Progress,
    *,
    kind: bool = True,
    kubeconfig: Path | None = None,
    context: str | None = None,
    azure: Any = None,  # a gateway to the subscription (providers/aks/gateway.py), or None
    dry_run: bool = False,
    only: str | None = None,
) -> list[Swept]:
    """``only``: one fleet's labs, found by their labels and tags whatever their expiry
    (``fleet down`` when the fleet's record is gone or damaged); nothing of another fleet."""
    now = END_OF_TIME if only else seams.now()
    found: list[Swept] = []
    done_fleets: set[str] = set()
    if only is None:
        found += _records(base, seams, now, dry_run, done_fleets)
    if kind:
        found += _kind_clusters(base, seams, progress, now, dry_run, done_fleets, only)
    if kubeconfig is not None:
        found += _namespaces(base, seams, progress, now, dry_run, kubeconfig, context, only)
    if azure is not None:
        from provisioning.providers.aks.sweep import sweep_groups

        answered = sweep_groups(azure, now, dry_run=dry_run, only=only)
        rows = [Swept(**row) for row in answered]
        # A fleet reported from its record above is not reported again, group by group.
        found += [r for r in rows if r.fleet not in done_fleets or not r.action.startswith("kept")]
    return found


def _verdict(expires: dt.datetime | None, now: dt.datetime, dry_run: bool) -> str | None:
    """None when it must stay (not expired, or no expiry the tool wrote)."""
    if expires is None or expires > now:
        return None
    return "would remove" if dry_run else "removed"


def _records(
    base: LabSpec, seams: Seams, now: dt.datetime, dry_run: bool, done: set[str]
) -> list[Swept]:
    rows: list[Swept] = []
    root = base.state_root
    if not root.is_dir():
        return rows
    for folder in sorted(root.iterdir()):
        if not (folder / RECORD).is_file():
            continue
        try:
            check_fleet_id(folder.name)
            record = load_fleet(host_spec(base, folder.name))
        except UsageError:
            continue  # not a fleet folder the tool wrote
        if record is None:
            continue
        expires = record.expires_at
        action = _verdict(expires, now, dry_run)
        what = f"fleet {record.fleet} ({record.mode} on {record.provider})"
        if action is None:
            rows.append(
                Swept(what, record.fleet, record.expires, f"kept: expires {record.expires}")
            )
            done.add(record.fleet)
            continue
        if action == "removed":
            fleet = fleet_from_record(record, base)
            try:
                with lab_lock(host_spec(base, record.fleet), "invoke fleet sweep", optional=True):
                    result = fleet_down(
                        fleet,
                        seams,
                        Progress(io.StringIO(), spinner=False),
                        live=False,
                        stream=io.StringIO(),
                    )
            except LabError as exc:
                action = f"failed: {exc}"
            else:
                if result.failed:
                    action = "failed: " + "; ".join(
                        f"{o.attendee.id}: {o.detail}" for o in result.failed[:3]
                    )
        done.add(record.fleet)
        rows.append(Swept(what, record.fleet, record.expires, action))
    return rows


def _kind_clusters(
    base: LabSpec,
    seams: Seams,
    progress: Progress,
    now: dt.datetime,
    dry_run: bool,
    done: set[str],
    only: str | None = None,
) -> list[Swept]:
    from provisioning.providers.kind.provider import NODE_LABEL_MANAGED_BY

    probe = replace(base, provider="kind", name="sweep")
    provider = seams.make_provider(probe, True)
    if seams.runner.which("kind") is None:
        return []
    names = provider.clusters()
    if isinstance(names, str):
        raise LabError(f"cannot list kind clusters: {names}")
    rows: list[Swept] = []
    for name in names:
        labels = provider.cluster_labels(name, base.state_root)
        if not labels or labels.get(NODE_LABEL_MANAGED_BY) != TOOL:
            continue
        fleet = labels.get(FLEET_LABEL)
        if not fleet or fleet in done or (only is not None and fleet != only):
            continue  # a lab of the tool's, not a fleet's (`invoke down`), or seen above
        raw = labels.get(EXPIRES_LABEL, "")
        expires = parse_time(raw)
        shown = rfc3339(expires) if expires else raw
        action = _verdict(expires, now, dry_run)
        what = f"kind cluster {name}"
        if action is None:
            rows.append(Swept(what, fleet, shown, f"kept: expires {shown or '(unknown)'}"))
            continue
        if action == "removed":
            spec = replace(base, provider="kind", name=name, explicit=frozenset())
            try:
                with progress.step(f"Delete kind cluster {name} (fleet {fleet}, expired {shown})"):
                    seams.make_provider(spec, False).delete_cluster(
                        spec,
                        Progress(io.StringIO(), spinner=False),
                        yes=True,
                        confirm=None,
                        no_wait=False,
                    )
            except LabError as exc:
                action = f"failed: {exc}"
            else:
                # Its attendees' labs (provider existing on this cluster's kubeconfig) went too.
                on = str(spec.kubeconfig)
                forget_labs(
                    base, lambda _n, r, on=on: r.provider == "existing" and r.kubeconfig == on
                )
        rows.append(Swept(what, fleet, shown, action))
    return rows


def forget_labs(base: LabSpec, which: Callable[[str, Any], bool]) -> list[str]:
    """Forget the local folders of labs whose cluster or namespaces went with a fleet: each
    folder in the state root with a lab record for which ``which(name, record)`` holds. Only
    the tool's own files go (``lab.state.forget``). Returns the names."""
    from provisioning.lab.state import forget, load_record

    root, gone = base.state_root, []
    if not root.is_dir():
        return gone
    for folder in sorted(root.iterdir()):
        spec = replace(base, name=folder.name, explicit=frozenset())
        try:
            record = load_record(spec)
        except (UsageError, ValueError):
            continue
        if record is not None and which(folder.name, record):
            forget(replace(spec, provider=record.provider))
            gone.append(folder.name)
    return gone


def _namespaces(
    base: LabSpec,
    seams: Seams,
    progress: Progress,
    now: dt.datetime,
    dry_run: bool,
    kubeconfig: Path,
    context: str | None,
    only: str | None = None,
) -> list[Swept]:
    from provisioning.spec import ExistingSettings

    spec = replace(
        base,
        provider="existing",
        name="sweep",
        existing=ExistingSettings(kubeconfig=kubeconfig, context=context),
    )
    kube = seams.make_provider(spec, True).kube(spec)
    selector = f"{LABEL_MANAGED_BY}={TOOL},{FLEET_LABEL}" + (f"={only}" if only else "")
    rows: list[Swept] = []
    for ns in kube.list("v1", "Namespace", label_selector=selector):
        meta = ns.get("metadata") or {}
        name = meta.get("name", "")
        fleet = (meta.get("labels") or {}).get(FLEET_LABEL, "")
        raw = (meta.get("annotations") or {}).get(EXPIRES_ANNOTATION, "")
        expires = parse_time(raw)
        action = _verdict(expires, now, dry_run)
        what = f"namespace {name}"
        if action is None:
            rows.append(Swept(what, fleet, raw, f"kept: expires {raw or '(unknown)'}"))
            continue
        if action == "removed":
            try:
                kube.delete("v1", "Namespace", name)
            except LabError as exc:
                action = f"failed: {exc}"
        rows.append(Swept(what, fleet, raw, action))
    if any(r.action == "removed" for r in rows):
        progress.info(
            f"  deleted {sum(r.action == 'removed' for r in rows)} expired fleet namespaces"
        )
    return rows
