"""Validation wall time for NxN matrices with half the pairs blocked, against the probe timeout.

Real traffic on loopback: every pair gets its own port; an allowed pair's port has an accepting
listener, a blocked pair's port a listener whose full accept queue makes the kernel drop SYNs, so
blocked probes genuinely wait for the timeout. Three executors are timed:

- ``socket``: ``SocketExecutor`` (threads, in-process sockets): the runner's own overhead;
- ``kubectl per-source``: ``KubectlExecutor`` one exec per source pod running all its connects in
  the pod's shell, with kubectl replaced by a local exec of the same shell script and an
  agnhost stand-in (tests/validation/fake_agnhost.py);
- ``kubectl pool``: one exec per probe on 8 workers, as upstream e2e does.

A real ``kubectl exec`` adds an API-server round trip per exec (typically 0.1-0.5 s), which only
widens the gap in favour of per-source. Run: ``python benchmarks/validate_bench.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provisioning.validation.probe import PodRef, Probe, SocketExecutor
from provisioning.validation.probe_kubectl import KubectlExecutor
from provisioning.validation.validate import Expectation, PlannedProbe, validate_planned
from tests.validation.netlab import FullBacklogListener, TcpListener
from tests.validation.runners import LocalKubectl


def matrix(n: int) -> tuple[list[PlannedProbe], list[object]]:
    planned, listeners = [], []
    for i in range(n):
        for j in range(n):
            blocked = (i + j) % 2 == 1  # half the pairs, spread over every source
            listener = FullBacklogListener() if blocked else TcpListener()
            listeners.append(listener)
            src = PodRef("bench", f"c{i}", "127.0.0.1", "agnhost")
            dst = PodRef("bench", f"s{j}", listener.ip, "agnhost")
            planned.append(PlannedProbe(Probe(src, dst, listener.port), Expectation(not blocked)))
    return planned, listeners


def timed(n: int, executor: object, timeout: float) -> tuple[float, bool]:
    planned, listeners = matrix(n)
    try:
        start = time.perf_counter()
        report = validate_planned(planned, executor, probe_timeout=timeout, deadline=0)
        return time.perf_counter() - start, report.ok
    finally:
        for listener in listeners:
            listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--sizes", default="3,10")
    args = parser.parse_args()
    pods = {f"bench/c{i}": "127.0.0.1" for i in range(100)}
    executors = {
        "socket": lambda: SocketExecutor(),
        "kubectl per-source": lambda: KubectlExecutor(LocalKubectl(pods), Path("kubeconfig")),
        "kubectl pool (8)": lambda: KubectlExecutor(
            LocalKubectl(pods), Path("kubeconfig"), mode="pool", workers=8
        ),
    }
    print(f"probe timeout {args.timeout:g}s, {args.repeat} runs each, half the pairs blocked")
    print(f"{'matrix':>7}  {'executor':<20} {'median s':>9} {'x timeout':>10}  all matched")
    for n in (int(s) for s in args.sizes.split(",")):
        for name, make in executors.items():
            runs = [timed(n, make(), args.timeout) for _ in range(args.repeat)]
            median = statistics.median(t for t, _ in runs)
            ok = all(good for _, good in runs)
            print(f"{n:>3}x{n:<3}  {name:<20} {median:>9.2f} {median / args.timeout:>10.2f}  {ok}")


if __name__ == "__main__":
    main()
