"""``provisioning/documents.py``: untrusted YAML and JSON read within bounds (issue 8, section 3).

Unit tests of the reader and parser (alias bombs, self-containing anchors, deep nesting,
duplicate keys, merge keys, go-yaml's alias ratio at its boundary, the size cap, files that are
not files, ``shown``), then the same hostile values hidden in a field of every kind of file the
tool reads: a profile, a ``--cluster``, ``--policies`` and ``--probes`` file, a scenarios file
and ``invoke.yaml``'s ``lab`` section. Each is refused with one line naming the file.

Bounded time and memory are shown without timed assertions: each hidden bomb is also loaded in a
child process limited to 1 GiB of address space (``RLIMIT_AS``), with a 30 s hang guard; the
child must print the expected one-line error and exit normally, and its peak RSS (printed, so
``pytest -s`` shows the figures) must stay under 100 MB. A dense document just under the byte
cap is refused within the same bounds (YAML past 256 KiB is counted as a stream of parser events
before any node is built).
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning import invoke_config, profiles
from provisioning.analysis import load
from provisioning.analysis.cli import run
from provisioning.documents import (
    MAX_DEPTH,
    SMALL_MAX_BYTES,
    load_file,
    parse_json,
    parse_yaml,
    parse_yaml_documents,
    read_text,
    shown,
)
from provisioning.errors import UsageError
from provisioning.workload import scenarios

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "analysis" / "data"
MIB = 1024 * 1024


# --- hostile values -----------------------------------------------------------------------


def laughs_seq(levels: int = 9, width: int = 9) -> str:
    """A flow-sequence "billion laughs": ``&l0 [lol x9], &l1 [*l0 x9], ...`` (9**9 strings)."""
    parts = ["&l0 [" + ", ".join(["lol"] * width) + "]"]
    parts += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


def laughs_map(levels: int = 9, width: int = 9) -> str:
    """The same with mappings: ``m1: &m1 {k0: *m0, ..., k8: *m0}``."""
    parts = ["m0: &m0 {" + ", ".join(f"k{j}: lol" for j in range(width)) + "}"]
    parts += [
        f"m{i}: &m{i} {{" + ", ".join(f"k{j}: *m{i - 1}" for j in range(width)) + "}"
        for i in range(1, levels)
    ]
    return "{" + ", ".join(parts) + "}"


SELF = "&self {b: *self}"  # an anchor that contains itself
DEEP = "[" * (MAX_DEPTH + 50) + "]" * (MAX_DEPTH + 50)  # past MAX_DEPTH, within libyaml's limit
ABYSS = "[" * 100_000  # past libyaml's own nesting limit

# The hostile value and what the one-line message must say about it.
BOMBS = {
    "laughs-seq": (laughs_seq(), "excessive aliasing"),
    "laughs-map": (laughs_map(), "excessive aliasing"),
    "self-anchor": (SELF, "contains an alias to itself"),
    "deep": (DEEP, f"nested deeper than {MAX_DEPTH} levels"),
    "abyss": (ABYSS, "nesting depth"),
}


def assert_one_line(message: str, *fragments: str) -> None:
    assert "\n" not in message and "\r" not in message, message
    assert len(message) < 500, message
    for fragment in fragments:
        assert fragment in message, message


def usage_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(UsageError) as info:
        call(*args, **kwargs)
    return str(info.value)


# --- alias bombs, self reference, depth ---------------------------------------------------


@pytest.fixture(params=["C", "pure"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each parsing test with libyaml's loader and with PyYAML's pure-Python fallback."""
    if request.param == "pure":
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    elif not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML without libyaml")
    return request.param


@pytest.mark.parametrize("bomb", ["laughs-seq", "laughs-map", "self-anchor", "deep"])
def test_hostile_yaml_is_refused_before_it_is_built(bomb: str, loader: str) -> None:
    text, expected = BOMBS[bomb]
    assert_one_line(usage_error(parse_yaml, f"key: {text}\n", source="f.yaml"), "f.yaml", expected)


def test_self_containing_anchor_in_a_mapping() -> None:
    message = usage_error(parse_yaml, "a: &x {b: *x}\n", source="f.yaml")
    assert_one_line(message, "f.yaml:1:", "contains an alias to itself")


@pytest.mark.parametrize("text", ["[" * 100_000, "[" * 100_000 + "]" * 100_000, "{a: " * 100_000])
def test_yaml_nested_past_libyamls_limit(text: str) -> None:
    assert_one_line(usage_error(parse_yaml, text, source="f.yaml"), "f.yaml", "nesting depth")


def test_yaml_depth_cap_is_exact() -> None:
    assert parse_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, source="f") is not None
    deeper = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert_one_line(usage_error(parse_yaml, deeper, source="f"), f"deeper than {MAX_DEPTH}")
    block = "".join(" " * (2 * i) + "- \n" for i in range(MAX_DEPTH + 1))  # block style
    assert_one_line(usage_error(parse_yaml, block, source="f"), f"deeper than {MAX_DEPTH}")


@pytest.mark.parametrize(
    "text", ["[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"a": ' * 100_000 + "1" + "}" * 100_000]
)
def test_json_nested_too_deeply(text: str) -> None:
    message = usage_error(parse_json, text, source="f.json")
    assert_one_line(message, "f.json", "nested too deeply")


def test_aliases_in_every_document_of_a_stream_are_measured() -> None:
    text = f"kind: A\n---\nkind: B\nbomb: {laughs_seq()}\n"
    assert_one_line(usage_error(parse_yaml_documents, text, source="s.yaml"), "excessive aliasing")


# --- legitimate aliasing and go-yaml's ratio ----------------------------------------------


def test_profile_reusing_an_anchor_loads(tmp_path: Path) -> None:
    path = tmp_path / "reuse.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            description: &d Calico on kind, timeouts shared by anchor
            provider: kind
            engine: calico
            name: netpol-reuse
            timeouts:
              cluster: &t 5m
              engine: *t
              workload: *t
            """
        ),
        encoding="utf-8",
    )
    _, profile = profiles.load_profile(str(path))
    assert profile["timeouts"] == {"cluster": 300.0, "engine": 300.0, "workload": 300.0}


def test_cluster_sharing_port_lists_by_anchor_loads(tmp_path: Path) -> None:
    pods = "".join(
        f"  - {{namespace: demo, name: web-{i}, labels: *web, ip: 10.0.0.{i + 1}, ports: *ports}}\n"
        for i in range(1, 200)
    )
    path = tmp_path / "cluster.yaml"
    path.write_text(
        "namespaces: {demo: {labels: {team: a}}}\npods:\n"
        "  - {namespace: demo, name: web-0, labels: &web {app: web, tier: front}, ip: 10.0.0.1,\n"
        "     ports: &ports [{name: http, port: 80, protocol: TCP}, {name: m, port: 9090}]}\n"
        + pods,
        encoding="utf-8",
    )
    model = load.load_cluster(path)
    assert len(model.pods) == 200


# go-yaml v3 decode.go (vendored by Kubernetes as sigs.k8s.io/yaml/goyaml.v3): every node the
# decoder visits counts one decode, the DocumentNode and each AliasNode included; a node visited
# while expanding an alias also counts one alias decode; after each count the decode fails when
# aliasCount > 100 and decodeCount > 1000 and aliasCount / decodeCount > allowedAliasRatio.


def _go_allowed_ratio(decodes: int) -> float:
    if decodes <= 400_000:
        return 0.99
    if decodes >= 4_000_000:
        return 0.10
    return 0.99 - 0.89 * (decodes - 400_000) / 3_600_000


def go_yaml_refuses(k: int, m: int) -> bool:
    """go-yaml's verdict on ``[&x [0 x k], *x x m]``. The ratio rises and the allowance falls
    while the last alias is expanded, so the counts at the very end decide."""
    decodes = 1 + 1 + (1 + k) + m * (1 + (1 + k))  # document, root, anchor, m x (alias + copy)
    aliased = m * (1 + k)
    return aliased > 100 and decodes > 1000 and aliased / decodes > _go_allowed_ratio(decodes)


def first_refused(k: int) -> int:
    m = 1
    while not go_yaml_refuses(k, m):
        m += 1
    return m


def shared_list(k: int, m: int) -> str:
    return "[&x [" + ", ".join(["0"] * k) + "]" + ", *x" * m + "]\n"


def test_go_yaml_oracle_boundaries() -> None:
    # Worked by hand: k=4999, m=81: 405,083 decodes, 405,000 aliased (0.99980 > 0.98753).
    assert first_refused(4999) == 81
    assert first_refused(999) == 111


@pytest.mark.parametrize(
    ("k", "offset"),
    [
        pytest.param(4999, -1, id="5000-node-anchor-just-under"),
        pytest.param(4999, 0, id="5000-node-anchor-just-over"),
        pytest.param(999, -1, id="1000-node-anchor-just-under"),
        pytest.param(999, 0, id="1000-node-anchor-just-over"),
    ],
)
def test_alias_ratio_boundary_matches_go_yaml(k: int, offset: int) -> None:
    m = first_refused(k) + offset
    text = shared_list(k, m)
    if go_yaml_refuses(k, m):
        assert_one_line(usage_error(parse_yaml, text, source="s.yaml"), "excessive aliasing")
    else:
        value = parse_yaml(text, source="s.yaml")
        assert len(value) == m + 1 and value[-1] is value[0]


def test_scalar_anchor_reused_a_thousand_times_is_accepted_like_go_yaml() -> None:
    assert not go_yaml_refuses(0, 1000)  # 2,003 decodes, 1,000 aliased: a ratio of 0.50
    assert parse_yaml("[&x a" + ", *x" * 1000 + "]", source="s.yaml") is not None


# --- duplicate and merge keys ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\nb: 2\na: 3\n", 3),
        ("spec:\n  podSelector:\n    matchLabels:\n      app: a\n      app: b\n", 5),
        ("items:\n  - {x: 1, y: 2, x: 3}\n", 2),
    ],
)
def test_yaml_duplicate_keys_at_any_depth(text: str, line: int) -> None:
    assert_one_line(usage_error(parse_yaml, text, source="d.yaml"), f"d.yaml:{line}:", "duplicate")


def test_json_duplicate_keys() -> None:
    message = usage_error(parse_json, '{"spec": {"a": 1, "b": {"c": 1, "c": 2}}}', source="d.json")
    assert_one_line(message, "d.json", "duplicate key 'c'")


def test_duplicate_long_key_is_cut_in_the_message() -> None:
    key = "k" * 10_000
    # An explicit key ("? ") may be longer than the 1024 characters of an implicit one.
    message = usage_error(parse_yaml, f"? {key}\n: 1\n? {key}\n: 2\n", source="d.yaml")
    assert_one_line(message, "duplicate key 'kkk")
    assert len(message) < 200
    message = usage_error(parse_json, f'{{"{key}": 1, "{key}": 2}}', source="d.json")
    assert_one_line(message, "duplicate key 'kkk")
    assert len(message) < 200


def test_merge_keys_are_not_duplicates() -> None:
    text = textwrap.dedent(
        """\
        base: &base {app: web, tier: front}
        extra: &extra {team: a}
        one:
          <<: *base
          <<: *extra
          tier: back
        two:
          <<: [*base, *extra]
        """
    )
    data = parse_yaml(text, source="m.yaml")
    assert data["one"] == {"app": "web", "tier": "back", "team": "a"}
    assert data["two"] == {"app": "web", "tier": "front", "team": "a"}


# --- reading files -----------------------------------------------------------------------


def test_size_cap_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"#" * 1024)
    assert read_text(path, what="x", limit=1024) == "#" * 1024
    path.write_bytes(b"#" * 1025)
    assert_one_line(usage_error(read_text, path, what="x", limit=1024), str(path), "larger than")


def test_profile_over_the_small_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"description: x\n" + b"#" * SMALL_MAX_BYTES)
    message = usage_error(profiles.load_profile, str(path))
    assert_one_line(message, str(path), "larger than 256 KiB")


def test_dev_zero_is_refused_after_the_limit() -> None:
    message = usage_error(read_text, Path("/dev/zero"), what="--cluster", limit=4096)
    assert_one_line(message, "--cluster /dev/zero", "larger than")


def test_not_files(tmp_path: Path) -> None:
    assert_one_line(usage_error(read_text, tmp_path, what="p"), str(tmp_path), "is a folder")
    missing = tmp_path / "missing.yaml"
    assert_one_line(usage_error(read_text, missing, what="p"), str(missing), "no such file")
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    assert_one_line(usage_error(read_text, loop, what="p"), str(loop), "symbolic link loop")
    assert_one_line(usage_error(load.load_policies, loop), str(loop), "symbolic link loop")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b'{"a": "\xff\xfe"}')
    message = usage_error(read_text, binary, what="p")
    assert_one_line(message, str(binary), "not UTF-8", "0xff at offset 7")


def test_a_pipe_with_a_writer_is_read(tmp_path: Path) -> None:
    """``--cluster <(kubectl ...)``: the shell passes /dev/fd/N, a pipe."""
    read_end, write_end = os.pipe()
    os.write(write_end, b'{"namespaces": {}, "pods": []}')
    os.close(write_end)
    try:
        assert load_file(Path(f"/dev/fd/{read_end}"), what="--cluster") == {
            "namespaces": {},
            "pods": [],
        }
    finally:
        os.close(read_end)


def test_a_fifo_without_a_writer_is_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "cluster.json"
    os.mkfifo(fifo)
    outcome: dict[str, str] = {}

    def target() -> None:
        try:
            outcome["text"] = read_text(fifo, what="--cluster")
        except UsageError as exc:
            outcome["error"] = str(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(1.0)  # a hang guard: the answer takes microseconds
    hung = thread.is_alive()
    if hung:  # release the reader: a writer opens and closes, the reader sees end of file
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5.0)
    assert not hung, "read_text waited for a writer on a FIFO"
    assert "error" in outcome or outcome.get("text") == ""


# --- shown(): bounded messages -------------------------------------------------------------


def test_shown_is_bounded_for_huge_shared_values() -> None:
    leaf = ["x" * 100_000] * 1000
    huge = [[leaf] * 1000] * 1000  # a billion strings by reference, like a constructed bomb
    assert len(shown(huge)) <= 80
    assert len(shown(huge, limit=200)) <= 200
    assert len(shown({f"k{i}": huge for i in range(1000)})) <= 80
    assert len(shown("y" * 1_000_000)) <= 80


def test_shown_of_recursive_values() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    assert shown(loop) == "[1, [1, [1, [...]]]]"
    mapping: dict[str, Any] = {}
    mapping["self"] = mapping
    assert len(shown(mapping)) <= 80


def test_messages_quote_long_values_cut(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: " + "K" * 10_000 + "\n", encoding="utf-8"
    )
    assert_one_line(usage_error(load.load_policies, path), str(path), "is not a NetworkPolicy")
    profile = tmp_path / "prof.yaml"
    profile.write_text("description: [" + ", ".join(["z" * 50] * 2000) + "]\n", encoding="utf-8")
    assert_one_line(usage_error(profiles.load_profile, str(profile)), "'description'")


# --- the same values hidden in every kind of file the tool reads ---------------------------


# (file name, template with {bomb} in some field); the bomb sits inline as a flow value.
FILES = {
    "profile": (
        "profile.yaml",
        "provider: kind\nengine: calico\nname: netpol-x\ndescription: {bomb}\n",
    ),
    "cluster": (
        "cluster.yaml",
        "namespaces:\n  demo:\n    labels:\n      purpose: {bomb}\n"
        "pods:\n  - {{namespace: demo, name: s, labels: {{app: s}}, ip: 10.0.0.1, ports: []}}\n",
    ),
    "policies": (
        "policies.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {{name: ok, namespace: demo}}\nspec: {{podSelector: {{}}}}\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {{name: bomb, namespace: demo}}\n"
        "spec:\n  podSelector:\n    matchLabels:\n      app: {bomb}\n",
    ),
    "probes": (
        "probes.yaml",
        "- {{from: demo/client, to: demo/server, port: 80}}\n"
        "- from: demo/client\n  to: demo/server\n  port: {bomb}\n",
    ),
    "scenarios": (
        "scenarios.yaml",
        "scenarios:\n  - name: bomb\n    title: A step\n    description: {bomb}\n"
        "    policies: []\n",
    ),
    "invoke": (
        "invoke.yaml",
        "run:\n  echo: true\nlab:\n  engine: calico\n  name: {bomb}\n",
    ),
}

LOADERS: dict[str, Callable[[Path], Any]] = {
    "profile": lambda p: profiles.load_profile(str(p)),
    "cluster": load.load_cluster,
    "policies": load.load_policies,
    "probes": load.load_probes,
    "scenarios": lambda p: scenarios.load_scenarios(p.parent),
    "invoke": invoke_config.check_file,
}


def write_case(tmp_path: Path, kind: str, bomb: str) -> tuple[Path, str]:
    """The file, and how its messages name it."""
    name, template = FILES[kind]
    path = tmp_path / name
    path.write_text(template.format(bomb=bomb), encoding="utf-8")
    shown_as = scenarios.display_path(path) if kind == "scenarios" else str(path)
    return path, shown_as


@pytest.mark.parametrize("bomb", sorted(BOMBS))
@pytest.mark.parametrize("kind", sorted(FILES))
def test_hidden_in_a_field_of_every_file(tmp_path: Path, kind: str, bomb: str) -> None:
    text, expected = BOMBS[bomb]
    path, shown_as = write_case(tmp_path, kind, text)
    assert_one_line(usage_error(LOADERS[kind], path), shown_as, expected)


@pytest.mark.parametrize("kind", ["cluster", "policies", "probes"])
def test_json_inputs_refuse_duplicates_and_depth(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.json"
    path.write_text('{"a": 1, "b": {"c": 1, "c": 2}}', encoding="utf-8")
    assert_one_line(usage_error(LOADERS[kind], path), str(path), "duplicate key 'c'")
    path.write_text('{"a": ' + "[" * 100_000 + "}", encoding="utf-8")
    assert_one_line(usage_error(LOADERS[kind], path), str(path), "nested too deeply")


# --- in a child process: bounded memory, no hang -----------------------------------------

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from provisioning import invoke_config, profiles
from provisioning.workload import scenarios
from provisioning.analysis import load
from provisioning.errors import UsageError

def peak_kib():
    # VmHWM is this process's own peak RSS. ru_maxrss is not: Linux carries the parent's peak
    # across fork and exec (fs/exec.c exec_mmap -> setmax_mm_hiwater_rss into signal->maxrss),
    # so a child forked from a large pytest would report the parent's size.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


calls = {
    "profile": lambda p: profiles.load_profile(str(p)),
    "cluster": load.load_cluster,
    "policies": load.load_policies,
    "probes": load.load_probes,
    "scenarios": lambda p: scenarios.load_scenarios(p.parent),
    "invoke": invoke_config.check_file,
}
rss_before = peak_kib()
started = time.perf_counter()
try:
    calls[sys.argv[1]](Path(sys.argv[2]))
    error = None
except UsageError as exc:
    error = str(exc)
print(json.dumps({
    "error": error,
    "wall_s": time.perf_counter() - started,
    "rss_before_kib": rss_before,
    "rss_kib": peak_kib(),
}))
"""

ADDRESS_SPACE = 1024 * MIB


def run_child(kind: str, path: Path, label: str, address_space: int = ADDRESS_SPACE) -> dict:
    """Load ``path`` as ``kind`` in a child limited to ``address_space`` bytes of memory; a
    MemoryError (the child exits non-zero) or a hang fails."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    done = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,  # a hang guard only
        preexec_fn=limit_memory,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"[{label}] peak RSS {report['rss_kib'] / 1024:.1f} MiB "
        f"(after imports {report['rss_before_kib'] / 1024:.1f} MiB), "
        f"load {report['wall_s'] * 1000:.1f} ms: {report['error']}"
    )
    return report


@pytest.mark.parametrize("kind", sorted(FILES))
def test_bomb_in_a_child_process_is_refused_within_bounds(
    tmp_path: Path, kind: str, record_property: Callable[[str, Any], None]
) -> None:
    path, shown_as = write_case(tmp_path, kind, laughs_seq())
    report = run_child(kind, path, f"laughs-seq in {kind}")
    record_property("peak_rss_kib", report["rss_kib"])
    record_property("load_seconds", report["wall_s"])
    assert report["error"] is not None, "the bomb was accepted"
    assert_one_line(report["error"], shown_as, "excessive aliasing")
    assert report["rss_kib"] < 100 * 1000, "peak RSS over 100 MB"


def test_dense_profile_under_the_cap_stays_within_100_mb(tmp_path: Path) -> None:
    path = tmp_path / "dense.yaml"
    count = (SMALL_MAX_BYTES - 64) // 2
    path.write_text("provider: kind\ndescription: [" + ",".join(["0"] * count) + "]\n")
    assert path.stat().st_size <= SMALL_MAX_BYTES
    # 256 MiB of address space is ample for 100 MB of RSS, and fails fast when it is not.
    report = run_child("profile", path, "dense profile under the cap", 256 * MIB)
    assert report["error"] is not None
    assert_one_line(report["error"], str(path))
    assert report["rss_kib"] < 100 * 1000, "peak RSS over 100 MB"


# --- scenarios.py reads its file itself ---------------------------------------------------


def test_scenarios_file_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / scenarios.SCENARIOS_FILE).write_bytes(b"scenarios:\n  - name: \xff\n")
    assert_one_line(usage_error(scenarios.load_scenarios, tmp_path), "not UTF-8")


def test_scenarios_file_endless_is_refused_within_bounds(tmp_path: Path) -> None:
    (tmp_path / scenarios.SCENARIOS_FILE).symlink_to("/dev/zero")
    path = tmp_path / scenarios.SCENARIOS_FILE
    report = run_child("scenarios", path, "scenarios -> /dev/zero", 256 * MIB)
    assert report["error"] is not None
    assert_one_line(report["error"], "larger than")
    assert report["rss_kib"] < 100 * 1000


# --- policy and probe files --------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_policy_with_a_status_is_refused(tmp_path: Path, suffix: str) -> None:
    """NetworkPolicy lost its ``status`` field in Kubernetes 1.28 (kubernetes/kubernetes#115843)."""
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "with-status", "namespace": "demo"},
        "spec": {"podSelector": {}},
        "status": {},
    }
    path = tmp_path / f"policy{suffix}"
    path.write_text(json.dumps(policy), encoding="utf-8")  # JSON is YAML too
    message = usage_error(load.load_policies, path)
    assert_one_line(message, str(path), "demo/with-status", "status")


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        ({"from": "demo/nobody", "to": "demo/server", "port": 80}, "'demo/nobody'"),
        ({"from": "demo/client", "to": "demo/server", "port": "nope"}, "no TCP port named 'nope'"),
    ],
)
def test_probe_errors_name_the_probes_file(
    tmp_path: Path, probe: dict[str, Any], expected: str
) -> None:
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps([probe]), encoding="utf-8")
    cluster, policies = str(DATA / "demo-cluster.json"), str(DATA / "demo-policies.yaml")
    message = usage_error(
        run, cluster, policies, str(probes), "reference", "table", False, io.StringIO()
    )
    assert_one_line(message, f"{probes}: probes[0]", expected)


def test_json_files_do_not_need_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Section 7: ``.json`` inputs are parsed with ``json``, never with a YAML loader."""
    monkeypatch.setitem(sys.modules, "yaml", None)  # importing yaml now fails
    assert len(load.load_cluster(DATA / "demo-cluster.json").pods) == 4
    assert len(load.load_probes(DATA / "demo-probes.json")) == 4
    policies = tmp_path / "policies.json"
    policies.write_text(
        json.dumps({"kind": "List", "items": [parse_json(_POLICY_JSON, source="x")] * 3}),
        encoding="utf-8",
    )
    assert len(load.load_policies(policies)) == 3


_POLICY_JSON = json.dumps(
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "demo"},
        "spec": {"podSelector": {"matchLabels": {"app": "server"}}},
    }
)


def test_yaml_uses_the_c_loader_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML without libyaml")

    class NotThisOne(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            raise AssertionError("the pure-Python loader was used")

    monkeypatch.setattr(yaml, "SafeLoader", NotThisOne)
    assert parse_yaml("a: [1, 2]\n", source="f") == {"a": [1, 2]}
