"""Every input a user can give ends in one line and the right exit code, never a traceback.

Issue 8 §2: one table of cases (the input, the expected exit code, a fragment of the expected
line). Each case runs ``invoke`` in a real subprocess as a user would, with a private HOME and
state folder and a PATH without kind or Docker; all cases run once, in parallel, and each is
then checked on its own: the exit code, the fragment on the ``✗`` line, and no "Traceback"
anywhere in stdout or stderr. ``python -m tests.test_error_catalogue`` prints the whole table
with the line each case printed (for issue notes and reviews).

Exit codes: 2 for bad usage or configuration, 1 for a failed operation (no kind, a full disk),
0 where the input is fine (``analyze --help``), 130 never appears here (no Ctrl-C).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "analysis" / "data"

Setup = Callable[[Path], dict[str, str]]  # writes files under the case folder; returns env


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int
    fragment: str
    setup: Setup | None = None
    shell: str | None = None  # a bash -o pipefail line; {invoke} is the invoke command
    where: str = "stderr"  # where the fragment appears
    project: bool = False  # run from a copy of the project (for its own invoke.yaml)
    env: dict[str, str] = field(default_factory=dict)


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


LAUGHS = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" if i else 'l0: &l0 ["lol"]\n'
    for i in range(9)
)


def _laughs_in(key: str, indent: str = "") -> str:
    """A billion-laughs document whose last alias sits at ``key``."""
    body = "".join(indent + line + "\n" for line in LAUGHS.splitlines())
    return body + f"{indent}{key}: *l8\n"


# --- setups ----------------------------------------------------------------------------------


def home_is_a_file(case: Path) -> dict[str, str]:
    _write(case / "homefile", "not a folder\n")
    return {"NETPOL_LAB_HOME": str(case / "homefile")}


def home_unwritable(case: Path) -> dict[str, str]:
    return {"NETPOL_LAB_HOME": "/sys/fs/netpol-lab-home"}  # sysfs: no one may create files


def record_is_a_folder(case: Path) -> dict[str, str]:
    (case / "state" / "netpol-lab" / "state.json").mkdir(parents=True)
    return {}


def record_names_a_gone_scenario(case: Path) -> dict[str, str]:
    _write(
        case / "state" / "netpol-lab" / "state.json",
        '{"lab": "netpol-lab", "provider": "kind", "engine": "calico", "cluster_created": true,'
        ' "phase": "ready", "scenario": "renamed-after-git-pull"}\n',
    )
    return {}


def profile_folder(case: Path) -> dict[str, str]:
    (case / "p.yaml").mkdir(parents=True)
    return {}


def profile_binary(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", b"engine: calico\n\xff\xfe\x00\x01binary")
    return {}


def profile_loop(case: Path) -> dict[str, str]:
    case.mkdir(parents=True, exist_ok=True)
    os.symlink(case / "loop.yaml", case / "loop.yaml")
    return {}


def profile_duplicate(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", "engine: calico\nname: a\nengine: cilium\n")
    return {}


def profile_bomb(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", _laughs_in("description"))
    return {}


def profile_bad_engine(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", "engine: bogus\n")
    return {}


def profile_bad_key(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", "engine: calico\ntimeouts:\n  engnie: 5m\n")
    return {}


def profile_bad_type(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", "kind:\n  workers: many\n")
    return {}


def profile_bad_yaml(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", "engine: [calico\n")
    return {}


def profile_not_mapping(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", "- calico\n")
    return {}


def project_yaml(text: str) -> Setup:
    def setup(case: Path) -> dict[str, str]:
        _write(case / "project" / "invoke.yaml", text)
        return {}

    return setup


def user_yaml(text: str) -> Setup:
    def setup(case: Path) -> dict[str, str]:
        _write(case / "home" / ".invoke.yaml", text)
        return {}

    return setup


def profile_huge_number(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", "kind: {workers: " + "9" * 5000 + "}\n")
    return {}


def profile_infinite_timeout(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", "timeouts: {cluster: .inf}\n")
    return {}


def profile_bad_digest(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", "kind: {node_image: 'kindest/node:v1.35.0@sha256:zz'}\n")
    return {}


def user_string_project_mapping(case: Path) -> dict[str, str]:
    _write(case / "home" / ".invoke.yaml", "lab: calico\n")
    _write(case / "project" / "invoke.yaml", "lab: {engine: cilium}\n")
    return {}


def runtime_bomb(case: Path) -> dict[str, str]:
    _write(case / "bomb.yaml", _laughs_in("anything"))
    return {}


def runtime_bomb_env(case: Path) -> dict[str, str]:
    _write(case / "bomb.yaml", _laughs_in("anything"))
    return {"INVOKE_RUNTIME_CONFIG": str(case / "bomb.yaml")}


def python_runtime_config(case: Path) -> dict[str, str]:
    _write(case / "cfg.py", "run = {'echo': False}\n")
    return {}


def cluster_bomb(case: Path) -> dict[str, str]:
    text = LAUGHS + (
        "namespaces:\n  demo:\n    labels: {team: *l8}\n"
        "pods:\n- {namespace: demo, name: a, labels: {}}\n"
    )
    _write(case / "cluster.yaml", text)
    return {}


def policy_with_status(case: Path) -> dict[str, str]:
    _write(
        case / "p.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: p, namespace: demo}\nspec: {podSelector: {}}\nstatus: {}\n",
    )
    return {}


def probes_unknown_pod(case: Path) -> dict[str, str]:
    _write(case / "probes.json", '[{"from": "demo/nobody", "to": "demo/server", "port": 80}]')
    return {}


def policies_binary(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", bytes(range(256)))
    return {}


def policies_duplicate(case: Path) -> dict[str, str]:
    _write(case / "p.json", '{"kind": "NetworkPolicy", "kind": "NetworkPolicy"}')
    return {}


def bare_policy(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", "metadata: {name: x, namespace: demo}\nspec: {podSelector: {}}\n")
    return {}


def empty_file(case: Path) -> dict[str, str]:
    _write(case / "p.yaml", "")
    return {}


def output_folder(case: Path) -> dict[str, str]:
    (case / "out").mkdir(parents=True)
    return {}


def lab_with_kubeconfig(case: Path) -> dict[str, str]:
    _write(case / "state" / "netpol-lab" / "kubeconfig", "apiVersion: v1\nkind: Config\n")
    return {}


def _analyze(*extra: str) -> tuple[str, ...]:
    return ("analyze", "--cluster", str(DATA / "demo-cluster.json"), *extra)


POLICIES = str(DATA / "demo-policies.yaml")

CASES: list[Case] = [
    # The state folder (NETPOL_LAB_HOME) and the lab record.
    *[
        Case(f"home-is-a-file-{task}", (task,), 2, "which is a file, not a folder", home_is_a_file)
        for task in ("up", "plan", "status", "down", "validate", "preload")
    ],
    Case("home-unwritable-up", ("up",), 2, "cannot write /sys/fs/netpol-lab-home", home_unwritable),
    Case("home-unwritable-down", ("down",), 0, "Nothing to remove", home_unwritable),
    Case("record-is-a-folder", ("status",), 2, "state.json is a folder", record_is_a_folder),
    Case(
        "record-names-gone-scenario-plan",
        ("plan", "--brief"),
        0,
        "names scenario 'renamed-after-git-pull', which this version does not know",
        record_names_a_gone_scenario,
    ),
    Case(
        "record-names-gone-scenario-down",  # not blocked by the record: only by missing kind
        ("down",),
        1,
        "cannot check lab 'netpol-lab': kind is not installed",
        record_names_a_gone_scenario,
    ),
    # Profiles.
    Case(
        "profile-folder", ("plan", "--profile", "{case}/p.yaml"), 2, "is a folder", profile_folder
    ),
    Case("profile-binary", ("plan", "--profile", "{case}/p.yaml"), 2, "not UTF-8", profile_binary),
    Case(
        "profile-symlink-loop",
        ("plan", "--profile", "{case}/loop.yaml"),
        2,
        "symbolic link loop",
        profile_loop,
    ),
    Case(
        "profile-duplicate-key",
        ("plan", "--profile", "{case}/p.yaml"),
        2,
        "p.yaml:3: duplicate key 'engine'",
        profile_duplicate,
    ),
    Case(
        "profile-alias-bomb",
        ("plan", "--profile", "{case}/p.yaml"),
        2,
        "excessive aliasing",
        profile_bomb,
    ),
    Case(
        "profile-bad-engine",
        ("plan", "--profile", "{case}/p.yaml"),
        2,
        "p.yaml: key 'engine' must be one of calico, cilium, none, azure, got 'bogus'",
        profile_bad_engine,
    ),
    Case(
        "profile-unknown-key",
        ("plan", "--profile", "{case}/p.yaml"),
        2,
        "unknown key 'timeouts.engnie'",
        profile_bad_key,
    ),
    Case(
        "profile-wrong-type",
        ("plan", "--profile", "{case}/p.yaml"),
        2,
        "key 'kind.workers' must be an integer from 0 to 5, got 'many'",
        profile_bad_type,
    ),
    Case(
        "profile-yaml-syntax",
        ("plan", "--profile", "{case}/p.yaml"),
        2,
        "not valid YAML",
        profile_bad_yaml,
    ),
    Case(
        "profile-not-a-mapping",
        ("plan", "--profile", "{case}/p.yaml"),
        2,
        "a profile must be a mapping of keys, got list",
        profile_not_mapping,
    ),
    Case(
        "profile-huge-number",
        ("plan", "--profile", "{case}/p.yaml"),
        2,
        "holds a number with more than 4300 digits",
        profile_huge_number,
    ),
    Case(
        "profile-infinite-timeout",
        ("plan", "--profile", "{case}/p.yaml"),
        2,
        "key 'timeouts.cluster' must be a positive duration",
        profile_infinite_timeout,
    ),
    Case(
        "profile-bad-digest",
        ("plan", "--profile", "{case}/p.yaml"),
        2,
        "key 'kind.node_image' must be a digest of the form @sha256:",
        profile_bad_digest,
    ),
    Case(
        "profile-path-too-long",
        ("plan", "--profile", "x" * 300 + ".yaml"),
        2,
        "File name too long",
    ),
    Case("profile-unknown-name", ("plan", "--profile", "nope"), 2, "unknown profile 'nope'"),
    Case("profile-empty", ("plan", "--profile", ""), 2, "--profile is empty"),
    Case(
        "profile-path-outside",
        ("plan", "--profile", "../../x"),
        2,
        "profile ../../x: no such file",
    ),
    # Flags and the Invoke configuration, each named by its source.
    Case("flag-engine", ("up", "--engine", "bogus"), 2, "--engine: unknown engine 'bogus'; choose"),
    Case("flag-provider", ("plan", "--provider", "gke"), 2, "--provider: unknown provider 'gke'"),
    Case("flag-scenario", ("plan", "--scenario", "nope"), 2, "--scenario: unknown scenario 'nope'"),
    Case("flag-name", ("plan", "--name", "Bad_Name"), 2, "--name must be a name of lowercase"),
    Case("engine-azure-on-kind", ("plan", "--engine", "azure"), 2, "it runs only on aks"),
    Case(
        "env-engine",
        ("plan",),
        2,
        "INVOKE_LAB_ENGINE: unknown engine 'bogus'",
        env={"INVOKE_LAB_ENGINE": "bogus"},
    ),
    Case(
        "project-yaml-engine",
        ("plan",),
        2,
        "invoke.yaml key 'lab.engine': unknown engine 'bogus'",
        project_yaml("lab:\n  engine: bogus\n"),
        project=True,
    ),
    Case(
        "project-yaml-lab-string",
        ("plan",),
        2,
        "invoke.yaml: key 'lab' must be a mapping of lab settings",
        project_yaml("lab: calico\n"),
        project=True,
    ),
    Case(
        "project-yaml-lab-list",
        ("--list",),
        2,
        "key 'lab' must be a mapping of lab settings (engine, provider, name, scenario, profile,"
        " ...), got list",
        project_yaml("lab:\n- engine\n- calico\n"),
        project=True,
    ),
    Case(
        "project-yaml-alias-bomb",
        ("--list",),
        2,
        "invoke.yaml: document contains excessive aliasing",
        project_yaml(_laughs_in("anything")),
        project=True,
    ),
    Case(
        "user-yaml-lab-string",
        ("plan",),
        2,
        ".invoke.yaml: key 'lab' must be a mapping",
        user_yaml("lab: [1, 2]\n"),
    ),
    Case(
        "user-string-project-mapping",
        ("plan",),
        2,
        ".invoke.yaml: key 'lab' must be a mapping",
        user_string_project_mapping,
        project=True,
    ),
    Case(
        "runtime-file-alias-bomb-f-equals",
        ("-f={case}/bomb.yaml", "plan"),
        2,
        "bomb.yaml: document contains excessive aliasing",
        runtime_bomb,
    ),
    Case(
        "runtime-file-alias-bomb-env",
        ("plan",),
        2,
        "bomb.yaml: document contains excessive aliasing",
        runtime_bomb_env,
    ),
    Case(
        "runtime-python-config-is-invokes",
        ("-f", "{case}/cfg.py", "plan", "--brief"),
        0,
        "create cluster",
        python_runtime_config,
        where="stdout",
    ),
    Case(
        "env-name-too-long",
        ("plan",),
        2,
        "INVOKE_LAB_NAME must be a name",
        env={"INVOKE_LAB_NAME": "x" * 300},
    ),
    Case(
        "home-of-unknown-user",
        ("plan",),
        2,
        "NETPOL_LAB_HOME='~nosuchuser-netpol/x': no such user's home folder",
        env={"NETPOL_LAB_HOME": "~nosuchuser-netpol/x"},
    ),
    Case(
        "home-too-long",
        ("plan",),
        2,
        "File name too long",
        env={"NETPOL_LAB_HOME": "/tmp/" + "h" * 300},
    ),
    # Output that cannot be written, and a reader that left.
    Case(
        "plan-json-to-full-disk",
        (),
        1,
        "could not write to standard output: No space left on device",
        shell="{invoke} plan --json > /dev/full",
    ),
    Case(
        "analyze-to-full-disk",
        (),
        1,
        "could not write to standard output: No space left on device",
        shell=f"{{invoke}} analyze --cluster {DATA / 'demo-cluster.json'} --policies {POLICIES}"
        " > /dev/full",
    ),
    Case(
        "up-json-closed-pipe-keeps-failure",
        (),
        1,
        "could not observe: kind is not installed",
        shell="{invoke} up --json | true",
    ),
    Case(
        "doctor-json-closed-pipe-keeps-failure",
        (),
        1,
        "",
        shell="{invoke} doctor --json | true",
    ),
    Case(
        "analyze-closed-pipe-is-fine",
        (),
        0,
        "",
        shell=f"{{invoke}} analyze --cluster {DATA / 'demo-cluster.json'} --policies {POLICIES}"
        " | head -c 10 >/dev/null",
    ),
    # Tasks that must check before working.
    Case(
        "validate-output-is-folder",
        ("validate", "--output", "{case}/out"),
        2,
        "--output {case}/out: is a folder",
        output_folder,
    ),
    Case(
        "validate-output-folder-missing",
        ("validate", "--output", "{case}/no/such/report.html"),
        2,
        "does not exist; create it",
        lab_with_kubeconfig,
    ),
    Case(
        "validate-aks-without-lab",
        ("validate", "--provider", "aks"),
        2,
        "is not up; start it with `invoke up --provider aks`",
    ),
    Case(
        "validate-json-failure-prints-a-document",
        ("validate", "--format", "json"),
        2,
        '"ok": false',
        where="stdout",
    ),
    Case(
        "validate-bad-format", ("validate", "--format", "pdf"), 2, "--format: unknown format 'pdf'"
    ),
    Case("validate-bad-timeout", ("validate", "--probe-timeout", "0"), 2, "--probe-timeout"),
    Case(
        "preload-json-failure-prints-a-document",
        ("preload", "--json"),
        1,
        '"ok": false',
        where="stdout",
    ),
    Case("status-cannot-observe", ("status",), 1, "run `invoke doctor`"),
    Case("up-without-kind", ("up",), 1, "kind is not installed"),
    # analyze inputs.
    Case("analyze-help", ("analyze", "--help"), 0, "--cluster", where="stdout"),
    Case("analyze-h", ("analyze", "-h"), 0, "--policies", where="stdout"),
    Case("analyze-no-args", ("analyze",), 2, "--cluster is required"),
    Case(
        "analyze-bad-engine",
        _analyze("--policies", POLICIES, "--engine", "bogus"),
        2,
        "unknown engine 'bogus'",
    ),
    Case(
        "analyze-bad-format",
        _analyze("--policies", POLICIES, "--format", "xml"),
        2,
        "unknown format 'xml'",
    ),
    Case(
        "analyze-missing-policies",
        _analyze("--policies", "/nonexistent"),
        2,
        "--policies /nonexistent: no such file",
    ),
    Case(
        "analyze-cluster-alias-bomb",
        ("analyze", "--cluster", "{case}/cluster.yaml", "--policies", POLICIES),
        2,
        "cluster.yaml: document contains excessive aliasing",
        cluster_bomb,
    ),
    Case(
        "analyze-cluster-endless-file",
        ("analyze", "--cluster", "/dev/zero", "--policies", POLICIES),
        2,
        "--cluster /dev/zero: larger than 32 MiB",
    ),
    Case(
        "analyze-policy-with-status",
        _analyze("--policies", "{case}/p.yaml"),
        2,
        "status: unknown field",
        policy_with_status,
    ),
    Case(
        "analyze-policies-binary",
        _analyze("--policies", "{case}/p.yaml"),
        2,
        "not UTF-8",
        policies_binary,
    ),
    Case(
        "analyze-policies-duplicate-json-key",
        _analyze("--policies", "{case}/p.json"),
        2,
        "duplicate key 'kind'",
        policies_duplicate,
    ),
    Case(
        "analyze-probes-unknown-pod-names-file",
        _analyze("--policies", POLICIES, "--probes", "{case}/probes.json"),
        2,
        "probes.json: probes[0].from",
        probes_unknown_pod,
    ),
    # Exercises: the offline check.
    Case(
        "check-unknown-exercise",
        ("check", "--exercise", "nope", "--policies", POLICIES),
        2,
        "--exercise: unknown exercise 'nope'",
    ),
    Case("check-no-exercise", ("check",), 2, "--exercise is required"),
    Case(
        "check-live-needs-a-lab",
        ("check", "--exercise", "client-only"),
        2,
        "lab 'netpol-lab' is not up; start the exercise with `invoke exercise start client-only`",
    ),
    Case(
        "check-live-only-exercise",
        ("check", "--exercise", "label-the-client", "--policies", POLICIES),
        2,
        "label-the-client",
    ),
    Case(
        "check-bad-policy-file",
        ("check", "--exercise", "client-only", "--policies", "{case}/p.yaml"),
        2,
        "status: unknown field",
        policy_with_status,
    ),
    Case(
        "check-wrong-answer",
        (
            "check",
            "--exercise",
            "client-only",
            "--policies",
            str(ROOT / "tests" / "exercises" / "client-only" / "any-namespace.yaml"),
        ),
        1,
        "5 of 6 goals met: not yet.",
        where="stdout",
    ),
    Case("check-bad-format", ("check", "--format", "pdf"), 2, "--format: unknown format 'pdf'"),
    Case(
        "check-hints-not-a-number",
        ("check", "--exercise", "client-only", "--policies", POLICIES, "--hints", "abc"),
        2,
        "--hints: 'abc' must be a number",
    ),
    Case(
        "check-policy-without-kind",
        ("check", "--exercise", "deny-all-ingress", "--policies", "{case}/p.yaml"),
        2,
        "no apiVersion and no kind; kubectl apply refuses it",
        bare_policy,
    ),
    Case(
        "check-empty-file",
        ("check", "--exercise", "deny-all-ingress", "--policies", "{case}/p.yaml"),
        2,
        "p.yaml: no NetworkPolicy in it",
        empty_file,
    ),
    Case(
        "check-bad-engine",
        ("check", "--exercise", "client-only", "--policies", POLICIES, "--engine", "foo"),
        2,
        "--engine: unknown engine 'foo'",
    ),
    Case("exercises-list", ("exercises",), 0, "client-only", where="stdout"),
    # Lists that must keep working.
    Case("scenarios-list", ("scenarios",), 0, "aks-demo", where="stdout"),
    Case("profiles-list", ("profiles",), 0, "kind-calico", where="stdout"),
]


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


def _project_copy(case_dir: Path) -> Path:
    project = case_dir / "project"
    project.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "tasks.py", project / "tasks.py")
    for name in ("provisioning", "profiles", "policies", "tests"):
        link = project / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    return project


def run_case(case: Case, base: Path) -> Outcome:
    case_dir = base / case.id
    case_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(case_dir / "home"),
        "NETPOL_LAB_HOME": str(case_dir / "state"),
        "CI": "true",
        **case.env,
    }
    (case_dir / "home").mkdir(exist_ok=True)
    if case.setup:
        env.update(case.setup(case_dir))
    cwd = _project_copy(case_dir) if case.project else ROOT
    invoke = [sys.executable, "-m", "invoke"]
    if case.shell:
        line = case.shell.replace("{invoke}", " ".join(invoke))
        argv = ["bash", "-o", "pipefail", "-c", line]
    else:
        argv = [*invoke, *(a.replace("{case}", str(case_dir)) for a in case.args)]
    # kind and docker must not be found, whatever this machine has installed.
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if not _has_kind(p))
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=90, check=False
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


def _has_kind(folder: str) -> bool:
    return (Path(folder) / "kind").exists() or (Path(folder) / "docker").exists()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    base = tmp_path_factory.mktemp("catalogue")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda c: (c.id, run_case(c, base)), CASES)
        return {**dict(results), "_base": base}  # type: ignore[dict-item]


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_catalogue(case: Case, outcomes: dict[str, Outcome]) -> None:
    out = outcomes[case.id]
    base = outcomes["_base"]
    both = out.stdout + out.stderr
    assert "Traceback" not in both, both
    assert out.code == case.code, both
    fragment = case.fragment.replace("{case}", str(base / case.id))
    text = out.stdout if case.where == "stdout" else out.stderr
    assert fragment in text, both
    failures = [line for line in out.stderr.splitlines() if line.startswith("✗")]
    if case.code not in (0,) and case.where == "stderr" and fragment:
        # One line: the ✗ line holding the fragment says it all (a command's output may follow).
        assert any(fragment in line for line in failures), out.stderr


def _table() -> str:
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="catalogue-"))
    rows = ["| case | exit | line |", "|---|---|---|"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for case, out in zip(CASES, pool.map(lambda c: run_case(c, base), CASES), strict=True):
            lines = [x for x in out.stderr.splitlines() if x.startswith("✗")] or [
                (out.stderr.strip().splitlines() or out.stdout.strip().splitlines() or [""])[-1]
            ]
            line = lines[0].replace(str(base / case.id), "<case>").replace("|", "\\|")
            rows.append(f"| {case.id} | {out.code} | {line[:160]} |")
    shutil.rmtree(base, ignore_errors=True)
    return "\n".join(rows)


if __name__ == "__main__":
    print(_table())
