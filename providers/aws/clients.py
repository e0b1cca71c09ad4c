"""boto3 clients: credentials only from the SDK's standard chain, retries and a timeout on
every call.

Credentials come from boto3's default chain (env, web identity / IRSA, EKS Pod Identity
container credentials, shared config, instance profile); nothing here reads, stores or logs
a key. Endpoints may be redirected the SDK's way (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_EC2, ...),
which is how the tests point the provider at moto_server. One boto3 Session per provider,
one client per service created once under a lock (Session objects are not thread-safe;
clients are), shared by the launch executor's threads.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

# The Price List API answers from a few regions only; us-east-1 serves every region's prices.
PRICING_REGION = "us-east-1"
MAX_ATTEMPTS = 5


def botocore_config(timeout: float, max_pool: int = 20) -> BotoConfig:
    return BotoConfig(
        retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=min(5.0, timeout),
        read_timeout=timeout,
        max_pool_connections=max_pool,
        user_agent_extra="smart-autoscaler",
    )


class AwsClients:
    def __init__(self, region: str, timeout: float = 20.0, session: Any = None) -> None:
        self.region = region
        self.timeout = timeout
        self._session = session or boto3.session.Session(region_name=region)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str | None = None) -> Any:
        key = f"{service}@{region or self.region}"
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service, region_name=region or self.region, config=botocore_config(self.timeout)
                )
            return self._clients[key]

    @property
    def ec2(self) -> Any:
        return self.client("ec2")

    @property
    def eks(self) -> Any:
        return self.client("eks")

    @property
    def ssm(self) -> Any:
        return self.client("ssm")

    @property
    def pricing(self) -> Any:
        return self.client("pricing", PRICING_REGION)
