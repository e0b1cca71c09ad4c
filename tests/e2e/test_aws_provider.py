"""The daemon with `--provider aws` against moto_server on loopback and the real control plane.

moto_server (one per module) is the AWS account: a VPC with subnets in us-east-1a/b tagged
`kubernetes.io/cluster/e2e-aws`, a tagged security group and an EKS cluster. The daemon reaches
it through AWS_ENDPOINT_URL with fake credentials, under the chart's ClusterRole (unchanged for
AWS). The registrar (tests/e2e/registrar.py) plays the kubelets: every running instance becomes
a kwok Node with the labels and taints of its own user data and providerID aws:///<zone>/<id>.

Numbers: loopPeriod 2s; three 1-CPU pods bin-pack onto the 4 CPU / 8Gi shape, whose cheapest
type in us-east-1 is t3a.xlarge ($0.1504/h on-demand).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import datetime, timezone

import pytest

from tests.e2e.daemon_helpers import (
    BASE_CONFIG,
    INSTANCE_TYPE_LABEL,
    ROLE_LABEL,
    Daemon,
    daemon_cluster_rules,
    dump_config,
    free_port,
    managed_deployment,
    pods_of,
    running,
)

pytestmark = pytest.mark.e2e
boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto")

CLUSTER = "e2e-aws"
REGION = "us-east-1"
AMI = "ami-0123456789abcdef0"
BIN_PACK_TYPE = "t3a.xlarge"


@pytest.fixture(scope="module")
def moto_cloud():
    from tests.e2e.aws_cloud import MotoServer

    server = MotoServer().start()
    env = {
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=server.endpoint)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = []
        for index, zone in enumerate(("us-east-1a", "us-east-1b")):
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{index}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
            ec2.create_tags(Resources=[subnet], Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "shared"}])
            subnets.append(subnet)
        group = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)["GroupId"]
        ec2.create_tags(Resources=[group], Tags=[{"Key": "karpenter.sh/discovery", "Value": CLUSTER}])
        boto3.client("eks", region_name=REGION, endpoint_url=server.endpoint).create_cluster(
            name=CLUSTER, version="1.31", roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": subnets}, kubernetesNetworkConfig={"serviceIpv4Cidr": "10.100.0.0/16"},
        )
        server.ec2 = ec2
        yield server
    server.stop()


class AwsEnv:
    def __init__(self, env, cloud, core_v1) -> None:
        from tests.e2e.aws_cloud import aws_machines
        from tests.e2e.registrar import Registrar

        self.env = env
        self.cloud = cloud
        self.ec2 = cloud.ec2
        self.registrar = Registrar(core_v1, lambda: aws_machines(self.ec2, CLUSTER, REGION)).start()
        cloud.faults.calls.clear()
        cloud.faults.stocked_out.clear()

    def start(self, config: dict | None = None, name: str | None = None) -> Daemon:
        grant = self.env.grant(cluster_rules=daemon_cluster_rules(simulated=False))
        name = name or f"aws-daemon-{len(self.env.daemons) + 1}"
        options = {**BASE_CONFIG, "clusterName": CLUSTER, "aws": {"amiIdGeneric": AMI, "livePrices": False}, **(config or {})}
        path = dump_config(self.env.workdir / f"{name}.config.yaml", options)
        port = free_port()
        argv = [
            sys.executable, "-m", "autoscaler", "run", "--provider", "aws", "--config", str(path),
            "--kubeconfig", str(grant.kubeconfig), "--metrics-address", f"127.0.0.1:{port}",
            "--lease-namespace", self.env.namespace,
        ]
        daemon = Daemon(name, argv, self.env.workdir / f"{name}.log", port)
        self.env.daemons.append(daemon)
        daemon.start().wait_healthy()
        return daemon

    def instances(self, states=("pending", "running")) -> list[dict]:
        pages = self.ec2.get_paginator("describe_instances").paginate(Filters=[
            {"Name": "tag:smart-autoscaler.io/cluster", "Values": [CLUSTER]},
            {"Name": "instance-state-name", "Values": list(states)},
        ])
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def close(self) -> None:
        for daemon in self.env.daemons:
            daemon.stop()
        self.registrar.stop()
        ids = [i["InstanceId"] for i in self.instances()]
        if ids:
            self.ec2.terminate_instances(InstanceIds=ids)
        self.registrar.sync()  # their Nodes go, as the cloud controller would do


@pytest.fixture
def aws_env(autoscaler, moto_cloud, core_v1):
    env = AwsEnv(autoscaler, moto_cloud, core_v1)
    try:
        yield env
    finally:
        env.close()


def _deploy(env, apps_v1, core_v1, name: str, replicas: int = 3, cpu: str = "1"):
    apps_v1.create_namespaced_deployment(env.env.namespace, managed_deployment(name, replicas, cpu))
    return env.env.wait(lambda: len(p := running(pods_of(core_v1, env.env.namespace, name))) == replicas and p,
                        60, f"{replicas} pods of {name} Running")


def test_pending_pods_get_one_ec2_node_and_scale_down_terminates_it(aws_env, apps_v1, core_v1):
    env = aws_env
    daemon = env.start({"scaleDown.nodeUnneededDuration": "4s"})
    # when three 1-CPU pods are pending
    pods = _deploy(env, apps_v1, core_v1, "web")
    # then one CreateFleet made one t3a.xlarge, its Node registered, and the pods are bound to it
    (instance,) = env.instances()
    assert instance["InstanceType"] == BIN_PACK_TYPE and env.cloud.faults.calls["CreateFleet"] == 1
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["smart-autoscaler.io/cluster"] == CLUSTER and tags["smart-autoscaler.io/node-type"] == "bin-pack"
    (node,) = env.env.managed_nodes()
    zone = instance["Placement"]["AvailabilityZone"]
    assert node.spec.provider_id == f"aws:///{zone}/{instance['InstanceId']}"
    assert node.metadata.labels[INSTANCE_TYPE_LABEL] == BIN_PACK_TYPE and node.metadata.labels[ROLE_LABEL] == "bin-pack"
    assert {p.spec.node_name for p in pods} == {node.metadata.name}
    # counted once the loop has read the launch's answer (the registrar may be quicker)
    env.env.wait(lambda: daemon.metric("smart_autoscaler_scale_ups_total", instance_type=BIN_PACK_TYPE) == 1, 30,
                 "scale-up counted")
    # when the pods go, the node is drained, its instance terminated and the Node deleted
    apps_v1.patch_namespaced_deployment_scale("web", env.env.namespace, {"spec": {"replicas": 0}})
    env.env.wait(lambda: not env.instances(), 60, "instance terminated")
    env.env.wait(lambda: not env.env.managed_nodes(), 30, "node deleted")
    assert env.cloud.faults.calls["TerminateInstances"] >= 1
    # the removal is counted once the loop has read the termination's answer
    env.env.wait(lambda: daemon.metric("smart_autoscaler_scale_downs_total") == 1, 30, "scale-down counted")


def test_a_stockout_of_the_cheapest_type_gets_the_next_offering_in_the_same_loop(aws_env, apps_v1, core_v1):
    env = aws_env
    env.cloud.faults.stocked_out.add(BIN_PACK_TYPE)
    daemon = env.start()
    pods = _deploy(env, apps_v1, core_v1, "web")
    (instance,) = env.instances()
    (node,) = env.env.managed_nodes()
    # one CreateFleet: the cheapest type's override failed inside the fleet, and EC2 delivered
    # the next equivalent override of the same request
    assert env.cloud.faults.calls["CreateFleet"] == 1
    assert instance["InstanceType"] != BIN_PACK_TYPE
    assert node.metadata.labels[INSTANCE_TYPE_LABEL] == instance["InstanceType"]
    assert {p.spec.node_name for p in pods} == {node.metadata.name}
    # the override EC2 passed over is backed off, and said so
    env.env.wait(lambda: daemon.metric("smart_autoscaler_launch_failures_total", kind="insufficient-capacity") >= 1,
                 30, "the passed-over offering counted")
    lines = [line for line in daemon.log_text().splitlines() if "launch-failed:" in line or "launch: launched" in line]
    assert any(f"backed off {BIN_PACK_TYPE}/on-demand" in line for line in lines if "launch-failed:" in line)
    assert sum("launch: launched" in line for line in lines) == 1 and instance["InstanceId"] in lines[-1]


def test_a_daemon_killed_between_launch_and_registration_neither_duplicates_nor_leaks(aws_env, apps_v1, core_v1):
    env = aws_env
    env.registrar.pause()  # the kubelet is still booting
    first = env.start(name="first")
    apps_v1.create_namespaced_deployment(env.env.namespace, managed_deployment("web", 3, "1"))
    env.env.wait(lambda: len(env.instances()) == 1, 40, "one instance launched")
    first.kill(signal.SIGKILL)
    env.env.killed(first)
    second = env.start(name="second")
    env.registrar.resume()
    pods = env.env.wait(lambda: len(p := running(pods_of(core_v1, env.env.namespace, "web"))) == 3 and p, 60, "pods Running")
    (instance,) = env.instances()
    assert env.cloud.faults.calls["CreateFleet"] == 1
    (node,) = env.env.managed_nodes()
    assert node.spec.provider_id.endswith(instance["InstanceId"]) and {p.spec.node_name for p in pods} == {node.metadata.name}
    env.env.hold(4, lambda: (len(env.instances()) == 1) or (_ for _ in ()).throw(AssertionError("second instance")))
    assert second.metric("smart_autoscaler_scale_ups_total") == 0  # adopted, not launched again
    assert os.path.exists(first.log_path)


# ---- spot interruptions (SQS + EC2 in the same moto_server: moto's state is one per process)
#
# Given three 1-CPU web pods (a PodDisruptionBudget allows one down at a time) on a spot
# t3a.xlarge, when EventBridge puts an "EC2 Spot Instance Interruption Warning" for it in the
# queue (twice, with a malformed message between), then: the node is tainted, one replacement is
# launched (one more CreateFleet, not two), the pods are evicted through the Eviction API and run
# on the replacement before EC2 would reclaim the old instance (two minutes after the event), and
# the queue is empty (handled messages deleted, the malformed one dropped).

QUEUE = "e2e-interruptions"
TAINT = "smart-autoscaler.io/interrupted"


@pytest.fixture
def spot_env(autoscaler, moto_cloud, core_v1):
    env = AwsEnv(autoscaler, moto_cloud, core_v1)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_cloud.endpoint)
    env.queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    env.sqs = sqs
    try:
        yield env
    finally:
        env.close()
        sqs.delete_queue(QueueUrl=env.queue_url)


def warning(instance_id: str, event_id: str) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({
        "version": "0", "id": event_id, "detail-type": "EC2 Spot Instance Interruption Warning", "source": "aws.ec2",
        "account": "123456789012", "time": now, "region": REGION,
        "resources": [f"arn:aws:ec2:{REGION}a:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "instance-action": "terminate"},
    })


def test_an_interrupted_spot_node_is_replaced_and_its_pods_moved_before_ec2_reclaims_it(spot_env, apps_v1, core_v1, policy_v1):
    env = spot_env
    namespace = env.env.namespace
    daemon = env.start({"binPackingNodePricing": "spot", "aws": {"amiIdGeneric": "ami-0123456789abcdef0",
                                                                   "livePrices": False, "interruptionQueue": QUEUE}})
    policy_v1.create_namespaced_pod_disruption_budget(namespace, {
        "metadata": {"name": "web"}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
    })
    pods = _deploy(env, apps_v1, core_v1, "web")
    (instance,) = env.instances()
    assert instance.get("InstanceLifecycle") == "spot" or any(
        t["Key"] == "smart-autoscaler.io/capacity-type" and t["Value"] == "spot" for t in instance["Tags"]
    )
    (old,) = env.env.managed_nodes()
    assert {p.spec.node_name for p in pods} == {old.metadata.name}
    fleets_before = env.cloud.faults.calls["CreateFleet"]
    # when the warning arrives, twice, with a malformed message between
    noticed = time.monotonic()
    for body in (warning(instance["InstanceId"], "e2e-1"), "{not json", warning(instance["InstanceId"], "e2e-1")):
        env.sqs.send_message(QueueUrl=env.queue_url, MessageBody=body)
    # then the node is tainted, and its pods run on one replacement before two minutes are up
    env.env.wait(lambda: any(t.key == TAINT for t in (core_v1.read_node(old.metadata.name).spec.taints or [])),
                 30, "interrupted node tainted")
    moved = env.env.wait(
        lambda: len(p := running(pods_of(core_v1, namespace, "web"))) == 3
        and old.metadata.name not in {x.spec.node_name for x in p} and p,
        110, "pods running off the interrupted node",
    )
    assert time.monotonic() - noticed < 120
    (replacement,) = {p.spec.node_name for p in moved}
    assert env.cloud.faults.calls["CreateFleet"] == fleets_before + 1  # one replacement, not one per delivery
    assert replacement != old.metadata.name
    # EC2 reclaims the instance now; nothing is left pending
    env.ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    env.registrar.sync()
    env.env.wait(lambda: daemon.metric("smart_autoscaler_interruption_notices_total", cloud="aws", kind="spot-interruption") == 1,
                 30, "the notice counted once")
    assert daemon.metric("smart_autoscaler_interruption_notices_total", cloud="aws", kind="malformed") == 1
    env.env.wait(lambda: queue_depth(env) == 0, 30, "queue emptied")


def queue_depth(env) -> int:
    attributes = env.sqs.get_queue_attributes(
        QueueUrl=env.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
