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
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.controlplane import ControlPlane  # noqa: E402
from tests.differential.harness import Differential  # noqa: E402
from tests.differential.workloads import over_workloads  # noqa: E402


def _kind(mismatch: str) -> str:
    if "stays empty" in mismatch:
        return "planned node empty"
    if "stay pending" in mismatch:
        return "planned pod pending"
    return "unplaceable pod bound"


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
        totals: Counter = Counter()
        kinds: Counter = Counter()
        shown = [0]
        started = time.monotonic()

        @over_workloads(args.workloads, args.seed, shrink=args.shrink)
        def check(workload):
            outcome = diff.run(workload)
            totals["workloads"] += 1
            totals["pods"] += outcome.pods
            totals["planned pods"] += outcome.planned_pods
            totals["nodes"] += outcome.new_nodes
            totals["unplaceable"] += outcome.unplaceable
            if outcome.deviations:
                totals["workloads where the scheduler chose other planned nodes"] += 1
            if outcome.mismatches and not outcome.deviations:
                totals["differences where the scheduler followed the plan"] += 1
            if outcome.mismatches:
                totals["workloads with differences"] += 1
                kinds.update(_kind(m) for m in outcome.mismatches)
                if shown[0] < args.show and not args.shrink:
                    shown[0] += 1
                    print(outcome.report(), flush=True)
                if args.shrink:
                    raise AssertionError(outcome.report())
            if totals["workloads"] % 50 == 0:
                print(f"... {dict(totals)} {dict(kinds)} {time.monotonic() - started:.0f} s", flush=True)

        try:
            check()
        except AssertionError as err:
            print("shrunk:", err)
        elapsed = time.monotonic() - started
        print(f"workloads {totals['workloads']}, pods {totals['pods']} (planned {totals['planned pods']}, "
              f"unplaceable {totals['unplaceable']}), planned nodes {totals['nodes']}, "
              f"workloads with differences {totals['workloads with differences']}: {dict(kinds)} (where the scheduler "
              f"followed the plan: {totals['differences where the scheduler followed the plan']}; workloads where it bound "
              f"pods to other planned nodes: {totals['workloads where the scheduler chose other planned nodes']}); "
              f"{elapsed:.0f} s ({elapsed / max(totals['workloads'], 1):.1f} s per workload)")


if __name__ == "__main__":
    main()
