"""Fuzz the validation layer with many more examples than CI runs, and print the counts.

    python3 benchmarks/fuzz_inputs.py [EXAMPLES_PER_TARGET] [--seeded]

Each target (manifests -> preview pods -> planner, configuration, scenario file, kubeconfig)
gets EXAMPLES_PER_TARGET generated-and-mutated inputs (default 2000, random seed unless
--seeded). Prints examples run, accepted, rejections, rejections naming no field, and
tracebacks (the first of each kind in full); exits 1 if any traceback or unnamed rejection."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.harness import TARGETS, Counts, run_target  # noqa: E402


def main(argv: list[str]) -> int:
    examples = int(next((a for a in argv if a.isdigit()), "2000"))
    seeded = "--seeded" in argv
    total = Counts()
    print(f"{'target':<14} {'examples':>8} {'accepted':>8} {'rejected':>8} {'unnamed':>7} {'tracebacks':>10} {'seconds':>7}")
    for name in TARGETS:
        started = time.perf_counter()
        counts = run_target(name, examples, derandomize=seeded)
        seconds = time.perf_counter() - started
        total.add(counts)
        print(f"{name:<14} {counts.examples:>8} {counts.accepted:>8} {counts.rejected:>8} {len(counts.unnamed):>7} "
              f"{len(counts.tracebacks):>10} {seconds:>7.1f}")
    print(f"{'total':<14} {total.examples:>8} {total.accepted:>8} {total.rejected:>8} {len(total.unnamed):>7} "
          f"{len(total.tracebacks):>10}")
    for message in total.unnamed[:1]:
        print(f"\nfirst rejection naming no field:\n{message}")
    for trace in total.tracebacks[:1]:
        print(f"\nfirst traceback:\n{trace}")
    return 1 if total.tracebacks or total.unnamed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
