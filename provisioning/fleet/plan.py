"""The plan of a workshop fleet: who gets which lab, where, with which access, for how long.

Two shapes (``mode``):

* ``namespaces`` (the default from ``NAMESPACES_FROM`` attendees): one cluster, and per attendee
  a lab named ``<fleet>-<attendee>`` whose namespaces carry that name (``demo-ws1-alice``, the
  same suffixing a lab on a cluster you already have uses), a ServiceAccount with a Role and a
  RoleBinding in those namespaces only, and a kubeconfig with a time-bound token;
* ``clusters``: one cluster per attendee (kind clusters on this host with pod and service
  subnets that do not overlap, or AKS clusters), each the attendee's lab.

Everything the fleet creates carries the fleet's id (label ``FLEET_LABEL``) and its expiry
(annotation ``EXPIRES_ANNOTATION``, an RFC 3339 UTC time), so ``fleet sweep`` can find expired
fleets and nothing else. Planning is pure: no cluster, cloud or Docker is asked.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioning.errors import UsageError
from provisioning.fleet.roster import Attendee
from provisioning.spec import LabSpec, lab_labels

FLEET_LABEL = "netpol-lab.io/fleet"
EXPIRES_ANNOTATION = "netpol-lab.io/expires"
# Where an annotation cannot go: kind's node config takes labels only, and a label value may not
# hold ':' (``[A-Za-z0-9._-]``, apimachinery validation.IsValidLabelValue), so the expiry is
# written in ISO 8601's basic format there (``20261201T100000Z``).
EXPIRES_LABEL = "netpol-lab.io/expires"
# Azure tag names may not contain '/' (ARM "Resource naming and tagging"), hence other names.
FLEET_TAG = "netpol-lab-fleet"
EXPIRES_TAG = "netpol-lab-expires"
MODES = ("namespaces", "clusters")
NAMESPACES_FROM = 10  # attendees from which one shared cluster is the default
MAX_FLEET_ID = 20
MIN_EXPIRY = 600.0  # a TokenRequest's shortest expirationSeconds (fleet/kubeconfig.py)
MAX_EXPIRY = 7 * 24 * 3600.0
_ID_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class FleetSpec:
    """A fleet: its id, shape, attendees and lifetime, and the lab settings every lab shares
    (``base``: provider, engine, scenario or exercise, kubeconfig of an existing cluster)."""

    id: str
    mode: str
    attendees: tuple[Attendee, ...]
    expires_in: float  # seconds from ``created``
    base: LabSpec
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @property
    def expires_at(self) -> dt.datetime:
        return self.created + dt.timedelta(seconds=self.expires_in)

    def lab_name(self, attendee: Attendee) -> str:
        return f"{self.id}-{attendee.id}"

    def labels(self) -> dict[str, str]:
        """The labels every object of the fleet carries (with the lab's own)."""
        return {FLEET_LABEL: self.id}

    def annotations(self) -> dict[str, str]:
        return {EXPIRES_ANNOTATION: rfc3339(self.expires_at)}

    def header(self) -> dict[str, Any]:
        """What every fleet document starts with (plan, status): who, where, until when."""
        base = self.base
        return {
            "fleet": self.id,
            "mode": self.mode,
            "provider": base.provider,
            "engine": base.engine,
            "scenario": base.scenario,
            "exercise": base.exercise,
            "created": rfc3339(self.created),
            "expires": rfc3339(self.expires_at),
        }

    def node_labels(self) -> dict[str, str]:
        """kind nodes of the fleet's clusters: the fleet and its expiry, as labels."""
        return {FLEET_LABEL: self.id, EXPIRES_LABEL: label_time(self.expires_at)}

    def tags(self) -> dict[str, str]:
        """Azure resources of the fleet: the fleet and its expiry, as tags."""
        return {FLEET_TAG: self.id, EXPIRES_TAG: rfc3339(self.expires_at)}


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def label_time(moment: dt.datetime) -> str:
    """``moment`` in ISO 8601 basic format, valid as a label value."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def parse_time(value: Any) -> dt.datetime | None:
    """An expiry as written by the tool (RFC 3339 or the basic format), else None: a value
    that does not parse is never taken as expired."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y%m%dT%H%M%SZ"):
        try:
            return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            continue
    return None


def check_fleet_id(value: Any, *, where: str = "--fleet") -> str:
    if not isinstance(value, str) or not _ID_RE.match(value) or len(value) > MAX_FLEET_ID:
        raise UsageError(
            f"{where}: the fleet id must be lower-case letters, digits and '-', start and end "
            f"with a letter or digit, at most {MAX_FLEET_ID} characters (it is part of every "
            f"lab's name), got {value!r}"[:300]
        )
    return value


def choose_mode(mode: str | None, attendees: Sequence[Attendee], provider_creates: bool) -> str:
    """``mode`` as given, else namespaces from ``NAMESPACES_FROM`` attendees (or always on a
    cluster you already have: it is one cluster), clusters below."""
    if mode is None or mode == "":
        if not provider_creates or len(attendees) >= NAMESPACES_FROM:
            return "namespaces"
        return "clusters"
    if mode not in MODES:
        raise UsageError(f"--mode: unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    if mode == "clusters" and not provider_creates:
        raise UsageError(
            "--mode clusters: a cluster you already have is one cluster; use --mode namespaces "
            "(one lab per attendee in its own namespaces)"
        )
    return mode


def check_expiry(seconds: float, *, where: str = "--expires") -> float:
    if not MIN_EXPIRY <= seconds <= MAX_EXPIRY:
        raise UsageError(
            f"{where}: a fleet lives from 10m to 7d (the attendees' tokens expire with it), "
            f"got {seconds:g}s"
        )
    return seconds


AKS_NODE_GROUP_MAX = 80


def check_names(fleet: FleetSpec) -> None:
    """Names the cloud would refuse, refused before anything is created: AKS names a cluster's
    node resource group ``MC_<group>_<cluster>_<location>`` and refuses a create when that is
    longer than 80 characters (InvalidParameter; the limit is AKS's, reported by users, e.g.
    Azure/telescope#1056, rancher/rancher#21264, and documented only as the AKS naming rules
    linked from its error, aka.ms/aks-naming-rules)."""
    base = fleet.base
    if base.provider != "aks":
        return
    names = (
        [fleet.id] if fleet.mode == "namespaces" else [fleet.lab_name(a) for a in fleet.attendees]
    )
    for name in names:
        group = base.aks.resource_group if fleet.mode == "namespaces" else None
        group = group or f"{name}-rg"
        node_group = f"MC_{group}_{name}_{base.aks.location}"
        if len(node_group) > AKS_NODE_GROUP_MAX:
            raise UsageError(
                f"lab {name!r}: AKS would name its node resource group {node_group!r} "
                f"({len(node_group)} characters, at most {AKS_NODE_GROUP_MAX})",
                hint="use a shorter --fleet or shorter attendee ids in the roster",
            )


def attendee_namespaces(fleet: FleetSpec, attendee: Attendee) -> tuple[str, ...]:
    """The namespaces of one attendee's lab on the shared cluster (mode namespaces)."""
    from provisioning.lab.observe import lab_namespaces

    lab = fleet.lab_name(attendee)
    return lab_namespaces(LabSpec(name=lab, namespace_suffix=f"-{lab}"))


def attendee_access_namespaces(fleet: FleetSpec, attendee: Attendee) -> tuple[str, ...]:
    """Where an attendee's ServiceAccount gets its Role: their demo and other namespaces, not
    the canary's (a policy there would break their own lab's enforcement check)."""
    from provisioning.lab.canary import CANARY_NAMESPACE

    lab = fleet.lab_name(attendee)
    canary = LabSpec(name=lab, namespace_suffix=f"-{lab}").namespace(CANARY_NAMESPACE)
    return tuple(n for n in attendee_namespaces(fleet, attendee) if n != canary)


def access_objects(fleet: FleetSpec, attendee: Attendee) -> list[dict[str, Any]]:
    """The attendee's ServiceAccount, Roles and RoleBindings (mode namespaces), with the lab's
    and the fleet's marks: what ``fleet plan`` lists and ``fleet up`` grants."""
    from provisioning.fleet.rbac import attendee_rbac

    lab = fleet.lab_name(attendee)
    return attendee_rbac(
        lab,
        attendee_access_namespaces(fleet, attendee),
        labels={**lab_labels(lab), **fleet.labels()},
        annotations=fleet.annotations(),
    )


def plan_document(
    fleet: FleetSpec, *, capacity: Any = None, prices: str | None = None
) -> dict[str, Any]:
    """Everything ``fleet up`` would create, as data (``fleet plan --json``). ``capacity``: this
    host's (kind clusters mode; read from /proc when not given); ``prices``: a price table
    that replaces the shipped one (AKS)."""
    from provisioning.lab.objects import ref

    base = fleet.base
    rows: list[dict[str, Any]] = []
    subnets: list[tuple[str, str]] = []
    if fleet.mode == "clusters" and base.provider == "kind":
        from provisioning.fleet.capacity import kind_subnets

        subnets = kind_subnets(len(fleet.attendees))
    for i, attendee in enumerate(fleet.attendees):
        lab = fleet.lab_name(attendee)
        row: dict[str, Any] = {"id": attendee.id, "name": attendee.display, "lab": lab}
        if fleet.mode == "namespaces":
            namespaces = attendee_namespaces(fleet, attendee)
            objects = access_objects(fleet, attendee)
            row.update(
                cluster=fleet.id if base.provider != "existing" else "(yours)",
                namespaces=list(namespaces),
                access=[ref(o) for o in objects],
                kubeconfig=f"{lab}.kubeconfig",
            )
        else:
            row.update(cluster=lab, kubeconfig=f"{lab}.kubeconfig")
            if subnets:
                row.update(pod_subnet=subnets[i][0], service_subnet=subnets[i][1])
        rows.append(row)
    doc: dict[str, Any] = {
        **fleet.header(),
        "labels": fleet.labels(),
        "annotations": fleet.annotations(),
        "clusters": 1 if fleet.mode == "namespaces" else len(fleet.attendees),
        "attendees": rows,
    }
    if fleet.mode == "namespaces":
        from provisioning.fleet.rbac import ROLE_RULES

        doc["attendee_access"] = [dict(rule) for rule in ROLE_RULES]
    if fleet.mode == "clusters" and base.provider == "kind":
        from provisioning.fleet.capacity import capacity_document, host_capacity

        doc["capacity"] = capacity_document(
            capacity if capacity is not None else host_capacity(),
            wanted=len(fleet.attendees),
            nodes_per_cluster=1 + base.kind.workers,  # the control plane and the workers
            engine=base.engine,
        )
    if base.provider == "aks":
        from provisioning.fleet.cost import estimate

        doc["cost"] = estimate(
            base.aks.vm_size,
            base.aks.node_count,
            fleet.expires_in / 3600,
            len(fleet.attendees),
            region=base.aks.location,
            clusters=doc["clusters"],
            override_path=prices,
        ).as_dict()
    return doc


def render_text(doc: dict[str, Any]) -> str:
    """The plan for people: the fleet line, then one row per attendee."""
    head = (
        f"Fleet {doc['fleet']}: {len(doc['attendees'])} attendees, mode {doc['mode']} "
        f"({doc['clusters']} cluster{'s' if doc['clusters'] != 1 else ''} on {doc['provider']}, "
        f"engine {doc['engine']}, scenario {doc['scenario']}"
        + (f", exercise {doc['exercise']}" if doc["exercise"] else "")
        + f"), expires {doc['expires']}"
    )
    lines = [head, ""]
    if doc["mode"] == "namespaces":
        lines.append(f"  {'attendee':<22} {'lab':<32} namespaces")
        for row in doc["attendees"]:
            lines.append(f"  {row['name']:<22} {row['lab']:<32} {', '.join(row['namespaces'])}")
        lines += [
            "",
            "Each attendee's ServiceAccount may, in its own demo and other namespaces only:",
        ]
        for rule in doc["attendee_access"]:
            lines.append(
                f"  {', '.join(rule['verbs'])} {', '.join(rule['resources'])}: {rule['why']}"
            )
    else:
        lines.append(f"  {'attendee':<22} {'cluster':<32} subnets (pods, services)")
        for row in doc["attendees"]:
            nets = f"{row['pod_subnet']}, {row['service_subnet']}" if "pod_subnet" in row else "-"
            lines.append(f"  {row['name']:<22} {row['cluster']:<32} {nets}")
    for key in ("capacity", "cost"):
        for line in doc.get(key, {}).get("lines", ()):
            lines.append(line)
    return "\n".join(lines) + "\n"
