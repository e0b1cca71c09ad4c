"""AwsProvider: launch, terminate and list the cluster's EC2 instances (providers/base.py).

Thread-safe: the launch executor calls it from several threads; boto3 clients are shared
(they are thread-safe), caches take a lock. Every SDK failure becomes a typed ProviderError
(errors.py); nothing is left behind by a launch that fails.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pricing.catalog import raw_catalog
from providers.aws.clients import AwsClients
from providers.aws.discovery import Discovery, _paginate
from providers.aws.errors import ErrorContext, provider_error
from providers.aws.instances import fleet_outcome, instance_from_ec2
from providers.aws.interruptions import SqsNotices
from providers.aws.launch import NAME_TAG, LaunchTemplates, candidates, fleet_request, shared_labels
from providers.aws.maxpods import MaxPods
from providers.aws.prices import LivePrices
from providers.base import (
    TAG_CAPACITY,
    TAG_CLUSTER,
    TAG_REQUEST,
    TAG_ROLE,
    Instance,
    InsufficientCapacity,
    LaunchRequest,
    ProviderError,
)
from providers.interruptions import NoticeBatch
from providers.live_prices import LivePriceMethods

log = logging.getLogger("smart_autoscaler.providers.aws")
NOT_FOUND_CODES = frozenset({"InvalidInstanceID.NotFound"})
TEMPLATE_GC_INTERVAL = 600.0  # seconds between looks for unused launch templates


class AwsProvider(LivePriceMethods):  # live_catalog, price_ages, close: see providers/live_prices.py
    name = "aws"

    def __init__(self, config: Any, clock: Any = None, clients: AwsClients | None = None, start_prices: bool = True) -> None:
        self.config = config
        self.settings = config.aws
        self.region = config.region
        self.cluster_name = config.cluster_name
        self.clock = clock
        self.clients = clients or AwsClients(config.region, config.aws.api_timeout)
        self.discovery = Discovery(self.clients, self.settings, self.cluster_name)
        self.max_pods = MaxPods(self.clients.ec2, config.max_pods_per_node, listed=lambda: self.prices.figure("max-pods"))
        self.templates = LaunchTemplates(
            self.clients, self.discovery, self.settings, self.cluster_name, self.max_pods.for_type, self._now
        )
        self._next_template_gc = 0.0
        self.known_types = frozenset(spec["name"] for spec in raw_catalog("aws")["instance_types"])
        self.prices = LivePrices(self.clients, config, clock, subnet_zones=lambda: frozenset(self.discovery.subnets_by_zone()))
        self._start_prices = start_prices  # the refresher starts with the first live_catalog call
        # EC2 answers a repeated ClientToken with the first answer, a failure included: after a
        # fleet that delivered nothing, the same launch attempt asks again under a new token.
        self._failed_attempts: dict[str, int] = {}
        self._attempts_lock = threading.Lock()
        queue = self.settings.interruption_queue
        self.notices = SqsNotices(self.clients, queue, self.region) if queue else None

    # ---- Provider

    def launch(self, request: LaunchRequest) -> Instance:
        existing = self._find_by_request(request.request_id)
        if existing is not None:  # the same attempt already launched (a retry, a restart)
            return existing
        context = ErrorContext(request.instance_type.name, request.capacity_type, None, self.region, self.known_types)
        try:
            subnets = self.discovery.subnets_by_zone()
            overrides = candidates(request, subnets, self.discovery.ami_for)
            if not overrides:
                zones = ", ".join(request.zones) or "any zone"
                raise InsufficientCapacity(
                    f"no subnet with free addresses in {zones} (aws.subnets or subnets tagged "
                    f"kubernetes.io/cluster/{self.cluster_name} / karpenter.sh/discovery={self.cluster_name})",
                    code="NoSubnet",
                    zone=request.zones[0] if len(request.zones) == 1 else "",
                )
            configs = self.templates.configs(request, overrides, shared_labels(request), self._template_tags(request))
            body = fleet_request(request, configs, self._tags(request))
            body["ClientToken"] = self._client_token(request.request_id)
            response = self.clients.ec2.create_fleet(**body)
        except ClientError as err:
            raise self._client_error(err, context) from None
        except BotoCoreError as err:  # timeouts, connection errors: a retry reuses the token
            raise ProviderError(f"EC2 call failed: {err}", code=type(err).__name__) from None
        try:
            return fleet_outcome(
                request,
                response,
                {c.subnet.subnet_id: c.subnet.zone for c in overrides},
                self.region,
                self.known_types,
                self._tags(request),
                self.clock.now() if self.clock else time.time(),
                self._describe_zone,
            )
        except ProviderError as err:
            with self._attempts_lock:
                self._failed_attempts[request.request_id] = self._failed_attempts.get(request.request_id, 0) + 1
            if any(e.code == "InsufficientFreeAddressesInSubnet" for e in getattr(err, "errors", (err,))):
                self.discovery.forget_subnets()  # look for subnets with free addresses again
            raise

    def _client_token(self, request_id: str) -> str:
        with self._attempts_lock:
            failed = self._failed_attempts.get(request_id, 0)
        return request_id[:60] if not failed else f"{request_id[:56]}-{failed}"

    def terminate(self, instance_id: str) -> None:
        """Terminate the instance if its tags name this cluster; another cluster's instance (or
        one already gone) is left alone."""
        try:
            if not self._owned_instances({"Name": "instance-id", "Values": [instance_id]}):
                log.info("not terminating %s: no live instance tagged %s=%s", instance_id, TAG_CLUSTER, self.cluster_name)
                return
            self.clients.ec2.terminate_instances(InstanceIds=[instance_id])
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in NOT_FOUND_CODES:
                return  # already gone
            raise self._client_error(err, ErrorContext("", "", None, self.region)) from None
        except BotoCoreError as err:
            raise ProviderError(f"TerminateInstances {instance_id} failed: {err}", code=type(err).__name__) from None

    def interruption_notices(self, handled: tuple[str, ...] = ()) -> NoticeBatch:
        """Spot interruption warnings, rebalance recommendations, state changes and AWS Health
        scheduled changes from `aws.interruptionQueue` (providers/aws/interruptions.py)."""
        return self.notices.read(handled) if self.notices is not None else NoticeBatch()

    def list_instances(self) -> list[Instance]:
        self._collect_templates()
        try:
            return self._owned_instances()
        except ClientError as err:
            raise self._client_error(err, ErrorContext("", "", None, self.region)) from None
        except BotoCoreError as err:
            raise ProviderError(f"DescribeInstances failed: {err}", code=type(err).__name__) from None

    def _owned_instances(self, *filters: dict) -> list[Instance]:
        """Live instances tagged for this cluster (every page), narrowed by `filters`."""
        reservations = _paginate(
            self.clients.ec2,
            "describe_instances",
            "Reservations",
            Filters=[
                {"Name": f"tag:{TAG_CLUSTER}", "Values": [self.cluster_name]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
                *filters,
            ],
        )
        return [instance_from_ec2(item) for reservation in reservations for item in reservation.get("Instances", [])]

    # ---- helpers

    def _now(self) -> float:
        return self.clock.now() if self.clock is not None else time.time()

    def _collect_templates(self) -> None:
        """Now and then (the loop lists every few seconds), delete unused generated templates."""
        now = self._now()
        if self.settings.launch_template or now < self._next_template_gc:
            return
        self._next_template_gc = now + TEMPLATE_GC_INTERVAL
        try:
            self.templates.collect_garbage()
        except (ClientError, BotoCoreError) as err:
            log.warning("listing launch templates to delete unused ones failed (trying again later): %s", err)

    def _tags(self, request: LaunchRequest) -> dict[str, str]:
        return {
            **dict(self.settings.tags),
            **self._template_tags(request),
            **request.tags,
            TAG_REQUEST: request.request_id,
        }

    def _template_tags(self, request: LaunchRequest) -> dict[str, str]:
        """Tags on instance, volumes and network interfaces (the launch template's): everything
        but the request id, which is on the instance (a template is shared by requests)."""
        role = request.tags.get(TAG_ROLE, "")
        return {
            **dict(self.settings.tags),
            TAG_CLUSTER: self.cluster_name,
            TAG_ROLE: role,
            TAG_CAPACITY: request.capacity_type,
            f"kubernetes.io/cluster/{self.cluster_name}": "owned",
            NAME_TAG: f"{self.cluster_name}-{role or 'node'}",
        }

    def _find_by_request(self, request_id: str) -> Instance | None:
        try:
            found = self._owned_instances({"Name": f"tag:{TAG_REQUEST}", "Values": [request_id]})
        except (ClientError, BotoCoreError) as err:
            log.warning("looking up instances of request %s failed (launching; ClientToken keeps it single): %s", request_id, err)
            return None
        return found[0] if found else None

    def _describe_zone(self, instance_id: str) -> str:
        try:
            reservations = self.clients.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
            return reservations[0]["Instances"][0]["Placement"]["AvailabilityZone"]
        except (ClientError, BotoCoreError, LookupError):
            return ""

    def _client_error(self, err: ClientError, context: ErrorContext) -> ProviderError:
        error = err.response.get("Error", {})
        code = error.get("Code", "Unknown")
        if code == "InsufficientFreeAddressesInSubnet":
            self.discovery.forget_subnets()
        operation = getattr(err, "operation_name", "")
        message = f"{operation}: {error.get('Message', '')}" if operation else error.get("Message", "")
        return provider_error(code, message, context)
