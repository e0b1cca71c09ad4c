"""100 launches through the AWS provider against moto_server on loopback (issue: AWS provider).

Run: python benchmarks/bench_aws_launch.py [--launches 100] [--workers 10]
Target: 100 launches complete within one loop period (loopPeriod, 10 s) + the slowest call,
with the loop's concurrent launch executor. Until that executor lands in the loop, this drives
the provider with a thread pool of `--workers` (the executor's default concurrency,
maxConcurrentLaunches = 10): re-measure through the loop once it does.

moto_server runs as its own process (`moto_server -H 127.0.0.1 -p PORT`), so its CPU is not
the client's; on the 2-core machine both share the cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoscaler.config import config_from_mapping  # noqa: E402
from pricing.catalog import region_catalog  # noqa: E402
from providers.base import LaunchAlternative, LaunchRequest  # noqa: E402

REGION = "us-east-1"
CLUSTER = "bench"
LOOP_PERIOD = 10.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            return proc, endpoint
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("moto_server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--launches", type=int, default=100)
    parser.add_argument("--workers", type=int, default=10)
    args = parser.parse_args()
    proc, endpoint = start_moto()
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true")
    try:
        import boto3

        from providers.aws import create_provider

        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        for index, zone in enumerate(("us-east-1a", "us-east-1b")):
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{index * 16}.0/20", AvailabilityZone=zone)["Subnet"]["SubnetId"]
            ec2.create_tags(Resources=[subnet], Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}])
        group = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)["GroupId"]
        ec2.create_tags(Resources=[group], Tags=[{"Key": "karpenter.sh/discovery", "Value": CLUSTER}])
        config = config_from_mapping({
            "cloud": "aws", "region": REGION, "clusterName": CLUSTER,
            "aws": {"userDataType": "Template", "userData": "#!/bin/bash\necho '{{.Labels}}' {{.MaxPods}}\n",
                    "amiIdGeneric": "ami-0123456789abcdef0", "livePrices": False},
        })
        provider = create_provider(config=config, start_prices=False)
        types = {o.instance_type.name: o.instance_type for o in region_catalog("aws", REGION).offerings}
        zones = ("us-east-1a", "us-east-1b")

        def request(i: int) -> LaunchRequest:
            return LaunchRequest(
                request_id=f"bench-{i:04d}", instance_type=types["m5.large"], capacity_type="on-demand", zones=zones,
                labels={"smart-autoscaler.io/node-type": "bin-select"},
                tags={"smart-autoscaler.io/cluster": CLUSTER, "smart-autoscaler.io/node-type": "bin-select"},
                alternatives=(LaunchAlternative(types["m5a.large"], "on-demand", zones, 0.086),),
            )

        provider.launch(request(-1))  # warm: template, subnets, security groups, connections
        durations: list[float] = []

        def timed(i: int) -> None:
            t0 = time.perf_counter()
            provider.launch(request(i))
            durations.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            list(pool.map(timed, range(args.launches)))
        total = time.perf_counter() - t0
        running = sum(len(r["Instances"]) for page in ec2.get_paginator("describe_instances").paginate() for r in page["Reservations"])
        slowest = max(durations)
        target = LOOP_PERIOD + slowest
        print(f"{args.launches} launches, {args.workers} workers, moto_server on loopback: {total:.2f} s "
              f"(median call {statistics.median(durations) * 1000:.0f} ms, slowest {slowest * 1000:.0f} ms); "
              f"instances in moto: {running}")
        print(f"target: <= loop period {LOOP_PERIOD:g} s + slowest call = {target:.2f} s -> {'met' if total <= target else 'NOT met'}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
