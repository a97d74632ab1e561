"""The kubectl executor: the commands it builds and how it reads what comes back."""

from __future__ import annotations

import copy
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from provisioning import workload
from provisioning.errors import CommandError, OperationError
from provisioning.live import pod_from_object
from provisioning.probe import Outcome, Probe
from provisioning.probe_kubectl import (
    KubectlExecutor,
    go_duration,
    host_port,
    parse_batch_output,
)
from provisioning.runner import Result, SubprocessRunner
from provisioning.validation import Expectation, PlannedProbe, validate_planned
from tests.validation.conftest import probe
from tests.validation.runners import ReplayRunner

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
        lines = ["@@probe 1 1 TIMEOUT", "@@probe 0 0", "@@probe 2 1 REFUSED"]
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


def test_a_missing_line_or_a_failed_exec_is_an_error_never_blocked() -> None:
    probes = [probe("demo/client", "demo/server", 80), probe("demo/client", "demo/server", 81)]
    partial = ReplayRunner(lambda a: Result(tuple(a), 0, "@@probe 0 1 TIMEOUT\n"))
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
        "Defaulted container\n@@probe 3 1 TIMEOUT: read udp x: i/o timeout\n"
        "@@probe x 1\n@@probe 0 0\n"
    )
    assert parse_batch_output(out) == {3: (1, "TIMEOUT: read udp x: i/o timeout"), 0: (0, "")}


def test_batch_script_runs_in_a_real_posix_shell() -> None:
    # The script must work in the image's shell: run it with /bin/sh and a stub agnhost that
    # answers per address, including a multi-line message with a glob character.
    executor = KubectlExecutor(ReplayRunner(lambda a: Result(tuple(a), 0, "")), KUBECONFIG)
    probes = [probe("demo/client", "demo/server", port, dst_ip="10.0.0.1") for port in (1, 2, 3)]
    argv = executor.batch_argv(probes, 1.5)
    command = argv[argv.index("--") + 1 :]
    stub = (
        'agnhost() { case "$2" in *:1) return 0;; *:2) echo "TIMEOUT" >&2; return 1;; '
        '*) printf "OTHER: *\\nsecond line\\n" >&2; return 1;; esac; }; '
    )
    script = stub + command[2].replace("/agnhost connect", "agnhost connect")
    proc = subprocess.run(["/bin/sh", "-c", script, *command[3:]], capture_output=True, text=True)
    assert proc.returncode == 0, shlex.join(command)
    assert parse_batch_output(proc.stdout) == {
        0: (0, ""),
        1: (1, "TIMEOUT"),
        2: (1, "OTHER: * second line"),
    }


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
