"""Disruption property runs at scale (tests/loop/disruption_runs.py): prints the counts.

Run: python benchmarks/bench_disruptions.py [--seeds 2000] [--hours 3] [--step 30] [--cloud aws --region us-east-1]
Every violation count must be 0; the run prints the seeds that broke a rule, if any.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.loop.disruption_runs import Counts, run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--first", type=int, default=10_000, help="first seed (CI runs 0-199)")
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--step", type=float, default=30.0)
    parser.add_argument("--cloud", default="gcp")
    parser.add_argument("--region", default="us-central1")
    args = parser.parse_args()
    logging.disable(logging.ERROR)  # the loop logs API errors of nodes removed mid-loop; counts matter here
    total, failing = Counts(), []
    started = time.process_time()
    for seed in range(args.first, args.first + args.seeds):
        counts = run(seed, args.hours, args.step, args.cloud, args.region)
        total.add(counts)
        if counts.violations:
            failing.append(seed)
    seconds = time.process_time() - started
    print(f"{args.seeds} runs of {args.hours:g} h ({args.step:g} s loop, {args.cloud} {args.region}) in {seconds:.1f} s CPU")
    for name, value in vars(total).items():
        print(f"  {name}: {value}")
    print(f"  violations: {total.violations}" + (f" (seeds {failing[:20]})" if failing else ""))
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
