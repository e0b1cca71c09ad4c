"""EC2 interruption notices from an SQS queue that EventBridge rules feed (`aws.interruptionQueue`).

The events follow the EventBridge envelope (`id`, `detail-type`, `source`, `time`, `detail`) as
the EC2 and AWS Health documentation publishes them:

* "EC2 Spot Instance Interruption Warning" (source aws.ec2): `detail.instance-id`,
  `detail.instance-action` (terminate | stop | hibernate); the instance goes two minutes after
  the event's `time` (EC2 User Guide, "Spot Instance interruption notices");
* "EC2 Instance Rebalance Recommendation" (aws.ec2): `detail.instance-id`; an elevated risk,
  no deadline (EC2 User Guide, "EC2 instance rebalance recommendations");
* "EC2 Instance State-change Notification" (aws.ec2): `detail.instance-id`, `detail.state`;
  stopping, stopped, shutting-down and terminated end the node now (EC2 User Guide, "Instance
  state change events");
* "AWS Health Event" (aws.health): `detail.service` EC2, `detail.eventTypeCategory`
  scheduledChange, `detail.affectedEntities[].entityValue` the instance ids, `detail.startTime`
  when the change starts (AWS Health User Guide, "Monitoring AWS Health events with EventBridge").

Karpenter's AWS provider reads the same four from its interruption queue. A message is deleted
only after the loop acted on it (its receipt handle comes back in `handled`); a message that is
not such an event is logged, deleted and reported as malformed.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from providers.aws.errors import ErrorContext, provider_error
from providers.base import ProviderError
from providers.interruptions import (
    REBALANCE_RECOMMENDATION,
    SCHEDULED_CHANGE,
    SPOT_INTERRUPTION,
    STATE_CHANGE,
    InterruptionNotice,
    NoticeBatch,
)

log = logging.getLogger("smart_autoscaler.providers.aws.interruptions")

SPOT_WARNING_SECONDS = 120.0
ENDING_STATES = frozenset({"stopping", "stopped", "shutting-down", "terminated"})
MAX_BATCHES = 10  # ten receives of ten messages a loop at the most; the rest waits for the next loop


class MalformedMessage(ValueError):
    pass


def _epoch(value: Any, what: str) -> float:
    if not isinstance(value, str):
        raise MalformedMessage(f"{what} is not a timestamp: {value!r:.40}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        pass
    try:  # AWS Health writes its times as RFC 1123 dates ("Wed, 31 Jan 2024 21:00:00 GMT")
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        raise MalformedMessage(f"{what} is not a timestamp: {value!r:.40}") from None


def _text(mapping: Any, key: str, what: str) -> str:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if not isinstance(value, str) or not value:
        raise MalformedMessage(f"{what} has no {key}")
    return value


def notices_from_event(body: str, receipt: str) -> list[InterruptionNotice]:
    """The notices one EventBridge event in an SQS message body says; [] for an event of
    another kind (e.g. an instance starting); MalformedMessage when it is no such event."""
    try:
        event = json.loads(body)
    except (TypeError, ValueError):
        raise MalformedMessage("body is not JSON") from None
    if not isinstance(event, dict):
        raise MalformedMessage("body is not a JSON object")
    kind = _text(event, "detail-type", "event")
    event_id = _text(event, "id", "event")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedMessage(f"{kind} event {event_id} has no detail object")
    at = _epoch(event.get("time"), f"{kind} event {event_id} time")
    if kind == "EC2 Spot Instance Interruption Warning":
        instance = _text(detail, "instance-id", "detail")
        action = detail.get("instance-action", "terminate")
        return [InterruptionNotice(event_id, SPOT_INTERRUPTION, instance, at + SPOT_WARNING_SECONDS,
                                   f"EC2 Spot Instance Interruption Warning ({action})", receipt)]
    if kind == "EC2 Instance Rebalance Recommendation":
        instance = _text(detail, "instance-id", "detail")
        return [InterruptionNotice(event_id, REBALANCE_RECOMMENDATION, instance, None,
                                   "EC2 Instance Rebalance Recommendation", receipt)]
    if kind == "EC2 Instance State-change Notification":
        instance, state = _text(detail, "instance-id", "detail"), _text(detail, "state", "detail")
        if state not in ENDING_STATES:
            return []
        return [InterruptionNotice(event_id, STATE_CHANGE, instance, at, f"EC2 instance {state}", receipt)]
    if kind == "AWS Health Event":
        if detail.get("service") != "EC2" or detail.get("eventTypeCategory") != "scheduledChange":
            return []
        entities = detail.get("affectedEntities")
        if not isinstance(entities, list):
            raise MalformedMessage(f"AWS Health event {event_id} has no affectedEntities list")
        starts = _epoch(detail["startTime"], "startTime") if "startTime" in detail else at
        what = f"AWS Health scheduled change {detail.get('eventTypeCode', '')}".strip()
        ids = [e.get("entityValue") for e in entities if isinstance(e, dict)]
        return [
            InterruptionNotice(f"{event_id}/{instance}", SCHEDULED_CHANGE, instance, starts, what, receipt)
            for instance in ids if isinstance(instance, str) and instance.startswith("i-")
        ]
    return []


class SqsNotices:
    """Reads and deletes the queue's messages; the queue is named by name or URL."""

    def __init__(self, clients: Any, queue: str, region: str) -> None:
        self.clients = clients
        self.queue = queue
        self.region = region
        self._url = queue if queue.startswith(("https://", "http://")) else ""

    @property
    def sqs(self) -> Any:
        return self.clients.client("sqs")

    def read(self, handled: tuple[str, ...]) -> NoticeBatch:
        try:
            url = self._queue_url()
            self._delete(url, handled)
            notices: list[InterruptionNotice] = []
            malformed: list[str] = []
            for _ in range(MAX_BATCHES):
                messages = self.sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["SentTimestamp"],
                ).get("Messages", [])
                for message in messages:
                    receipt = message.get("ReceiptHandle", "")
                    try:
                        notices += notices_from_event(message.get("Body", ""), receipt)
                    except MalformedMessage as err:
                        malformed.append(f"{message.get('MessageId', '?')}: {err}")
                        self._delete(url, (receipt,))
                        continue
                    if not any(n.receipt == receipt for n in notices):
                        self._delete(url, (receipt,))  # an event that needs nothing: done with it
                if len(messages) < 10:
                    break
            return NoticeBatch(tuple(notices), tuple(malformed))
        except ClientError as err:
            error = err.response.get("Error", {})
            raise provider_error(
                error.get("Code", "Unknown"), f"SQS {self.queue}: {error.get('Message', '')}",
                ErrorContext("", "", None, self.region),
            ) from None
        except BotoCoreError as err:
            raise ProviderError(f"SQS {self.queue} failed: {err}", code=type(err).__name__) from None

    def _queue_url(self) -> str:
        if not self._url:
            self._url = self.sqs.get_queue_url(QueueName=self.queue)["QueueUrl"]
        return self._url

    def _delete(self, url: str, receipts: tuple[str, ...]) -> None:
        for start in range(0, len(receipts), 10):
            chunk = [r for r in receipts[start:start + 10] if r]
            if not chunk:
                continue
            answer = self.sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)],
            )
            for failed in answer.get("Failed", []):
                log.warning("deleting an interruption message from %s failed: %s", self.queue, failed.get("Message", failed))
