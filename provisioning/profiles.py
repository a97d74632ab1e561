"""Lab profiles (``profiles/*.yaml``) and how a ``LabSpec`` is resolved from all its sources.

Precedence, lowest first: built-in defaults < profile < Invoke configuration (``invoke.yaml``,
``INVOKE_LAB_*``) < command-line flags. A profile is validated strictly: an unknown key, a wrong
type or a bad value is rejected with the file, the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.documents import SMALL_MAX_BYTES, parse_yaml, read_text, shown, shown_path
from provisioning.errors import UsageError
from provisioning.providers import REGISTRY
from provisioning.providers import info as provider_info
from provisioning.spec import (
    ENGINES,
    AksSettings,
    ExistingSettings,
    KindSettings,
    LabSpec,
    Timeouts,
)

PROVIDERS = tuple(REGISTRY)

PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"

# kind cluster names end up in container and host names; keep them short and DNS-like.
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,38}[a-z0-9])?$")
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
# Days: a workshop fleet lives up to 7d (fleet/plan.py check_expiry).
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any, *, where: str) -> float:
    """Seconds from a number or a string like ``90``, ``90s``, ``5m``, ``1.5h``."""
    if isinstance(value, bool):
        raise UsageError(
            f"{where}: expected a positive duration like 300s or 5m, got {shown(value)}"
        )
    if isinstance(value, (int, float)) and 0 < value < 1e9:  # not inf, nan or absurd
        return float(value)
    if isinstance(value, str) and (m := _DURATION_RE.match(value.strip())):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
        if 0 < seconds < 1e9:
            return seconds
    raise UsageError(f"{where}: expected a positive duration like 300s or 5m, got {shown(value)}")


# --- the profile schema -------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    """One allowed key: a converter that raises ValueError naming what it accepts."""

    convert: Callable[[Any], Any]


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError("a non-empty string")
    return v


def _image(v: Any) -> str:
    image = _str(v)
    name = image.split("@", 1)[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else None
    if "@sha256:" not in image and (tag is None or tag == "latest"):
        raise ValueError("a pinned image: a tag other than latest, or @sha256:<digest>")
    if "@" in image and not re.fullmatch(r"sha256:[0-9a-f]{64}", image.split("@", 1)[1]):
        raise ValueError("a digest of the form @sha256: and 64 lowercase hex digits")
    return image


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(v: Any) -> str:
        if v not in choices:
            raise ValueError(f"one of {', '.join(choices)}")
        return str(v)

    return convert


def _name(v: Any) -> str:
    if not isinstance(v, str) or not _NAME_RE.match(v):
        raise ValueError("a name of lowercase letters, digits, '-' and '.' (at most 40)")
    return v


def _count(low: int, high: int) -> Callable[[Any], int]:
    def convert(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise ValueError(f"an integer from {low} to {high}")
        return v

    return convert


def _duration(v: Any) -> float:
    try:
        return parse_duration(v, where="")
    except UsageError:
        raise ValueError("a positive duration like 300s or 5m") from None


def _tags(v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or not all(
        isinstance(k, str) and isinstance(x, str) for k, x in v.items()
    ):
        raise ValueError("a mapping of string keys to string values")
    return dict(v)


def _path(v: Any) -> Path:
    text = _str(v)
    if "\0" in text or len(text) > 4096:
        raise ValueError("a path to a file")
    try:
        return Path(text).expanduser().absolute()
    except RuntimeError:  # `~nosuchuser/...`
        raise ValueError("a path to a file (no such user's home folder)") from None


def _optional_str(v: Any) -> str | None:
    return None if v is None else _str(v)


_TOP: dict[str, _Key] = {
    "description": _Key(_str),
    "provider": _Key(_choice(PROVIDERS)),
    "engine": _Key(_choice(ENGINES)),
    "name": _Key(_name),
    "scenario": _Key(_str),
    # A cluster the user already has (provider existing): its kubeconfig and context.
    "exercise": _Key(_str),  # a workshop exercise: its baseline is the lab's desired state
    "kubeconfig": _Key(_path),
    "context": _Key(_str),
}
_SECTIONS: dict[str, dict[str, _Key]] = {
    "kind": {
        "node_image": _Key(_image),
        "workers": _Key(_count(0, 5)),
        "pod_subnet": _Key(_str),
        "service_subnet": _Key(_str),
    },
    "aks": {
        "subscription_id": _Key(_optional_str),
        "resource_group": _Key(_optional_str),
        "location": _Key(_str),
        "node_count": _Key(_count(1, 100)),
        "vm_size": _Key(_str),
        "kubernetes_version": _Key(_optional_str),
        "tags": _Key(_tags),
    },
    "timeouts": {
        "cluster": _Key(_duration),
        "engine": _Key(_duration),
        "workload": _Key(_duration),
    },
}


def check_profile(data: Any, *, source: str) -> dict[str, Any]:
    """Validate a profile document; return it normalised. Raises UsageError naming file and key.

    The scenario must exist and the node image must be pinned (a tag other than ``latest`` or a
    digest): a lab built on a moving image is not the lab the profile describes.
    """
    if not isinstance(data, dict):
        raise UsageError(
            f"{source}: a profile must be a mapping of keys, got {type(data).__name__}"
        )
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TOP:
            out[key] = _convert(_TOP[key], value, source, key)
        elif key in _SECTIONS:
            out[key] = _check_section(key, value, source)
        else:
            allowed = ", ".join([*_TOP, *_SECTIONS])
            raise UsageError(f"{source}: unknown key {shown(key)}; allowed keys: {allowed}")
    if "scenario" in out:
        _check_scenario(out["scenario"], source)
    return out


def _check_scenario(name: str, source: str) -> None:
    from provisioning.workload.scenarios import load_scenarios

    known = sorted(load_scenarios())
    if name not in known:
        raise UsageError(
            f"{source}: key 'scenario' must be one of {', '.join(known)}, got {shown(name)}"
        )


def _check_section(section: str, value: Any, source: str) -> dict[str, Any]:
    schema = _SECTIONS[section]
    if not isinstance(value, dict):
        raise UsageError(
            f"{source}: key {section!r} must be a mapping with keys {', '.join(schema)}"
        )
    out = {}
    for key, item in value.items():
        if key not in schema:
            raise UsageError(
                f"{source}: unknown key {shown(f'{section}.{key}')}; allowed keys in {section!r}: "
                f"{', '.join(schema)}"
            )
        out[key] = _convert(schema[key], item, source, f"{section}.{key}")
    return out


def _convert(key: _Key, value: Any, source: str, path: str) -> Any:
    try:
        return key.convert(value)
    except ValueError as exc:
        raise UsageError(f"{source}: key {path!r} must be {exc}, got {shown(value)}") from None


# --- finding and loading profiles ---------------------------------------------------------


def profile_names(root: Path = PROFILES_DIR) -> list[str]:
    return sorted(p.stem for p in root.glob("*.yaml"))


_PROFILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def is_profile_path(value: str) -> bool:
    """A profile is a name from ``profiles/`` unless it looks like a path: it contains a ``/``
    or ends in ``.yaml``/``.yml``. A name never walks out of ``profiles/``."""
    return "/" in value or value.endswith((".yaml", ".yml"))


def profile_path(name_or_path: str, root: Path = PROFILES_DIR, *, where: str = "--profile") -> Path:
    """A profile by name (``kind-calico``) from ``profiles/``, or by path to a YAML file."""
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise UsageError(
            f"{where} is empty; give a profile name (see `invoke profiles`) or a path to a "
            "YAML file"
        )
    if is_profile_path(name_or_path):
        return Path(name_or_path)  # read_text says what is wrong with it, if anything
    by_name = root / f"{name_or_path}.yaml"
    if _PROFILE_NAME_RE.match(name_or_path) and (by_name.exists() or by_name.is_symlink()):
        return by_name
    raise UsageError(
        f"{where}: unknown profile {shown(name_or_path)}; choose one of: "
        f"{', '.join(profile_names(root))} (or give a path to a YAML file)"
    )


def load_profile(
    name_or_path: str, root: Path = PROFILES_DIR, *, where: str = "--profile"
) -> tuple[Path, dict[str, Any]]:
    path = profile_path(name_or_path, root, where=where)
    text = read_text(path, what="profile", limit=SMALL_MAX_BYTES)
    data = parse_yaml(text, source=str(path))
    if isinstance(data, dict) and isinstance(data.get("kubeconfig"), str):
        # A relative kubeconfig in a profile is beside the profile, wherever invoke is run from.
        given = data["kubeconfig"]
        if given and not given.startswith("~") and not Path(given).is_absolute():
            data = {**data, "kubeconfig": str(path.parent / given)}
    return path, check_profile({} if data is None else data, source=str(path))


def describe_profiles(root: Path = PROFILES_DIR) -> list[tuple[str, str]]:
    """(name, description) for every profile, for `invoke profiles`."""
    return [(n, load_profile(n, root)[1].get("description", "")) for n in profile_names(root)]


# --- resolution ---------------------------------------------------------------------------


# A layer of settings: where each key of it came from (for messages), and its values.
Layer = tuple[Callable[[str], str], Mapping[str, Any]]


def config_layer(label: str) -> Callable[[str], str]:
    return lambda key: f"{label} key 'lab.{key}'"


def flag_layer(key: str) -> str:
    return f"--{key.replace('_', '-')}"


def resolve(
    *,
    profile: str | None = None,
    config: Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
    root: Path = PROFILES_DIR,
    layers: Sequence[Layer] | None = None,
) -> LabSpec:
    """Build the LabSpec: defaults < profile < Invoke config < flags (``None`` means unset).

    ``layers`` are the configuration layers in rising precedence, each naming where its keys came
    from (a file and key, an environment variable); ``config`` is a single unnamed one and
    ``flags`` the command line. Any layer may name a profile (a higher one wins). Keys with value
    ``None`` are ignored at every layer.
    """
    stack: list[Layer] = list(layers or [])
    if config:
        stack.append((config_layer("Invoke configuration"), config))
    if flags:
        stack.append((flag_layer, flags))
    stack = [(where, {k: v for k, v in values.items() if v is not None}) for where, values in stack]
    if profile is not None:
        stack.append((flag_layer, {"profile": profile}))

    profile_where, chosen = "--profile", None
    for where, values in stack:
        if "profile" in values:
            profile_where, chosen = where("profile"), values["profile"]
    merged: dict[str, Any] = {}
    profile_file: str | None = None
    if chosen is not None:
        if not isinstance(chosen, str):
            raise UsageError(
                f"{profile_where} must be a profile name or a path, got {shown(chosen)}"
            )
        path, data = load_profile(chosen, root, where=profile_where)
        profile_file = str(path)
        merged.update(data)
    for where, values in stack:
        for key, value in values.items():
            if key == "profile":
                continue
            if key in _TOP:
                merged[key] = _layer_value(key, value, where(key))
            elif key in _SECTIONS:
                section = _check_section(key, value, where(key))
                merged[key] = {**merged.get(key, {}), **section}
            else:
                raise UsageError(
                    f"{where(key)}: unknown setting {shown(key)}; "
                    f"allowed: {', '.join([*_TOP, *_SECTIONS])}"
                )

    timeouts = merged.get("timeouts", {})
    kind_settings = dataclasses.replace(KindSettings(), **merged.get("kind", {}))
    _check_subnets(kind_settings, profile_file or "settings")
    spec = LabSpec(
        name=merged.get("name", LabSpec.name),
        provider=merged.get("provider", LabSpec.provider),
        engine=merged.get("engine", LabSpec.engine),
        scenario=merged.get("scenario", _baseline_scenario(merged.get("exercise"))),
        exercise=merged.get("exercise"),
        profile=profile_file,
        timeouts=dataclasses.replace(Timeouts(), **timeouts),
        kind=kind_settings,
        aks=dataclasses.replace(AksSettings(), **merged.get("aks", {})),
        existing=ExistingSettings(merged.get("kubeconfig"), merged.get("context")),
        explicit=frozenset(merged),
    )
    if provider_info(spec.provider).suffix_namespaces:
        spec = dataclasses.replace(spec, namespace_suffix=f"-{spec.name}")
    check_combination(spec)
    return spec


def _check_subnets(kind: KindSettings, source: str) -> None:
    """Pod and service subnets must be CIDRs and must not overlap (kind and Calico's pool)."""
    import ipaddress

    nets = {}
    for key in ("pod_subnet", "service_subnet"):
        value = getattr(kind, key)
        try:
            nets[key] = ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise UsageError(
                f"{source}: key 'kind.{key}' must be a network in CIDR form like 10.244.0.0/16, "
                f"got {value!r}"
            ) from None
    if nets["pod_subnet"].overlaps(nets["service_subnet"]):
        raise UsageError(
            f"{source}: kind.pod_subnet {kind.pod_subnet} overlaps kind.service_subnet "
            f"{kind.service_subnet}; choose ranges that do not overlap"
        )


FOLLOWED = ("provider", "engine", "scenario", "exercise")


def _baseline_scenario(exercise: str | None) -> str:
    """The scenario an exercise starts from (the default scenario without one)."""
    if not exercise:
        return LabSpec.scenario
    from provisioning.workload.exercises import load_exercise

    return load_exercise(exercise).baseline.scenario


def follow_lab(spec: LabSpec) -> tuple[LabSpec, list[str]]:
    """Settings nobody gave explicitly follow the existing lab of the same name.

    Without this, `invoke up --scenario one-port` on a Cilium lab would plan to recreate the
    cluster as the default engine, and `invoke validate` would expect the default scenario.
    Returns the spec and one note per setting taken from the lab's record.
    """
    from provisioning.lab.state import load_record

    record = load_record(spec)
    if record is None:
        return spec, []
    changes: dict[str, Any] = {}
    notes = []
    for key in FOLLOWED:
        value = getattr(record, key, None)
        if key in spec.explicit or value is None or value == getattr(spec, key):
            continue
        if key == "engine" and not provider_info(changes.get("provider", spec.provider)).engines:
            continue  # the provider finds the engine in the cluster; nothing to follow
        if not _known(key, value):
            notes.append(
                f"the record of lab {spec.name} names {key} {shown(value)}, which this version "
                f"does not know; using {getattr(spec, key)} (pass --{key} to choose)"
            )
            continue
        changes[key] = value
        notes.append(
            f"using {key} {value} of the existing lab {spec.name} (pass --{key} to change it)"
        )
    provider = changes.get("provider", spec.provider)
    if "provider" in changes:
        suffix = f"-{spec.name}" if provider_info(provider).suffix_namespaces else ""
        changes["namespace_suffix"] = suffix
    if provider_info(provider).uses_user_kubeconfig and record.provider == provider:
        existing, cluster_notes = _follow_cluster(spec, record)
        if existing != spec.existing:
            changes["existing"] = existing
        notes += cluster_notes
    if not changes:
        return spec, notes
    followed = dataclasses.replace(spec, **changes)
    try:
        check_combination(followed)
    except UsageError:
        named = {k: v for k, v in changes.items() if k in FOLLOWED}
        return spec, [
            f"the record of lab {spec.name} names "
            f"{', '.join(f'{k} {v}' for k, v in named.items())}, which cannot be combined "
            "with the other settings; not following it"
        ]
    return followed, notes


def _follow_cluster(spec: LabSpec, record: Any) -> tuple[ExistingSettings, list[str]]:
    """A lab on a cluster the user already has lives where its record says: a run without
    --kubeconfig/--context reaches that cluster, and one that names another is refused (it
    would find no lab there, and ``down`` would forget the real one). Only when the recorded
    kubeconfig is gone (moved, renamed) does a given one replace it."""
    if record.kubeconfig is None:
        return spec.existing, []
    recorded = Path(record.kubeconfig)
    given = spec.existing
    where = shown_path(record.kubeconfig) + (
        f" (context {shown(record.context)})" if record.context else ""
    )
    again = "drop --kubeconfig and --context to use it, or choose another --name for a new lab"
    notes = []
    if "kubeconfig" in spec.explicit and given.kubeconfig != recorded:
        if recorded.exists():
            raise UsageError(
                f"--kubeconfig {shown_path(given.kubeconfig)}: lab {spec.name} runs on the "
                f"cluster of {where}; {again}"
            )
        notes.append(
            f"the kubeconfig {shown_path(record.kubeconfig)} lab {spec.name} was made with is "
            f"gone; using {shown_path(given.kubeconfig)}"
        )
        recorded = given.kubeconfig or recorded
    elif "kubeconfig" not in spec.explicit:
        notes.append(
            f"using kubeconfig {shown_path(record.kubeconfig)} of the existing lab {spec.name} "
            "(pass --kubeconfig to change it)"
        )
    context = given.context
    if "context" in spec.explicit:
        if record.context is not None and given.context != record.context:
            raise UsageError(
                f"--context {shown(given.context or '')}: lab {spec.name} runs on the cluster "
                f"of {where}; {again}"
            )
    elif record.context is not None:
        context = record.context
        notes.append(f"using context {shown(record.context)} of the existing lab {spec.name}")
    return ExistingSettings(recorded, context), notes


def _known(key: str, value: Any) -> bool:
    if key == "provider":
        return value in PROVIDERS
    if key == "engine":
        return value in ENGINES
    if key == "exercise":
        from provisioning.workload.exercises import exercise_ids

        try:
            return value in exercise_ids()
        except UsageError:
            return True  # a broken exercises file is reported where exercises are used
    from provisioning.workload.scenarios import load_scenarios

    try:
        return value in load_scenarios()
    except UsageError:
        return True  # a broken scenarios file is reported where scenarios are used


def _layer_value(key: str, value: Any, where: str) -> Any:
    if key == "exercise" and isinstance(value, str) and not _known("exercise", value):
        from provisioning.workload.exercises import exercise_ids

        raise UsageError(
            f"{where}: unknown exercise {shown(value)}; choose one of: "
            f"{', '.join(exercise_ids())} (see `invoke exercises`)"
        )
    if key == "scenario" and isinstance(value, str) and not _known("scenario", value):
        from provisioning.workload.scenarios import scenario_names

        raise UsageError(
            f"{where}: unknown scenario {shown(value)}; choose one of: "
            f"{', '.join(scenario_names())} (see `invoke scenarios`)"
        )
    if key in ("provider", "engine"):
        choices = PROVIDERS if key == "provider" else ENGINES
        if value not in choices:
            raise UsageError(
                f"{where}: unknown {key} {shown(value)}; "
                f"choose one of: {', '.join(sorted(choices))}"
            )
    try:
        return _TOP[key].convert(value)
    except ValueError as exc:
        raise UsageError(f"{where} must be {exc}, got {shown(value)}") from None


def check_combination(spec: LabSpec) -> None:
    """Refuse combinations that cannot work, before anything is created."""
    info = provider_info(spec.provider)
    if spec.exercise and spec.scenario != (baseline := _baseline_scenario(spec.exercise)):
        raise UsageError(
            f"exercise {spec.exercise} starts from scenario {baseline}, not {spec.scenario}; "
            "give one of --exercise and --scenario"
        )
    if info.engines and spec.engine not in info.engines:
        others = [n for n, i in REGISTRY.items() if spec.engine in i.engines]
        raise UsageError(
            f"engine {spec.engine!r} cannot run on provider {spec.provider}"
            + (f" (it runs only on {' or '.join(others)})" if others else "")
            + f"; choose --engine {', '.join(info.engines[:-1])} or {info.engines[-1]}"
            + (f", or --provider {others[0]}" if others else "")
        )
    if not info.engines and "engine" in spec.explicit:
        raise UsageError(
            f"--engine: provider {spec.provider} never installs or changes an engine; it "
            "detects the one running in the cluster (drop --engine; `invoke status` shows it)"
        )
    # A missing --kubeconfig is the provider's to report (ExistingProvider): the lab's record
    # may still supply it (follow_lab).
    given = [k for k in ("kubeconfig", "context") if k in spec.explicit]
    if given and not info.uses_user_kubeconfig:
        raise UsageError(
            f"--{given[0]} is for --provider existing; a {spec.provider} lab writes its own "
            f"kubeconfig ({spec.lab_file('kubeconfig')})"
        )
    if info.suffix_namespaces and "." in spec.name:
        raise UsageError(
            f"--name {spec.name!r}: on provider {spec.provider} the name becomes part of "
            "namespace names, which cannot contain '.'; choose a name without dots"
        )
