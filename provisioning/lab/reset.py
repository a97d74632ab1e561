"""``reset``: put a lab back to its baseline (the spec's scenario, or exercise), on any provider.

A workshop lab drifts: attendees write policies, edit the baseline's, label pods, delete them,
start pods of their own, switch exercises. ``reset`` puts back exactly what
``pipeline.desired_objects`` says the lab holds, and nothing else, inside the lab's namespaces:

1. The lab's namespaces are the Namespaces of ``ctx.workload`` (the demo's, an exercise's, the
   canary's). One list of Namespaces by the lab's labels finds them; a namespace that is missing,
   or is there without this lab's labels, stops the reset before anything changed (UsageError:
   run ``invoke up`` first). Nothing outside those namespaces is read or written, apart from the
   Namespace objects themselves.
2. In each of them it lists ALL NetworkPolicies, Services and Pods, without a label selector:
   the lab's namespaces are the tool's, so what an attendee made there is the tool's to remove.
   That is one list per kind per namespace, whatever the number of objects; there is no
   per-object get except in the waits.
3. NetworkPolicies and Services: one not in the baseline is deleted; a baseline one that is
   missing is created; one whose spec differs from the desired spec (compared as the API server
   stores it: ``normalized_policy_spec``, ``service_drift``), whose lab labels differ, or whose
   hash annotation is not the desired one is applied again. An attendee's ``kubectl edit``
   keeps our annotation, so the spec itself is compared, not only the hash. Server-side apply
   cannot remove fields another manager added (an ``egress`` list added by ``kubectl edit`` to
   a policy that has none stays), so the object the apply answers with is compared again, and
   one that still differs is deleted and created again.
4. Pods: one not in the baseline is deleted (another exercise's extra pods, an attendee's pod).
   A baseline pod whose labels differ from the desired labels (changed, removed or ADDED by
   hand), whose spec hash or containers' images differ, which has failed or is being deleted,
   is deleted and created again; a missing one is created. Why recreate rather than patch the
   labels: a pod's spec is immutable anyway, and a label added by ``kubectl label`` belongs to
   another field manager, which a server-side apply of our fields alone never removes (the
   KubeApi seam has no other write verb than apply). A fresh pod is exactly the baseline's. A
   pod owned by a controller (a Deployment's) is left alone with a warning: deleting it would
   only make its controller start another. Deletions are waited for (bounded, ``ctx.wait``)
   before anything is created, and the pods for Ready (``pipeline.wait_workload``).
5. Namespaces whose labels drifted are restored by apply. A label added by hand is first taken
   over (a forced apply of a different value moves the field to our manager), then dropped by
   the apply of the desired labels: server-side apply removes a field its applier owned alone
   and no longer sends. Recreating a namespace would take everything in it.
6. ``validate``: the canary and the probes, exactly as ``up --validate`` runs them.

Labels under the prefixes Kubernetes reserves for its own components (``kubernetes.io/``,
``k8s.io/`` and their subdomains, e.g. ``kubernetes.io/metadata.name`` the API server sets on
namespaces, ``pod-security.kubernetes.io/*``) are not drift.

What it changed is one line per change (``ResetReport.changes``), printed as notes of its
step; a second reset finds nothing and says so. Every API request of the reset is counted by
verb (``CountingKube``); the validation's are counted apart, since the canary itself creates
and deletes objects.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from provisioning.errors import OperationError, UsageError
from provisioning.lab import pipeline
from provisioning.lab.objects import HASH_ANNOTATION, observed_hash, ref
from provisioning.lab.observe import LAB_CLUSTER_KINDS, lab_cluster_objects
from provisioning.lab.plan import VALIDATE_STEP
from provisioning.lab.readiness import Check, pod_ready
from provisioning.lab.state import remember_scenario
from provisioning.spec import lab_selector

NAMESPACE = ("v1", "Namespace")
POD = ("v1", "Pod")
SERVICE = ("v1", "Service")
POLICY = ("networking.k8s.io/v1", "NetworkPolicy")
# Listed in every lab namespace, in the order changes are reported.
RESET_KINDS = (POLICY, SERVICE, POD)
CLUSTER_KINDS = {kind for _, kind in LAB_CLUSTER_KINDS}

VERBS = ("list", "get", "apply", "delete", "create")
RESERVED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io")


# --- counting the API requests ---------------------------------------------------------------


class CountingKube:
    """A ``KubeApi`` that counts the requests it passes on, by verb.

    ``apply`` counts one request per object (each is one server-side apply PATCH, as
    ``provisioning.kube.ClientKube`` sends them); ``server_version`` counts as ``version``, and
    ``request_token`` as ``create`` (a TokenRequest is a POST that creates).
    Anything else is the wrapped object's (test helpers of a fake, for instance).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.counts: dict[str, int] = dict.fromkeys(VERBS, 0)

    def _count(self, verb: str, n: int = 1) -> None:
        self.counts[verb] = self.counts.get(verb, 0) + n

    def apply(
        self, objects: Sequence[Mapping[str, Any]], *, dry_run: bool = False
    ) -> list[dict[str, Any]]:
        objects = list(objects)
        self._count("apply", len(objects))
        return self.inner.apply(objects, dry_run=dry_run)

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        self._count("create")
        return self.inner.create(obj)

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        self._count("get")
        return self.inner.get(api_version, kind, name, namespace)

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        self._count("list")
        return self.inner.list(api_version, kind, namespace, label_selector=label_selector)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        self._count("delete")
        return self.inner.delete(api_version, kind, name, namespace)

    def server_version(self) -> str:
        self._count("version")
        return self.inner.server_version()

    def request_token(
        self, namespace: str, service_account: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._count("create")
        return self.inner.request_token(namespace, service_account, body)

    def snapshot(self) -> dict[str, int]:
        """The counts so far, with their ``total``."""
        counts = dict(self.counts)
        counts["total"] = sum(self.counts.values())
        return counts

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _since(now: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {verb: now[verb] - before.get(verb, 0) for verb in now}


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResetReport:
    """What a reset found and did; ``as_dict`` is the ``invoke reset --json`` document."""

    lab: str
    provider: str
    scenario: str
    exercise: str | None
    namespaces: tuple[str, ...]
    changes: tuple[str, ...]  # one line per change, in the order they were made
    warnings: tuple[str, ...] = ()
    api_calls: Mapping[str, int] = field(default_factory=dict)  # the reset's own requests
    validated: bool = False
    validation_api_calls: Mapping[str, int] | None = None  # canary and probes, when validated
    validation: Any = None  # the ValidationReport, when validated
    canary: Any = None  # the CanaryResult, when the canary ran
    steps: tuple[Mapping[str, Any], ...] = ()  # the progress steps, as in `up --json`

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def baseline(self) -> str:
        if self.exercise:
            return f"exercise {self.exercise} (scenario {self.scenario})"
        return f"scenario {self.scenario}"

    def as_dict(self) -> dict[str, Any]:
        validation = None
        if self.validation is not None:
            from provisioning.report.json_report import report_document

            validation = report_document(self.validation)
        return {
            "lab": self.lab,
            "provider": self.provider,
            "baseline": {"scenario": self.scenario, "exercise": self.exercise},
            "namespaces": list(self.namespaces),
            "changed": self.changed,
            "changes": list(self.changes),
            "warnings": list(self.warnings),
            "api_calls": dict(self.api_calls),
            "validated": self.validated,
            "validation_api_calls": (
                dict(self.validation_api_calls) if self.validation_api_calls is not None else None
            ),
            "validation": validation,
            "canary": self.canary.as_dict() if self.canary is not None else None,
            "steps": [dict(s) for s in self.steps],
        }


class ResetValidationError(OperationError):
    """The lab was reset, then its validation (canary or probes) failed. Same message and hint
    as ``pipeline.validate_lab``'s error; ``report`` says what the reset changed."""

    def __init__(self, message: str, *, hint: str | None, report: ResetReport) -> None:
        super().__init__(message, hint=hint)
        self.report = report


def reset_document(ctx: pipeline.Context, report: ResetReport | None) -> dict[str, Any]:
    """The ``--json`` document, also when the reset failed before it had a report."""
    if report is not None:
        return report.as_dict()
    return {
        "lab": ctx.spec.name,
        "provider": ctx.spec.provider,
        "baseline": {"scenario": ctx.spec.scenario, "exercise": ctx.spec.exercise},
        "namespaces": list(lab_namespaces(ctx)),
        "changed": None,
        "changes": [],
        "warnings": [],
        "api_calls": None,
        "validated": False,
        "validation_api_calls": None,
        "validation": None,
        "canary": ctx.canary.as_dict() if ctx.canary is not None else None,
        "steps": [r.as_dict() for r in ctx.progress.records],
    }


# --- comparing what is there with the baseline -----------------------------------------------


def reserved_label(key: str) -> bool:
    """Whether ``key`` is under a prefix Kubernetes reserves for its core components."""
    prefix, sep, _ = key.rpartition("/")
    if not sep:
        return False
    return any(prefix == d or prefix.endswith(f".{d}") for d in RESERVED_LABEL_DOMAINS)


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return {k: v for k, v in labels.items() if not reserved_label(k)}


def _label_text(labels: Mapping[str, str], keys: Iterable[str]) -> str:
    return ",".join(f"{k}={labels[k]}" for k in keys if k in labels) or "(none)"


def label_drift(want: Mapping[str, Any], have: Mapping[str, Any], *, exact: bool) -> str:
    """``labels app=client,team=red -> app=intruder`` or "". ``exact``: labels the baseline
    does not have count too (pods, namespaces); otherwise only the baseline's own labels."""
    wanted, found = _labels(want), _labels(have)
    keys = set(wanted) | (set(found) if exact else set())
    differ = sorted(k for k in keys if wanted.get(k) != found.get(k))
    if not differ:
        return ""
    return f"labels {_label_text(found, differ)} -> {_label_text(wanted, differ)}"


def _pruned(value: Any) -> Any:
    """Drop null fields, empty lists and empty ``matchLabels``, recursively, as the API server
    omits them. Other empty mappings stay: ``podSelector: {}`` and ``namespaceSelector: {}``
    are different peers."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            v = _pruned(v)
            if v is None or v == [] or (v == {} and k == "matchLabels"):
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def normalized_policy_spec(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """A NetworkPolicy spec as the API server stores it, so a policy read back compares equal
    to the one applied: empty fields dropped, ``policyTypes`` defaulted (Ingress, plus Egress
    when there are egress rules) and sorted, each port's ``protocol`` defaulted to TCP
    (kubernetes pkg/apis/networking/v1/defaults.go, ``SetDefaults_NetworkPolicy``)."""
    out: dict[str, Any] = _pruned(copy.deepcopy(dict(spec or {})))
    types = out.get("policyTypes") or ["Ingress"] + (["Egress"] if out.get("egress") else [])
    out["policyTypes"] = sorted(types)
    for direction in ("ingress", "egress"):
        for rule in out.get(direction) or []:
            for port in rule.get("ports") or []:
                port.setdefault("protocol", "TCP")
    return out


def _covers(want: Any, have: Any) -> bool:
    """Every field of ``want`` is in ``have`` with the same value (lists: same length)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            k in have and _covers(v, have[k]) for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(_covers(w, h) for w, h in zip(want, have, strict=True))
        )
    return bool(want == have)


def service_drift(want: Mapping[str, Any] | None, have: Mapping[str, Any] | None) -> bool:
    """Whether a Service's spec differs from the desired one. The server fills in many fields
    (clusterIP, ipFamilies, ...), so the desired fields are compared, with the defaults the
    server gives the ones the lab leaves out (type ClusterIP, port protocol TCP, targetPort the
    port); the selector must be exactly the desired one, since it decides the endpoints."""
    wanted: dict[str, Any] = _pruned(copy.deepcopy(dict(want or {})))
    found = dict(have or {})
    if wanted.pop("type", "ClusterIP") != found.get("type", "ClusterIP"):
        return True
    if wanted.pop("selector", {}) != (found.get("selector") or {}):
        return True
    wanted_ports = [_service_port(p) for p in wanted.pop("ports", [])]
    found_ports = [_service_port(p) for p in found.get("ports") or []]
    if not _covers(wanted_ports, found_ports):
        return True
    return not _covers(wanted, found)


def _service_port(port: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(port)
    out.setdefault("protocol", "TCP")
    out.setdefault("targetPort", out.get("port"))
    return out


def spec_drift(want: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    kind = want.get("kind")
    if kind == "ClusterNetworkPolicy":  # a CRD: stored as applied (no server defaulting)
        return _pruned(want.get("spec")) != _pruned(have.get("spec"))
    if kind == "GlobalNetworkPolicy":
        return _calico_spec(want.get("spec")) != _calico_spec(have.get("spec"))
    if kind == "NetworkPolicy":
        return normalized_policy_spec(want.get("spec")) != normalized_policy_spec(have.get("spec"))
    if kind == "Service":
        return service_drift(want.get("spec"), have.get("spec"))
    return False


def _calico_spec(spec: Mapping[str, Any] | None) -> Any:
    """A Calico policy spec with the defaults Calico fills in made explicit (``tier: default``;
    ``types`` from the rules, api/pkg/defaults/networkpolicy.go), so a policy read back
    compares equal to the one applied."""
    from provisioning.analysis.calico import default_types

    body = dict(_pruned(dict(spec or {})) or {})
    body.setdefault("tier", "default")
    if not body.get("types"):
        body["types"] = list(default_types(bool(body.get("ingress")), bool(body.get("egress"))))
    return body


def object_drift(want: Mapping[str, Any], have: Mapping[str, Any]) -> str:
    """Why a baseline policy or service must be applied again, or ""."""
    reasons = []
    if spec_drift(want, have):
        reasons.append("spec edited")
    if labels := label_drift(want, have, exact=False):
        reasons.append(labels)
    if not reasons and observed_hash(have) != observed_hash(want):
        reasons.append(f"annotation {HASH_ANNOTATION} is not the baseline's")
    return "; ".join(reasons)


def _containers(pod: Mapping[str, Any]) -> dict[str, str]:
    return {
        c.get("name", ""): c.get("image", "")
        for c in (pod.get("spec") or {}).get("containers") or []
    }


def pod_drift(want: Mapping[str, Any], have: Mapping[str, Any]) -> str:
    """Why a baseline pod must be deleted and created again, or ""."""
    meta = have.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return "it was being deleted"
    phase = (have.get("status") or {}).get("phase")
    if phase in ("Failed", "Succeeded"):
        return f"phase {phase}"
    reasons = []
    if labels := label_drift(want, have, exact=True):
        reasons.append(labels)
    if observed_hash(have) != observed_hash(want):
        reasons.append(f"spec hash {observed_hash(have) or '(none)'} -> {observed_hash(want)}")
    else:
        wanted, found = _containers(want), _containers(have)
        if wanted != found:
            changed = sorted(n for n in set(wanted) | set(found) if wanted.get(n) != found.get(n))
            reasons.append(
                "containers "
                + ", ".join(
                    f"{n}: {found.get(n, '(none)')} -> {wanted.get(n, '(none)')}" for n in changed
                )
            )
    return "; ".join(reasons)


def _controller(pod: Mapping[str, Any]) -> str:
    for owner in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("controller"):
            return f"{owner.get('kind')} {owner.get('name')}"
    return ""


def _where(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


# --- the reset -------------------------------------------------------------------------------


def lab_namespaces(ctx: pipeline.Context) -> tuple[str, ...]:
    """The lab's namespaces: the Namespaces of its desired workload, in order."""
    names = [o["metadata"]["name"] for o in ctx.workload if o["kind"] == "Namespace"]
    return tuple(dict.fromkeys(names))


def _up_command(ctx: pipeline.Context) -> str:
    spec = ctx.spec
    flags = []
    if spec.profile:
        flags.append(f"--profile {spec.profile}")
    if spec.provider != "kind":
        flags.append(f"--provider {spec.provider}")
    if spec.name != "netpol-lab":
        flags.append(f"--name {spec.name}")
    tail = "".join(f" {f}" for f in flags)
    if spec.exercise:
        return f"`invoke exercise start {spec.exercise}{tail}` (or `invoke up{tail}`)"
    return f"`invoke up{tail}`"


@dataclass
class _Work:
    """What the reset decided, before it does it."""

    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    takeover: list[dict[str, Any]] = field(default_factory=list)  # namespaces, step 1 of 2
    deletes: list[tuple[str, str, str, str]] = field(default_factory=list)  # api, kind, ns, name
    gone: set[tuple[str, str]] = field(default_factory=set)  # pods to wait for: (ns, name)
    applies: list[dict[str, Any]] = field(default_factory=list)
    restored: dict[str, int] = field(default_factory=dict)  # ref -> index in changes
    pods_created: bool = False
    pods_waiting: bool = False  # a baseline pod is there but not Ready


def _check_namespaces(
    ctx: pipeline.Context, kube: Any, names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The lab's Namespace objects by name; a missing one stops the reset (UsageError)."""
    found = {
        n["metadata"]["name"]: n
        for n in kube.list(*NAMESPACE, label_selector=lab_selector(ctx.spec.name))
    }
    missing = [n for n in names if n not in found]
    if missing:
        unowned = [n for n in missing if kube.get(*NAMESPACE, n) is not None]
        what = (
            f"namespace {', '.join(unowned)} is not this lab's (no labels of lab {ctx.spec.name})"
            if unowned
            else f"namespace {', '.join(missing)} not found"
        )
        raise UsageError(
            f"lab {ctx.spec.name} is not up on {ctx.spec.provider}: {what}; "
            f"run {_up_command(ctx)} first"
        )
    terminating = [n for n in names if (found[n].get("status") or {}).get("phase") == "Terminating"]
    if terminating:
        raise OperationError(
            f"lab {ctx.spec.name} is being torn down: namespace {', '.join(terminating)} is "
            f"terminating; run {_up_command(ctx)} once it is gone"
        )
    return found


def _plan_namespaces(
    work: _Work, desired: Sequence[Mapping[str, Any]], found: Mapping[str, Mapping[str, Any]]
) -> None:
    for want in desired:
        have = found[want["metadata"]["name"]]
        why = label_drift(want, have, exact=True)
        if not why and observed_hash(have) != observed_hash(want):
            why = f"annotation {HASH_ANNOTATION} is not the baseline's"
        if not why:
            continue
        added = {k: v for k, v in _labels(have).items() if k not in _labels(want)}
        if added:
            # Take the hand-added labels over with a value they do not have (a conflict the
            # forced apply wins), so the next apply, without them, removes them.
            takeover = copy.deepcopy(dict(want))
            takeover["metadata"]["labels"] = {
                **want["metadata"].get("labels", {}),
                **{k: ("" if v else "x") for k, v in added.items()},
            }
            work.takeover.append(takeover)
        work.applies.append(dict(want))
        work.changes.append(f"restored Namespace {_where(want)} ({why})")


def _plan_namespace(
    work: _Work,
    namespace: str,
    api_kind: tuple[str, str],
    found: Sequence[Mapping[str, Any]],
    desired: Sequence[Mapping[str, Any]],
) -> None:
    """Decide, for one kind in one lab namespace, what to delete, create and restore."""
    api_version, kind = api_kind
    have = {_key(o)[1]: o for o in found}
    want = {_key(o)[1]: o for o in desired if _key(o)[0] == namespace and o["kind"] == kind}
    for name in sorted(set(have) | set(want)):
        current, wanted = have.get(name), want.get(name)
        where = f"{namespace}/{name}"
        if wanted is None:
            assert current is not None
            if kind == "Pod" and (owner := _controller(current)):
                work.warnings.append(
                    f"Pod {where} is not in the baseline but {owner} manages it: not deleted "
                    f"(its controller would start another); delete the {owner.split()[0]}"
                )
                continue
            if kind == "Pod":
                work.gone.add((namespace, name))
                if (current.get("metadata") or {}).get("deletionTimestamp"):
                    continue  # already going: waited for, not a change of ours
            work.deletes.append((api_version, kind, namespace, name))
            work.changes.append(f"deleted {kind} {where} (not in the baseline)")
        elif current is None:
            work.applies.append(dict(wanted))
            work.pods_created |= kind == "Pod"
            work.changes.append(f"created {kind} {where}")
        elif kind == "Pod":
            why = pod_drift(wanted, current)
            if not why:
                work.pods_waiting |= not pod_ready(current)
                continue
            if not (current.get("metadata") or {}).get("deletionTimestamp"):
                work.deletes.append((api_version, kind, namespace, name))
            work.gone.add((namespace, name))
            work.applies.append(dict(wanted))
            work.pods_created = True
            work.changes.append(f"recreated Pod {where} ({why})")
        elif why := object_drift(wanted, current):
            work.applies.append(dict(wanted))
            work.restored[ref(wanted)] = len(work.changes)
            work.changes.append(f"restored {kind} {where} ({why})")


def _plan_cluster_wide(
    work: _Work, found: Sequence[Mapping[str, Any]], desired: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str, str]]:
    """The lab's own cluster-scoped policies (``observe.lab_cluster_objects``: its labels and
    ``<lab>-`` names) against the baseline's: what to delete (returned), apply and restore."""
    have = {(o["kind"], o["metadata"]["name"]): o for o in found}
    want = {
        (o["kind"], o["metadata"]["name"]): o
        for o in desired
        if o["kind"] in CLUSTER_KINDS and not o["metadata"].get("namespace")
    }
    deletes = []
    for kind, name in sorted(set(have) | set(want)):
        current, wanted = have.get((kind, name)), want.get((kind, name))
        if wanted is None:
            assert current is not None
            deletes.append((current["apiVersion"], kind, name))
            work.changes.append(f"deleted {kind} {name} (not in the baseline)")
        elif current is None:
            work.applies.append(dict(wanted))
            work.changes.append(f"created {kind} {name}")
        elif why := object_drift(wanted, current):
            work.applies.append(dict(wanted))
            work.restored[ref(wanted)] = len(work.changes)
            work.changes.append(f"restored {kind} {name} ({why})")
    return deletes


def _wait_gone(ctx: pipeline.Context, kube: Any, pods: set[tuple[str, str]], h: Any) -> None:
    """Wait until the deleted pods are gone: one list per namespace per poll."""
    namespaces = sorted({ns for ns, _ in pods})

    def check() -> Check:
        left = sorted(
            f"{ns}/{p['metadata']['name']}"
            for ns in namespaces
            for p in kube.list(*POD, ns)
            if (ns, p["metadata"]["name"]) in pods
        )
        return Check(not left, f"waiting for deleted pods to go: {', '.join(left)}")

    ctx.wait(
        check,
        ctx.spec.timeouts.workload,
        h,
        hint="a pod that stays Terminating may have a finalizer or a node that is gone",
    )


def _delete(kube: Any, namespaces: Sequence[str], item: tuple[str, str, str, str]) -> None:
    api_version, kind, namespace, name = item
    if namespace not in namespaces:  # never: decisions are made per lab namespace
        raise OperationError(f"reset refused to delete {kind} {namespace}/{name} outside the lab")
    kube.delete(api_version, kind, name, namespace)


def reset(ctx: pipeline.Context, *, validate: bool = True) -> ResetReport:
    """Return the lab to its baseline (``ctx.spec``'s scenario or exercise); see the module doc.

    Raises UsageError when a lab namespace is missing (the lab is not up), before any change;
    ``ResetValidationError`` (an OperationError) when the lab was reset but validation failed.
    """
    spec = ctx.spec
    names = lab_namespaces(ctx)
    inner = ctx.kube
    kube = CountingKube(inner)
    ctx._kube = kube  # every call of the reset and of the shared steps it runs is counted
    try:
        baseline = (
            f"exercise {spec.exercise} (scenario {spec.scenario})"
            if spec.exercise
            else f"scenario {spec.scenario}"
        )
        work = _Work()
        with ctx.progress.step(f"Reset lab {spec.name} to its baseline: {baseline}") as h:
            found_ns = _check_namespaces(ctx, kube, names)
            _plan_namespaces(work, [o for o in ctx.workload if o["kind"] == "Namespace"], found_ns)
            desired = [*ctx.workload, *ctx.policies]
            for namespace in names:
                for api_kind in RESET_KINDS:
                    found = kube.list(*api_kind, namespace)
                    _plan_namespace(work, namespace, api_kind, found, desired)
            cluster_deletes = _plan_cluster_wide(work, lab_cluster_objects(kube, spec), desired)
            if work.takeover:
                kube.apply(work.takeover)
            for api_version, kind, name in cluster_deletes:
                kube.delete(api_version, kind, name)
            for item in work.deletes:
                _delete(kube, names, item)
            if work.gone:
                _wait_gone(ctx, kube, work.gone, h)
            # In the order `up` applies them: namespaces, services, pods, then policies.
            order = {"Namespace": 0, "Service": 1, "Pod": 2, "NetworkPolicy": 3}
            order.update({kind: 4 for kind in CLUSTER_KINDS})
            applies = sorted(work.applies, key=lambda o: order[o["kind"]])
            if applies:
                answers = kube.apply(applies)
                _recreate_unrestored(kube, names, work, applies, answers)
            for change in work.changes:
                h.note(change)
            if not work.changes:
                h.note("nothing to change: the lab is at its baseline")
        for warning in work.warnings:
            ctx.progress.warn(warning)
        if work.pods_created or work.pods_waiting:
            pipeline.wait_workload(ctx)
        remember_scenario(ctx.spec)  # the lab now carries this baseline
        reset_calls = kube.snapshot()
        report = ResetReport(
            lab=spec.name,
            provider=spec.provider,
            scenario=spec.scenario,
            exercise=spec.exercise,
            namespaces=names,
            changes=tuple(work.changes),
            warnings=tuple(work.warnings),
            api_calls=reset_calls,
        )
        if not validate:
            return _finish(ctx, report)
        try:
            pipeline.validate_lab(ctx, VALIDATE_STEP)
        except OperationError as exc:
            calls = _since(kube.snapshot(), reset_calls)
            failed = _finish(ctx, report, validated=True, calls=calls)
            raise ResetValidationError(exc.message, hint=exc.hint, report=failed) from exc
        return _finish(ctx, report, validated=True, calls=_since(kube.snapshot(), reset_calls))
    finally:
        ctx._kube = inner


def _recreate_unrestored(
    kube: Any,
    names: Sequence[str],
    work: _Work,
    applied: Sequence[Mapping[str, Any]],
    answers: Sequence[Mapping[str, Any]],
) -> None:
    """A restored policy or service that the apply could not bring back (fields added by
    another manager survive a server-side apply) is deleted and created again."""
    again = []
    for want, answer in zip(applied, answers, strict=False):
        index = work.restored.get(ref(want))
        if index is None or not spec_drift(want, answer):
            continue
        _delete(kube, names, (want["apiVersion"], want["kind"], *_key(want)))
        again.append(dict(want))
        work.changes[index] = (
            work.changes[index].replace("restored ", "recreated ", 1)[:-1]
            + "; an apply could not remove fields another manager added)"
        )
    if again:
        for want, answer in zip(again, kube.apply(again), strict=False):
            if spec_drift(want, answer):
                work.warnings.append(
                    f"{want['kind']} {_where(want)} still differs from the baseline after it "
                    "was created again: the cluster changes it (an admission webhook?)"
                )
    for want, answer in zip(applied, answers, strict=False):
        if want["kind"] == "Namespace" and label_drift(want, answer, exact=True):
            work.warnings.append(
                f"Namespace {_where(want)} still differs after the reset "
                f"({label_drift(want, answer, exact=True)}): something re-adds those labels"
            )


def _finish(
    ctx: pipeline.Context,
    report: ResetReport,
    *,
    validated: bool = False,
    calls: Mapping[str, int] | None = None,
) -> ResetReport:
    return replace(
        report,
        validated=validated,
        validation_api_calls=calls,
        validation=ctx.validation if validated else None,
        canary=ctx.canary if validated else None,
        steps=tuple(r.as_dict() for r in ctx.progress.records),
    )
