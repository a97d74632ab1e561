"""``fleet sweep`` on Azure: remove the resource groups of expired fleets, and nothing else.

A fleet's AKS labs are ordinary AKS labs whose resource group (and cluster) also carry the
fleet's tags (``fleet/plan.py``): ``netpol-lab-fleet: <fleet>`` and ``netpol-lab-expires:
<RFC 3339 UTC time>``. Tag names, not Kubernetes-style label keys: "Tag names can't contain these
characters: ``<``, ``>``, ``%``, ``&``, ``\\``, ``?``, ``/``" (Azure Resource Manager, "Use tags to
organize your Azure resources", Limitations: MicrosoftDocs/azure-docs
``articles/azure-resource-manager/management/tag-resources.md``). The same page says tag names
are case-insensitive for operations (tag values are not), so the fleet's tags are looked up
without regard to case.

The groups come from ``ResourceGroups_List`` (``GET /subscriptions/{id}/resourcegroups``, pageable
through ``nextLink``: azure-rest-api-specs ``specification/resources/resource-manager/
Microsoft.Resources/resources/stable/2025-04-01/resources.json``), read whole by
``AksGateway.list_groups`` and filtered here. A group is removed only when all of these hold:

* the tool's ownership tags (``is_tool_owned``: ``managed-by: netpol-lab``, set only on groups
  the tool created) and the lab's tag (``netpol-lab-lab``);
* a fleet tag, and an expiry tag that parses (``fleet.plan.parse_time``) and is not after now;
* no ``managedBy``: a group another resource manages (an AKS cluster's node resource group, which
  carries the cluster's tags: azure-aks-docs ``articles/aks/use-tags.md``) goes with its manager.

Removal is what ``invoke down`` does (``providers/aks/teardown.py``): the lab's cluster first (AKS
deletes its node resource group with it), then the group, only if it holds nothing the tool did
not tag. A user's group, a plain lab's group (no fleet tag) and anything ``managedBy`` are never
listed; a fleet's group that is not expired, or whose expiry does not parse, is listed as kept.
``dry_run`` lists what would go and deletes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from provisioning.documents import one_line
from provisioning.errors import LabError
from provisioning.fleet.plan import EXPIRES_TAG, FLEET_TAG, parse_time, rfc3339
from provisioning.providers.aks.tags import TAG_LAB, is_tool_owned

if TYPE_CHECKING:
    from provisioning.providers.aks.gateway import AksGateway


def sweep_groups(
    gateway: AksGateway,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    only: str | None = None,
) -> list[dict[str, str]]:
    """One row (``what``, ``fleet``, ``expires``, ``action``) per fleet resource group found, in
    name order; ``action`` is ``removed``, ``would remove``, ``kept: ...`` or ``failed: ...``.
    ``only``: that fleet's groups alone (``fleet down`` without its record), whatever the
    expiry; other fleets' groups are not even listed."""
    rows: list[dict[str, str]] = []
    for group in sorted(gateway.list_groups(), key=lambda g: g["name"].lower()):
        if only is not None and _tag(group.get("tags") or {}, FLEET_TAG) != only:
            continue
        when = dt.datetime.max.replace(tzinfo=dt.timezone.utc) if only else now
        row = _sweep_group(gateway, group, when, dry_run)
        if row is not None:
            rows.append(row)
    return rows


def _sweep_group(
    gateway: AksGateway, group: Mapping[str, Any], now: dt.datetime, dry_run: bool
) -> dict[str, str] | None:
    tags: Mapping[str, str] = group.get("tags") or {}
    name = str(group["name"])
    if not is_tool_owned(tags) or group.get("managed_by"):
        return None  # not the tool's, or it goes with the resource that manages it
    fleet = _tag(tags, FLEET_TAG)
    if not fleet:
        return None  # a lab of the tool's, not a fleet's: `invoke down` removes it
    raw = _tag(tags, EXPIRES_TAG) or ""
    expires = parse_time(raw)
    shown = rfc3339(expires) if expires else raw
    lab = tags.get(TAG_LAB, "")
    what = f"resource group {name}" + (f" (AKS lab {lab})" if lab else "")

    def row(action: str) -> dict[str, str]:
        return {"what": what, "fleet": fleet, "expires": shown, "action": action}

    if expires is None:
        found = f"expiry tag {raw!r} is not a time" if raw else f"no {EXPIRES_TAG} tag"
        return row(f"kept: {found} (never taken as expired)")
    if expires > now:
        return row(f"kept: expires {shown}")
    if not lab:
        return row(f"kept: no {TAG_LAB} tag, so no lab to remove (az group delete -n {name})")
    if dry_run:
        return row("would remove")
    return row(_remove(gateway, name, lab))


def _remove(gateway: AksGateway, group: str, lab: str) -> str:
    """``invoke down``'s teardown of the lab's cluster and group: the action's text."""
    from provisioning.providers.aks.teardown import ABSENT, DELETED, teardown

    try:
        report = teardown(gateway, group, lab, lab=lab, wait=True)
    except LabError as exc:
        return "failed: " + one_line(str(exc))
    if report.group in (DELETED, ABSENT) and report.complete:
        return "removed"  # ABSENT: it went since it was listed
    return "failed: " + one_line(report.detail or f"resource group {group}: {report.group}")


def _tag(tags: Mapping[str, str], name: str) -> str | None:
    """The value of tag ``name``; Azure tag names are case-insensitive."""
    if name in tags:
        return tags[name]
    wanted = name.lower()
    for key, value in tags.items():
        if key.lower() == wanted:
            return value
    return None
