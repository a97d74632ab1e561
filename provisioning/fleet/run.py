"""``fleet up``, ``fleet down`` and ``fleet reset``: many labs, each run by the one lab pipeline.

A fleet is not a new kind of lab. Each attendee's lab is an ordinary lab named
``<fleet>-<attendee>``, brought up, reset and torn down by ``provisioning.lab`` like any other:

* mode ``namespaces``: the shared cluster is the fleet's own lab (``<fleet>``) brought up with
  its cluster steps only (kind or AKS; a cluster you already have is used as it is). Each
  attendee's lab is then a lab on a cluster you already have (provider ``existing``, pointed at
  that cluster's kubeconfig), so its namespaces carry its name (``demo-ws-att01``) and ``down``
  deletes exactly those. After its lab is up, the attendee gets a ServiceAccount, Role and
  RoleBinding in their own namespaces (``fleet/rbac.py``).
* mode ``clusters``: each attendee's lab is a kind lab (pod and service subnets of its own,
  ``fleet/capacity.py``) or an AKS lab (its own resource group), like ``invoke up --name``.

Every object the labs create also carries the fleet's label and expiry annotation; kind nodes
carry both as labels, Azure resources as tags (``fleet/plan.py``), so ``fleet sweep`` finds
them. Attendees run in parallel (``workers`` at a time); one attendee's failure is recorded and
reported and does not stop the others. The fleet record (``fleet/record.py``) is saved before
anything is created and after each attendee, so ``fleet up`` again completes what is missing and
``fleet down`` removes what is there.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from provisioning.documents import one_line
from provisioning.errors import LabError, OperationError, UsageError
from provisioning.fleet.plan import FleetSpec, parse_time
from provisioning.fleet.record import (
    AttendeeState,
    FleetRecord,
    RecordKeeper,
    host_spec,
    load_fleet,
    record_of,
)
from provisioning.fleet.roster import Attendee
from provisioning.fleet.table import FleetTable, RowProgress, Stopped
from provisioning.progress import Progress
from provisioning.runner import Runner
from provisioning.spec import ExistingSettings, LabSpec

DEFAULT_WORKERS = 8


@dataclass
class Seams:
    """What a fleet run talks to: the runner, the providers, the lab contexts' settings."""

    runner: Runner
    # (spec, read_only) -> Provider; the tasks build each provider from the registry, sharing
    # one API client per cluster between the labs on it.
    make_provider: Callable[[LabSpec, bool], Any]
    # Extra settings of each lab's pipeline context (tests: simulated time, the dataplane).
    context_settings: Callable[[LabSpec], dict[str, Any]] = field(default=lambda _spec: {})
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.timezone.utc))
    workers: int = DEFAULT_WORKERS
    # Mode namespaces: one provider per cluster for every attendee's lab on it, so what it
    # reads of the cluster once (the engine found there) is read once for the room.
    _shared: dict[bool, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def provider_for(self, fleet: FleetSpec, spec: LabSpec, read_only: bool) -> Any:
        if fleet.mode != "namespaces":
            return self.make_provider(spec, read_only)
        with self._lock:
            if read_only not in self._shared:
                self._shared[read_only] = self.make_provider(spec, read_only)
            return self._shared[read_only]


class BoundedRunner:
    """A runner that runs at most ``limit`` commands at once, for all the labs of a fleet: 50
    labs validating together would otherwise start one ``kubectl exec`` per source pod each
    (``validation/probe_kubectl.py``), some 200 processes at once on the instructor's machine.
    A command waiting for a slot is only delayed; probe timeouts are measured inside the pod."""

    def __init__(self, inner: Runner, limit: int = 32) -> None:
        self.inner = inner
        self._slots = threading.BoundedSemaphore(limit)

    def run(self, argv: Sequence[str], **kwargs: Any) -> Any:
        with self._slots:
            return self.inner.run(argv, **kwargs)

    def which(self, program: str) -> str | None:
        return self.inner.which(program)


@dataclass(frozen=True)
class Outcome:
    attendee: Attendee
    lab: str
    ok: bool
    detail: str
    seconds: float
    steps: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    log: tuple[str, ...] = ()  # the lab run's own lines (step results, a validation table)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.attendee.id,
            "name": self.attendee.display,
            "lab": self.lab,
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 2),
            "steps": list(self.steps),
            "warnings": list(self.warnings),
            "log": list(self.log),
        }


# --- the labs of a fleet ------------------------------------------------------------------------


def fleet_from_record(record: FleetRecord, base: LabSpec) -> FleetSpec:
    """The fleet a record describes, with ``base``'s other settings (profile, timeouts, ...)."""
    created = parse_time(record.created)
    assert created is not None  # load_fleet checked it
    existing = base.existing
    if record.kubeconfig is not None:
        existing = ExistingSettings(kubeconfig=Path(record.kubeconfig), context=record.context)
    spec = replace(
        base,
        provider=record.provider,
        engine=record.engine,
        scenario=record.scenario,
        exercise=record.exercise,
        existing=existing,
    )
    return FleetSpec(
        record.fleet,
        record.mode,
        record.attendees,
        (record.expires_at - created).total_seconds(),
        spec,
        created,
    )


def shared_cluster(fleet: FleetSpec) -> LabSpec:
    """The fleet's own lab: in mode namespaces on kind or AKS, the shared cluster, labelled
    (nodes) or tagged (Azure) with the fleet and its expiry."""
    base = fleet.base
    return replace(
        host_spec(base, fleet.id),
        kind=replace(base.kind, labels={**base.kind.labels, **fleet.node_labels()}),
        aks=replace(base.aks, tags={**base.aks.tags, **fleet.tags()}),
    )


def cluster_access(fleet: FleetSpec) -> tuple[Path, str | None]:
    """The kubeconfig and context of the shared cluster (mode namespaces)."""
    base = fleet.base
    if base.provider == "existing" or base.existing.kubeconfig is not None:
        path = base.existing.kubeconfig
        if path is None:
            raise UsageError("--kubeconfig: a fleet on a cluster you already have needs it")
        context = base.existing.context
        if context is None:
            from provisioning.kube import current_context

            context = current_context(path)
        return path, context
    return shared_cluster(fleet).kubeconfig, None


def attendee_spec(fleet: FleetSpec, attendee: Attendee, index: int = 0) -> LabSpec:
    """One attendee's lab, as any lab: see the module docstring."""
    base = fleet.base
    lab = fleet.lab_name(attendee)
    common: dict[str, Any] = {
        "name": lab,
        "explicit": frozenset(),
        # Every object the lab applies carries the fleet's id and expiry.
        "object_labels": fleet.labels(),
        "object_annotations": fleet.annotations(),
    }
    if fleet.mode == "namespaces":
        kubeconfig, context = cluster_access(fleet)
        return replace(
            base,
            provider="existing",
            existing=ExistingSettings(kubeconfig=kubeconfig, context=context),
            namespace_suffix=f"-{lab}",
            **common,
        )
    kind = replace(base.kind, labels={**base.kind.labels, **fleet.node_labels()})
    if base.provider == "kind":
        pods, services = _subnets(len(fleet.attendees))[index]
        kind = replace(kind, pod_subnet=pods, service_subnet=services)
    # Each attendee's AKS cluster gets a resource group of its own ("<lab>-rg"), so one
    # attendee's `down` never waits on, or keeps, another's.
    aks = replace(base.aks, tags={**base.aks.tags, **fleet.tags()}, resource_group=None)
    return replace(base, kind=kind, aks=aks, **common)


@functools.lru_cache(maxsize=8)
def _subnets(count: int) -> list[tuple[str, str]]:
    """``capacity.kind_subnets(count)``, computed once per fleet size, not once per attendee."""
    from provisioning.fleet.capacity import kind_subnets

    return kind_subnets(count)


def lab_context(
    fleet: FleetSpec,
    spec: LabSpec,
    seams: Seams,
    progress: Progress,
    *,
    read_only: bool = False,
) -> Any:
    """The pipeline context of one attendee's lab (``attendee_spec``: its objects carry the
    fleet's marks), with the provider the fleet shares for that cluster."""
    from provisioning.lab.pipeline import build_context

    provider = seams.provider_for(fleet, spec, read_only)
    return build_context(spec, seams.runner, progress, provider, **seams.context_settings(spec))


def grant_access(kube: Any, fleet: FleetSpec, attendee: Attendee) -> int:
    """Apply the attendee's ServiceAccount, Roles and RoleBindings that are missing or differ
    (by the spec hash every lab object carries); returns how many were applied. A second
    ``fleet up`` reads them and writes nothing."""
    from provisioning.fleet.plan import access_objects
    from provisioning.lab.objects import observed_hash, with_hash

    wanted = [with_hash(o) for o in access_objects(fleet, attendee)]
    stale = []
    for obj in wanted:
        meta = obj["metadata"]
        current = kube.get(obj["apiVersion"], obj["kind"], meta["name"], meta["namespace"])
        if current is None or observed_hash(current) != observed_hash(obj):
            stale.append(obj)
    if stale:
        kube.apply(stale)
    return len(stale)


# --- running attendees in parallel --------------------------------------------------------------


def run_attendees(
    fleet: FleetSpec,
    attendees: Sequence[Attendee],
    work: Callable[[Attendee, int, RowProgress], str],
    seams: Seams,
    *,
    title: str,
    stream: Any,
    live: bool | None,
) -> list[Outcome]:
    """``work`` for each attendee, ``seams.workers`` at a time, a row each in a ``FleetTable``
    on ``stream``; a failure is the attendee's outcome (its one line), never the others'.
    Ctrl-C stops every attendee at its next step."""
    index = {a.id: i for i, a in enumerate(fleet.attendees)}
    rows = [(a.id, f"{a.display} ({fleet.lab_name(a)})") for a in attendees]
    table = FleetTable(stream, rows, title=title, live=live, clock=seams.clock)

    def one(attendee: Attendee) -> Outcome:
        key = attendee.id
        progress = RowProgress(table, key, clock=seams.clock)
        table.begin(key)
        started = seams.clock()
        try:
            detail = work(attendee, index.get(key, 0), progress)
            ok = True
        except Stopped as exc:
            ok, detail = False, str(exc)
        except LabError as exc:
            ok, detail = False, one_line(str(exc))
        except Exception as exc:  # one attendee's bug must not stop the room
            ok, detail = False, one_line(f"unexpected {type(exc).__name__}: {exc}")
        table.finish(key, ok, detail)
        return Outcome(
            attendee,
            fleet.lab_name(attendee),
            ok,
            detail,
            seams.clock() - started,
            tuple(r.as_dict() for r in progress.records),
            tuple(progress.warnings),
            tuple(progress.lines),
        )

    with table, ThreadPoolExecutor(max_workers=max(1, seams.workers)) as pool:
        futures = [pool.submit(one, a) for a in attendees]
        try:
            return [f.result() for f in futures]
        except KeyboardInterrupt:
            table.stop.set()
            for f in futures:
                f.cancel()
            raise


# --- fleet up ---------------------------------------------------------------------------------


@dataclass
class FleetResult:
    fleet: FleetSpec
    outcomes: list[Outcome]
    cluster: dict[str, Any] | None = None  # the shared cluster's steps (mode namespaces)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "fleet": self.fleet.id,
            "mode": self.fleet.mode,
            "provider": self.fleet.base.provider,
            "expires": self.fleet.annotations(),
            "cluster": self.cluster,
            "attendees": [o.as_dict() for o in self.outcomes],
            "ok": not self.failed,
            "failed": [o.attendee.id for o in self.failed],
            "notes": list(self.notes),
        }


def check_not_a_lab(host: LabSpec, record: FleetRecord | None) -> None:
    """The fleet's folder must be the fleet's: a lab of that name that is not a fleet's (a lab
    record, no fleet record) is refused (its cluster would be taken for the fleet's)."""
    from provisioning.lab.state import load_record

    if record is None and load_record(host) is not None:
        raise UsageError(
            f"--fleet {host.name}: a lab named {host.name!r} exists and is not a fleet",
            hint="choose another --fleet, or remove that lab with "
            f"`invoke down --name {host.name}`",
        )


def fleet_up(
    fleet: FleetSpec,
    seams: Seams,
    progress: Progress,
    *,
    validate: bool = True,
    canary: bool = True,
    yes: bool = False,
    stream: Any = None,
    live: bool | None = None,
) -> FleetResult:
    """Bring every attendee's lab up (and the shared cluster first, in mode namespaces)."""
    from provisioning.lab import pipeline
    from provisioning.lab.state import lab_lock

    base = fleet.base
    host = shared_cluster(fleet)
    found = load_fleet(host)
    check_not_a_lab(host, found)
    kubeconfig = context = None
    if fleet.mode == "namespaces" and base.provider == "existing":
        path, context = cluster_access(fleet)
        kubeconfig = str(path)
    keeper = RecordKeeper(host, found or record_of(fleet, kubeconfig=kubeconfig, context=context))
    keeper.update(attendees=_union(keeper.record.attendees, fleet.attendees), phase="creating")
    result = FleetResult(fleet, [])

    if fleet.mode == "namespaces" and base.provider != "existing":
        with progress.step(f"Shared cluster {fleet.id} on {base.provider}") as h:
            ctx = pipeline.build_context(
                host,
                seams.runner,
                Progress(_Sink(h), spinner=False),
                seams.make_provider(host, False),
                **seams.context_settings(host),
            )
            ctx.workload, ctx.policies = [], []  # the cluster and its engine only
            up = pipeline.up(ctx, yes=yes, validate=False)
            result.cluster = {
                "lab": host.name,
                "changed": bool(up.plan.changes),
                "steps": [r.as_dict() for r in ctx.progress.records],
                "kubeconfig": str(host.kubeconfig),
            }
            h.note(f"kubeconfig: {host.kubeconfig}")

    def work(attendee: Attendee, index: int, row: RowProgress) -> str:
        spec = attendee_spec(fleet, attendee, index)
        started = seams.clock()
        try:
            with lab_lock(spec, "invoke fleet up"):
                ctx = lab_context(fleet, spec, seams, row)
                ctx.run_canary = canary
                pipeline.up(ctx, yes=yes, validate=validate)
                if fleet.mode == "namespaces":
                    with row.step("Grant the attendee access to their namespaces"):
                        grant_access(ctx.kube, fleet, attendee)
        except LabError as exc:
            seconds = seams.clock() - started
            keeper.attendee(attendee.id, AttendeeState("failed", one_line(str(exc)), seconds))
            raise
        keeper.attendee(attendee.id, AttendeeState("ready", None, seams.clock() - started))
        return "validated" if validate else "up (not validated)"

    try:
        result.outcomes = run_attendees(
            fleet,
            fleet.attendees,
            work,
            seams,
            title=f"Fleet {fleet.id}",
            stream=stream or progress.stream,
            live=live,
        )
    finally:
        keeper.flush()
    keeper.update(phase="failed" if result.failed else "ready")
    return result


def _union(old: Sequence[Attendee], new: Sequence[Attendee]) -> tuple[Attendee, ...]:
    """The attendees of a record and of this run (a late joiner is added), first seen first."""
    seen: dict[str, Attendee] = {}
    for a in (*old, *new):
        if a.id not in seen or (a.name and not seen[a.id].name):
            seen[a.id] = a
    return tuple(seen.values())


class _Sink:
    """A stream that turns the shared cluster's step lines into the fleet step's updates."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def write(self, text: str) -> None:
        line = text.strip()
        if line:
            self.handle.update(line[:160])

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


# --- fleet down -------------------------------------------------------------------------------


@dataclass
class DownResult:
    fleet: str
    removed: list[str]
    outcomes: list[Outcome]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "fleet": self.fleet,
            "removed": self.removed,
            "attendees": [o.as_dict() for o in self.outcomes],
            "ok": not self.failed,
            "failed": [o.attendee.id for o in self.failed],
        }


def fleet_down(
    fleet: FleetSpec,
    seams: Seams,
    progress: Progress,
    *,
    stream: Any = None,
    live: bool | None = None,
    no_wait: bool = False,
) -> DownResult:
    """Remove every lab of the fleet, then its record. Mode namespaces on kind or AKS: the
    shared cluster goes, and the attendees' labs with it (their local files are forgotten);
    on a cluster you already have, each attendee's namespaces go. Mode clusters: each
    attendee's cluster goes. Safe to run twice; an attendee that fails keeps the record. The
    caller holds the fleet's lock (``lab_lock`` of ``host_spec``), as for ``fleet_up``."""
    from provisioning.lab import teardown
    from provisioning.lab.state import forget, lab_lock

    host = shared_cluster(fleet)
    removed: list[str] = []
    shared = fleet.mode == "namespaces" and fleet.base.provider != "existing"
    if shared:  # the caller holds the fleet's lock, which is the shared cluster's lab's
        with progress.step(f"Delete the shared {fleet.base.provider} cluster {fleet.id}") as h:
            gone = teardown.down(
                host,
                seams.make_provider(host, False),
                Progress(_Sink(h), spinner=False),
                yes=True,
                no_wait=no_wait,
                **_down_settings(seams, host),
            )
        removed += list(gone.removed)
        for attendee in fleet.attendees:
            forget(attendee_spec(fleet, attendee))  # their namespaces went with the cluster
        forget(host)
        return DownResult(fleet.id, removed, [])
    keeper = RecordKeeper(host, load_fleet(host) or record_of(fleet, kubeconfig=None, context=None))

    def work(attendee: Attendee, index: int, row: RowProgress) -> str:
        spec = attendee_spec(fleet, attendee, index)
        with lab_lock(spec, "invoke fleet down", optional=True):
            gone = teardown.down(
                spec,
                seams.make_provider(spec, False),
                row,
                yes=True,
                no_wait=no_wait,
                **_down_settings(seams, spec),
            )
        keeper.drop(attendee.id)
        return f"removed {', '.join(gone.removed)}" if gone.removed else "nothing to remove"

    try:
        outcomes = run_attendees(
            fleet,
            fleet.attendees,
            work,
            seams,
            title=f"Fleet {fleet.id}: down",
            stream=stream or progress.stream,
            live=live,
        )
    finally:
        keeper.flush()
    for o in outcomes:
        if o.ok and o.detail != "nothing to remove":
            removed.append(o.lab)
    if not any(not o.ok for o in outcomes):
        forget(host)
    return DownResult(fleet.id, removed, outcomes)


def _down_settings(seams: Seams, spec: LabSpec) -> dict[str, Any]:
    settings = seams.context_settings(spec)
    out: dict[str, Any] = {}
    if "sleep" in settings:
        out["sleep"] = settings["sleep"]
    if "poll_interval" in settings:
        out["poll_interval"] = settings["poll_interval"]
    return out


# --- fleet reset ------------------------------------------------------------------------------


def chosen(fleet: FleetSpec, ids: Sequence[str] | None, *, where: str) -> list[Attendee]:
    """The attendees named by ``ids`` (all when None); an unknown id is one line."""
    if ids is None:
        return list(fleet.attendees)
    known = {a.id: a for a in fleet.attendees}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UsageError(
            f"{where}: no attendee {unknown[0]!r} in fleet {fleet.id}",
            hint="`invoke fleet status` lists them; a late joiner is added with `invoke fleet "
            "up --roster FILE` (the roster with their line added)",
        )
    return [known[i] for i in dict.fromkeys(ids)]


def fleet_reset(
    fleet: FleetSpec,
    attendees: Sequence[Attendee],
    seams: Seams,
    progress: Progress,
    *,
    validate: bool = True,
    canary: bool = True,
    stream: Any = None,
    live: bool | None = None,
) -> list[Outcome]:
    """Each chosen attendee's lab back to the fleet's baseline (``invoke reset`` on each)."""
    from provisioning.lab.reset import reset
    from provisioning.lab.state import lab_lock, load_record

    def work(attendee: Attendee, index: int, row: RowProgress) -> str:
        spec = attendee_spec(fleet, attendee, index)
        if load_record(spec) is None:
            raise OperationError(
                f"lab {spec.name} is not up",
                hint="`invoke fleet up` brings up the attendees whose labs are missing",
            )
        with lab_lock(spec, "invoke fleet reset"):
            ctx = lab_context(fleet, spec, seams, row)
            ctx.run_canary = canary
            report = reset(ctx, validate=validate)
            if fleet.mode == "namespaces":  # the attendee's access, as it was granted
                grant_access(ctx.kube, fleet, attendee)
        changes = len(report.changes)
        return f"{changes} change{'s' if changes != 1 else ''}" if changes else "at its baseline"

    return run_attendees(
        fleet,
        attendees,
        work,
        seams,
        title=f"Fleet {fleet.id}: reset",
        stream=stream or progress.stream,
        live=live,
    )
