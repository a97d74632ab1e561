"""Runner fakes for the kubectl executor.

- ``ReplayRunner`` answers each command with a recorded agnhost/kubectl reply and records argv.
- ``LocalKubectl`` runs ``kubectl exec -n NS POD -- CMD`` for real, locally: ``CMD`` runs in a
  network namespace (or this one) with ``/agnhost`` replaced by ``fake_agnhost.py`` and the pod's
  IP as its source address. It is what makes the per-source vs. pool comparison measurable here:
  real processes, real shells, real sockets; only the API server hop is missing.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from provisioning.runner import Result

FAKE_AGNHOST = Path(__file__).with_name("fake_agnhost.py")


class ReplayRunner:
    def __init__(self, reply: Callable[[list[str]], Result]) -> None:
        self.reply = reply
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    def run(self, argv: Sequence[str], **_: object) -> Result:
        with self._lock:
            self.calls.append(list(argv))
        return self.reply(list(argv))

    def which(self, program: str) -> str | None:
        return f"/usr/bin/{program}"


def exec_target(argv: Sequence[str]) -> tuple[str, str, list[str]]:
    """(namespace, pod, command) of a ``kubectl ... exec -n NS POD [-c C] -- CMD`` argv."""
    sep = argv.index("--")
    head, command = list(argv[:sep]), list(argv[sep + 1 :])
    namespace = head[head.index("-n") + 1]
    rest = head[head.index("exec") + 1 :]
    positional = [
        a
        for i, a in enumerate(rest)
        if a not in ("-n", "-c") and (i == 0 or rest[i - 1] not in ("-n", "-c"))
    ]
    return namespace, positional[0], command


class LocalKubectl:
    """Runs the exec'd command locally; ``pods`` maps ``ns/name`` to its source IP.

    ``dns`` is the pods' nameserver and ``dns_timeout`` its resolv.conf timeout, for DNS checks.
    """

    def __init__(
        self,
        pods: Mapping[str, str],
        netns: str | None = None,
        *,
        dns: str = "",
        dns_timeout: float = 5.0,
    ) -> None:
        self.pods = dict(pods)
        self.netns = netns
        self.dns, self.dns_timeout = dns, dns_timeout
        self.in_flight = 0
        self.max_in_flight = 0
        self.execs = 0
        self._lock = threading.Lock()

    def which(self, program: str) -> str | None:
        return program

    def run(self, argv: Sequence[str], *, timeout: float | None = None, **_: object) -> Result:
        namespace, pod, command = exec_target(argv)
        key = f"{namespace}/{pod}"
        if key not in self.pods:
            return Result(
                tuple(argv), 1, "", f'Error from server (NotFound): pods "{pod}" not found'
            )
        agnhost = f"{sys.executable} -S -E {FAKE_AGNHOST}"
        local: list[str] = []
        for arg in command:
            if arg == "/agnhost":
                local += [sys.executable, "-S", "-E", str(FAKE_AGNHOST)]
            else:
                local.append(arg.replace("/agnhost ", agnhost + " "))
        env = ["env", f"FAKE_AGNHOST_SOURCE={self.pods[key]}", f"FAKE_AGNHOST_DNS={self.dns}",
               f"FAKE_AGNHOST_DNS_TIMEOUT={self.dns_timeout}"]  # fmt: skip
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        with self._lock:
            self.execs += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            proc = subprocess.run(
                [*prefix, *env, *local], capture_output=True, text=True, timeout=timeout
            )
        finally:
            with self._lock:
                self.in_flight -= 1
        stderr = proc.stderr
        if proc.returncode != 0:  # what kubectl adds when the remote command fails
            stderr += f"command terminated with exit code {proc.returncode}\n"
        return Result(tuple(argv), proc.returncode, proc.stdout, stderr)
