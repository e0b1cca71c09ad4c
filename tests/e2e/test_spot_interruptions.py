"""A spot interruption end to end: moto_server (SQS and EC2) as the AWS account, the real
control plane, the daemon with `--provider aws` and `aws.interruptionQueue`.

Given three 1-CPU web pods (a PodDisruptionBudget allows one down at a time) on a spot
t3a.xlarge, when EventBridge puts an "EC2 Spot Instance Interruption Warning" for it in the
queue (twice, with a malformed message between), then: the node is tainted, one replacement is
launched (one more CreateFleet, not two), the pods are evicted through the Eviction API and
run on the replacement before EC2 would reclaim the old instance (two minutes after the
event), and the queue is empty (handled messages deleted, the malformed one dropped).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest

from tests.e2e.daemon_helpers import pods_of, running
from tests.e2e.test_aws_provider import CLUSTER, REGION, AwsEnv, _deploy, moto_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e
boto3 = pytest.importorskip("boto3")

QUEUE = "e2e-interruptions"
TAINT = "smart-autoscaler.io/interrupted"


@pytest.fixture
def spot_env(autoscaler, moto_cloud, core_v1):  # noqa: F811 - moto_cloud is the imported fixture
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
