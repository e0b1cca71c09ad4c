"""EC2 answers -> Instances: what CreateFleet delivered (or the typed failure of every
override when it delivered nothing), and DescribeInstances items."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable

from pricing.types import SPOT
from providers.aws.errors import ErrorContext, combined_failure, provider_error
from providers.base import TAG_REQUEST, Instance, LaunchRequest, ProviderError

log = logging.getLogger("smart_autoscaler.providers.aws")
_STATES = {"pending": "pending", "running": "running", "shutting-down": "terminating", "stopping": "terminating",
           "stopped": "terminating", "terminated": "terminated"}


def fleet_outcome(
    request: LaunchRequest,
    response: dict,
    zone_of_subnet: dict[str, str],
    region: str,
    known_types: frozenset[str],
    tags: dict[str, str],
    now: float,
    describe_zone: Callable[[str], str],
) -> Instance:
    """The instance an instant fleet delivered; raises the combined typed failure when none."""
    errors = []
    for item in response.get("Errors", []):
        override = (item.get("LaunchTemplateAndOverrides") or {}).get("Overrides") or {}
        zone = override.get("AvailabilityZone") or zone_of_subnet.get(override.get("SubnetId", ""))
        capacity = SPOT if item.get("Lifecycle") == "spot" else request.capacity_type
        context = ErrorContext(override.get("InstanceType") or request.instance_type.name, capacity, zone, region, known_types)
        errors.append(provider_error(item.get("ErrorCode", "Unknown"), item.get("ErrorMessage", ""), context))
    delivered = [item for item in response.get("Instances", []) if item.get("InstanceIds")]
    if not delivered:
        if not errors:
            raise ProviderError("CreateFleet returned neither an instance nor an error", code="EmptyFleet")
        raise combined_failure(errors)
    item = delivered[0]
    instance_id = item["InstanceIds"][0]
    override = (item.get("LaunchTemplateAndOverrides") or {}).get("Overrides") or {}
    zone = override.get("AvailabilityZone") or zone_of_subnet.get(override.get("SubnetId", ""), "") or describe_zone(instance_id)
    for err in errors:
        log.info("CreateFleet skipped an override for request %s: %s", request.request_id, err)
    return Instance(
        instance_id=instance_id,
        provider_id=f"aws:///{zone}/{instance_id}",
        instance_type=item.get("InstanceType") or request.instance_type.name,
        capacity_type=SPOT if item.get("Lifecycle") == "spot" else "on-demand",
        zone=zone,
        state="pending",
        launched_at=now,
        request_id=request.request_id,
        tags=tags,
        skipped=tuple(errors),
    )


def instance_from_ec2(item: dict[str, Any]) -> Instance:
    tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
    zone = (item.get("Placement") or {}).get("AvailabilityZone", "")
    launched = item.get("LaunchTime")
    return Instance(
        instance_id=item["InstanceId"],
        provider_id=f"aws:///{zone}/{item['InstanceId']}",
        instance_type=item.get("InstanceType", ""),
        capacity_type=SPOT if item.get("InstanceLifecycle") == "spot" else "on-demand",
        zone=zone,
        state=_STATES.get((item.get("State") or {}).get("Name", ""), "pending"),
        launched_at=launched.timestamp() if isinstance(launched, datetime) else 0.0,
        request_id=tags.get(TAG_REQUEST, ""),
        tags=tags,
    )
