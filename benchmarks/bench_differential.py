"""The differential tier at scale: many generated workloads planned by the planner and placed
by the real kube-scheduler on a control plane of its own (tests/controlplane). Prints how many
workloads and pods ran, how many differences were found and, for the first few, the shrunk
reproducer manifest.

Run: python3 benchmarks/bench_differential.py [--workloads 2000] [--seed 1] [--shrink]
Needs the control-plane binaries (tests/setup.sh builds them). Without --shrink every workload
runs once (the counts); with it, hypothesis stops at the first difference and shrinks it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.controlplane import ControlPlane  # noqa: E402
from tests.differential.harness import Differential, Tally  # noqa: E402
from tests.differential.workloads import over_workloads  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workloads", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shrink", action="store_true", help="stop at the first difference and shrink it")
    parser.add_argument("--show", type=int, default=3, help="reports to print in full")
    args = parser.parse_args()

    import kubernetes

    with ControlPlane() as cp:
        client = kubernetes.config.new_client_from_config(config_file=str(cp.kubeconfig))
        diff = Differential(kubernetes.client.CoreV1Api(client), kubernetes.client.AppsV1Api(client),
                            kubernetes.client.NodeV1Api(client), client)
        tally = Tally()
        shown = [0]
        started = time.monotonic()

        @over_workloads(args.workloads, args.seed, shrink=args.shrink)
        def check(workload):
            outcome = diff.run(workload)
            tally.add(outcome)
            if outcome.mismatches and shown[0] < args.show and not args.shrink:
                shown[0] += 1
                print(outcome.report(), flush=True)
            if outcome.mismatches and not outcome.deviations and args.shrink:
                raise AssertionError(outcome.report())
            if tally.counts["workloads"] % 50 == 0:
                print(f"... {tally.summary()} {time.monotonic() - started:.0f} s", flush=True)

        try:
            check()
        except AssertionError as err:
            print("shrunk:", err)
        elapsed = time.monotonic() - started
        workloads = max(tally.counts["workloads"], 1)
        print(f"{tally.summary()}; {elapsed:.0f} s ({elapsed / workloads:.1f} s per workload)")

if __name__ == "__main__":
    main()
