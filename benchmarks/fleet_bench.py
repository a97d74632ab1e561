"""``fleet up`` and ``fleet status`` in mode namespaces: 1 attendee against 100 on one cluster.

Every attendee's lab runs the real pipeline (plan, deploy, policies, the canary, validation,
attendee access) on the simulated kind machine (``tests/fake_world.py``), the shared cluster
made by the real kind provider, the attendees' labs by the real existing-cluster provider. A real
cluster's time is put back in and really slept, so attendees in parallel overlap as they would:

- every Kubernetes API request takes ``--latency`` seconds (a round trip to the API server);
- a pod becomes Ready ``--startup`` seconds after it was first seen (scheduling, the sandbox,
  agnhost starting; images already on the nodes);
- every probe takes ``--probe`` seconds (a ``kubectl exec`` round trip).

Figures printed, no assertion (the machine is shared and noisy; medians of ``--repeat`` runs):

- wall time of ``fleet up`` for 1 attendee and for N, and their ratio (target: at most 3);
- API requests per attendee for each size (target: the same, i.e. linear growth);
- wall time of ``fleet status`` for N attendees (target: under 2 s), with the same latency.

    python benchmarks/fleet_bench.py [--attendees 100] [--workers 50] [--latency 0.005]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provisioning.fleet.plan import FleetSpec
from provisioning.fleet.record import host_spec, load_fleet
from provisioning.fleet.roster import numbered
from provisioning.fleet.run import Seams, fleet_up
from provisioning.fleet.status import fleet_status
from provisioning.profiles import resolve
from provisioning.progress import Progress
from provisioning.providers.existing.provider import ExistingProvider
from provisioning.providers.kind.provider import KindProvider
from tests.fake_network import PolicyNetwork
from tests.fake_world import World
from tests.fleet.test_fleet_kind import LabSlice


class RealCluster:
    """A simulated cluster with a real cluster's time: each request waits ``latency``; a pod
    is Ready only ``startup`` seconds after the API first returned it. Counts requests."""

    def __init__(self, inner: Any, latency: float, startup: float) -> None:
        self.inner, self.latency, self.startup = inner, latency, startup
        self.requests = 0
        self._born: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def _wait(self) -> None:
        with self._lock:
            self.requests += 1
        if self.latency:
            time.sleep(self.latency)

    def _young(self, obj: dict[str, Any] | None) -> dict[str, Any] | None:
        if obj is None or obj.get("kind") != "Pod":
            return obj
        meta = obj.get("metadata", {})
        key = (meta.get("namespace", ""), meta.get("uid", meta.get("name", "")))
        now = time.monotonic()
        with self._lock:
            born = self._born.setdefault(key, now)
        if now - born < self.startup:
            obj = {**obj, "status": {"phase": "Pending"}}
        return obj

    def get(self, *args: Any, **kwargs: Any) -> Any:
        self._wait()
        return self._young(self.inner.get(*args, **kwargs))

    def list(self, *args: Any, **kwargs: Any) -> Any:
        self._wait()
        return [self._young(o) for o in self.inner.list(*args, **kwargs)]

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if callable(attr) and name in ("apply", "create", "delete", "request_token"):

            def call(*args: Any, **kwargs: Any) -> Any:
                self._wait()
                return attr(*args, **kwargs)

            return call
        return attr


class SlowProbes:
    """The dataplane, each probe taking ``seconds`` (a ``kubectl exec`` round trip)."""

    def __init__(self, inner: Any, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds

    def run(self, probes: Any, timeout: float) -> Any:
        time.sleep(self.seconds * len(probes))
        return self.inner.run(probes, timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def machine(tmp: Path, args: argparse.Namespace) -> tuple[Seams, Callable[[], RealCluster]]:
    world = World()
    wrapped: dict[str, RealCluster] = {}
    lock = threading.Lock()

    def real(path: Path, context: str | None = None) -> Any:
        inner = world.kube_factory()(path)
        with lock:
            key = str(id(inner))
            if key not in wrapped:
                wrapped[key] = RealCluster(inner, args.latency, args.startup)
            return wrapped[key]

    def make_provider(spec: Any, read_only: bool) -> Any:
        if spec.provider == "kind":
            return KindProvider(world, kube_factory=lambda p: real(p))
        return ExistingProvider(real)

    def settings(spec: Any) -> dict[str, Any]:
        network = None
        if spec.provider == "existing" and "ws" in world.clusters:
            # Each lab's dataplane sees its own namespaces (tests/fleet/test_fleet_kind.py
            # LabSlice: every probe stays inside one lab, so the verdicts are the cluster's),
            # else the fake network re-reads all 100 labs' pods for every probe.
            view = LabSlice(world.clusters["ws"], spec)
            network = SlowProbes(PolicyNetwork(view, True), args.probe)
        return {"poll_interval": args.poll, "probe_executor": network, "canary_deadline": 60.0}

    def shared() -> RealCluster:
        return real(tmp / "state" / "ws" / "kubeconfig")

    seams = Seams(world, make_provider, settings, workers=args.workers)
    return seams, shared


def run_once(attendees: int, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        base = replace(resolve(flags={"name": "ws"}), state_root=tmp / "state")
        fleet = FleetSpec("ws", "namespaces", numbered(attendees), 6 * 3600, base)
        seams, shared = machine(tmp, args)
        # The shared cluster first (kind create, Calico): the same for 1 or 100 attendees, so
        # it is made, then the attendees are timed on their own.
        fleet_up(
            replace(fleet, attendees=()),
            seams,
            Progress(io.StringIO(), spinner=False),
            stream=io.StringIO(),
            live=False,
        )
        before = shared().requests
        started = time.perf_counter()
        result = fleet_up(
            fleet, seams, Progress(io.StringIO(), spinner=False), stream=io.StringIO(), live=False
        )
        up = time.perf_counter() - started
        requests = shared().requests - before
        record = load_fleet(host_spec(base, "ws"))
        assert record is not None
        started = time.perf_counter()
        doc = fleet_status(fleet, record, seams)
        status = time.perf_counter() - started
        for o in result.failed:
            print(f"  failed: {o.attendee.id}: {o.detail}", file=sys.stderr)
        return {
            "up": up,
            "failed": len(result.failed),
            "requests": requests,
            "status": status,
            "ready": sum(r["state"] == "ready" for r in doc["attendees"]),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attendees", type=int, default=100)
    parser.add_argument(
        "--workers", type=int, default=50, help="attendees at once (the CLI default)"
    )
    parser.add_argument("--latency", type=float, default=0.005, help="seconds per API request")
    parser.add_argument("--startup", type=float, default=3.0, help="seconds until a pod is Ready")
    parser.add_argument("--probe", type=float, default=0.05, help="seconds per probe")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between readiness polls")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    rows: dict[int, list[dict[str, float]]] = {1: [], args.attendees: []}
    for _ in range(args.repeat):
        for size in rows:
            rows[size].append(run_once(size, args))
    one, many = rows[1], rows[args.attendees]

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(
        f"fleet up, mode namespaces on one simulated kind cluster: latency {args.latency}s per "
        f"API request, pods Ready after {args.startup}s, {args.probe}s per probe, "
        f"{args.workers} attendees at once; median of {args.repeat}"
    )
    for size, runs in ((1, one), (args.attendees, many)):
        per = median(runs, "requests") / size
        print(
            f"  {size:>4} attendee{'s' if size > 1 else ' '}: up {median(runs, 'up'):7.2f}s, "
            f"{median(runs, 'failed'):.0f} failed, {median(runs, 'requests'):.0f} API requests "
            f"({per:.1f} per attendee); status {median(runs, 'status'):.2f}s "
            f"({median(runs, 'ready'):.0f} ready)"
        )
    extra = (median(many, "requests") - median(one, "requests")) / (args.attendees - 1)
    print(
        f"  API requests: {median(one, 'requests'):.0f} for the first attendee (the engine is "
        f"found once), then {extra:.1f} per further attendee"
    )
    ratio = median(many, "up") / median(one, "up")
    print(f"  ratio {args.attendees} : 1 = {ratio:.2f} (target: at most 3)")
    print(f"  fleet status for {args.attendees}: {median(many, 'status'):.2f}s (target: under 2 s)")


if __name__ == "__main__":
    main()
