"""Configuration: SPEC option names (camelCase, Luna-compatible), validated once at start.

Options may be nested (`scaleDown: {nodeUnneededDuration: 5m}`) or dotted
(`scaleDown.nodeUnneededDuration: 5m`), as Helm values and Luna's ConfigMap write them.
Every invalid value raises ConfigError naming the key and the value.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import yaml

from autoscaler.quantity import QuantityError, parse_count, parse_cpu_millis
from autoscaler.regex import RegexError, compile_user_regex
from pricing.catalog import DEFAULT_REGIONS, CatalogError, check_region
from pricing.types import CAPACITY_TYPES, ON_DEMAND


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ScaleDownConfig:
    enabled: bool = True
    node_unneeded_duration: float = 300.0  # seconds
    bin_pack_node_utilization_threshold: float = 0.1
    max_parallel: int = 2
    drain_timeout: float = 900.0  # a drain whose pods have not gone by then is given up


@dataclass(frozen=True)
class HotNodeConfig:
    enabled: bool = False
    loop_period: float = 60.0
    yellow_cpu: float = 60.0
    yellow_memory: float = 65.0
    red_cpu: float = 80.0
    red_memory: float = 85.0
    green_cpu: float = 10.0
    green_memory: float = 15.0
    # Samples older than this are not acted on (metrics-server's default resolution is 60 s).
    max_metrics_age: float = 150.0


SPOT_ADVISOR_URL = "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json"


@dataclass(frozen=True)
class AwsConfig:
    """`aws.*` options: the AWS provider (providers/aws) and the Spot Instance Advisor."""

    use_spot_advisor: bool = False
    max_spot_interrupt_bucket: int = 4
    max_spot_price_ratio: float = 1.0
    spot_advisor_url: str = SPOT_ADVISOR_URL  # an https:// address or a local file
    launch_template: str = ""  # the operator's template (name or lt-... id); "" = generated
    ami_family: str = "AL2023"  # AL2023 or Bottlerocket (EKS user data)
    ami_id_generic: str = ""  # one AMI for every type (self-managed clusters, or to pin EKS)
    ami_id_generic_arm: str = ""
    ami_id_generic_gpu: str = ""
    user_data_type: str = ""  # "" = EKS bootstrap for ami_family; Template = aws.userData
    user_data: str = ""
    subnets: tuple[str, ...] = ()  # subnet ids; () = discovered by tag
    security_groups: tuple[str, ...] = ()  # security group ids; () = discovered by tag
    node_instance_profile: str = ""
    block_device_mappings: tuple[tuple[tuple[str, Any], ...], ...] = ()  # frozen EC2 API shapes
    tags: tuple[tuple[str, str], ...] = ()
    live_prices: bool = True
    price_refresh_period: float = 600.0
    api_timeout: float = 20.0


@dataclass(frozen=True)
class AzureConfig:
    """`azure.*`: the AKS cluster the provider grows, how its agent pools look, and how long
    Azure's own failures keep an offering out (what the Azure Karpenter provider learned)."""

    subscription_id: str = ""  # default: $AZURE_SUBSCRIPTION_ID
    resource_group: str = ""  # the AKS cluster's resource group
    cluster_name: str = ""  # the AKS cluster's name; default: clusterName
    node_resource_group: str = ""  # default: what the cluster says (MC_...)
    os_disk_size_gb: int = 128
    gpu_os_disk_size_gb: int = 256  # GPU images and drivers need more room
    os_sku: str = "Ubuntu"
    gpu_driver: str = "Install"  # Install: AKS installs the NVIDIA driver; None: the GPU operator does
    vnet_subnet_id: str = ""
    max_pods: int | None = None
    pool_idle_time: float = 600.0  # an empty pool the autoscaler made is deleted after this
    call_timeout: float = 60.0  # every HTTP call
    operation_timeout: float = 900.0  # a long-running operation (scale-out, pool create) end to end
    poll_interval: float = 5.0  # between polls of a long-running operation, unless Azure says (Retry-After)
    # Azure Resource Manager; another cloud's (e.g. https://management.chinacloudapi.cn), or a
    # local test server at http://127.0.0.1:PORT (then no credential is used or sent)
    resource_manager_endpoint: str = "https://management.azure.com"
    retail_prices_url: str = "https://prices.azure.com/api/retail/prices"
    price_refresh_interval: float = 12 * 3600.0
    allocation_failed_backoff: float = 3600.0
    sku_not_available_spot_backoff: float = 3600.0
    sku_not_available_on_demand_backoff: float = 23 * 3600.0
    quota_backoff: float = 600.0
    include_special_sizes: bool = False  # confidential (DC*, EC*, *_cc_*) and promo sizes: special images/hosts


@dataclass(frozen=True)
class OciConfig:
    """`oci.*`: where and how the OCI provider makes OKE node pools (providers/oci)."""

    compartment_id: str = ""
    cluster_id: str = ""
    subnet_id: str = ""  # worker subnet (regional subnets serve every availability domain)
    pod_subnet_id: str = ""  # VCN-native pod networking; "" for flannel
    availability_domains: tuple[str, ...] = ()  # () = every AD of the region (Identity API)
    image_id: str = ""  # OKE worker image for x86 shapes
    image_id_arm: str = ""  # for Ampere shapes
    image_id_gpu: str = ""  # for GPU shapes
    kubernetes_version: str = ""  # "" = the cluster's version
    boot_volume_size_gb: int | None = None
    nsg_ids: tuple[str, ...] = ()
    ssh_public_key: str = ""
    auth_method: str = "instance_principal"  # instance_principal, workload_identity, api_key, none
    config_profile: str = "DEFAULT"  # for api_key: the ~/.oci/config profile
    service_endpoint: str = ""  # Container Engine endpoint override (private endpoints, tests)
    identity_endpoint: str = ""
    call_timeout: float = 30.0
    launch_timeout: float = 180.0  # how long a launch waits for the node's instance (or its error)
    price_list_url: str = "https://apexapps.oracle.com/pls/apex/cetools/api/v1/products/?currencyCode=USD"
    price_refresh_interval: float = 6 * 3600.0


_OCI_AUTH_METHODS = ("instance_principal", "workload_identity", "api_key", "none")


@dataclass(frozen=True)
class GcpConfig:
    """GKE: where the cluster is and how the node pools the autoscaler makes are set up."""

    project: str = ""  # empty: the project of the default credentials
    location: str = ""  # the cluster's location (region or zone); empty: `region`
    cluster: str = ""  # the GKE cluster's name; empty: `clusterName`
    disk_size_gb: int = 100
    disk_type: str = "pd-balanced"
    image_type: str = "COS_CONTAINERD"
    service_account: str = ""  # empty: the Compute Engine default service account
    network_tags: tuple[str, ...] = ()
    pod_range: str = ""  # secondary range for pods of new pools; empty: the cluster's default
    gpu_driver_version: str = "DEFAULT"  # DEFAULT, LATEST or INSTALLATION_DISABLED
    pool_idle_time: float = 600.0  # seconds a pool made by the autoscaler may stay empty
    call_timeout: float = 30.0  # seconds, every API call
    poll_interval: float = 2.0  # seconds between operation / instance polls
    price_refresh: float = 3600.0  # seconds between live price refreshes
    live_prices: bool = True
    api_endpoint: str = ""  # one endpoint for Compute, GKE and Billing (a test server)


@dataclass(frozen=True)
class BackoffConfig:
    insufficient_capacity: float = 300.0
    quota_exceeded: float = 900.0
    launch_timeout: float = 600.0
    other: float = 120.0
    max_duration: float = 3600.0


@dataclass(frozen=True)
class Config:
    cloud: str = "aws"
    region: str = "us-east-1"
    cluster_name: str = "smart-autoscaler"
    managed_pod_labels: tuple[tuple[str, str], ...] = (("smart-autoscaler.io/managed", "true"),)
    annotation_prefixes: tuple[str, ...] = ("smart-autoscaler.io/",)
    pending_pod_reason_regexp: str = ""
    bin_select_pod_cpu_threshold: int = 2000  # millicores
    bin_select_pod_memory_threshold: int = 8 * 2**30
    bin_select_pod_gpu_threshold: int = 1
    bin_packing_node_cpu: int = 4000
    bin_packing_node_memory: int = 8 * 2**30
    bin_packing_node_gpu: int = 0
    bin_packing_node_type_regexp: str = ""
    bin_packing_node_pricing: tuple[str, ...] = (ON_DEMAND,)
    reuse_bin_select_nodes: bool = True
    spot_price_ratio_estimate: float = 0.5
    vm_memory_overhead_percent: float | None = None
    max_pods_per_node: int | None = None
    min_node_cpu: int = 2000
    min_node_memory: int = 2 * 2**30
    include_arm_instance: bool = False
    nvidia_gpu_time_slices: int = 1
    cluster_gpu_limit: int | None = None
    max_nodes: int | None = None
    max_cluster_hourly_cost: float | None = None
    scale_up_timeout: float = 600.0
    node_labels: tuple[tuple[str, str], ...] = ()
    node_ttl: float | None = None
    node_ttl_max_parallel: int = 1
    node_ttl_jitter: float | None = None  # None: a tenth of nodeTTL
    scale_down: ScaleDownConfig = field(default_factory=ScaleDownConfig)
    manage_high_utilization: HotNodeConfig = field(default_factory=HotNodeConfig)
    aws: AwsConfig = field(default_factory=AwsConfig)
    azure: AzureConfig = field(default_factory=AzureConfig)
    oci: OciConfig = field(default_factory=OciConfig)
    gcp: GcpConfig = field(default_factory=GcpConfig)
    backoff: BackoffConfig = field(default_factory=BackoffConfig)
    loop_period: float = 10.0
    # Cloud calls run off the loop: at most this many launches (and as many terminations) at
    # once, and none may take longer than cloudCallTimeout.
    max_concurrent_launches: int = 10
    cloud_call_timeout: float = 180.0
    # Extended resources the catalog does not know: (resource name, type regexp, count per node).
    extended_resources: tuple[tuple[str, str, int], ...] = ()

    def with_options(self, **changes: Any) -> Config:
        return replace(self, **changes)


# ---- value parsers: each takes the raw value and returns the typed one or raises ValueError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """'90s', '10m', '1h30m', '7d' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m, 1h or 7d")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _bounded_duration(float(value))
    text = str(value).strip()
    if not text:
        raise ValueError("expected a duration such as 30s, 10m, 1h or 7d")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return _bounded_duration(float(text))
    position, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError("expected a duration such as 30s, 10m, 1h30m or 7d")
    return _bounded_duration(total)


def _bounded_duration(seconds: float) -> float:
    if seconds != seconds:
        raise ValueError("expected a duration such as 30s, 10m, 1h or 7d")
    if seconds > _MAX_DURATION_DAYS * 86400:
        raise ValueError(f"a duration must be at most {_MAX_DURATION_DAYS}d")
    return seconds


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("expected true or false")


def _number(minimum: float | None = 0.0, maximum: float | None = None) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("expected a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError("expected a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("expected a finite number")
        if minimum is not None and number < minimum:
            raise ValueError(f"must be at least {minimum:g}")
        if maximum is not None and number > maximum:
            raise ValueError(f"must be at most {maximum:g}")
        return number

    return parse


_INT32_MAX = 2**31 - 1  # no count option needs more; bigger numbers would overflow the planner's arithmetic
_MAX_DURATION_DAYS = 3650


def _integer(minimum: int = 0, maximum: int | None = _INT32_MAX) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if not isinstance(value, int):
            raise ValueError("expected a whole number")
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum}")
        return value

    return parse


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return seconds


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None or value == "" else parse(value)


def _cpu(value: Any) -> int:
    try:
        return parse_cpu_millis(value)
    except QuantityError as err:
        raise ValueError(str(err)) from None


def _bytes(value: Any) -> int:
    try:
        return parse_count(value)
    except QuantityError as err:
        raise ValueError(str(err)) from None


def _regexp(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a regular expression string")
    try:
        compile_user_regex(value)
    except RegexError as err:
        raise ValueError(str(err)) from None
    return value


def parse_capacity_types(value: Any) -> tuple[str, ...]:
    """'spot,on-demand' -> ('spot', 'on-demand'), in the order given."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    kinds = tuple(str(item).strip().lower() for item in items if str(item).strip())
    if not kinds or any(kind not in CAPACITY_TYPES for kind in kinds):
        raise ValueError("expected on-demand, spot, or spot,on-demand")
    return tuple(dict.fromkeys(kinds))


def _extended_resources(value: Any) -> tuple[tuple[str, str, int], ...]:
    """{"example.com/fpga": {"typeRegexp": "^f1\\.", "count": 1}} -> (("example.com/fpga", "^f1\\.", 1),)"""
    if not isinstance(value, dict):
        raise ValueError('expected a mapping of resource names to {typeRegexp, count}, e.g. {"example.com/fpga": {"typeRegexp": "^f1\\.", "count": 1}}')
    entries = []
    for name, item in value.items():
        if not isinstance(name, str) or "/" not in name:
            raise ValueError(f"{name!r}: expected an extended resource name such as example.com/fpga")
        if not isinstance(item, dict) or set(item) - {"typeRegexp", "count"} or "typeRegexp" not in item:
            raise ValueError(f"{name}: expected {{typeRegexp: <regexp of instance types>, count: <devices per node>}}")
        count = item.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"{name}: count must be a whole number of at least 1, got {count!r}")
        entries.append((name, _regexp(item["typeRegexp"]), count))
    return tuple(sorted(entries))


def _label_map(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str):  # "a=b,c=d"
        pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("expected key=value pairs or a mapping")
        value = {key.strip(): val.strip() for key, val in pairs}
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of label keys to values")
    for key, val in value.items():
        if not isinstance(key, str) or not key or isinstance(val, (dict, list)):
            raise ValueError(f"label {key!r}: expected a string key and a string value")
    return tuple(sorted((str(k), "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)) for k, v in value.items()))


def _string_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("expected a list of strings")
    return tuple(value)


def _one_of(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        for choice in choices:
            if isinstance(value, str) and value.strip().lower() == choice.lower():
                return choice
        raise ValueError(f"expected one of {', '.join(repr(c) for c in choices)}")

    return parse


def _any_text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple((str(k), _freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return ("__list__", *(_freeze(v) for v in value))
    return value


def _block_device_mappings(value: Any) -> tuple[tuple[tuple[str, Any], ...], ...]:
    """EC2 BlockDeviceMappings (deviceName/DeviceName, ebs/Ebs: volumeSize, volumeType, ...)."""
    if value in (None, ""):
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError("expected a list of mappings such as [{deviceName: /dev/xvda, ebs: {volumeSize: 100}}]")
    for item in value:
        keys = {str(k)[:1].upper() + str(k)[1:] for k in item}
        if "DeviceName" not in keys:
            raise ValueError(f"{item!r}: every mapping needs deviceName")
    return tuple(_freeze(item) for item in value)


def _cloud(value: Any) -> str:
    if value not in ("aws", "gcp", "azure", "oci"):
        raise ValueError("expected one of aws, gcp, azure, oci")
    return str(value)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


# Hot-node mitigation and node TTL cycling, beyond Luna's names (SPEC §5).
_HOT_NODE_AND_TTL_OPTIONS: dict[str, tuple[tuple[str, ...], Callable[[Any], Any]]] = {
    "manageHighUtilization.maxMetricsAge": (("manage_high_utilization", "max_metrics_age"), parse_duration),
    "nodeTTLJitter": (("node_ttl_jitter",), _optional(parse_duration)),
}

# option name -> (attribute path, parser)
_OPTIONS: dict[str, tuple[tuple[str, ...], Callable[[Any], Any]]] = {
    "cloud": (("cloud",), _cloud),
    "region": (("region",), _text),
    "clusterName": (("cluster_name",), _text),
    "managedPodLabels": (("managed_pod_labels",), _label_map),
    "annotationPrefixes": (("annotation_prefixes",), _string_list),
    "pendingPodReasonRegexp": (("pending_pod_reason_regexp",), _regexp),
    "binSelectPodCpuThreshold": (("bin_select_pod_cpu_threshold",), _cpu),
    "binSelectPodMemoryThreshold": (("bin_select_pod_memory_threshold",), _bytes),
    "binSelectPodGPUThreshold": (("bin_select_pod_gpu_threshold",), _integer(1)),
    "binPackingNodeCpu": (("bin_packing_node_cpu",), _cpu),
    "binPackingNodeMemory": (("bin_packing_node_memory",), _bytes),
    "binPackingNodeGPU": (("bin_packing_node_gpu",), _integer(0)),
    "binPackingNodeTypeRegexp": (("bin_packing_node_type_regexp",), _regexp),
    "binPackingNodePricing": (("bin_packing_node_pricing",), parse_capacity_types),
    "reuseBinSelectNodes": (("reuse_bin_select_nodes",), _bool),
    "spotPriceRatioEstimate": (("spot_price_ratio_estimate",), _number(0.01, 1.0)),
    "vmMemoryOverheadPercent": (("vm_memory_overhead_percent",), _optional(_number(0.0, 0.5))),
    "maxPodsPerNode": (("max_pods_per_node",), _optional(_integer(1, 1000))),
    "minNodeCpu": (("min_node_cpu",), _cpu),
    "minNodeMemory": (("min_node_memory",), _bytes),
    "includeArmInstance": (("include_arm_instance",), _bool),
    "nvidiaGPUTimeSlices": (("nvidia_gpu_time_slices",), _integer(1, 48)),
    "clusterGPULimit": (("cluster_gpu_limit",), _optional(_integer(0))),
    "maxNodes": (("max_nodes",), _optional(_integer(0))),
    "maxClusterHourlyCost": (("max_cluster_hourly_cost",), _optional(_number(0.0))),
    "scaleUpTimeout": (("scale_up_timeout",), parse_duration),
    "nodeLabels": (("node_labels",), _label_map),
    "extendedResources": (("extended_resources",), _extended_resources),
    "nodeTTL": (("node_ttl",), _optional(parse_duration)),
    "nodeTTLMaxParallel": (("node_ttl_max_parallel",), _integer(1)),
    "loopPeriod": (("loop_period",), parse_duration),
    "scaleDown.enabled": (("scale_down", "enabled"), _bool),
    "scaleDown.nodeUnneededDuration": (("scale_down", "node_unneeded_duration"), parse_duration),
    "scaleDown.binPackNodeUtilizationThreshold": (
        ("scale_down", "bin_pack_node_utilization_threshold"),
        _number(0.0, 1.0),
    ),
    "scaleDown.maxParallel": (("scale_down", "max_parallel"), _integer(1)),
    "scaleDown.drainTimeout": (("scale_down", "drain_timeout"), parse_duration),
    "maxConcurrentLaunches": (("max_concurrent_launches",), _integer(1, 1000)),
    "cloudCallTimeout": (("cloud_call_timeout",), lambda value: _positive(parse_duration(value))),
    "manageHighUtilization.enabled": (("manage_high_utilization", "enabled"), _bool),
    "manageHighUtilization.loopPeriod": (("manage_high_utilization", "loop_period"), parse_duration),
    **{
        f"manageHighUtilization.{name}": (("manage_high_utilization", attr), _number(0.0, 100.0))
        for name, attr in (
            ("yellowCPU", "yellow_cpu"),
            ("yellowMemory", "yellow_memory"),
            ("redCPU", "red_cpu"),
            ("redMemory", "red_memory"),
            ("greenCPU", "green_cpu"),
            ("greenMemory", "green_memory"),
        )
    },
    **_HOT_NODE_AND_TTL_OPTIONS,
    "aws.useSpotAdvisor": (("aws", "use_spot_advisor"), _bool),
    "aws.maxSpotInterruptBucket": (("aws", "max_spot_interrupt_bucket"), _integer(0, 4)),
    "aws.maxSpotPriceRatio": (("aws", "max_spot_price_ratio"), _number(0.0, 1.0)),
    "aws.spotAdvisorURL": (("aws", "spot_advisor_url"), _text),
    "aws.launchTemplate": (("aws", "launch_template"), _any_text),
    "aws.amiFamily": (("aws", "ami_family"), _one_of("AL2023", "Bottlerocket")),
    "aws.amiIdGeneric": (("aws", "ami_id_generic"), _any_text),
    "aws.amiIdGenericArm": (("aws", "ami_id_generic_arm"), _any_text),
    "aws.amiIdGenericGpu": (("aws", "ami_id_generic_gpu"), _any_text),
    "aws.userDataType": (("aws", "user_data_type"), lambda v: "" if v in (None, "") else _one_of("Template")(v)),
    "aws.userData": (("aws", "user_data"), _any_text),
    "aws.subnets": (("aws", "subnets"), _string_list),
    "aws.securityGroups": (("aws", "security_groups"), _string_list),
    "aws.nodeInstanceProfile": (("aws", "node_instance_profile"), _any_text),
    "aws.blockDeviceMappings": (("aws", "block_device_mappings"), _block_device_mappings),
    "aws.tags": (("aws", "tags"), _label_map),
    "aws.livePrices": (("aws", "live_prices"), _bool),
    "aws.priceRefreshPeriod": (("aws", "price_refresh_period"), parse_duration),
    "aws.apiTimeout": (("aws", "api_timeout"), parse_duration),
    # ---- azure.* (providers/azure)
    **{
        f"azure.{name}": (("azure", attr), parse)
        for name, attr, parse in (
            ("subscriptionId", "subscription_id", _text),
            ("resourceGroup", "resource_group", _text),
            ("clusterName", "cluster_name", _text),
            ("nodeResourceGroup", "node_resource_group", _text),
            ("osDiskSizeGB", "os_disk_size_gb", _integer(30, 2048)),
            ("gpuOSDiskSizeGB", "gpu_os_disk_size_gb", _integer(30, 2048)),
            ("osSKU", "os_sku", _text),
            ("gpuDriver", "gpu_driver", _one_of("Install", "None")),
            ("vnetSubnetID", "vnet_subnet_id", _text),
            ("maxPods", "max_pods", _optional(_integer(10, 250))),
            ("poolIdleTime", "pool_idle_time", parse_duration),
            ("callTimeout", "call_timeout", parse_duration),
            ("operationTimeout", "operation_timeout", parse_duration),
            ("pollInterval", "poll_interval", parse_duration),
            ("resourceManagerEndpoint", "resource_manager_endpoint", _text),
            ("retailPricesURL", "retail_prices_url", _text),
            ("priceRefreshInterval", "price_refresh_interval", parse_duration),
            ("allocationFailedBackoff", "allocation_failed_backoff", parse_duration),
            ("skuNotAvailableSpotBackoff", "sku_not_available_spot_backoff", parse_duration),
            ("skuNotAvailableOnDemandBackoff", "sku_not_available_on_demand_backoff", parse_duration),
            ("quotaBackoff", "quota_backoff", parse_duration),
            ("includeSpecialSizes", "include_special_sizes", _bool),
        )
    },
    # ---- OCI (providers/oci)
    **{
        f"oci.{name}": (("oci", attr), parse)
        for name, attr, parse in (
            ("compartmentId", "compartment_id", _any_text),
            ("clusterId", "cluster_id", _any_text),
            ("subnetId", "subnet_id", _any_text),
            ("podSubnetId", "pod_subnet_id", _any_text),
            ("availabilityDomains", "availability_domains", _string_list),
            ("imageId", "image_id", _any_text),
            ("imageIdArm", "image_id_arm", _any_text),
            ("imageIdGpu", "image_id_gpu", _any_text),
            ("kubernetesVersion", "kubernetes_version", _any_text),
            ("bootVolumeSizeGB", "boot_volume_size_gb", _optional(_integer(50, 32768))),
            ("nsgIds", "nsg_ids", _string_list),
            ("sshPublicKey", "ssh_public_key", _any_text),
            ("authMethod", "auth_method", _one_of(*_OCI_AUTH_METHODS)),
            ("configProfile", "config_profile", _text),
            ("serviceEndpoint", "service_endpoint", _any_text),
            ("identityEndpoint", "identity_endpoint", _any_text),
            ("callTimeout", "call_timeout", parse_duration),
            ("launchTimeout", "launch_timeout", parse_duration),
            ("priceListURL", "price_list_url", _any_text),
            ("priceRefreshInterval", "price_refresh_interval", parse_duration),
        )
    },
    **{
        f"gcp.{name}": (("gcp", attr), parse)
        for name, attr, parse in (
            ("project", "project", _text),
            ("location", "location", _text),
            ("cluster", "cluster", _text),
            ("diskSizeGb", "disk_size_gb", _integer(10, 65536)),
            ("diskType", "disk_type", _text),
            ("imageType", "image_type", _text),
            ("serviceAccount", "service_account", _text),
            ("networkTags", "network_tags", _string_list),
            ("podRange", "pod_range", _text),
            ("gpuDriverVersion", "gpu_driver_version", _one_of("DEFAULT", "LATEST", "INSTALLATION_DISABLED")),
            ("poolIdleTime", "pool_idle_time", parse_duration),
            ("callTimeout", "call_timeout", parse_duration),
            ("pollInterval", "poll_interval", parse_duration),
            ("priceRefresh", "price_refresh", parse_duration),
            ("livePrices", "live_prices", _bool),
            ("apiEndpoint", "api_endpoint", _text),
        )
    },
    **{
        f"backoff.{name}": (("backoff", attr), parse_duration)
        for name, attr in (
            ("insufficientCapacity", "insufficient_capacity"),
            ("quotaExceeded", "quota_exceeded"),
            ("launchTimeout", "launch_timeout"),
            ("other", "other"),
            ("maxDuration", "max_duration"),
        )
    },
}
_SECTIONS = {name.split(".")[0] for name in _OPTIONS if "." in name}


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if not isinstance(key, str):
            raise ConfigError(f"config key {key!r} is not a string")
        if name in _SECTIONS and isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif name in _SECTIONS and value is not None:
            raise ConfigError(f"configuration key {name}: expected a mapping of {name}.* options, got {value!r:.60}")
        else:
            flat[name] = value
    return flat


def config_from_mapping(values: dict[str, Any] | None, base: Config | None = None) -> Config:
    """Build a Config from option names as the SPEC writes them; unknown keys are errors."""
    config = base or Config()
    if values is None:
        return config
    if not isinstance(values, dict):
        raise ConfigError(f"configuration must be a mapping of option names to values, got {type(values).__name__}")
    sections: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for name, raw in _flatten(values).items():
        if name not in _OPTIONS:
            by_lower = {option.lower(): option for option in _OPTIONS}
            close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
            hint = f" (did you mean {by_lower[close[0]]}?)" if close else ""
            raise ConfigError(f"unknown configuration key {name!r}{hint}")
        path, parse = _OPTIONS[name]
        try:
            value = parse(raw)
        except ValueError as err:
            raise ConfigError(f"configuration key {name}: invalid value {raw!r}: {err}") from None
        if len(path) == 1:
            top[path[0]] = value
        else:
            sections.setdefault(path[0], {})[path[1]] = value
    for section, changes in sections.items():
        top[section] = replace(getattr(config, section), **changes)
    if "cloud" in top and "region" not in top and top["cloud"] != config.cloud:
        top["region"] = DEFAULT_REGIONS.get(top["cloud"], config.region)  # a cloud alone takes its default region
    config = replace(config, **top)
    _check_consistency(config)
    return config


def _check_consistency(config: Config) -> None:
    hot = config.manage_high_utilization
    for low, high, what in (
        (hot.green_cpu, hot.yellow_cpu, "manageHighUtilization.greenCPU must be below yellowCPU"),
        (hot.yellow_cpu, hot.red_cpu, "manageHighUtilization.yellowCPU must not exceed redCPU"),
        (hot.green_memory, hot.yellow_memory, "manageHighUtilization.greenMemory must be below yellowMemory"),
        (hot.yellow_memory, hot.red_memory, "manageHighUtilization.yellowMemory must not exceed redMemory"),
    ):
        if low > high:
            raise ConfigError(f"configuration: {what} (got {low:g} and {high:g})")
    if config.node_ttl is not None and config.node_ttl_jitter is not None and config.node_ttl_jitter >= config.node_ttl:
        raise ConfigError(
            f"configuration: nodeTTLJitter must be below nodeTTL (got {config.node_ttl_jitter:g}s and {config.node_ttl:g}s)"
        )
    if config.node_ttl is not None and config.node_ttl <= 0:
        raise ConfigError("configuration key nodeTTL: must be above 0 (leave it unset to keep nodes forever)")
    if not config.managed_pod_labels:
        raise ConfigError("configuration key managedPodLabels: at least one label is needed")
    try:
        check_region(config.cloud, config.region)
    except CatalogError as err:
        raise ConfigError(f"configuration key region: {err}") from None
    if config.aws.user_data_type == "Template" and not config.aws.user_data:
        raise ConfigError("configuration: aws.userDataType Template needs aws.userData (the user-data template)")


def not_acted_on(config: Config) -> list[str]:
    """Options that are set but that this version does not act on yet, one message each, so
    the daemon can say so at start instead of ignoring them silently."""
    notes = []
    return notes


def load_config_file(path: str, base: Config | None = None) -> Config:
    """Read a YAML config file; a ConfigMap manifest's `data` (values as YAML) is accepted too."""
    from autoscaler.validate.files import UnreadableFile, read_yaml

    try:
        values = read_yaml(path, f"config file {path}")
    except UnreadableFile as err:
        raise ConfigError(str(err)) from None
    if isinstance(values, dict) and values.get("kind") == "ConfigMap":
        data = values.get("data") or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: ConfigMap data: expected a mapping of option names to values, got "
                              f"{type(data).__name__}")
        values = {key: _configmap_value(key, val) for key, val in data.items()}
    try:
        return config_from_mapping(values, base)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


_STRUCTURED_OPTIONS = {"managedPodLabels", "nodeLabels", "annotationPrefixes", "extendedResources"}  # aws.* lists: the `aws` section


def _configmap_value(key: str, text: Any) -> Any:
    """ConfigMap values are strings. Options that hold a mapping or a list (and whole sections
    such as `scaleDown`) are YAML-decoded; every other value stays as written, so a regexp like
    `^0/\\d+ nodes are available: .*` or a name like "2024" is not mangled."""
    if not isinstance(text, str) or (key not in _STRUCTURED_OPTIONS and key not in _SECTIONS):
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (dict, list)) else text


def option_names() -> list[str]:
    return sorted(_OPTIONS)

