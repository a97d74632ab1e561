"""Wall time of ``fleet up`` (mode clusters, AKS) for 1 attendee and for 30, run in parallel.

Every attendee's lab runs the real pipeline with the real Azure SDK against the fake ARM
(``tests/aks/fake_arm.py``) and a simulated cluster of its own (``tests/fleet/test_aks_fleet.py``,
``Cloud``), as the tests do, but with Azure's time put back in, really slept so that parallel
attendees overlap as they would against ARM:

- every ARM request takes ``--latency`` seconds (the fake's ``latency``);
- a long-running operation (group delete, cluster create) answers InProgress ``--polls`` times,
  and the SDK waits ``--poll-interval`` seconds between polls (the fake's ``real_sleep``): an AKS
  create of several minutes polled every 15 s, compressed.

Inside each cluster time stays simulated (readiness, the canary, probes), so what the figures
add to Azure's time is the tool's own: planning, the SDK's work, local state files, deploying
and validating the lab. Attendees run ``--workers`` at a time (30: all at once), so the ideal
ratio of the two wall times is 1.0; printed figures only, no assertion:

    python benchmarks/fleet_aks_bench.py [--latency 0.05] [--polls 20] [--poll-interval 0.25]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provisioning.fleet.run import fleet_up
from provisioning.progress import Progress
from tests.fleet.test_aks_fleet import Cloud, fleet_of


def run_once(attendees: int, args: argparse.Namespace) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, failed attendees, ARM requests) of one ``fleet up``."""
    cloud = Cloud(latency=args.latency, polls=args.polls, real_sleep=True)
    cloud.polling_interval = args.poll_interval
    with tempfile.TemporaryDirectory(dir=args.state_dir) as tmp:
        fleet = fleet_of(Path(tmp), "clusters", attendees)
        seams = cloud.seams(workers=args.workers)
        started, cpu = time.perf_counter(), time.process_time()
        result = fleet_up(
            fleet,
            seams,
            Progress(io.StringIO(), spinner=False),
            validate=not args.no_validate,
            stream=io.StringIO(),
            live=False,
        )
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall, cpu, len(result.failed), len(cloud.arm.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per ARM request")
    parser.add_argument("--polls", type=int, default=20, help="InProgress answers per operation")
    parser.add_argument(
        "--poll-interval", type=float, default=0.25, help="the SDK's seconds between polls"
    )
    parser.add_argument("--sizes", default="1,30", help="attendee counts, comma-separated")
    parser.add_argument("--workers", type=int, default=30, help="Seams.workers")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (median)")
    parser.add_argument("--no-validate", action="store_true", help="skip each lab's validation")
    parser.add_argument(
        "--state-dir",
        default=None,
        help="where the labs' state folders go (default: the system's temporary folder; "
        "each state file is fsynced, so the disk under it counts)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    run_once(1, argparse.Namespace(**{**vars(args), "latency": 0.0, "polls": 0}))  # imports
    print(
        f"ARM latency {args.latency * 1000:.0f} ms/request, {args.polls} polls x "
        f"{args.poll_interval:g} s per operation, workers {args.workers}, "
        f"validate {not args.no_validate}, median of {args.repeat}"
    )
    medians: dict[int, float] = {}
    for size in sizes:
        runs = [run_once(size, args) for _ in range(args.repeat)]
        walls = [r[0] for r in runs]
        medians[size] = statistics.median(walls)
        failed = max(r[2] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(
            f"{size:3d} attendee(s): wall median {medians[size]:6.2f} s "
            f"(min {min(walls):.2f}, max {max(walls):.2f}), CPU {cpu:5.2f} s, "
            f"{runs[0][3]} ARM requests, {failed} failed"
        )
    if len(sizes) >= 2:
        first, last = sizes[0], sizes[-1]
        extra = medians[last] - medians[first]
        print(
            f"ratio {last} / {first}: {medians[last] / medians[first]:.2f} (target <= 1.3); "
            f"{extra:.2f} s more for {last - first} more attendees "
            f"({extra / (last - first) * 1000:.0f} ms each, whatever Azure's own time)"
        )


if __name__ == "__main__":
    main()
