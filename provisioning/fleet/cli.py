"""``invoke fleet ACTION``: the flags of the task turned into a fleet, and each action's output.

``tasks.py`` only parses flags; this module decides what a fleet is from them and from its
record, runs the action and prints its result (a table or step lines on stderr, ``--json``
on stdout, an HTML dashboard with ``--html``). User errors are ``UsageError`` (exit 2), failed
operations ``OperationError`` or an exit code of 1, as everywhere in the tool.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from provisioning.errors import EXIT_FAILED, EXIT_USAGE, UsageError
from provisioning.fleet.plan import (
    EXPIRES_ANNOTATION,
    FleetSpec,
    check_expiry,
    check_names,
    choose_mode,
    plan_document,
)
from provisioning.fleet.record import FleetRecord, host_spec, load_fleet
from provisioning.fleet.roster import Attendee, load_roster, numbered
from provisioning.fleet.run import DEFAULT_WORKERS, Seams, fleet_from_record
from provisioning.spec import LabSpec

DEFAULT_EXPIRY = "6h"
# Attendees at once: labs on one cluster are light; kind clusters share this host's CPU and
# memory (the capacity check says how many fit at all); AKS clusters are built by Azure.
WORKERS = {"namespaces": 50, "kind": 3, "aks": 30}


@dataclass
class Outcome:
    """What the task should print and exit with."""

    document: Any = None  # --json
    text: str = ""  # stdout without --json
    code: int = 0
    message: str = ""  # the one line on failure


def parse_ids(value: Any, *, where: str) -> list[str] | None:
    if value is None:
        return None
    ids = [part.strip() for part in str(value).split(",") if part.strip()]
    if not ids:
        raise UsageError(f"{where}: give attendee ids, e.g. att03 or att03,att07")
    return ids


def attendees_of(attendees: Any, roster: Any) -> tuple[Attendee, ...] | None:
    if attendees is not None and roster is not None:
        raise UsageError("give one of --attendees N and --roster FILE")
    if attendees is not None:
        return numbered(attendees)
    if roster is not None:
        return load_roster(roster)
    return None


def new_fleet(
    base: LabSpec,
    fleet_id: str,
    people: tuple[Attendee, ...] | None,
    mode: str | None,
    expires: str | None,
) -> FleetSpec:
    """The fleet from the flags alone (``plan``, a first ``up``)."""
    from provisioning.profiles import parse_duration
    from provisioning.providers import info as provider_info

    if people is None:
        raise UsageError("give one of --attendees N and --roster FILE")
    lifetime = check_expiry(parse_duration(expires or DEFAULT_EXPIRY, where="--expires"))
    chosen = choose_mode(mode, people, provider_info(base.provider).creates_clusters)
    if base.provider == "existing":
        if base.existing.kubeconfig is None:
            raise UsageError(
                "--kubeconfig: a fleet on a cluster you already have needs its kubeconfig"
            )
        if base.existing.context is None:  # named once: every attendee's lab uses it
            from provisioning.kube import current_context

            context = current_context(base.existing.kubeconfig)
            base = replace(base, existing=replace(base.existing, context=context))
    fleet = FleetSpec(fleet_id, chosen, people, lifetime, base)
    check_names(fleet)
    return fleet


def known_fleet(
    base: LabSpec,
    fleet_id: str,
    *,
    people: tuple[Attendee, ...] | None = None,
    mode: str | None = None,
    expires: str | None = None,
    renumber: bool = False,
    create: bool = True,
) -> tuple[FleetSpec, FleetRecord] | tuple[FleetSpec, None] | tuple[None, None]:
    """The fleet its record describes (the flags that would change it are refused), else the
    fleet of the flags with no record (``create``), else ``(None, None)``. A damaged record
    raises ``DamagedRecord``."""
    record = load_fleet(host_spec(base, fleet_id))
    if record is None:
        if not create:
            return None, None
        return new_fleet(base, fleet_id, people, mode, expires), None
    for flag, given, kept in (
        ("--mode", mode, record.mode),
        ("--provider", base.provider if "provider" in base.explicit else None, record.provider),
        ("--engine", base.engine if "engine" in base.explicit else None, record.engine),
        ("--exercise", base.exercise if "exercise" in base.explicit else None, record.exercise),
    ):
        if given is not None and given != kept:
            raise UsageError(
                f"{flag} {given}: fleet {fleet_id} was made with {kept or 'none'}; a fleet "
                "keeps its settings",
                hint=f"leave {flag} out, or remove the fleet first (`invoke fleet down "
                f"--fleet {fleet_id}`)",
            )
    if expires is not None:
        raise UsageError(
            f"--expires: fleet {fleet_id} expires {record.expires} (its tokens and labels say "
            "so); leave --expires out",
            hint="a new expiry needs a new fleet",
        )
    fleet = fleet_from_record(record, base)
    if people:
        from provisioning.fleet.run import _union

        if renumber:
            people = same_numbers(fleet.attendees, people)
        fleet = replace(fleet, attendees=_union(fleet.attendees, people))
    return fleet, record


def same_numbers(
    recorded: tuple[Attendee, ...], people: tuple[Attendee, ...]
) -> tuple[Attendee, ...]:
    """``--attendees N`` ids (``att01``; ``att001`` from 100 on: the width follows N) mapped
    to the recorded id of the same number, so growing a room from 99 to 100 adds one."""
    import re

    number = re.compile(r"att(\d+)")
    known = {int(m.group(1)): a.id for a in recorded if (m := number.fullmatch(a.id))}
    return tuple(
        replace(p, id=known.get(int(m.group(1)), p.id)) if (m := number.fullmatch(p.id)) else p
        for p in people
    )


def seams_for(fleet: FleetSpec | None, workers: Any) -> Seams:
    """The real seams: subprocesses, the registry's providers, one API client per cluster
    shared by the labs on it."""
    from provisioning.fleet.run import BoundedRunner
    from provisioning.providers import make
    from provisioning.runner import SubprocessRunner

    runner = BoundedRunner(SubprocessRunner())
    size = _workers(fleet, workers)
    clients: dict[tuple[str, str | None], Any] = {}
    lock = threading.Lock()

    def shared_client(path: Path, context: str | None = None) -> Any:
        from provisioning.kube import ClientKube

        key = (str(path), context)
        with lock:
            if key not in clients:
                clients[key] = ClientKube(path, context, pool_size=size + 4)
            return clients[key]

    def make_provider(spec: LabSpec, read_only: bool) -> Any:
        extra = {"kube_factory": shared_client} if spec.provider == "existing" else {}
        return make(spec, runner=runner, read_only=read_only, **extra)

    return Seams(runner, make_provider, workers=size)


def _workers(fleet: FleetSpec | None, value: Any) -> int:
    if value is not None:
        text = str(value).strip()
        if not text.isdigit() or not 1 <= int(text) <= 200:
            raise UsageError(f"--workers: expected a number from 1 to 200, got {value!r}"[:200])
        return int(text)
    if fleet is None or fleet.mode == "namespaces":
        return WORKERS["namespaces"]
    return WORKERS.get(fleet.base.provider, DEFAULT_WORKERS)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


# --- actions ------------------------------------------------------------------------------------


def plan(fleet: FleetSpec, prices: Any) -> Outcome:
    from provisioning.fleet.plan import render_text

    doc = plan_document(fleet, prices=prices)
    capacity = doc.get("capacity")
    out = Outcome(document=doc, text=render_text(doc))
    if capacity and not capacity["ok"]:
        out.code = EXIT_USAGE
        out.message = (
            f"{capacity['fit']} of {capacity['wanted']} kind clusters fit on this host; use "
            "--mode namespaces (one cluster) or fewer attendees"
        )
    return out


def up(
    fleet: FleetSpec,
    record: FleetRecord | None,
    seams: Seams,
    progress: Any,
    *,
    prices: Any,
    yes: bool,
    confirm: Any,
    validate: bool,
    canary: bool,
) -> Outcome:
    from provisioning.fleet.run import fleet_up
    from provisioning.lab.confirm import require_confirmation
    from provisioning.lab.state import lab_lock

    if seams.now() >= fleet.expires_at:
        raise UsageError(
            f"fleet {fleet.id} expired at {fleet.annotations()[EXPIRES_ANNOTATION]}; its labs "
            "would be labelled as already expired",
            hint=f"remove it with `invoke fleet down --fleet {fleet.id}` and make a new one",
        )
    planned = plan(fleet, prices)
    new = _to_create(fleet) if fleet.mode == "clusters" else []
    capacity = planned.document.get("capacity")
    # What fits is read from this host's free memory and CPUs, which the fleet's running
    # clusters already use: only the clusters still to create must fit.
    if capacity and len(new) > capacity["fit"]:
        raise UsageError(planned.message if record is None else capacity_message(capacity, new))
    cost = planned.document.get("cost")
    clusters = (0 if record is not None else 1) if fleet.mode == "namespaces" else len(new)
    if cost and clusters:
        for line in cost.get("lines", ()):
            _stderr(line)
        share = cost["total_usd"] * clusters / max(planned.document["clusters"], 1)
        require_confirmation(
            f"Create {clusters} AKS cluster{'s' if clusters != 1 else ''} for fleet "
            f"{fleet.id} (about ${share:.2f} until it expires)",
            yes=yes,
            confirm=confirm,
        )
    started = seams.clock()
    with lab_lock(host_spec(fleet.base, fleet.id), "invoke fleet up"):
        result = fleet_up(fleet, seams, progress, validate=validate, canary=canary, yes=True)
    doc = result.as_dict()
    took = _duration(seams.clock() - started)
    total, failed = len(result.outcomes), result.failed
    lines = []
    if failed:
        lines.append(f"✗ Fleet {fleet.id}: {total - len(failed)} of {total} labs up in {took}.")
        for o in failed:
            lines.append(f"  ✗ {o.attendee.display} ({o.lab}): {o.detail}")
            for line in o.log[-12:]:
                if line.startswith(("✗", "FAIL", "  ✗")):
                    lines.append(f"      {line}")
        lines.append(f"  `invoke fleet up --fleet {fleet.id}` again retries them")
    else:
        done = "validated" if validate else "up, not validated"
        lines.append(f"✓ Fleet {fleet.id}: {total} of {total} labs {done} in {took}.")
    lines.append(
        f"  Attendee kubeconfigs: invoke fleet kubeconfigs --fleet {fleet.id} --out DIR; "
        f"progress: invoke fleet status --fleet {fleet.id} --html fleet.html"
    )
    out = Outcome(document=doc, text="")
    for line in lines:
        _stderr(line)
    if failed:
        out.code = EXIT_FAILED
        out.message = f"{len(failed)} of {total} attendees' labs failed (named above)"
    return out


def _to_create(fleet: FleetSpec) -> list[Attendee]:
    """The attendees whose lab was never brought up (no lab record): a first ``up``, or late
    joiners; a lab with a record is the fleet's own, already running or being completed."""
    from provisioning.fleet.run import attendee_spec
    from provisioning.lab.state import load_record

    return [
        a for i, a in enumerate(fleet.attendees) if load_record(attendee_spec(fleet, a, i)) is None
    ]


def capacity_message(capacity: dict[str, Any], new: list[Attendee]) -> str:
    return (
        f"{len(new)} more kind cluster{'s' if len(new) != 1 else ''} do not fit beside the "
        f"fleet's running ones ({capacity['fit']} fit on this host in all); free memory or CPUs, "
        "or add fewer attendees"
    )


def status(
    fleet: FleetSpec,
    record: FleetRecord,
    seams: Seams,
    *,
    check: bool,
    probe: bool,
    html: Any,
    watch: Any,
    json_out: bool,
) -> Outcome:
    from provisioning.fleet.status import fleet_status, render_text

    if check and not fleet.base.exercise:
        raise UsageError(
            f"fleet {fleet.id} runs scenario {fleet.base.scenario}, not an exercise: there is "
            "nothing to grade",
            hint=f"`invoke fleet status --fleet {fleet.id}` shows every lab",
        )
    interval = None
    if watch is not None:
        from provisioning.profiles import parse_duration

        interval = parse_duration(watch, where="--watch")
        if interval < 2:
            raise UsageError("--watch: at least 2s between refreshes")
    while True:
        doc = fleet_status(fleet, record, seams, probe=probe)
        if html:
            from provisioning.fleet.dashboard import write_dashboard

            refresh = int(interval) if interval else None
            write_dashboard(Path(html), doc, refresh=refresh)
        if interval is None:
            break
        if not json_out:  # a refreshing screen; with --json, one document when stopped
            stamp = time.strftime("%H:%M:%S")
            print(f"\x1b[2J\x1b[H{render_text(doc)}  (refreshed {stamp}; Ctrl-C stops)", flush=True)
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            break
    out = Outcome(document=doc, text="" if interval else render_text(doc))
    if html:
        out.text += f"  dashboard: {html}\n"
    if check and not all(r["state"] == "done" for r in doc["attendees"]):
        out.code = EXIT_FAILED
    return out


def reset(
    fleet: FleetSpec,
    ids: list[str] | None,
    everyone: bool,
    seams: Seams,
    progress,
    *,
    validate: bool,
    canary: bool,
) -> Outcome:
    from provisioning.fleet.run import chosen, fleet_reset
    from provisioning.lab.state import lab_lock

    if ids is None and not everyone:
        raise UsageError(
            "give --attendee ID[,ID...] (the late joiner, the attendee who is stuck) or --all"
        )
    who = chosen(fleet, ids, where="--attendee")
    with lab_lock(host_spec(fleet.base, fleet.id), "invoke fleet reset"):
        outcomes = fleet_reset(fleet, who, seams, progress, validate=validate, canary=canary)
    failed = [o for o in outcomes if not o.ok]
    doc = {"fleet": fleet.id, "attendees": [o.as_dict() for o in outcomes], "ok": not failed}
    for o in failed:
        _stderr(f"  ✗ {o.attendee.display} ({o.lab}): {o.detail}")
    if failed:
        return Outcome(doc, "", EXIT_FAILED, f"{len(failed)} of {len(outcomes)} resets failed")
    _stderr(f"✓ Fleet {fleet.id}: {len(outcomes)} lab(s) back at the baseline.")
    return Outcome(doc)


def kubeconfigs(fleet: FleetSpec, ids: list[str] | None, out_dir: Any, seams: Seams) -> Outcome:
    from provisioning.fleet.issue import issue_kubeconfigs
    from provisioning.fleet.run import chosen

    if not out_dir or not str(out_dir).strip():
        raise UsageError("--out: give the folder to write the attendees' kubeconfigs in")
    who = chosen(fleet, ids, where="--attendee")
    rows = issue_kubeconfigs(fleet, who, seams, Path(out_dir))
    lines = []
    for row in rows:
        if row.get("path"):
            until = f" (token until {row['token_expires']})" if row.get("token_expires") else ""
            lines.append(f"  ✓ {row['id']}: {row['path']}{until}")
            if row.get("note"):
                lines.append(f"    note: {row['note']}")
        else:
            lines.append(f"  ✗ {row['id']}: {row['error']}")
    failed = [r for r in rows if not r.get("path")]
    text = "\n".join(lines) + "\n"
    doc = {"fleet": fleet.id, "out": str(out_dir), "kubeconfigs": rows, "ok": not failed}
    if failed:
        return Outcome(doc, text, EXIT_FAILED, f"{len(failed)} kubeconfigs could not be issued")
    text += (
        "Each attendee: export KUBECONFIG=$PWD/<their file>; kubectl get pods "
        "(their namespace is the default).\n"
        if fleet.mode == "namespaces"
        else ""
    )
    return Outcome(doc, text)


def down(
    fleet: FleetSpec, seams: Seams, progress: Any, *, yes: bool, confirm: Any, no_wait: bool
) -> Outcome:
    from provisioning.fleet.run import fleet_down
    from provisioning.lab.confirm import require_confirmation
    from provisioning.lab.state import lab_lock

    shared = fleet.mode == "namespaces"
    what = (
        f"the shared {fleet.base.provider} cluster {fleet.id} and its {len(fleet.attendees)} labs"
        if shared and fleet.base.provider != "existing"
        else f"the {len(fleet.attendees)} attendees' "
        + ("namespaces" if shared else f"{fleet.base.provider} clusters")
    )
    require_confirmation(f"Delete {what} of fleet {fleet.id}", yes=yes, confirm=confirm)
    with lab_lock(host_spec(fleet.base, fleet.id), "invoke fleet down", optional=True):
        result = fleet_down(fleet, seams, progress, no_wait=no_wait)
    doc = result.as_dict()
    if result.failed:
        for o in result.failed:
            _stderr(f"  ✗ {o.attendee.display} ({o.lab}): {o.detail}")
        return Outcome(
            doc,
            "",
            EXIT_FAILED,
            f"{len(result.failed)} attendees' labs could not be removed; run `invoke fleet down "
            f"--fleet {fleet.id}` again",
        )
    _stderr(f"✓ Fleet {fleet.id} removed: {len(result.removed)} item(s).")
    return Outcome(doc)


def azure_gateway(base: LabSpec) -> Any:
    """The subscription's ARM (``--subscription`` in a profile, or AZURE_SUBSCRIPTION_ID)."""
    from provisioning.providers.aks.gateway import AksGateway, resolve_subscription

    return AksGateway(resolve_subscription(base.aks.subscription_id))


def down_by_labels(
    base: LabSpec,
    fleet_id: str,
    seams: Seams,
    progress: Any,
    *,
    yes: bool,
    confirm: Any,
    azure: Any = None,
) -> Outcome:
    """``fleet down`` when the fleet's record is gone or damaged: what carries the fleet's
    label or tag (kind clusters on this host; with ``--kubeconfig``, namespaces there; on AKS,
    resource groups), found as ``fleet sweep`` finds expired fleets but for this fleet only and
    whatever its expiry; then the fleet's local folders."""
    from provisioning.fleet.sweep import sweep as run_sweep
    from provisioning.lab.confirm import require_confirmation
    from provisioning.lab.state import forget, lab_lock

    where = {
        "kind": True,
        "kubeconfig": base.existing.kubeconfig,
        "context": base.existing.context,
        "azure": azure,
        "only": fleet_id,
    }
    host = host_spec(base, fleet_id)
    with lab_lock(host, "invoke fleet down", optional=True):
        found = run_sweep(base, seams, progress, dry_run=True, **where)
        if not found:
            left = _forget_fleet_folders(base, fleet_id)
            forget(host)
            _stderr(
                f"Nothing to remove: no fleet {fleet_id!r} here"
                + (f" (forgot {len(left)} lab folder(s) of it)." if left else ".")
            )
            return Outcome()
        _stderr(f"  fleet {fleet_id} has no usable record; found by its labels and tags:")
        for row in found:
            _stderr(f"    {row.what}")
        require_confirmation(
            f"Delete these {len(found)} item(s) of fleet {fleet_id}", yes=yes, confirm=confirm
        )
        rows = run_sweep(base, seams, progress, dry_run=False, **where)
        failed = [r for r in rows if r.action.startswith("failed")]
        if not failed:
            _forget_fleet_folders(base, fleet_id)
            forget(host)
    doc = {"fleet": fleet_id, "removed": [r.what for r in rows if r.action == "removed"]}
    doc["ok"] = not failed
    if failed:
        for r in failed:
            _stderr(f"  ✗ {r.what}: {r.action}")
        return Outcome(doc, "", EXIT_FAILED, f"{len(failed)} item(s) of fleet {fleet_id} remain")
    _stderr(f"✓ Fleet {fleet_id} removed: {len(doc['removed'])} item(s).")
    return Outcome(doc)


def _forget_fleet_folders(base: LabSpec, fleet_id: str) -> list[str]:
    """The local folders of the fleet's labs (``<fleet>-<id>``), whose clusters or namespaces
    are gone."""
    from provisioning.fleet.sweep import forget_labs

    return forget_labs(base, lambda name, _record: name.startswith(f"{fleet_id}-"))


def sweep(base: LabSpec, seams: Seams, progress: Any, *, azure: bool, dry_run: bool) -> Outcome:
    from provisioning.fleet.sweep import sweep as run_sweep

    gateway = azure_gateway(base) if azure else None
    rows = run_sweep(
        base,
        seams,
        progress,
        kind=True,
        kubeconfig=base.existing.kubeconfig,
        context=base.existing.context,
        azure=gateway,
        dry_run=dry_run,
    )
    lines = [
        f"  {r.action:<14.14} {r.what} (fleet {r.fleet}, expires {r.expires or '?'})" for r in rows
    ]
    if not rows:
        lines = ["  no fleets found"]
    failed = [r for r in rows if r.action.startswith("failed")]
    doc = {"swept": [r.as_dict() for r in rows], "dry_run": dry_run, "ok": not failed}
    text = "\n".join(lines) + "\n"
    if failed:
        return Outcome(doc, text, EXIT_FAILED, f"{len(failed)} expired fleet item(s) remain")
    return Outcome(doc, text)


def emit(outcome: Outcome, json_out: bool) -> None:
    from provisioning.outputs import note_document

    if json_out and outcome.document is not None:
        print(json.dumps(outcome.document, indent=2, default=str))
        note_document()
    elif outcome.text:
        print(outcome.text, end="")
