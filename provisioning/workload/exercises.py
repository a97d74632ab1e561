"""Workshop exercises as data, loaded strictly from ``policies/exercises.yaml`` (issue 11).

An exercise is a step an attendee does and proves: a task to read, a baseline (a scenario of
``policies/scenarios.yaml``, plus extra baseline policies and extra pods), goals the attendee's
policies must reach (``from``, ``to``, ``port``, ``protocol``, ``expect: allow|deny``; ``to`` may
be an IP outside the cluster), progressive hints, and a reference solution file under
``policies/solutions/`` that only instructors see (the check never reads or prints it).

The file is checked like the scenarios file (``provisioning.workload.scenarios._Checker``,
whose checks this module extends): read through ``scenarios.read_data_file`` (bounded, duplicate
keys refused), unknown keys, wrong types, duplicate ids, an unknown scenario or template, a goal
naming a pod the exercise's workload does not have or a port its target does not listen on, and
a hint naming a goal that does not exist are all rejected with the file and the key path.

The workload model an exercise is graded on (``workload_model``) is the demo workload of
``provisioning.workload.demo`` (its labels and ports, as ``up`` deploys them), the exercise's extra
pods, and the cluster DNS pod ``kube-system/coredns`` (``k8s-app=kube-dns``, 53/UDP ``dns`` and
53/TCP ``dns-tcp``); every namespace carries ``kubernetes.io/metadata.name`` (added by
``ClusterModel.from_dict``, as the API server does since Kubernetes 1.21).

The reference solution (instructors only) is read by ``solution_objects`` alone, for ``solve``
(``exercise_check.apply_solution``): it is written in the logical namespaces, like the goals,
and comes out as the lab names them (``rename_namespaces``: ``metadata.namespace`` and the
values of a ``kubernetes.io/metadata.name`` namespaceSelector). A NetworkPolicy is applied as it
is; a Pod document (label-the-client) is a labels-only partial object.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from provisioning.errors import choice_error
from provisioning.spec import CLUSTER_DNS_LABELS, CLUSTER_DNS_NAMESPACE, lab_labels
from provisioning.workload import demo as workload
from provisioning.workload.scenarios import (
    PROTOCOLS,
    VERDICTS,
    PolicyRef,
    _Checker,
    _type,
    default_root,
    display_path,
    load_scenarios,
    read_data_file,
)

if TYPE_CHECKING:
    from provisioning.analysis.model import ClusterModel
    from provisioning.spec import LabSpec

EXERCISES_FILE = "exercises.yaml"
SOLUTIONS_DIR = "solutions"

# The lab name the offline model is built for: the default of ``LabSpec.name``. Only the lab
# labels on namespaces, pods and baseline policies depend on it.
MODEL_LAB = "netpol-lab"

# Pod IPs of the offline model. Made up, but inside kind's pod subnet (versions.KIND_POD_SUBNET)
# so an ipBlock such as 0.0.0.0/0 matches pods the way it does on engines that match pod IPs;
# a goal's `to` IP must be outside it (it stands for something outside the cluster).
MODEL_POD_NETWORK = ipaddress.ip_network("10.244.0.0/16")

DNS_POD = "coredns"

_ID_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_EXERCISE_KEYS = (
    "id",
    "title",
    "article",
    "task",
    "baseline",
    "goals",
    "hints",
    "solution",
    "live_only",
)
_REQUIRED_KEYS = ("id", "title", "article", "task", "baseline", "goals", "hints", "solution")
_BASELINE_KEYS = ("scenario", "policies", "pods")
_POD_KEYS = ("namespace", "name", "labels", "ports")
_PORT_KEYS = ("name", "port", "protocol")
_GOAL_KEYS = ("id", "from", "to", "port", "protocol", "expect")
_GOAL_REQUIRED = ("id", "from", "to", "port", "expect")
_HINT_KEYS = ("text", "when")


@dataclass(frozen=True)
class ExtraPod:
    """A pod an exercise adds to the demo workload (``demo/db``, ``demo/apiserver``, ...)."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    ports: tuple[workload.PortSpec, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Baseline:
    """What is in the lab when the exercise starts."""

    scenario: str
    policies: tuple[PolicyRef, ...] = ()  # templates applied on top of the scenario's
    pods: tuple[ExtraPod, ...] = ()


@dataclass(frozen=True)
class Goal:
    """One connection the attendee's policies must allow or deny.

    ``group`` is the id of the goal entry it comes from (an entry with several ``from`` or
    ``port`` values expands into one goal per combination); hints name groups.
    """

    group: str
    source: str  # "namespace/pod"
    target: str  # "namespace/pod" or an IP outside the cluster
    port: int
    protocol: str
    allowed: bool
    path: str  # "exercises[2].goals[1]", for messages

    @property
    def expect(self) -> str:
        return "allow" if self.allowed else "deny"

    @property
    def outside(self) -> bool:
        """Whether ``target`` is an IP outside the cluster (graded from the policies only)."""
        return "/" not in self.target

    def describe(self) -> str:
        return f"{self.source} -> {self.target}:{self.port}/{self.protocol} {self.expect}"


@dataclass(frozen=True)
class Hint:
    """A hint; ``when`` names the goal groups it is about (empty: any failed goal)."""

    text: str
    when: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    article: str  # the seed article the exercise comes from
    task: str
    baseline: Baseline
    goals: tuple[Goal, ...]
    hints: tuple[Hint, ...]
    solution: Path  # instructors only; never read by the check
    live_only: str | None  # why it cannot be checked offline, or None
    root: Path

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.group for g in self.goals))


def load_exercises(root: Path | None = None) -> dict[str, Exercise]:
    """Every exercise of ``root/exercises.yaml`` in file order; UsageError names file and key."""
    root = root or default_root()
    path = root / EXERCISES_FILE
    where = display_path(path)
    data = read_data_file(path, what="exercises file")
    checker = _ExerciseChecker(where, root, load_scenarios(root))
    top = checker.mapping(data, "", ("exercises",), required=("exercises",))
    exercises: dict[str, Exercise] = {}
    for index, entry in enumerate(checker.sequence(top["exercises"], "exercises")):
        exercise = checker.exercise(entry, f"exercises[{index}]")
        if exercise.id in exercises:
            checker.fail(f"exercises[{index}].id", f"duplicate exercise {exercise.id!r}")
        exercises[exercise.id] = exercise
    return exercises


def exercise_ids(root: Path | None = None) -> list[str]:
    return list(load_exercises(root))


def load_exercise(exercise_id: str, root: Path | None = None) -> Exercise:
    """One exercise by id; an unknown id lists the valid ones (UsageError, exit 2)."""
    exercises = load_exercises(root)
    if exercise_id not in exercises:
        raise choice_error("exercise", exercise_id, list(exercises), where="--exercise")
    return exercises[exercise_id]


def dns_pod() -> ExtraPod:
    """The cluster DNS pod of every exercise's model: kube-system/coredns."""
    return ExtraPod(
        CLUSTER_DNS_NAMESPACE,
        DNS_POD,
        MappingProxyType(dict(CLUSTER_DNS_LABELS)),
        (workload.PortSpec("dns", 53, "UDP"), workload.PortSpec("dns-tcp", 53, "TCP")),
    )


def model_pods(baseline: Baseline) -> tuple[ExtraPod, ...]:
    """Every pod of the exercise's model: the demo workload, the extra pods, the DNS pod."""
    demo = tuple(
        ExtraPod(p.namespace, p.name, MappingProxyType(p.labels), p.ports) for p in workload.pods()
    )
    return (*demo, *baseline.pods, dns_pod())


def workload_model(exercise: Exercise, lab: str = MODEL_LAB) -> ClusterModel:
    """The cluster the exercise is graded on, labelled the way ``up`` labels the lab."""
    from provisioning.analysis.model import ClusterModel

    lab_ns = {ns: {**lab_labels(lab), workload.LABEL_ROLE: ns} for ns in workload.NAMESPACES}
    pods = []
    hosts = MODEL_POD_NETWORK.hosts()
    next(hosts)  # skip .1, a gateway on most pod networks
    for pod in model_pods(exercise.baseline):
        labels = dict(pod.labels)
        if pod.namespace in lab_ns:  # the tool's pods carry the lab labels, as up deploys them
            labels = {**lab_labels(lab), **labels}
        pods.append(
            {
                "namespace": pod.namespace,
                "name": pod.name,
                "labels": labels,
                "ip": str(next(hosts)),
                "ports": [
                    {"name": p.name, "port": p.number, "protocol": p.protocol} for p in pod.ports
                ],
            }
        )
    namespaces = {**{ns: {"labels": labels} for ns, labels in lab_ns.items()}}
    namespaces[CLUSTER_DNS_NAMESPACE] = {"labels": {}}
    return ClusterModel.from_dict({"namespaces": namespaces, "pods": pods}, source="model")


# Set by the API server on every namespace to its real name (policies.NAMESPACE_NAME_LABEL).
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def rename_namespaces(
    obj: Mapping[str, Any],
    names: Mapping[str, str],
    selector_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A copy of ``obj`` with ``metadata.namespace`` renamed by ``names``, and every value of a
    namespaceSelector on ``kubernetes.io/metadata.name`` (``matchLabels`` and the values of
    ``matchExpressions``, at any depth of ``spec``) renamed by ``selector_names`` (default:
    ``names``). Names not in the mapping are kept; each value is looked up once."""
    import copy

    out = copy.deepcopy(dict(obj))
    selector_names = names if selector_names is None else selector_names
    meta = out.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("namespace"), str):
        meta["namespace"] = names.get(meta["namespace"], meta["namespace"])
    if "spec" in out:
        _rename_selected(out["spec"], selector_names)
    return out


def _rename_selected(node: Any, names: Mapping[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "namespaceSelector" and isinstance(value, dict):
                labels = value.get("matchLabels")
                if isinstance(labels, dict) and isinstance(labels.get(NAMESPACE_NAME_LABEL), str):
                    labels[NAMESPACE_NAME_LABEL] = names.get(
                        labels[NAMESPACE_NAME_LABEL], labels[NAMESPACE_NAME_LABEL]
                    )
                for expr in value.get("matchExpressions") or ():
                    if isinstance(expr, dict) and expr.get("key") == NAMESPACE_NAME_LABEL:
                        values = expr.get("values")
                        if isinstance(values, list):
                            expr["values"] = [
                                names.get(v, v) if isinstance(v, str) else v for v in values
                            ]
            else:
                _rename_selected(value, names)
    elif isinstance(node, list):
        for item in node:
            _rename_selected(item, names)


def physical_names(suffix: str = "") -> dict[str, str]:
    """Logical lab namespace -> its name in the cluster (``demo`` -> ``demo-mylab``)."""
    return {ns: workload.physical_namespace(ns, suffix) for ns in workload.NAMESPACES}


def solution_objects(exercise: Exercise, spec: LabSpec) -> list[dict[str, Any]]:
    """The reference solution as objects to apply to ``spec``'s lab (instructors only).

    Read through the bounded YAML reader (``documents``); every document must be a
    NetworkPolicy (validated like the API server would, in a lab namespace) or a Pod giving
    labels only. Namespaces, and ``kubernetes.io/metadata.name`` selector values naming a lab
    namespace, become the lab's physical names. A NetworkPolicy is returned as it is (no lab
    labels: like an attendee's policy, ``up`` never prunes it; ``down`` removes it with its
    namespace); a Pod as a labels-only partial object ``{apiVersion, kind, metadata: {name,
    namespace, labels}}``. UsageError names the file and document when one is wrong.
    """
    from provisioning.analysis.policy import parse_policy
    from provisioning.analysis.validate import label_key_errors, label_value_errors
    from provisioning.documents import SMALL_MAX_BYTES, parse_yaml_documents, read_text
    from provisioning.errors import UsageError

    where = display_path(exercise.solution)
    text = read_text(exercise.solution, what="solution", limit=SMALL_MAX_BYTES)
    documents = [d for d in parse_yaml_documents(text, source=where) if d is not None]
    if not documents:
        raise UsageError(f"{where}: the solution of {exercise.id!r} holds no object")
    names = physical_names(spec.namespace_suffix)
    out: list[dict[str, Any]] = []
    for n, doc in enumerate(documents):
        at = where if len(documents) == 1 else f"{where} (document {n + 1})"
        if not isinstance(doc, dict):
            raise UsageError(f"{at}: expected a Kubernetes object, got {_type(doc)}")
        kind = (doc.get("apiVersion"), doc.get("kind"))
        meta = doc.get("metadata")
        namespace = meta.get("namespace") if isinstance(meta, dict) else None
        if namespace not in workload.NAMESPACES:
            raise UsageError(
                f"{at}: metadata.namespace is {namespace!r}; a solution acts in the lab's "
                f"namespaces: {', '.join(workload.NAMESPACES)}"
            )
        if kind == ("networking.k8s.io/v1", "NetworkPolicy"):
            parse_policy(doc, source=at)  # the file, the policy and the field when wrong
            out.append(rename_namespaces(doc, names))
        elif kind == ("v1", "Pod"):
            labels = meta.get("labels") if isinstance(meta, dict) else None
            extra = sorted(set(doc) - {"apiVersion", "kind", "metadata"})
            extra += sorted(f"metadata.{k}" for k in set(meta) - {"name", "namespace", "labels"})
            if extra or not isinstance(meta.get("name"), str) or not labels:
                raise UsageError(
                    f"{at}: a Pod in a solution gives labels only (metadata.name, namespace, "
                    f"labels){'; not ' + ', '.join(extra) if extra else ''}"
                )
            if not isinstance(labels, dict):
                raise UsageError(f"{at}: metadata.labels: expected a mapping, got {_type(labels)}")
            for key, value in labels.items():
                problems = label_key_errors(str(key)) + (
                    label_value_errors(value) if isinstance(value, str) else ["must be a string"]
                )
                if problems:
                    raise UsageError(f"{at}: metadata.labels.{key}: {problems[0]}")
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": meta.get("name"),
                        "namespace": names[namespace],
                        "labels": {str(k): str(v) for k, v in labels.items()},
                    },
                }
            )
        else:
            raise UsageError(
                f"{at}: a {kind[0]}/{kind[1]}; a solution holds networking.k8s.io/v1 "
                "NetworkPolicy objects and v1 Pod labels only"
            )
    return out


@dataclass(frozen=True)
class _ExerciseChecker(_Checker):
    """The scenario checks, plus those of exercises; every message names the file and key."""

    scenarios: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def exercise(self, entry: Any, path: str) -> Exercise:
        data = self.mapping(entry, path, _EXERCISE_KEYS, required=_REQUIRED_KEYS)
        exercise_id = self.string(data["id"], f"{path}.id")
        if not _ID_RE.match(exercise_id):
            self.fail(f"{path}.id", f"{exercise_id!r} must be lower-case letters, digits and '-'")
        baseline = self.baseline(data["baseline"], f"{path}.baseline")
        pods = {p.ref: p for p in model_pods(baseline)}
        goals: list[Goal] = []
        groups: list[str] = []
        entries = self.sequence(data["goals"], f"{path}.goals")
        if not entries:
            self.fail(f"{path}.goals", "an exercise needs at least one goal")
        for i, item in enumerate(entries):
            expanded = self.goal(item, f"{path}.goals[{i}]", pods)
            if expanded[0].group in groups:
                self.fail(f"{path}.goals[{i}].id", f"duplicate goal id {expanded[0].group!r}")
            groups.append(expanded[0].group)
            goals.extend(expanded)
        hints = self.sequence(data["hints"], f"{path}.hints")
        if not hints:
            self.fail(f"{path}.hints", "an exercise needs at least one hint")
        solution = self.string(data["solution"], f"{path}.solution")
        if "/" in solution or "\\" in solution or solution.startswith("."):
            self.fail(f"{path}.solution", f"{solution!r} must be a file name in {SOLUTIONS_DIR}/")
        solution_path = self.root / SOLUTIONS_DIR / solution
        if not solution_path.is_file():
            self.fail(f"{path}.solution", f"{display_path(solution_path)} does not exist")
        live_only = data.get("live_only")
        if live_only is not None:
            live_only = " ".join(self.string(live_only, f"{path}.live_only").split())
        return Exercise(
            id=exercise_id,
            title=self.string(data["title"], f"{path}.title"),
            article=self.string(data["article"], f"{path}.article"),
            task=" ".join(self.string(data["task"], f"{path}.task").split()),
            baseline=baseline,
            goals=tuple(goals),
            hints=tuple(self.hint(h, f"{path}.hints[{i}]", groups) for i, h in enumerate(hints)),
            solution=solution_path,
            live_only=live_only,
            root=self.root,
        )

    def baseline(self, value: Any, path: str) -> Baseline:
        data = self.mapping(value, path, _BASELINE_KEYS, required=("scenario",))
        scenario = self.string(data["scenario"], f"{path}.scenario")
        if scenario not in self.scenarios:
            self.fail(
                f"{path}.scenario",
                f"unknown scenario {scenario!r}; choose one of: {', '.join(self.scenarios)}",
            )
        policies = tuple(
            self.policy(item, f"{path}.policies[{i}]")
            for i, item in enumerate(self.sequence(data.get("policies") or [], f"{path}.policies"))
        )
        taken = {p.ref for p in workload.pods()} | {dns_pod().ref}
        pods: list[ExtraPod] = []
        for i, item in enumerate(self.sequence(data.get("pods") or [], f"{path}.pods")):
            pod = self.pod(item, f"{path}.pods[{i}]")
            if pod.ref in taken:
                self.fail(f"{path}.pods[{i}].name", f"pod {pod.ref} is already in the workload")
            taken.add(pod.ref)
            pods.append(pod)
        return Baseline(scenario, policies, tuple(pods))

    def pod(self, value: Any, path: str) -> ExtraPod:
        from provisioning.analysis.validate import label_key_errors, label_value_errors

        data = self.mapping(value, path, _POD_KEYS, required=("namespace", "name", "labels"))
        namespace = self.string(data["namespace"], f"{path}.namespace")
        if namespace not in workload.NAMESPACES:
            self.fail(
                f"{path}.namespace",
                f"{namespace!r} is not a lab namespace; choose one of: "
                f"{', '.join(workload.NAMESPACES)}",
            )
        name = self.string(data["name"], f"{path}.name")
        if not _DNS_LABEL_RE.match(name):
            self.fail(f"{path}.name", f"{name!r} is not a valid pod name (a DNS label)")
        labels = data["labels"]
        if not isinstance(labels, dict) or not labels:
            self.fail(f"{path}.labels", f"expected a mapping of labels, got {_type(labels)}")
        for key, val in labels.items():
            if not isinstance(val, str):
                self.fail(f"{path}.labels.{key}", f"label values are strings, got {_type(val)}")
            problems = label_key_errors(str(key)) + label_value_errors(val)
            if problems:
                self.fail(f"{path}.labels.{key}", problems[0])
        ports = tuple(
            self.port_spec(p, f"{path}.ports[{i}]")
            for i, p in enumerate(self.sequence(data.get("ports") or [], f"{path}.ports"))
        )
        return ExtraPod(namespace, name, MappingProxyType(dict(labels)), ports)

    def port_spec(self, value: Any, path: str) -> workload.PortSpec:
        from provisioning.analysis.validate import port_name_errors

        data = self.mapping(value, path, _PORT_KEYS, required=("name", "port"))
        name = self.string(data["name"], f"{path}.name")
        if problems := port_name_errors(name):
            self.fail(f"{path}.name", f"{name!r} {problems[0]}")
        number = data["port"]
        if type(number) is not int or not 1 <= number <= 65535:
            self.fail(f"{path}.port", f"expected a port number 1-65535, got {number!r}")
        protocol = data.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            self.fail(f"{path}.protocol", f"{protocol!r}; choose one of: {', '.join(PROTOCOLS)}")
        return workload.PortSpec(name, number, protocol)

    def goal(self, value: Any, path: str, pods: Mapping[str, ExtraPod]) -> list[Goal]:
        data = self.mapping(value, path, _GOAL_KEYS, required=_GOAL_REQUIRED)
        group = self.string(data["id"], f"{path}.id")
        if not _ID_RE.match(group):
            self.fail(f"{path}.id", f"{group!r} must be lower-case letters, digits and '-'")
        sources = data["from"] if isinstance(data["from"], list) else [data["from"]]
        ports = data["port"] if isinstance(data["port"], list) else [data["port"]]
        if not sources:
            self.fail(f"{path}.from", "expected a pod or a non-empty list of pods")
        if not ports:
            self.fail(f"{path}.port", "expected a port number or a non-empty list of them")
        protocol = data.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            self.fail(f"{path}.protocol", f"{protocol!r}; choose one of: {', '.join(PROTOCOLS)}")
        verdict = data["expect"]
        if verdict not in VERDICTS:
            self.fail(f"{path}.expect", f"{verdict!r}; choose one of: {', '.join(VERDICTS)}")
        target = self.string(data["to"], f"{path}.to")
        target_pod = pods.get(target)
        if target_pod is None:
            ip = _ip(target)
            if ip is None:
                self.fail(
                    f"{path}.to",
                    f"{target!r} is neither a pod of this exercise ({', '.join(pods)}) "
                    "nor an IP address",
                )
            if ip in MODEL_POD_NETWORK:
                self.fail(
                    f"{path}.to",
                    f"{target} is inside the pod network {MODEL_POD_NETWORK}; a goal's IP "
                    "stands for something outside the cluster (name a pod instead)",
                )
            target = str(ip)
        goals = []
        for i, raw in enumerate(sources):
            where = f"{path}.from" + (f"[{i}]" if isinstance(data["from"], list) else "")
            source = self.string(raw, where)
            if source not in pods:
                self.fail(where, f"unknown pod {source!r}; choose one of: {', '.join(pods)}")
            if source == target:
                self.fail(f"{path}.to", "a pod connecting to itself proves nothing")
            for j, port in enumerate(ports):
                at = f"{path}.port" + (f"[{j}]" if isinstance(data["port"], list) else "")
                if type(port) is not int or not 1 <= port <= 65535:
                    self.fail(at, f"expected a port number 1-65535, got {_type(port)}")
                if target_pod is not None and not any(
                    p.number == port and p.protocol == protocol for p in target_pod.ports
                ):
                    listening = (
                        ", ".join(f"{p.number}/{p.protocol}" for p in target_pod.ports) or "nothing"
                    )
                    self.fail(
                        at,
                        f"{target} does not listen on {port}/{protocol}; it listens on: "
                        f"{listening}",
                    )
                goals.append(Goal(group, source, target, port, protocol, verdict == "allow", path))
        return goals

    def hint(self, value: Any, path: str, groups: list[str]) -> Hint:
        if isinstance(value, str):
            value = {"text": value}
        data = self.mapping(value, path, _HINT_KEYS, required=("text",))
        text = " ".join(self.string(data["text"], f"{path}.text").split())
        when = data.get("when") or []
        when = when if isinstance(when, list) else [when]
        for i, group in enumerate(when):
            if group not in groups:
                self.fail(
                    f"{path}.when[{i}]",
                    f"no goal with id {group!r}; goal ids: {', '.join(groups)}",
                )
        return Hint(text, tuple(when))


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
