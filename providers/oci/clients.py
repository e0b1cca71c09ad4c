"""The `oci` SDK clients the provider uses, with its credentials, timeouts and retry rules.

Credentials come only from OCI's own mechanisms: instance principals (the node's dynamic
group), OKE workload identity (the pod's service account), or an API key profile in
~/.oci/config; none is logged. `none` sends unsigned requests and is accepted only for a
loopback endpoint (tests). Writes are never retried by the SDK: its default strategy retries
5xx answers, which would hide OCI's 500 "Out of host capacity" stock-outs and turn one launch
into several; reads retry 429 and connection failures a few times within the call timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from autoscaler.config import OciConfig


@dataclass
class OciClients:
    container_engine: Any
    identity: Any
    read_retry: Any  # oci.retry strategy for GET calls
    write_retry: Any  # oci.retry.NoneRetryStrategy
    compute: Any = None  # oci.core.ComputeClient: reads preempted instances (providers/oci/preemptions.py)


def _is_loopback(endpoint: str) -> bool:
    host = urlparse(endpoint).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _signer_and_config(oci: Any, settings: OciConfig, region: str) -> tuple[Any, dict[str, Any]]:
    try:
        return _credentials(oci, settings, region)
    except ValueError:
        raise
    except Exception as err:  # the SDK's own errors: say which method failed, without a traceback
        hint = {
            "instance_principal": " (is the daemon on an OCI instance of a dynamic group the policies name?)",
            "workload_identity": " (is it an OKE pod with OCI_RESOURCE_PRINCIPAL_VERSION=2.2 and OCI_RESOURCE_PRINCIPAL_REGION set?)",
            "api_key": f" (is profile {settings.config_profile} in ~/.oci/config complete?)",
        }.get(settings.auth_method, "")
        raise ValueError(f"oci.authMethod {settings.auth_method}: no credentials: {type(err).__name__}: {err}{hint}") from None


def _credentials(oci: Any, settings: OciConfig, region: str) -> tuple[Any, dict[str, Any]]:
    method = settings.auth_method
    if method == "instance_principal":
        return oci.auth.signers.InstancePrincipalsSecurityTokenSigner(), {"region": region}
    if method == "workload_identity":
        return oci.auth.signers.get_oke_workload_identity_resource_principal_signer(), {"region": region}
    if method == "api_key":
        config = oci.config.from_file(profile_name=settings.config_profile)
        config.setdefault("region", region)
        return None, config
    if not (settings.service_endpoint and _is_loopback(settings.service_endpoint)):
        raise ValueError("oci.authMethod none (a throwaway key) needs oci.serviceEndpoint on a loopback address")
    return None, _throwaway_key_config(region)


def _throwaway_key_config(region: str) -> dict[str, Any]:
    """An API-key config with a key made here and now: requests are signed the SDK's real way,
    for a local endpoint that checks no signature."""
    return {**_throwaway_key(), "region": region}


@lru_cache(maxsize=1)
def _throwaway_key() -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "user": "ocid1.user.oc1..localtest",
        "tenancy": "ocid1.tenancy.oc1..localtest",
        "fingerprint": ":".join(["00"] * 16),
        "key_content": pem.decode(),
    }


def make_clients(settings: OciConfig, region: str, signer: Any = None) -> OciClients:
    import oci  # the optional dependency, imported only when the OCI provider is built

    if signer is not None:
        config: dict[str, Any] = {"region": region}
    else:
        signer, config = _signer_and_config(oci, settings, region)
    timeout = (min(10.0, settings.call_timeout), settings.call_timeout)
    none = oci.retry.NoneRetryStrategy()
    common: dict[str, Any] = {"timeout": timeout, "retry_strategy": none}
    if signer is not None:
        common["signer"] = signer
    engine = oci.container_engine.ContainerEngineClient(
        config, **common, **({"service_endpoint": settings.service_endpoint} if settings.service_endpoint else {})
    )
    identity_endpoint = settings.identity_endpoint or (settings.service_endpoint if _is_loopback(settings.service_endpoint) else "")
    identity = oci.identity.IdentityClient(
        config, **common, **({"service_endpoint": identity_endpoint} if identity_endpoint else {})
    )
    reads = oci.retry.RetryStrategyBuilder(
        max_attempts_check=True,
        max_attempts=3,
        total_elapsed_time_check=True,
        total_elapsed_time_seconds=max(1, int(settings.call_timeout)),
        retry_max_wait_between_calls_seconds=2,
        retry_base_sleep_time_seconds=0.2,
        service_error_check=True,
        service_error_retry_on_any_5xx=False,
        service_error_retry_config={429: []},
    ).get_retry_strategy()
    compute = oci.core.ComputeClient(
        config, **common, **({"service_endpoint": identity_endpoint} if identity_endpoint else {})
    )
    return OciClients(engine, identity, reads, none, compute)
