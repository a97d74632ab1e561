"""``fleet status`` and ``fleet check``: every attendee's lab and exercise progress, one table.

Per attendee, the lab's own objects are read (``lab.observe.observe_objects``: its namespaces,
pods and policies by its labels) and, when the fleet runs an exercise, the exercise is graded
from the policies in the attendee's namespaces, as ``invoke check`` grades it live
(``validation.exercise_check.check_live``). ``fleet status`` reads only; ``fleet check --probe``
also probes each goal through the attendee's pods (slower: a probe per goal per attendee).

The document (``--json``) is also what the dashboard (``fleet/dashboard.py``) draws: per
attendee a ``state`` of ``done`` (every goal met), ``working`` (goals not all met yet, or pods
not Ready), ``ready`` (the lab is up; no exercise), ``failed`` (``fleet up`` failed for it and
the lab is not complete), ``not-up`` (no lab found) or ``unreachable`` (its API did not answer).
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from provisioning.documents import one_line
from provisioning.errors import LabError
from provisioning.fleet.plan import FleetSpec, rfc3339
from provisioning.fleet.record import FleetRecord
from provisioning.fleet.roster import Attendee
from provisioning.fleet.run import Seams, attendee_spec, lab_context
from provisioning.progress import Progress

STATES = ("done", "working", "ready", "failed", "not-up", "unreachable")
MARKS = {
    "done": "✓",
    "working": "…",
    "ready": "✓",
    "failed": "✗",
    "not-up": "!",
    "unreachable": "!",
}


def attendee_status(
    fleet: FleetSpec,
    record: FleetRecord,
    attendee: Attendee,
    index: int,
    seams: Seams,
    *,
    probe: bool = False,
    exercise: Any = None,
) -> dict[str, Any]:
    """One attendee's row. ``exercise``: the fleet's, loaded once by the caller; only then is
    the lab's whole pipeline context built (its policies are graded), else its objects are
    read with the provider's client alone."""
    from provisioning.kube import KubeUnreachable
    from provisioning.lab.observe import observe_objects

    spec = attendee_spec(fleet, attendee, index)
    row: dict[str, Any] = {
        "id": attendee.id,
        "name": attendee.display,
        "lab": spec.name,
        "state": "not-up",
        "detail": "",
        "pods_ready": 0,
        "pods": 0,
        "policies": 0,
        "check": None,
    }
    recorded = record.state(attendee.id)
    try:
        kube = seams.provider_for(fleet, spec, True).kube(spec)
        found = observe_objects(kube, spec)
    except KubeUnreachable as exc:
        row.update(state="unreachable", detail=one_line(str(exc)))
        return row
    except LabError as exc:
        row.update(state="failed", detail=one_line(str(exc)))
        return row
    pods = [ready for ready in found.pods_ready.values()]
    row["pods"], row["pods_ready"] = len(pods), sum(pods)
    row["policies"] = sum(1 for key in found.objects if key.startswith("NetworkPolicy/"))
    has_lab = any(key.startswith("Namespace/") for key in found.objects)
    if not has_lab:
        if recorded is not None and recorded.phase == "failed":
            row.update(state="failed", detail=recorded.error or "fleet up failed")
        else:
            row.update(detail="no lab found: `invoke fleet up` creates the missing labs")
        return row
    if row["pods_ready"] < row["pods"] or not row["pods"]:
        state = "failed" if recorded is not None and recorded.phase == "failed" else "working"
        detail = f"{row['pods_ready']} of {row['pods']} pods Ready"
        if state == "failed" and recorded is not None and recorded.error:
            detail = recorded.error
        row.update(state=state, detail=detail)
        return row
    if exercise is None:
        row.update(state="ready", detail=f"{row['pods']} pods Ready, {row['policies']} policies")
        return row
    from provisioning.validation.exercise_check import check_live

    try:
        progress = Progress(io.StringIO(), spinner=False, quiet=True)
        ctx = lab_context(fleet, spec, seams, progress, read_only=True)
        ctx.run_canary = False
        result = check_live(exercise, ctx, hints=0, probe=probe)
    except LabError as exc:
        row.update(state="failed", detail=one_line(str(exc)))
        return row
    failing = [f"{g.goal.describe()} (got {g.result.verdict})" for g in result.goals if not g.met]
    disagree = [g.goal.describe() for g in result.disagreeing()]
    row["policies"] = len(result.attendee)
    row["check"] = {
        "exercise": exercise.id,
        "met": result.met,
        "goals": len(result.goals),
        "done": result.passed,
        "failing": failing,
        "network_disagrees": disagree,
    }
    row["state"] = "done" if result.passed else "working"
    row["detail"] = f"{result.met} of {len(result.goals)} goals met"
    return row


def fleet_status(
    fleet: FleetSpec,
    record: FleetRecord,
    seams: Seams,
    *,
    probe: bool = False,
) -> dict[str, Any]:
    """The status document of the whole fleet; attendees are read ``seams.workers`` at a time."""
    people = list(fleet.attendees)
    exercise = None
    if fleet.base.exercise:
        from provisioning.workload.exercises import load_exercise

        exercise = load_exercise(fleet.base.exercise)

    def one(pair: tuple[int, Attendee]) -> dict[str, Any]:
        index, attendee = pair
        try:
            return attendee_status(
                fleet, record, attendee, index, seams, probe=probe, exercise=exercise
            )
        except Exception as exc:  # one attendee's surprise is their row, not the room's
            return {
                "id": attendee.id,
                "name": attendee.display,
                "lab": fleet.lab_name(attendee),
                "state": "failed",
                "detail": one_line(f"unexpected {type(exc).__name__}: {exc}"),
                "pods_ready": 0,
                "pods": 0,
                "policies": 0,
                "check": None,
            }

    with ThreadPoolExecutor(max_workers=max(1, seams.workers)) as pool:
        rows = list(pool.map(one, enumerate(people)))
    counts = {s: sum(1 for r in rows if r["state"] == s) for s in STATES}
    return {
        **fleet.header(),
        "generated": rfc3339(seams.now()),
        "expired": seams.now() >= fleet.expires_at,
        "attendees": rows,
        "summary": {
            "attendees": len(rows),
            "ready": counts["ready"] + counts["done"] + counts["working"],
            "done": counts["done"],
            "working": counts["working"],
            "failed": counts["failed"],
            "not_up": counts["not-up"] + counts["unreachable"],
        },
    }


def render_text(doc: dict[str, Any]) -> str:
    """The table for a terminal: one row per attendee."""
    s = doc["summary"]
    what = f"exercise {doc['exercise']}" if doc["exercise"] else f"scenario {doc['scenario']}"
    head = (
        f"Fleet {doc['fleet']} ({doc['mode']} on {doc['provider']}, {what}): "
        f"{s['attendees']} attendees, {s['done']} done, {s['working']} working, "
        f"{s['failed']} failed, {s['not_up']} not up; "
        + ("EXPIRED" if doc["expired"] else f"expires {doc['expires']}")
    )
    lines = [head, ""]
    lines.append(f"  {'':1} {'attendee':<24} {'lab':<28} {'pods':>5} {'policies':>8}  detail")
    for r in doc["attendees"]:
        pods = f"{r['pods_ready']}/{r['pods']}"
        name = r["name"] if len(r["name"]) <= 24 else r["name"][:23] + "…"
        lines.append(
            f"  {MARKS.get(r['state'], '?')} {name:<24} {r['lab']:<28} {pods:>5} "
            f"{r['policies']:>8}  {r['detail']}"
        )
        if r["check"] and r["check"]["failing"]:
            lines.append(f"      ✗ {r['check']['failing'][0]}")
    return "\n".join(lines) + "\n"
