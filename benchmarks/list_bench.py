"""How long `invoke --list` takes (the issue asks for well under half a second).

Prints the median and spread of N runs in fresh processes, next to the cost of starting Python
and importing invoke alone, so the tasks' own share is visible on a noisy machine:

    python benchmarks/list_bench.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(argv: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    base = timed([sys.executable, "-c", "import invoke.program"], runs)
    listing = timed([sys.executable, "-m", "invoke", "--list"], runs)
    for label, samples in (("python + import invoke", base), ("invoke --list", listing)):
        print(
            f"{label:24} median {statistics.median(samples) * 1000:6.0f} ms   "
            f"min {min(samples) * 1000:6.0f} ms   max {max(samples) * 1000:6.0f} ms"
        )
    print(
        f"tasks' own share: {(statistics.median(listing) - statistics.median(base)) * 1000:.0f} ms"
        f" (ratio {statistics.median(listing) / statistics.median(base):.2f}x)"
    )


if __name__ == "__main__":
    main()
