"""EC2 interruption notices read from SQS (moto in-process), in the shapes EventBridge delivers.

The event bodies follow the EC2 User Guide's published examples (spot interruption warning,
rebalance recommendation, instance state-change) and the AWS Health EventBridge example
(scheduledChange with affectedEntities); the queue is a real SQS queue in moto."""

from __future__ import annotations

import json

import boto3

from providers.interruptions import REBALANCE_RECOMMENDATION, SCHEDULED_CHANGE, SPOT_INTERRUPTION, STATE_CHANGE
from tests.providers.aws.conftest import REGION

QUEUE = "demo-interruptions"


def event(detail_type: str, detail: dict, event_id: str = "7bf73129-1428-4cd3-a780-95db273d1602",
          source: str = "aws.ec2", time: str = "2026-12-06T20:00:00Z") -> str:
    return json.dumps({
        "version": "0", "id": event_id, "detail-type": detail_type, "source": source, "account": "123456789012",
        "time": time, "region": REGION, "resources": [f"arn:aws:ec2:{REGION}:instance/i-1234567890abcdef0"],
        "detail": detail,
    })


def spot_warning(instance: str = "i-1234567890abcdef0", event_id: str = "e-1") -> str:
    return event("EC2 Spot Instance Interruption Warning", {"instance-id": instance, "instance-action": "terminate"}, event_id)


def queue_with(*bodies: str) -> tuple[object, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    return sqs, url


def messages_left(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_spot_interruption_warning_names_the_instance_and_a_deadline_two_minutes_after_the_event(aws):
    sqs, url = queue_with(spot_warning())
    provider = aws.provider(interruptionQueue=QUEUE)
    [notice] = provider.interruption_notices().notices
    assert (notice.kind, notice.instance_id, notice.notice_id) == (SPOT_INTERRUPTION, "i-1234567890abcdef0", "e-1")
    assert notice.deadline == 1796587200.0 + 120  # 2026-12-06T20:00:00Z + 2 min
    # the message stays in the queue until the loop says it acted on it, then it is deleted
    assert messages_left(sqs, url) == 1
    provider.interruption_notices((notice.receipt,))
    assert messages_left(sqs, url) == 0


def test_rebalance_state_change_and_health_events_are_told_apart(aws):
    health = event(
        "AWS Health Event",
        {"eventArn": "arn:aws:health:us-west-2::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/x", "service": "EC2",
         "eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", "eventTypeCategory": "scheduledChange",
         "startTime": "Sun, 06 Dec 2026 22:00:00 GMT",
         "affectedEntities": [{"entityValue": "i-0aaa"}, {"entityValue": "i-0bbb"}]},
        event_id="h-1", source="aws.health",
    )
    sqs, url = queue_with(
        event("EC2 Instance Rebalance Recommendation", {"instance-id": "i-0ccc"}, "r-1"),
        event("EC2 Instance State-change Notification", {"instance-id": "i-0ddd", "state": "stopping"}, "s-1"),
        event("EC2 Instance State-change Notification", {"instance-id": "i-0eee", "state": "running"}, "s-2"),
        health,
    )
    batch = aws.provider(interruptionQueue=url).interruption_notices()
    kinds = sorted((n.kind, n.instance_id) for n in batch.notices)
    assert kinds == [
        (REBALANCE_RECOMMENDATION, "i-0ccc"), (SCHEDULED_CHANGE, "i-0aaa"), (SCHEDULED_CHANGE, "i-0bbb"), (STATE_CHANGE, "i-0ddd"),
    ]
    [retirement] = [n for n in batch.notices if n.instance_id == "i-0aaa"]
    assert retirement.deadline == 1796594400.0  # the scheduled change's start
    assert messages_left(sqs, url) == 3  # the "running" event needed nothing and was deleted at once


def test_a_malformed_message_is_reported_and_deleted_and_the_others_still_read(aws):
    sqs, url = queue_with("not json", json.dumps({"detail-type": "EC2 Spot Instance Interruption Warning"}), spot_warning())
    batch = aws.provider(interruptionQueue=QUEUE).interruption_notices()
    assert [n.instance_id for n in batch.notices] == ["i-1234567890abcdef0"]
    assert len(batch.malformed) == 2 and any("not JSON" in m for m in batch.malformed)
    assert messages_left(sqs, url) == 1


def test_without_a_queue_there_are_no_notices_and_no_sqs_call(aws):
    assert aws.provider().interruption_notices().notices == ()


def test_a_missing_queue_is_a_clear_provider_error(aws):
    import pytest

    from providers.base import ProviderError

    with pytest.raises(ProviderError, match="no-such-queue"):
        aws.provider(interruptionQueue="no-such-queue").interruption_notices()
