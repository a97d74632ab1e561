"""Lab scenarios as data, loaded strictly from ``policies/scenarios.yaml``.

A scenario is a lab step: a name, a title, a description for the attendee, the policy templates
to apply (each with optional variables) and optional stated expectations ("demo/client ->
demo/server:80 allow") that the validation step compares with what the cluster does. Like the
declarative tests of cilium-cli ``connectivity/builder``, adding a step means adding data, not
code.

The file is checked as strictly as a profile: unknown keys, wrong types, duplicate keys or
names, a template that does not exist and an expectation naming a pod or port the demo workload
does not have are all rejected with the file and the key path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from provisioning.documents import SMALL_MAX_BYTES, parse_yaml, read_text
from provisioning.errors import UsageError, choice_error
from provisioning.workload import demo as workload

SCENARIOS_FILE = "scenarios.yaml"
TEMPLATE_SUFFIX = ".yaml.j2"
PROTOCOLS = ("TCP", "UDP", "SCTP")
VERDICTS = ("allow", "deny")

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCENARIO_KEYS = ("name", "title", "description", "policies", "expect")
_POLICY_KEYS = ("template", "vars")
_EXPECT_KEYS = ("from", "to", "port", "protocol", "expect")


def default_root() -> Path:
    """The repository's ``policies/`` directory (templates and scenarios live side by side)."""
    return Path(__file__).resolve().parents[2] / "policies"


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it is below it, for short messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class PolicyRef:
    """One template of a scenario and the variables that override the defaults for it."""

    template: str  # the file name without TEMPLATE_SUFFIX, e.g. "demo-policy"
    vars: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def filename(self) -> str:
        return self.template + TEMPLATE_SUFFIX


@dataclass(frozen=True)
class Expectation:
    """A stated expectation: can ``source`` open a connection to ``target`` on ``port``?"""

    source: str  # "namespace/pod"
    target: str
    port: int
    protocol: str
    allowed: bool

    def describe(self) -> str:
        verdict = "allow" if self.allowed else "deny"
        return f"{self.source} -> {self.target}:{self.port}/{self.protocol} {verdict}"


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    description: str
    policies: tuple[PolicyRef, ...]
    expectations: tuple[Expectation, ...]
    root: Path  # the directory holding the templates and the scenarios file


_LOADED: dict[tuple[str, int, int, int], dict[str, Scenario]] = {}


def load_scenarios(root: Path | None = None) -> dict[str, Scenario]:
    """Every scenario of ``root/scenarios.yaml``, in file order; raises UsageError if invalid.

    The file read is kept while it is unchanged (same inode, size and modification time), so a
    workshop fleet reading it for each of 100 labs parses it once."""
    root = root or default_root()
    path = root / SCENARIOS_FILE
    try:
        st = path.stat()
        key: tuple[str, int, int, int] | None = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        key = None  # read_data_file names the problem
    if key is not None and key in _LOADED:
        return dict(_LOADED[key])
    scenarios = _load_scenarios(root, path)
    if key is not None:
        _LOADED.clear()
        _LOADED[key] = scenarios
    return dict(scenarios)


def _load_scenarios(root: Path, path: Path) -> dict[str, Scenario]:
    where = display_path(path)
    data = read_data_file(path, what="scenarios file")

    checker = _Checker(where, root)
    top = checker.mapping(data, "", ("scenarios",), required=("scenarios",))
    entries = checker.sequence(top["scenarios"], "scenarios")
    scenarios: dict[str, Scenario] = {}
    for index, entry in enumerate(entries):
        scenario = checker.scenario(entry, f"scenarios[{index}]")
        if scenario.name in scenarios:
            checker.fail(f"scenarios[{index}].name", f"duplicate scenario {scenario.name!r}")
        scenarios[scenario.name] = scenario
    return scenarios


def read_data_file(path: Path, *, what: str) -> Any:
    """One of the YAML data files beside the templates (scenarios, exercises): read within
    bounds, duplicate keys refused, no object tags; a problem is one line naming the file."""
    try:
        text = read_text(path, what=what, limit=SMALL_MAX_BYTES)
    except UsageError as exc:
        raise UsageError(
            str(exc), hint="restore it from git or pass the directory that holds it"
        ) from None
    return parse_yaml(text, source=display_path(path))


def scenario_names(root: Path | None = None) -> list[str]:
    """The names ``--scenario`` accepts, in file order."""
    return list(load_scenarios(root))


def load_scenario(name: str, root: Path | None = None) -> Scenario:
    """One scenario by name; an unknown name lists the valid ones."""
    scenarios = load_scenarios(root)
    if name not in scenarios:
        raise choice_error("scenario", name, list(scenarios))
    return scenarios[name]


def template_names(root: Path | None = None) -> list[str]:
    """The policy templates available in ``root``, by name without the suffix."""
    root = root or default_root()
    return sorted(p.name[: -len(TEMPLATE_SUFFIX)] for p in root.glob("*" + TEMPLATE_SUFFIX))


@dataclass(frozen=True)
class _Checker:
    """Type and value checks that name the file and the key path in every message."""

    where: str
    root: Path

    def fail(self, path: str, problem: str) -> NoReturn:
        raise UsageError(f"{self.where}: {path or 'top level'}: {problem}")

    def mapping(
        self, value: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping with keys {', '.join(allowed)}")
        for key in value:
            if key not in allowed:
                self.fail(_join(path, str(key)), f"unknown key; allowed: {', '.join(allowed)}")
        for key in required:
            if key not in value:
                self.fail(_join(path, key), "missing required key")
        return value

    def sequence(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {_type(value)}")
        return value

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"expected a non-empty string, got {_type(value)}")
        return value.strip()

    def scenario(self, entry: Any, path: str) -> Scenario:
        data = self.mapping(entry, path, _SCENARIO_KEYS, required=_SCENARIO_KEYS[:4])
        name = self.string(data["name"], f"{path}.name")
        if not _NAME_RE.match(name):
            self.fail(f"{path}.name", f"{name!r} must be lower-case letters, digits and '-'")
        policies = tuple(
            self.policy(item, f"{path}.policies[{i}]")
            for i, item in enumerate(self.sequence(data["policies"], f"{path}.policies"))
        )
        expect = data.get("expect") or []
        expectations = tuple(
            self.expectation(item, f"{path}.expect[{i}]")
            for i, item in enumerate(self.sequence(expect, f"{path}.expect"))
        )
        return Scenario(
            name=name,
            title=self.string(data["title"], f"{path}.title"),
            description=" ".join(self.string(data["description"], f"{path}.description").split()),
            policies=policies,
            expectations=expectations,
            root=self.root,
        )

    def policy(self, item: Any, path: str) -> PolicyRef:
        if isinstance(item, str):
            item = {"template": item}
        data = self.mapping(item, path, _POLICY_KEYS, required=("template",))
        template = self.string(data["template"], f"{path}.template")
        if not (self.root / (template + TEMPLATE_SUFFIX)).is_file():
            missing = display_path(self.root / (template + TEMPLATE_SUFFIX))
            self.fail(
                f"{path}.template",
                f"no template {template!r} ({missing} does not exist); "
                f"choose one of: {', '.join(template_names(self.root))}",
            )
        variables = data.get("vars") or {}
        if not isinstance(variables, dict):
            self.fail(f"{path}.vars", f"expected a mapping, got {_type(variables)}")
        for key in variables:
            if not isinstance(key, str) or not _VAR_RE.match(key):
                self.fail(f"{path}.vars", f"{key!r} is not a valid template variable name")
        return PolicyRef(template, MappingProxyType(dict(variables)))

    def expectation(self, item: Any, path: str) -> Expectation:
        data = self.mapping(item, path, _EXPECT_KEYS, required=("from", "to", "port", "expect"))
        source = self._pod(data["from"], f"{path}.from")
        target = self._pod(data["to"], f"{path}.to")
        if source == target:
            # Traffic from a pod to itself is undefined across implementations.
            self.fail(f"{path}.to", "a pod probing itself proves nothing; name another pod")
        protocol = data.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            self.fail(f"{path}.protocol", f"{protocol!r}; choose one of: {', '.join(PROTOCOLS)}")
        port = data["port"]
        if type(port) is not int:  # bool is an int subclass; `port: yes` is a mistake
            self.fail(f"{path}.port", f"expected a port number, got {_type(port)}")
        if target.port(port, protocol) is None:
            listening = ", ".join(f"{p.number}/{p.protocol}" for p in target.ports) or "nothing"
            self.fail(
                f"{path}.port",
                f"{target.ref} does not listen on {port}/{protocol}; it listens on: {listening}",
            )
        verdict = data["expect"]
        if verdict not in VERDICTS:
            self.fail(f"{path}.expect", f"{verdict!r}; choose one of: {', '.join(VERDICTS)}")
        return Expectation(source.ref, target.ref, port, protocol, verdict == "allow")

    def _pod(self, value: Any, path: str) -> workload.PodSpec:
        ref = self.string(value, path)
        pod = workload.find_pod(ref)
        if pod is None:
            known = ", ".join(p.ref for p in workload.pods())
            self.fail(path, f"unknown pod {ref!r}; choose one of: {known}")
        return pod


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
