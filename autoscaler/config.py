"""Configuration: SPEC option names (camelCase, Luna-compatible), validated once at start.

Options may be nested (`scaleDown: {nodeUnneededDuration: 5m}`) or dotted
(`scaleDown.nodeUnneededDuration: 5m`), as Helm values and Luna's ConfigMap write them.
Every invalid value raises ConfigError naming the key and the value.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from autoscaler.cloudconfig import CLOUD_OPTIONS, SPOT_ADVISOR_URL, AwsConfig, AzureConfig, GcpConfig, OciConfig
from autoscaler.configvalues import (
    boolean,
    byte_size,
    cloud,
    cpu,
    extended_resources,
    integer,
    label_map,
    number,
    one_of,
    optional,
    parse_capacity_types,
    parse_duration,
    positive,
    regexp,
    string_list,
    text,
)
from pricing.catalog import DEFAULT_REGIONS, CatalogError, check_region
from pricing.types import ON_DEMAND

__all__ = [
    "AwsConfig", "AzureConfig", "BackoffConfig", "Config", "ConfigError", "GcpConfig", "HotNodeConfig", "OciConfig",
    "SPOT_ADVISOR_URL", "ScaleDownConfig", "SpotInterruptionConfig", "config_from_mapping", "load_config_file", "not_acted_on", "option_names",
    "parse_capacity_types", "parse_duration",
]


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




@dataclass(frozen=True)
class SpotInterruptionConfig:
    """`spotInterruption.*`: what the loop does when the cloud takes a spot node back."""

    enabled: bool = True
    rebalance: str = "ignore"  # ignore | replace: a rebalance recommendation starts a replacement
    drain_lead_time: float = 45.0  # evict no later than this before the cloud's deadline


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
    # What becomes of an instance whose Node someone else deleted: terminate or keep (its
    # kubelet may register it again). Either way it is not room and its type is not backed off.
    deleted_node_instances: str = "terminate"
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
    spot_interruption: SpotInterruptionConfig = field(default_factory=SpotInterruptionConfig)
    loop_period: float = 10.0
    # Cloud calls run off the loop: at most this many launches (and as many terminations) at
    # once, and none may take longer than cloudCallTimeout.
    max_concurrent_launches: int = 10
    cloud_call_timeout: float = 180.0
    # Extended resources the catalog does not know: (resource name, type regexp, count per node).
    extended_resources: tuple[tuple[str, str, int], ...] = ()
    # Launches that did not help (autoscaler/loop/unused.py): at most this many per pod set in
    # any hour; a launched node may lack its devices this long before its plugin counts as missing.
    max_unused_launches_per_hour: int = 2
    device_plugin_wait: float = 60.0

    def with_options(self, **changes: Any) -> Config:
        return replace(self, **changes)


# ---- value parsers: each takes the raw value and returns the typed one or raises ValueError



# Hot-node mitigation and node TTL cycling, beyond Luna's names (SPEC §5).
_HOT_NODE_AND_TTL_OPTIONS: dict[str, tuple[tuple[str, ...], Callable[[Any], Any]]] = {
    "manageHighUtilization.maxMetricsAge": (("manage_high_utilization", "max_metrics_age"), parse_duration),
    "nodeTTLJitter": (("node_ttl_jitter",), optional(parse_duration)),
    "spotInterruption.enabled": (("spot_interruption", "enabled"), boolean),
    "spotInterruption.rebalance": (("spot_interruption", "rebalance"), one_of("ignore", "replace")),
    "spotInterruption.drainLeadTime": (("spot_interruption", "drain_lead_time"), parse_duration),
}

# option name -> (attribute path, parser)
_OPTIONS: dict[str, tuple[tuple[str, ...], Callable[[Any], Any]]] = {
    "cloud": (("cloud",), cloud),
    "region": (("region",), text),
    "clusterName": (("cluster_name",), text),
    "managedPodLabels": (("managed_pod_labels",), label_map),
    "annotationPrefixes": (("annotation_prefixes",), string_list),
    "pendingPodReasonRegexp": (("pending_pod_reason_regexp",), regexp),
    "binSelectPodCpuThreshold": (("bin_select_pod_cpu_threshold",), cpu),
    "binSelectPodMemoryThreshold": (("bin_select_pod_memory_threshold",), byte_size),
    "binSelectPodGPUThreshold": (("bin_select_pod_gpu_threshold",), integer(1)),
    "binPackingNodeCpu": (("bin_packing_node_cpu",), cpu),
    "binPackingNodeMemory": (("bin_packing_node_memory",), byte_size),
    "binPackingNodeGPU": (("bin_packing_node_gpu",), integer(0)),
    "binPackingNodeTypeRegexp": (("bin_packing_node_type_regexp",), regexp),
    "binPackingNodePricing": (("bin_packing_node_pricing",), parse_capacity_types),
    "reuseBinSelectNodes": (("reuse_bin_select_nodes",), boolean),
    "spotPriceRatioEstimate": (("spot_price_ratio_estimate",), number(0.01, 1.0)),
    "vmMemoryOverheadPercent": (("vm_memory_overhead_percent",), optional(number(0.0, 0.5))),
    "maxPodsPerNode": (("max_pods_per_node",), optional(integer(1, 1000))),
    "minNodeCpu": (("min_node_cpu",), cpu),
    "minNodeMemory": (("min_node_memory",), byte_size),
    "includeArmInstance": (("include_arm_instance",), boolean),
    "nvidiaGPUTimeSlices": (("nvidia_gpu_time_slices",), integer(1, 48)),
    "clusterGPULimit": (("cluster_gpu_limit",), optional(integer(0))),
    "maxNodes": (("max_nodes",), optional(integer(0))),
    "maxClusterHourlyCost": (("max_cluster_hourly_cost",), optional(number(0.0))),
    "scaleUpTimeout": (("scale_up_timeout",), parse_duration),
    "deletedNodeInstances": (("deleted_node_instances",), one_of("terminate", "keep")),
    "nodeLabels": (("node_labels",), label_map),
    "extendedResources": (("extended_resources",), extended_resources),
    "maxUnusedLaunchesPerHour": (("max_unused_launches_per_hour",), integer(1, 1000)),
    "devicePluginWait": (("device_plugin_wait",), parse_duration),
    "nodeTTL": (("node_ttl",), optional(parse_duration)),
    "nodeTTLMaxParallel": (("node_ttl_max_parallel",), integer(1)),
    "loopPeriod": (("loop_period",), parse_duration),
    "scaleDown.enabled": (("scale_down", "enabled"), boolean),
    "scaleDown.nodeUnneededDuration": (("scale_down", "node_unneeded_duration"), parse_duration),
    "scaleDown.binPackNodeUtilizationThreshold": (
        ("scale_down", "bin_pack_node_utilization_threshold"),
        number(0.0, 1.0),
    ),
    "scaleDown.maxParallel": (("scale_down", "max_parallel"), integer(1)),
    "scaleDown.drainTimeout": (("scale_down", "drain_timeout"), parse_duration),
    "maxConcurrentLaunches": (("max_concurrent_launches",), integer(1, 1000)),
    "cloudCallTimeout": (("cloud_call_timeout",), lambda value: positive(parse_duration(value))),
    "manageHighUtilization.enabled": (("manage_high_utilization", "enabled"), boolean),
    "manageHighUtilization.loopPeriod": (("manage_high_utilization", "loop_period"), parse_duration),
    **{
        f"manageHighUtilization.{name}": (("manage_high_utilization", attr), number(0.0, 100.0))
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
    **CLOUD_OPTIONS,
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
    import yaml  # only ConfigMap data needs it: JSON manifests are previewed without loading it

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (dict, list)) else text


def option_names() -> list[str]:
    return sorted(_OPTIONS)



def option_value(config: Config, name: str) -> Any:
    """The value in force of one option (a SPEC name from option_names())."""
    value: Any = config
    for attr in _OPTIONS[name][0]:
        value = getattr(value, attr)
    return value
