"""Profiles: strict validation with file and key in every message, and the precedence order."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.errors import UsageError
from provisioning.profiles import (
    PROFILES_DIR,
    load_profile,
    parse_duration,
    profile_names,
    resolve,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_every_shipped_profile_is_valid_and_each_kind_engine_has_one() -> None:
    engines = set()
    for name in profile_names():
        _, data = load_profile(name)
        spec = resolve(profile=name)
        engines.add((spec.provider, spec.engine))
        assert data.get("description"), f"{name} needs a description"
    assert {("kind", "calico"), ("kind", "cilium"), ("kind", "none")} <= engines


def test_defaults_without_profile() -> None:
    spec = resolve()
    assert (spec.provider, spec.engine, spec.name, spec.scenario) == (
        "kind",
        "calico",
        "netpol-lab",
        "aks-demo",
    )
    assert spec.profile is None


def test_precedence_defaults_profile_config_flags(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p",
        "engine: cilium\nname: from-profile\nscenario: open\n"
        "timeouts: {engine: 2m}\nkind: {workers: 2}\n",
    )
    spec = resolve(profile="p", root=tmp_path)
    assert (spec.engine, spec.name, spec.scenario) == ("cilium", "from-profile", "open")
    assert spec.timeouts.engine == 120 and spec.timeouts.cluster == 300  # default kept
    assert spec.kind.workers == 2

    spec = resolve(profile="p", root=tmp_path, config={"name": "from-config", "engine": None})
    assert (spec.engine, spec.name) == ("cilium", "from-config")

    spec = resolve(
        profile="p",
        root=tmp_path,
        config={"name": "from-config"},
        flags={"name": "from-flag", "engine": "none"},
    )
    assert (spec.engine, spec.name) == ("none", "from-flag")


def test_config_may_name_the_profile_and_a_flag_profile_wins(tmp_path: Path) -> None:
    write(tmp_path, "a", "name: aaa\n")
    write(tmp_path, "b", "name: bbb\n")
    assert resolve(config={"profile": "a"}, root=tmp_path).name == "aaa"
    assert resolve(profile="b", config={"profile": "a"}, root=tmp_path).name == "bbb"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("enigne: calico\n", "unknown key 'enigne'; allowed keys: description, provider"),
        ("engine: bogus\n", "key 'engine' must be one of calico, cilium, none, azure, got 'bogus'"),
        ("kind: {workers: two}\n", "key 'kind.workers' must be an integer from 0 to 5, got 'two'"),
        ("kind: {wrokers: 1}\n", "unknown key 'kind.wrokers'; allowed keys in 'kind'"),
        ("timeouts: {engine: soon}\n", "key 'timeouts.engine' must be a positive duration"),
        ("name: Bad_Name\n", "key 'name' must be a name of lowercase letters"),
        ("kind: 3\n", "key 'kind' must be a mapping"),
        ("- a list\n", "a profile must be a mapping"),
        ("aks: {tags: {a: 1}}\n", "key 'aks.tags' must be a mapping of string keys"),
    ],
)
def test_broken_profiles_name_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "broken", text)
    with pytest.raises(UsageError) as info:
        resolve(profile="broken", root=tmp_path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message
    assert "\n" not in message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad", "engine: calico\nname: [unclosed\n")
    with pytest.raises(UsageError, match=rf"^{path}:\d+: not valid YAML"):
        resolve(profile="bad", root=tmp_path)


def test_unknown_profile_lists_the_choices() -> None:
    with pytest.raises(UsageError) as info:
        resolve(profile="nope")
    assert "unknown profile 'nope'; choose one of:" in str(info.value)
    assert "kind-calico" in str(info.value)


def test_profile_by_path(tmp_path: Path) -> None:
    path = write(tmp_path, "mine", "engine: none\n")
    assert resolve(profile=str(path)).engine == "none"


def test_bad_flags_and_config_values() -> None:
    with pytest.raises(UsageError, match="unknown engine 'bogus'; choose one of: azure, calico"):
        resolve(flags={"engine": "bogus"})
    with pytest.raises(UsageError, match="unknown provider 'gke'"):
        resolve(config={"provider": "gke"})
    with pytest.raises(UsageError, match="unknown setting 'colour'"):
        resolve(config={"colour": "blue"})


def test_azure_engine_on_kind_is_refused_with_suggestions() -> None:
    with pytest.raises(UsageError) as info:
        resolve(flags={"engine": "azure"})
    assert info.value.exit_code == 2
    assert "--provider aks" in str(info.value) and "calico, cilium or none" in str(info.value)
    assert resolve(flags={"engine": "azure", "provider": "aks"}).engine == "azure"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90), ("90s", 90), ("5m", 300), ("1.5h", 5400), ("250ms", 0.25), ("7d", 604800)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value, where="x") == seconds


@pytest.mark.parametrize("value", [0, -1, "soon", True, "5w", None])
def test_bad_durations(value: object) -> None:
    with pytest.raises(UsageError, match="x: expected a positive duration"):
        parse_duration(value, where="x")


def test_profiles_dir_is_the_repository_one() -> None:
    assert (PROFILES_DIR / "kind-calico.yaml").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: {pod_subnet: banana}\n", "key 'kind.pod_subnet' must be a network in CIDR form"),
        ("kind: {pod_subnet: 10.96.0.0/12}\n", "overlaps kind.service_subnet 10.96.0.0/16"),
        ("scenario: nope\n", "key 'scenario' must be one of aks-demo,"),
        ("kind: {node_image: 'kindest/node:latest'}\n", "must be a pinned image"),
        ("kind: {node_image: kindest/node}\n", "must be a pinned image"),
    ],
)
def test_bad_values_are_caught_before_anything_runs(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, "bad", text)
    with pytest.raises(UsageError) as info:
        resolve(profile="bad", root=tmp_path)
    assert str(info.value).startswith(str(path)) and expected in str(info.value)


def test_pinned_images_pass(tmp_path: Path) -> None:
    write(tmp_path, "ok", "kind: {node_image: 'registry:5000/kindest/node:v1.36.1'}\n")
    assert resolve(profile="ok", root=tmp_path).kind.node_image.endswith(":v1.36.1")


def test_settings_nobody_gave_follow_the_existing_lab(tmp_path: Path) -> None:
    from provisioning.lab.state import LabRecord, save_record
    from provisioning.profiles import follow_lab

    spec = resolve(flags={"name": "lab1"})
    spec = type(spec)(**{**spec.__dict__, "state_root": tmp_path})
    assert follow_lab(spec) == (spec, [])  # no lab yet: nothing to follow
    save_record(
        spec,
        LabRecord(
            lab="lab1",
            provider="kind",
            engine="cilium",
            cluster_created=True,
            phase="ready",
            scenario="zero-trust",
        ),
    )
    followed, notes = follow_lab(spec)
    assert (followed.engine, followed.scenario) == ("cilium", "zero-trust")
    assert "using engine cilium of the existing lab lab1 (pass --engine to change it)" in notes

    explicit = resolve(flags={"name": "lab1", "engine": "calico", "scenario": "open"})
    explicit = type(explicit)(**{**explicit.__dict__, "state_root": tmp_path})
    assert follow_lab(explicit) == (explicit, [])


def test_a_relative_kubeconfig_in_a_profile_is_beside_the_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not beside wherever invoke happens to run; an absolute or ~ path stays as written, and a
    relative --kubeconfig flag is from the working directory, as every command-line path is."""
    folder = tmp_path / "workshop"
    folder.mkdir()
    path = write(folder, "mine", "provider: existing\nkubeconfig: clusters/room.yaml\n")
    monkeypatch.chdir(tmp_path)
    spec = resolve(profile=str(path))
    assert spec.existing.kubeconfig == folder / "clusters" / "room.yaml"
    spec = resolve(profile=str(path), flags={"kubeconfig": "here.yaml"})
    assert spec.existing.kubeconfig == tmp_path / "here.yaml"
    write(folder, "abs", f"provider: existing\nkubeconfig: {tmp_path}/k.yaml\n")
    assert resolve(profile=str(folder / "abs.yaml")).existing.kubeconfig == tmp_path / "k.yaml"
