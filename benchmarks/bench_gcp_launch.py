"""Launches through the GCP provider against the local GKE/Compute Engine server (tests/gcp_fake.py).

Run: python benchmarks/bench_gcp_launch.py [--launches 100] [--workers 10] [--offerings 5]
Prints the wall time of N launches driven by `--workers` threads (the loop's default
concurrency, maxConcurrentLaunches = 10) spread over `--offerings` node pools (each created
once, on first need), then of listing every instance, and of terminating them all. The fake
answers at once: the figures are the provider's and the SDKs' own overhead (serialization,
REST transport, polling), not GKE's latency (pool creation takes minutes on GKE).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoscaler.config import config_from_mapping  # noqa: E402
from autoscaler.nodelabels import node_labels  # noqa: E402
from pricing.catalog import region_catalog  # noqa: E402
from providers.base import LaunchRequest  # noqa: E402
from tests.gcp_fake import FakeGcp  # noqa: E402

REGION = "us-central1"
TYPES = ("n1-standard-4", "n1-standard-8", "n2-standard-4", "e2-standard-4", "n2d-standard-4", "c2d-standard-4", "e2-standard-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--launches", type=int, default=100)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--offerings", type=int, default=5)
    args = parser.parse_args()
    from providers.gcp import create_provider

    fake = FakeGcp("bench", REGION, "bench")
    for name in TYPES:
        fake.zones[name] = [f"{REGION}-a", f"{REGION}-b"]
    endpoint = fake.start()
    config = config_from_mapping({
        "cloud": "gcp", "region": REGION, "clusterName": "bench",
        "gcp": {"project": "bench", "apiEndpoint": endpoint, "pollInterval": "0.05", "livePrices": False},
    })
    provider = create_provider(config=config, start_prices=False)
    types = {o.instance_type.name: o.instance_type for o in region_catalog("gcp", REGION).offerings}
    requests = []
    for index in range(args.launches):
        itype = types[TYPES[index % min(args.offerings, len(TYPES))]]
        labels = node_labels("gcp", REGION, itype, "on-demand", "", "bin-pack")
        requests.append(LaunchRequest(f"bench-{index}", itype, "on-demand", (REGION,), labels))
    seconds: list[float] = []

    def launch(request: LaunchRequest) -> None:
        start = time.perf_counter()
        provider.launch(request)
        seconds.append(time.perf_counter() - start)

    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(launch, requests))
        wall = time.perf_counter() - start
        listed_at = time.perf_counter()
        instances = provider.list_instances()
        listing = time.perf_counter() - listed_at
        stop_at = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda i: provider.terminate(i.instance_id), instances))
        terminating = time.perf_counter() - stop_at
    finally:
        fake.stop()
    print(f"{args.launches} launches over {min(args.offerings, len(TYPES))} new node pools, {args.workers} workers: "
          f"{wall:.2f} s wall; per launch median {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s")
    print(f"list_instances of {len(instances)} instances in {len(fake.pools)} pools: {listing:.3f} s")
    print(f"terminate all {len(instances)}: {terminating:.2f} s wall; instances left in the MIGs: {len(fake.instances())}")


if __name__ == "__main__":
    main()
