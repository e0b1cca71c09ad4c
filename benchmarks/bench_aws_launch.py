"""100 launches through the real loop and the AWS provider against moto_server on loopback.

Run: python benchmarks/bench_aws_launch.py [--launches 100] [--concurrency 10] [--tick 1]

The real path, nothing stubbed: the reconcile loop (autoscaler/loop/reconcile.py `Reconciler`)
on the real clock with the daemon's call executor (`ThreadedCalls`, `--concurrency` =
maxConcurrentLaunches, default 10), the AWS provider (`providers.aws.create_provider`, boto3,
livePrices off) pointed at `moto_server` (its own process on 127.0.0.1, so its CPU is not the
client's; on the 2-core machine both share the cores), and the in-memory cluster
(autoscaler/sim/cluster.py) holding `--launches` pending bin-select pods (3 CPU each) that the
plan puts on one new node each. The cloud starts cold (no launch template, no cached subnets).

`reconcile_once` runs as the daemon runs it while answers keep arriving (each answer wakes
the loop, which then waits `--tick` = MIN_LOOP_INTERVAL, 1 s, after each reconcile) until every
launch answer has been read by the loop. Measured: that time
from the first reconcile_once, the slowest single CreateFleet call and the slowest whole
launch call (as the executor ran it), and every reconcile_once's duration with the part of
it spent waiting for the loop's own instance listing (the loop must not block on the
launches; it does wait for its listing, which shares moto_server with them). Target (issue: AWS provider, Tests): all launches answered within
loopPeriod (10 s) + the slowest call. Checked: exactly `--launches` instances in moto, one per
launch request (no duplicates), and no further launch after a few more loops.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoscaler.clock import SystemClock  # noqa: E402
from autoscaler.config import config_from_mapping  # noqa: E402
from autoscaler.daemon import MIN_LOOP_INTERVAL  # noqa: E402
from autoscaler.loop.calls import CallOutcome, ThreadedCalls  # noqa: E402
from autoscaler.loop.lifecycle import LAUNCH  # noqa: E402
from autoscaler.loop.reconcile import Reconciler  # noqa: E402
from autoscaler.sim.cluster import InMemoryCluster  # noqa: E402
from pricing.catalog import region_catalog  # noqa: E402
from providers.base import TAG_CLUSTER, TAG_REQUEST  # noqa: E402
from tests.helpers import replicas  # noqa: E402

REGION = "us-east-1"
CLUSTER = "bench"
ZONES = ("us-east-1a", "us-east-1b")
AMI = "ami-0123456789abcdef0"


class ReadLaunches(ThreadedCalls):
    """The daemon's executor, noting every launch answer the loop reads (and how long it took)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.launches: list[CallOutcome] = []

    def collect(self) -> list[CallOutcome]:
        outcomes = super().collect()
        self.launches.extend(o for o in outcomes if o.kind == LAUNCH)
        return outcomes


class FleetTimer:
    """Wall time of every CreateFleet request, from botocore's own before/after-call events."""

    def __init__(self, ec2) -> None:
        self.durations: list[float] = []
        self._started = threading.local()
        ec2.meta.events.register("before-call.ec2.CreateFleet", self._before)
        ec2.meta.events.register("after-call.ec2.CreateFleet", self._after)

    def _before(self, **_: object) -> None:
        self._started.at = time.perf_counter()

    def _after(self, **_: object) -> None:
        self.durations.append(time.perf_counter() - self._started.at)


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


def account(endpoint: str):
    """The AWS account the e2e tier uses: a VPC, two tagged subnets, a security group, an EKS cluster."""
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = []
    for index, zone in enumerate(ZONES):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{index * 16}.0/20", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        ec2.create_tags(Resources=[subnet], Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "shared"}])
        subnets.append(subnet)
    group = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)["GroupId"]
    ec2.create_tags(Resources=[group], Tags=[{"Key": "karpenter.sh/discovery", "Value": CLUSTER}])
    boto3.client("eks", region_name=REGION, endpoint_url=endpoint).create_cluster(
        name=CLUSTER, version="1.31", roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": subnets}, kubernetesNetworkConfig={"serviceIpv4Cidr": "10.100.0.0/16"},
    )
    return ec2


def owned_instances(ec2) -> list[dict]:
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": f"tag:{TAG_CLUSTER}", "Values": [CLUSTER]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]},
    ])
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def run(launches: int, concurrency: int, tick: float) -> bool:
    from providers.aws import create_provider

    clock = SystemClock()
    config = config_from_mapping({
        "cloud": "aws", "region": REGION, "clusterName": CLUSTER, "maxConcurrentLaunches": concurrency,
        "aws": {"amiIdGeneric": AMI, "livePrices": False},
    })
    provider = create_provider(config=config, clock=clock, start_prices=False)
    fleets = FleetTimer(provider.clients.ec2)
    calls = ReadLaunches(clock, config.max_concurrent_launches, config.cloud_call_timeout)
    cluster = InMemoryCluster(clock)
    for pod in replicas("burst", launches, "3", "1Gi"):
        cluster.add_pod(replace(pod, created=clock.now()))
    reconciler = Reconciler(cluster, provider, region_catalog("aws", REGION), config, clock, calls=calls)

    loops: list[float] = []
    listing: list[float] = []
    list_instances = reconciler._list_instances

    def timed_listing():
        began = time.perf_counter()
        try:
            return list_instances()
        finally:
            listing.append(time.perf_counter() - began)

    reconciler._list_instances = timed_listing

    def loop() -> None:
        began = time.perf_counter()
        reconciler.reconcile_once()
        loops.append(time.perf_counter() - began)

    started = time.perf_counter()
    loop()
    submitted = len(calls.pending(LAUNCH))
    while time.perf_counter() - started < config.cloud_call_timeout + 60:
        if not calls.pending(LAUNCH) and calls.launches:
            break
        time.sleep(tick)
        loop()
    answered = time.perf_counter() - started
    busy = len(loops)
    for _ in range(3):  # a few more loops: nothing is launched again
        time.sleep(tick)
        loop()
    calls.shutdown(0)

    ec2 = provider.clients.ec2
    instances = owned_instances(ec2)
    requests = {t["Value"] for i in instances for t in i.get("Tags", []) if t["Key"] == TAG_REQUEST}
    failed = [o for o in calls.launches if not o.ok]
    call_times = [o.finished - o.started for o in calls.launches]
    slowest_fleet, slowest_call = max(fleets.durations), max(call_times)
    target = config.loop_period + slowest_fleet
    met = answered <= target and len(instances) == launches == len(requests) and not failed and submitted == launches

    rows = [
        ("pending bin-select pods (3 CPU each)", f"{launches}"),
        ("maxConcurrentLaunches", f"{concurrency}"),
        ("launches submitted by the first reconcile_once", f"{submitted}"),
        ("launch answers read by the loop (failed)", f"{len(calls.launches)} ({len(failed)})"),
        ("CreateFleet calls", f"{len(fleets.durations)}"),
        ("all answers read, from the first reconcile_once", f"{answered:.2f} s"),
        ("CreateFleet median / slowest", f"{statistics.median(fleets.durations) * 1000:.0f} ms / {slowest_fleet * 1000:.0f} ms"),
        ("launch call (whole provider.launch) median / slowest",
         f"{statistics.median(call_times) * 1000:.0f} ms / {slowest_call * 1000:.0f} ms"),
        ("first reconcile_once (plans, submits the burst)", f"{loops[0] * 1000:.0f} ms"),
        (f"reconcile_once while launching: median / longest of {busy - 1}",
         f"{statistics.median(loops[1:busy] or [0]) * 1000:.0f} ms / {max(loops[1:busy] or [0]) * 1000:.0f} ms"),
        ("  of which waiting for its listing: median / longest",
         f"{statistics.median(listing[1:busy] or [0]) * 1000:.0f} ms / {max(listing[1:busy] or [0]) * 1000:.0f} ms"),
        ("  the rest (plan, act, record): longest", f"{max([a - b for a, b in zip(loops[1:busy], listing[1:busy])] or [0]) * 1000:.0f} ms"),
        ("instances in moto / distinct launch requests", f"{len(instances)} / {len(requests)}"),
        (f"target: <= loopPeriod {config.loop_period:g} s + slowest CreateFleet", f"{target:.2f} s -> {'met' if met else 'NOT met'}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{launches} launches: real loop + ThreadedCalls + AWS provider -> moto_server on loopback")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    for outcome in failed[:5]:
        print(f"  failed: {outcome.key}: {outcome.error}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--launches", type=int, default=100)
    parser.add_argument("--concurrency", "--workers", dest="concurrency", type=int, default=10,
                        help="maxConcurrentLaunches of the loop's call executor (default 10)")
    parser.add_argument("--tick", type=float, default=MIN_LOOP_INTERVAL,
                        help=f"seconds the loop waits after each reconcile_once (the daemon's, {MIN_LOOP_INTERVAL:g})")
    args = parser.parse_args()
    proc, endpoint = start_moto()
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true")
    os.environ.pop("AWS_PROFILE", None)
    try:
        account(endpoint)
        met = run(args.launches, args.concurrency, args.tick)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
