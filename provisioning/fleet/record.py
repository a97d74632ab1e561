"""The fleet's record: what ``fleet up`` made, so every later fleet command reaches the same labs.

It lives in the fleet's own lab folder (``<state root>/<fleet>/fleet.json``, one of the lab's
files in ``spec.LAB_FILES``, written 0600 and atomically like the lab record). In mode
``namespaces`` that folder is also the shared cluster's lab (kind or AKS; nothing on a cluster
you already have); each attendee's lab has its own folder and lab record beside it, as any lab.

The record is written before anything is created (phase ``creating``), after the shared cluster
is up, and after each attendee's lab: an interrupted ``fleet up`` is known to be the tool's, and
the next ``fleet up`` or ``fleet down`` finishes or removes it. The fleet's creation time is kept,
so a resumed ``fleet up`` labels everything with the same expiry.

A damaged record (wrong types, another fleet's, not JSON) is one line naming the file, never a
traceback; a record the tool did not write (see ``lab.state``'s manifest) is not read as its.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from provisioning.documents import cut
from provisioning.errors import UsageError
from provisioning.fleet.plan import FleetSpec, parse_time, rfc3339
from provisioning.fleet.roster import Attendee
from provisioning.spec import LabSpec

RECORD = "fleet.json"
PHASES = ("creating", "ready", "failed")
MAX_BYTES = 1 << 20  # 200 attendees with a 300-character error each is well under this
MAX_ERROR = 300
SAVE_EVERY = 1.0  # seconds between two writes of the attendees' states (RecordKeeper)


class DamagedRecord(UsageError):
    """A fleet record that is there but cannot be trusted (one line naming the file)."""


@dataclass(frozen=True)
class AttendeeState:
    """How far ``fleet up`` got with one attendee's lab."""

    phase: str = "creating"  # creating, ready, failed
    error: str | None = None  # the one line that failed it
    seconds: float = 0.0  # how long its last ``fleet up`` took


@dataclass(frozen=True)
class FleetRecord:
    fleet: str
    mode: str
    provider: str
    engine: str
    scenario: str
    exercise: str | None
    created: str  # RFC 3339 UTC
    expires: str
    attendees: tuple[Attendee, ...]
    phase: str = "creating"  # the shared cluster (mode namespaces) or the fleet as a whole
    kubeconfig: str | None = None  # a cluster you already have: its kubeconfig and context
    context: str | None = None
    states: dict[str, AttendeeState] = field(default_factory=dict)

    def as_json(self) -> str:
        data = asdict(self)
        data["attendees"] = [{"id": a.id, "name": a.name} for a in self.attendees]
        return json.dumps(data, indent=2) + "\n"

    @property
    def expires_at(self) -> dt.datetime:
        moment = parse_time(self.expires)
        assert moment is not None  # checked when read
        return moment

    def state(self, attendee_id: str) -> AttendeeState | None:
        return self.states.get(attendee_id)


def record_of(fleet: FleetSpec, *, kubeconfig: str | None, context: str | None) -> FleetRecord:
    base = fleet.base
    return FleetRecord(
        fleet=fleet.id,
        mode=fleet.mode,
        provider=base.provider,
        engine=base.engine,
        scenario=base.scenario,
        exercise=base.exercise,
        created=rfc3339(fleet.created),
        expires=rfc3339(fleet.expires_at),
        attendees=fleet.attendees,
        kubeconfig=kubeconfig,
        context=context,
    )


def host_spec(base: LabSpec, fleet_id: str) -> LabSpec:
    """The fleet's own lab (its folder holds the record; in mode namespaces on kind or AKS it
    is also the shared cluster)."""
    return replace(base, name=fleet_id, namespace_suffix="", exercise=None, explicit=frozenset())


def load_fleet(spec: LabSpec) -> FleetRecord | None:
    """The record in ``spec``'s folder (``host_spec``), None when there is none; one line when
    it is there but damaged."""
    from provisioning.lab.state import _json, _kind_of, _read_small, owned_files

    path = spec.lab_file(RECORD)
    kind = _kind_of(path)
    if kind is None:
        return None
    if kind != "file" or RECORD not in owned_files(spec):
        raise DamagedRecord(
            f"{path} is not a fleet record this tool wrote",
            hint="move it away, or choose another --fleet",
        )
    record = _record_from(_json(_read_small(path, MAX_BYTES)), spec.name)
    if record is None:
        raise DamagedRecord(
            f"the fleet record {path} is damaged (not the record of fleet {spec.name!r})",
            hint=f"`invoke fleet down --fleet {spec.name}` still removes the fleet, found by "
            "its labels and tags; `invoke fleet sweep` does once it has expired",
        )
    return record


def _record_from(data: Any, fleet_id: str) -> FleetRecord | None:
    strings = ("fleet", "mode", "provider", "engine", "scenario", "created", "expires", "phase")
    if not isinstance(data, dict) or any(not isinstance(data.get(k), str) for k in strings):
        return None
    if data["fleet"] != fleet_id or data["phase"] not in PHASES:
        return None
    if parse_time(data["created"]) is None or parse_time(data["expires"]) is None:
        return None
    for key in ("exercise", "kubeconfig", "context"):
        if not isinstance(data.get(key), (str, type(None))):
            return None
    people = data.get("attendees")
    if not isinstance(people, list) or len(people) > 1000:
        return None
    attendees = []
    for p in people:
        if not (isinstance(p, dict) and isinstance(p.get("id"), str)):
            return None
        attendees.append(Attendee(p["id"], p["name"] if isinstance(p.get("name"), str) else ""))
    states = {}
    raw = data.get("states")
    if not isinstance(raw, dict):
        return None
    for key, value in raw.items():
        if not isinstance(value, dict) or value.get("phase") not in PHASES:
            return None
        error, seconds = value.get("error"), value.get("seconds", 0.0)
        if not isinstance(error, (str, type(None))) or not isinstance(seconds, (int, float)):
            return None
        states[key] = AttendeeState(value["phase"], error, float(seconds))
    return FleetRecord(
        fleet=data["fleet"],
        mode=data["mode"],
        provider=data["provider"],
        engine=data["engine"],
        scenario=data["scenario"],
        exercise=data.get("exercise"),
        created=data["created"],
        expires=data["expires"],
        attendees=tuple(attendees),
        phase=data["phase"],
        kubeconfig=data.get("kubeconfig"),
        context=data.get("context"),
        states=states,
    )


class RecordKeeper:
    """Saves the record as attendees finish (attendees run in threads).

    Each attendee's own lab record is written by the pipeline as its lab progresses; the fleet
    record only adds who failed and why. So attendees' states are written at most every
    ``SAVE_EVERY`` seconds (each write is the whole record, synced to disk) and always by ``flush``
    when the run ends: a run killed in between loses at most that much of the summary, never
    a lab (the next ``fleet up`` looks at every attendee's lab again).
    """

    def __init__(self, spec: LabSpec, record: FleetRecord) -> None:
        self.spec = spec
        self.record = record
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._saved_at: float | None = None
        self._dirty = False

    def save(self) -> None:
        from provisioning.lab.state import write_lab_file

        with self._write_lock:
            with self._lock:
                text, self._dirty = self.record.as_json(), False
            write_lab_file(self.spec, RECORD, text)
            self._saved_at = time.monotonic()

    def flush(self) -> None:
        if self._dirty:
            self.save()

    def _maybe_save(self) -> None:
        with self._lock:
            self._dirty = True
            due = self._saved_at is None or time.monotonic() - self._saved_at >= SAVE_EVERY
        if due and not self._write_lock.locked():
            self.save()

    def update(self, **changes: Any) -> None:
        with self._lock:
            self.record = replace(self.record, **changes)
        self.save()

    def attendee(self, attendee_id: str, state: AttendeeState) -> None:
        if state.error:
            state = replace(state, error=cut(state.error, MAX_ERROR))
        with self._lock:
            self.record = replace(self.record, states={**self.record.states, attendee_id: state})
        self._maybe_save()

    def drop(self, attendee_id: str) -> None:
        with self._lock:
            states = {k: v for k, v in self.record.states.items() if k != attendee_id}
            self.record = replace(self.record, states=states)
        self._maybe_save()
