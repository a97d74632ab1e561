"""The kubectl executor: the commands it builds and how it reads what comes back."""

from __future__ import annotations

import copy
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from provisioning.errors import CommandError, OperationError
from provisioning.runner import Result, SubprocessRunner
from provisioning.validation.live import pod_from_object
from provisioning.validation.probe import Outcome, Probe
from provisioning.validation.probe_kubectl import (
    BatchLine,
    KubectlExecutor,
    go_duration,
    host_port,
    parse_batch_output,
)
from provisioning.validation.validate import Expectation, PlannedProbe, validate_planned
from provisioning.workload import demo as workload
from tests.validation.conftest import probe
from tests.validation.netlab import NetnsLab
from tests.validation.runners import LocalKubectl, ReplayRunner

KUBECONFIG = Path("/state/lab/kubeconfig")


def test_single_probe_command_is_the_documented_agnhost_call() -> None:
    p = probe("demo/client", "demo/server", 80, dst_ip="10.244.1.7")
    argv = KubectlExecutor(
        ReplayRunner(lambda a: Result(tuple(a), 0, "")), KUBECONFIG
    ).connect_argv(p, 2.0)
    assert argv == [
        "kubectl", "--kubeconfig", "/state/lab/kubeconfig", "exec", "-n", "demo", "client",
        "-c", "agnhost", "--", "/agnhost", "connect", "10.244.1.7:80", "--timeout=2s",
        "--protocol=tcp",
    ]  # fmt: skip


def test_a_context_goes_right_after_the_kubeconfig_in_every_command() -> None:
    # kubectl's global flags (genericclioptions: --kubeconfig, --context) precede the verb.
    p = probe("demo-mylab/client", "demo-mylab/server", 80, dst_ip="10.244.1.7")
    executor = KubectlExecutor(
        ReplayRunner(lambda a: Result(tuple(a), 0, "")), KUBECONFIG, context="team-ctx"
    )
    head = ["kubectl", "--kubeconfig", "/state/lab/kubeconfig", "--context", "team-ctx", "exec",
            "-n", "demo-mylab", "client", "-c", "agnhost", "--"]  # fmt: skip
    assert executor.connect_argv(p, 2.0)[: len(head)] == head
    assert executor.batch_argv([p], 2.0)[: len(head)] == head
    plain = KubectlExecutor(ReplayRunner(lambda a: Result(tuple(a), 0, "")), KUBECONFIG)
    assert "--context" not in plain.connect_argv(p, 2.0)
    assert "--context" not in plain.batch_argv([p], 2.0)


def test_the_context_reaches_kubectl_in_both_modes() -> None:
    runner = ReplayRunner(lambda a: Result(tuple(a), 0, ""))
    probes = [probe("demo/client", "demo/server", port) for port in (80, 8080)]
    for mode in ("per-source", "pool"):
        KubectlExecutor(runner, KUBECONFIG, mode=mode, context="ctx-a").run(probes, 1.0)
    assert len(runner.calls) == 3
    assert all(a[3:5] == ["--context", "ctx-a"] for a in runner.calls)


def test_durations_and_ipv6_addresses_are_in_go_syntax() -> None:
    assert go_duration(2) == "2s"
    assert go_duration(1.5) == "1500ms"
    assert go_duration(0.25) == "250ms"
    assert host_port("fd00::7", 80) == "[fd00::7]:80"


def test_a_duration_is_never_zero_which_agnhost_reads_as_no_timeout() -> None:
    assert go_duration(0.0004) == "1ms"
    assert go_duration(0.1) == "100ms"
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="must be positive"):
            go_duration(bad)


def test_pool_mode_execs_once_per_probe_and_classifies_each() -> None:
    replies = {"10.0.0.1:80": (0, ""), "10.0.0.2:80": (1, "TIMEOUT"), "10.0.0.3:80": (1, "REFUSED")}

    def reply(argv: list[str]) -> Result:
        code, err = replies[argv[argv.index("connect") + 1]]
        tail = f"\ncommand terminated with exit code {code}" if code else ""
        return Result(tuple(argv), code, "", err + tail)

    runner = ReplayRunner(reply)
    probes = [probe("demo/client", f"demo/s{i}", 80, dst_ip=f"10.0.0.{i}") for i in (1, 2, 3)]
    results = KubectlExecutor(runner, KUBECONFIG, mode="pool").run(probes, 1.0)
    assert len(runner.calls) == 3
    assert {r.probe.destination.name: r.outcome for r in results} == {
        "s1": Outcome.CONNECTED,
        "s2": Outcome.BLOCKED,
        "s3": Outcome.REFUSED,
    }


def test_per_source_mode_execs_once_per_source_pod() -> None:
    seen: list[list[str]] = []

    def reply(argv: list[str]) -> Result:
        seen.append(argv)
        # Answer as the batch script would: tagged lines, in any order.
        lines = ["@@probe 1 1 1002 TIMEOUT", "@@probe 0 0 4", "@@probe 2 1 - REFUSED"]
        return Result(tuple(argv), 0, "\n".join(lines) + "\n")

    runner = ReplayRunner(reply)
    probes = [
        probe("demo/client", "demo/server", 80, dst_ip="10.0.0.9"),
        probe("demo/client", "demo/server", 8080, dst_ip="10.0.0.9"),
        probe("demo/client", "other/server", 80, "UDP", dst_ip="10.0.1.9"),
    ]
    results = KubectlExecutor(runner, KUBECONFIG).run(probes, 2.0)
    assert len(seen) == 1
    argv = seen[0]
    assert argv[argv.index("--") + 1 : argv.index("--") + 3] == ["/bin/sh", "-c"]
    # The probe list travels as arguments, never spliced into the script text.
    assert argv[-9:] == ["0", "10.0.0.9:80", "tcp", "1", "10.0.0.9:8080", "tcp",
                         "2", "10.0.1.9:80", "udp"]  # fmt: skip
    assert [r.outcome for r in results] == [Outcome.CONNECTED, Outcome.BLOCKED, Outcome.REFUSED]
    # Each connect's own time from the pod; "-" (no /proc/uptime) falls back to the batch's.
    assert [(r.seconds, r.timing) for r in results[:2]] == [(0.004, "probe"), (1.002, "probe")]
    assert results[2].timing == "batch"


def test_a_missing_line_or_a_failed_exec_is_an_error_never_blocked() -> None:
    probes = [probe("demo/client", "demo/server", 80), probe("demo/client", "demo/server", 81)]
    partial = ReplayRunner(lambda a: Result(tuple(a), 0, "@@probe 0 1 1001 TIMEOUT\n"))
    outcomes = [r.outcome for r in KubectlExecutor(partial, KUBECONFIG).run(probes, 1)]
    assert outcomes == [Outcome.BLOCKED, Outcome.ERROR]

    gone = ReplayRunner(
        lambda a: Result(tuple(a), 1, "", 'Error from server (NotFound): pods "client" not found')
    )
    results = KubectlExecutor(gone, KUBECONFIG).run(probes, 1)
    assert {r.outcome for r in results} == {Outcome.ERROR}
    assert "NotFound" in results[0].detail

    def hung(argv: list[str]) -> Result:
        raise CommandError(argv, -1, "", hint="timed out after 31s")

    results = KubectlExecutor(ReplayRunner(hung), KUBECONFIG, mode="pool").run(probes, 1)
    assert {r.outcome for r in results} == {Outcome.ERROR}


def test_batch_output_parsing_ignores_noise() -> None:
    out = (
        "Defaulted container\n@@probe 3 1 1000 TIMEOUT: read udp x: i/o timeout\n"
        "@@probe x 1 5\n@@probe 0 0 7\n@@probe 4 1 - REFUSED\n@@probe 5 0\n"
    )
    assert parse_batch_output(out) == {
        3: BatchLine(1, "TIMEOUT: read udp x: i/o timeout", 1.0),
        0: BatchLine(0, "", 0.007),
        4: BatchLine(1, "REFUSED", None),
    }


# The image runs the script in busybox sh (Alpine); bash is there too. Each that is here runs it.
SHELLS = [
    argv
    for argv in (["/bin/sh"], ["/bin/bash"], [shutil.which("busybox") or "/nonexistent", "sh"])
    if Path(argv[0]).exists()
]


def _run_batch_script(
    shell: list[str], uptime: str = "/proc/uptime"
) -> subprocess.CompletedProcess[str]:
    """The batch script in a real shell, with a stub agnhost that answers per address."""
    executor = KubectlExecutor(ReplayRunner(lambda a: Result(tuple(a), 0, "")), KUBECONFIG)
    probes = [probe("demo/client", "demo/server", port, dst_ip="10.0.0.1") for port in (1, 2, 3)]
    argv = executor.batch_argv(probes, 1.5)
    command = argv[argv.index("--") + 1 :]
    # Port 2 takes 0.3 s, as a connect does until its timeout; the others answer at once.
    stub = (
        'agnhost() { case "$2" in *:1) return 0;; *:2) sleep 0.3; echo "TIMEOUT" >&2; return 1;; '
        '*) printf "OTHER: *\\nsecond line\\n" >&2; return 1;; esac; }; '
    )
    script = stub + command[2].replace("/agnhost connect", "agnhost connect")
    script = script.replace("/proc/uptime", uptime)
    proc = subprocess.run([*shell, "-c", script, *command[3:]], capture_output=True, text=True)
    assert proc.returncode == 0, shlex.join(command)
    return proc


@pytest.mark.parametrize("shell", SHELLS, ids=" ".join)
def test_batch_script_runs_in_a_real_shell_and_times_each_connect(shell: list[str]) -> None:
    # The script must work in the image's shell (busybox sh; bash is there too), including a
    # multi-line message with a glob character.
    lines = parse_batch_output(_run_batch_script(shell).stdout)
    assert {i: (line.code, line.message) for i, line in lines.items()} == {
        0: (0, ""),
        1: (1, "TIMEOUT"),
        2: (1, "OTHER: * second line"),
    }
    # Each connect timed on its own (10 ms resolution), not the batch's time for all of them.
    slow, fast = lines[1].seconds, lines[0].seconds
    assert slow is not None and fast is not None
    assert 0.29 <= slow < 1.0 and fast < 0.1


@pytest.mark.parametrize("shell", SHELLS, ids=" ".join)
def test_without_proc_uptime_the_script_says_it_could_not_time(shell: list[str]) -> None:
    proc = _run_batch_script(shell, uptime="/nonexistent/uptime")
    lines = parse_batch_output(proc.stdout)
    assert [lines[i].seconds for i in range(3)] == [None, None, None]
    assert [lines[i].code for i in range(3)] == [0, 1, 1]
    assert proc.stderr == ""


def test_per_source_timings_are_each_probes_own_in_a_real_exec(netns: NetnsLab) -> None:
    # One exec from demo/client runs a connect that succeeds and one the network drops: the
    # first must not be reported as taking the second's timeout.
    server, client = "127.0.10.1", "127.0.20.1"
    netns.tcp_listener(server, 80)
    netns.tcp_listener(server, 8080)
    netns.drop(client, server, 8080)
    local = LocalKubectl({"demo/client": client}, netns=netns.name)
    probes = [
        probe("demo/client", "demo/server", port, src_ip=client, dst_ip=server)
        for port in (80, 8080)
    ]
    connected, blocked = KubectlExecutor(local, KUBECONFIG).run(probes, 1.0)
    assert local.execs == 1
    assert (connected.outcome, blocked.outcome) == (Outcome.CONNECTED, Outcome.BLOCKED)
    assert connected.timing == blocked.timing == "probe"
    assert connected.seconds < 0.5 and 0.9 <= blocked.seconds < 2.0


def _demo_pod(name: str, ip: str) -> dict[str, Any]:
    """The demo pod's real manifest, as the API server returns it once it runs."""
    manifest = next(
        o
        for o in workload.demo_manifests("lab1")
        if o["kind"] == "Pod" and o["metadata"]["name"] == name
    )
    return {**copy.deepcopy(manifest), "status": {"phase": "Running", "podIP": ip}}


def _exec_container(raw: dict[str, Any]) -> str:
    source, why = pod_from_object(raw)
    assert source is not None, why
    argv = KubectlExecutor(
        ReplayRunner(lambda a: Result(tuple(a), 0, "")), KUBECONFIG, mode="pool"
    ).connect_argv(Probe(source.ref(), source.ref(), 80), 1)
    return argv[argv.index("-c") + 1]


def test_exec_goes_to_the_agnhost_container_of_a_real_pod() -> None:
    assert _exec_container(_demo_pod("server", "10.244.1.7")) == "main"
    assert _exec_container(_demo_pod("client", "10.244.1.8")) == "agnhost"
    # A sidecar injected in front (as a service mesh does) has no agnhost: the exec skips it.
    server = _demo_pod("server", "10.244.1.7")
    server["spec"]["containers"].insert(0, {"name": "proxy", "image": "envoyproxy/envoy:v1.31"})
    assert _exec_container(server) == "main"


def test_a_missing_kubectl_stops_validation_at_once_not_at_the_deadline() -> None:
    # The real runner: a kubectl that does not exist raises OperationError ("not installed"),
    # which is no probe's outcome; re-probing it until the deadline would only hide it.
    executor = KubectlExecutor(SubprocessRunner(), KUBECONFIG, kubectl="/nonexistent/kubectl")
    planned = [PlannedProbe(probe("demo/client", "demo/server", 80), Expectation(True))]
    start = time.monotonic()
    with pytest.raises(OperationError, match="not installed") as caught:
        validate_planned(planned, executor, probe_timeout=0.5, deadline=30)
    assert not isinstance(caught.value, CommandError)
    assert time.monotonic() - start < 5


def test_an_unknown_executor_mode_is_refused() -> None:
    from pathlib import Path

    import pytest

    from provisioning.errors import UsageError
    from provisioning.runner import SubprocessRunner
    from provisioning.validation.probe_kubectl import KubectlExecutor

    with pytest.raises(UsageError, match="unknown kubectl executor mode 'per_source'"):
        KubectlExecutor(SubprocessRunner(), Path("kubeconfig"), mode="per_source")
