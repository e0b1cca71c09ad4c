"""Ten pending pods on AKS, with Azure's long-running operations taking 30 s each.

Run: python benchmarks/bench_aks_launch.py [--lro 30] [--pods 10]
The real reconcile loop (in-memory cluster) and the AKS provider, through the Azure SDK,
against the local AKS server (tests/providers/fake_azure.py) whose operations take `--lro`
seconds. Ten 2 CPU / 4Gi pods need ten nodes of one size. Prints: how long the reconcile
that planned them took (the loop never waits for Azure), when AKS accepted the one count
change for all of them (the launches submitted), and when the launches were answered (the
operation ended and every launch had its machine). Targets: submitted within a second of
the first reconcile, in one count change; answered about one operation later, not one per
node.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoscaler.clock import SystemClock  # noqa: E402
from autoscaler.config import config_from_mapping  # noqa: E402
from autoscaler.loop.calls import ThreadedCalls  # noqa: E402
from autoscaler.loop.reconcile import Reconciler  # noqa: E402
from autoscaler.sim.cluster import InMemoryCluster  # noqa: E402
from pricing.catalog import region_catalog  # noqa: E402
from tests.helpers import replicas  # noqa: E402
from tests.providers.fake_azure import CLUSTER, RESOURCE_GROUP, SUBSCRIPTION, start_fake_azure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lro", type=float, default=30.0)
    parser.add_argument("--pods", type=int, default=10)
    parser.add_argument("--call-timeout", default="10m", help="cloudCallTimeout: shorter than --lro shows launches the loop gave up on")
    args = parser.parse_args()
    from providers.azure import create_provider

    fake, server = start_fake_azure(lro_seconds=args.lro)
    clock = SystemClock()
    config = config_from_mapping({
        "cloud": "azure", "region": "eastus", "clusterName": "bench", "cloudCallTimeout": args.call_timeout,
        "azure": {"subscriptionId": SUBSCRIPTION, "resourceGroup": RESOURCE_GROUP, "clusterName": CLUSTER,
                  "resourceManagerEndpoint": fake.base_url, "pollInterval": "1s",
                  "retailPricesURL": f"{fake.base_url}/api/retail/prices"},
    })
    provider = create_provider(config=config, clock=clock)
    cluster = InMemoryCluster(clock)
    for pod in replicas("web", args.pods, "2", "4Gi"):
        cluster.add_pod(replace(pod, created=clock.now()))
    calls = ThreadedCalls(clock, config.max_concurrent_launches, config.cloud_call_timeout)
    reconciler = Reconciler(cluster, provider, region_catalog("azure", "eastus"), config, clock, calls=calls)

    def accepted() -> list[tuple[float, int]]:
        with fake.lock:
            return [(at, body["properties"]["count"]) for at, (m, path, body) in zip(fake.arrived, fake.requests)
                    if m == "PUT" and "/agentPools/" in path]

    started = time.monotonic()
    reconciler.reconcile_once()
    first = time.monotonic() - started
    while not accepted() and time.monotonic() - started < 60:
        time.sleep(0.01)
    submitted = accepted()
    while len(reconciler.lifecycle.records) < args.pods and time.monotonic() - started < args.lro * 4 + 60:
        time.sleep(0.5)
        reconciler.reconcile_once()
    answered = time.monotonic() - started
    changes = accepted()
    print(f"{args.pods} pods, AKS operations of {args.lro:g}s: first reconcile {first:.3f}s; "
          f"launches submitted (count change accepted) after {submitted[0][0] - started:.2f}s; "
          f"count changes {[count for _, count in changes]}; all {len(reconciler.lifecycle.records)} launches answered (or listed) after "
          f"{answered:.1f}s (one operation: {args.lro:g}s; one node at a time would be {args.pods * args.lro:g}s)")
    calls.shutdown(0)
    provider.close()
    server.shutdown()


if __name__ == "__main__":
    main()
