"""Configuration (autoscaler.config): SPEC option names, defaults, and errors that name the key."""

from __future__ import annotations

import textwrap

import pytest

from autoscaler.config import Config, ConfigError, config_from_mapping, load_config_file, parse_duration

GI = 2**30


# ---- defaults (SPEC §1, §2, §4)


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("bin_select_pod_cpu_threshold", 2000),  # 2 CPU in millicores
        ("bin_select_pod_memory_threshold", 8 * GI),
        ("bin_select_pod_gpu_threshold", 1),
        ("bin_packing_node_cpu", 4000),
        ("bin_packing_node_memory", 8 * GI),
        ("bin_packing_node_gpu", 0),
        ("bin_packing_node_pricing", ("on-demand",)),
        ("spot_price_ratio_estimate", 0.5),
        ("min_node_cpu", 2000),
        ("min_node_memory", 2 * GI),
        ("scale_up_timeout", 600.0),
        ("managed_pod_labels", (("smart-autoscaler.io/managed", "true"),)),
        ("annotation_prefixes", ("smart-autoscaler.io/",)),
        ("reuse_bin_select_nodes", True),
        ("nvidia_gpu_time_slices", 1),
        ("include_arm_instance", False),
    ],
)
def test_defaults_match_the_spec(attribute, expected):
    assert getattr(Config(), attribute) == expected
    assert getattr(config_from_mapping({}), attribute) == expected
    assert getattr(config_from_mapping(None), attribute) == expected


def test_default_hot_node_thresholds_match_the_spec():
    hot = Config().manage_high_utilization
    assert (hot.yellow_cpu, hot.yellow_memory, hot.red_cpu, hot.red_memory, hot.green_cpu, hot.green_memory) == (
        60,
        65,
        80,
        85,
        10,
        15,
    )
    assert hot.enabled is False


def test_default_pending_reason_regexp_matches_everything():
    assert Config().pending_pod_reason_regexp == ""


# ---- reading options


@pytest.mark.parametrize(
    ("options", "attribute", "expected"),
    [
        ({"binSelectPodCpuThreshold": "3"}, "bin_select_pod_cpu_threshold", 3000),
        ({"binSelectPodCpuThreshold": "1500m"}, "bin_select_pod_cpu_threshold", 1500),
        ({"binSelectPodMemoryThreshold": "16Gi"}, "bin_select_pod_memory_threshold", 16 * GI),
        ({"binSelectPodGPUThreshold": 2}, "bin_select_pod_gpu_threshold", 2),
        ({"binPackingNodeCpu": 8}, "bin_packing_node_cpu", 8000),
        ({"binPackingNodeMemory": "32Gi"}, "bin_packing_node_memory", 32 * GI),
        ({"binPackingNodeGPU": 1}, "bin_packing_node_gpu", 1),
        ({"binPackingNodePricing": "spot,on-demand"}, "bin_packing_node_pricing", ("spot", "on-demand")),
        ({"binPackingNodePricing": "spot"}, "bin_packing_node_pricing", ("spot",)),
        ({"binPackingNodePricing": ["spot", "on-demand"]}, "bin_packing_node_pricing", ("spot", "on-demand")),
        ({"spotPriceRatioEstimate": 0.3}, "spot_price_ratio_estimate", 0.3),
        ({"minNodeMemory": "4Gi"}, "min_node_memory", 4 * GI),
        ({"includeArmInstance": "true"}, "include_arm_instance", True),
        ({"reuseBinSelectNodes": False}, "reuse_bin_select_nodes", False),
        ({"nvidiaGPUTimeSlices": 4}, "nvidia_gpu_time_slices", 4),
        ({"managedPodLabels": {"elotl-luna": "true"}}, "managed_pod_labels", (("elotl-luna", "true"),)),
        ({"managedPodLabels": {"elotl-luna": True}}, "managed_pod_labels", (("elotl-luna", "true"),)),
        ({"managedPodLabels": "elotl-luna=true"}, "managed_pod_labels", (("elotl-luna", "true"),)),
        (
            {"annotationPrefixes": ["smart-autoscaler.io/", "node.elotl.co/"]},
            "annotation_prefixes",
            ("smart-autoscaler.io/", "node.elotl.co/"),
        ),
        ({"pendingPodReasonRegexp": "^0/\\d+ nodes are available"}, "pending_pod_reason_regexp", "^0/\\d+ nodes are available"),
        ({"maxNodes": 10}, "max_nodes", 10),
        ({"clusterGPULimit": 16}, "cluster_gpu_limit", 16),
        ({"maxClusterHourlyCost": 12.5}, "max_cluster_hourly_cost", 12.5),
        ({"scaleUpTimeout": "15m"}, "scale_up_timeout", 900.0),
        ({"nodeTTL": "7d"}, "node_ttl", 7 * 86400.0),
        ({"nodeTTL": ""}, "node_ttl", None),
    ],
)
def test_camel_case_options(options, attribute, expected):
    assert getattr(config_from_mapping(options), attribute) == expected


@pytest.mark.parametrize(
    "options",
    [
        {"scaleDown": {"nodeUnneededDuration": "5m"}},
        {"scaleDown.nodeUnneededDuration": "5m"},
        {"scaleDown.nodeUnneededDuration": 300},
    ],
)
def test_nested_and_dotted_keys_are_the_same_option(options):
    assert config_from_mapping(options).scale_down.node_unneeded_duration == 300.0


def test_nested_section_keeps_the_other_defaults_of_the_section():
    config = config_from_mapping({"scaleDown": {"enabled": False}, "scaleDown.maxParallel": 3})
    assert config.scale_down.enabled is False
    assert config.scale_down.max_parallel == 3
    assert config.scale_down.node_unneeded_duration == Config().scale_down.node_unneeded_duration


def test_nested_hot_node_and_aws_sections():
    config = config_from_mapping(
        {
            "manageHighUtilization": {"enabled": True, "loopPeriod": "30s", "redCPU": 90},
            "aws": {"useSpotAdvisor": True, "maxSpotInterruptBucket": 2},
        }
    )
    assert config.manage_high_utilization.enabled is True
    assert config.manage_high_utilization.loop_period == 30.0
    assert config.manage_high_utilization.red_cpu == 90.0
    assert config.aws.use_spot_advisor is True
    assert config.aws.max_spot_interrupt_bucket == 2


def test_options_apply_on_top_of_a_base_config():
    base = config_from_mapping({"maxNodes": 5})
    config = config_from_mapping({"minNodeCpu": 4}, base)
    assert (config.max_nodes, config.min_node_cpu) == (5, 4000)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90s", 90.0), ("10m", 600.0), ("1h30m", 5400.0), ("7d", 604800.0), ("100ms", 0.1), ("1.5h", 5400.0), (45, 45.0), (2.5, 2.5)],
)
def test_durations(value, seconds):
    assert parse_duration(value) == pytest.approx(seconds)
    assert config_from_mapping({"scaleUpTimeout": value}).scale_up_timeout == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["soon", "", "1h30", "-5m", "5 m", True, -1])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration(value)


# ---- errors name the key (and the value)


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("minNodeCPU", "minNodeCpu"),
        ("binselectpodcputhreshold", "binSelectPodCpuThreshold"),
        ("scaleDown.nodeUnneededDuraton", "scaleDown.nodeUnneededDuration"),
        ("binSelectPodCPUThreshold", "binSelectPodCpuThreshold"),
    ],
)
def test_unknown_key_names_it_and_suggests_a_close_one(key, suggestion):
    with pytest.raises(ConfigError) as err:
        config_from_mapping({key: "1"})
    message = str(err.value)
    assert repr(key) in message
    assert f"did you mean {suggestion}?" in message


def test_unknown_key_inside_a_section_is_named_with_its_section():
    with pytest.raises(ConfigError, match=r"unknown configuration key 'scaleDown\.bogus'"):
        config_from_mapping({"scaleDown": {"bogus": 1}})


def test_unknown_key_without_a_close_match_has_no_suggestion():
    with pytest.raises(ConfigError) as err:
        config_from_mapping({"zzzzzzzz": 1})
    assert "'zzzzzzzz'" in str(err.value)
    assert "did you mean" not in str(err.value)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("binSelectPodMemoryThreshold", "lots", "not a Kubernetes quantity"),
        ("binSelectPodCpuThreshold", "-1", "negative"),
        ("nvidiaGPUTimeSlices", 0, "at least 1"),
        ("binPackingNodePricing", "cheap", "on-demand"),
        ("binPackingNodePricing", "", "on-demand"),
        ("pendingPodReasonRegexp", "(a", "missing )"),  # RE2's own message
        ("binPackingNodeTypeRegexp", "(?=x)", "invalid regular expression"),  # no look-ahead in RE2
        ("scaleUpTimeout", "soon", "duration"),
        ("spotPriceRatioEstimate", 2, "at most 1"),
        ("spotPriceRatioEstimate", "half", "number"),
        ("reuseBinSelectNodes", "yes please", "true or false"),
        ("cloud", "ibm", "aws"),
        ("maxNodes", 1.5, "whole number"),
        ("scaleDown.binPackNodeUtilizationThreshold", 1.5, "at most 1"),
        ("aws.maxSpotInterruptBucket", 5, "at most 4"),
    ],
)
def test_invalid_value_names_the_key_and_the_value(key, value, reason):
    with pytest.raises(ConfigError) as err:
        config_from_mapping({key: value})
    message = str(err.value)
    assert key in message
    assert repr(value) in message
    assert reason in message


def test_inconsistent_hot_node_thresholds_are_an_error():
    with pytest.raises(ConfigError, match="greenCPU"):
        config_from_mapping({"manageHighUtilization": {"greenCPU": 70}})


def test_configuration_must_be_a_mapping():
    with pytest.raises(ConfigError, match="mapping"):
        config_from_mapping(["binPackingNodeCpu", 4])  # type: ignore[arg-type]


# ---- files


def write(tmp_path, text: str, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def test_yaml_file(tmp_path):
    path = write(
        tmp_path,
        """
        cloud: gcp
        region: us-central1
        binSelectPodCpuThreshold: 4
        binPackingNodePricing: spot,on-demand
        managedPodLabels:
          elotl-luna: "true"
        scaleDown:
          nodeUnneededDuration: 5m
        """,
    )
    config = load_config_file(path)
    assert (config.cloud, config.region) == ("gcp", "us-central1")
    assert config.bin_select_pod_cpu_threshold == 4000
    assert config.bin_packing_node_pricing == ("spot", "on-demand")
    assert config.managed_pod_labels == (("elotl-luna", "true"),)
    assert config.scale_down.node_unneeded_duration == 300.0


def test_empty_yaml_file_gives_the_defaults(tmp_path):
    assert load_config_file(write(tmp_path, "")) == Config()


def test_configmap_manifest_with_string_values(tmp_path):
    path = write(
        tmp_path,
        """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: smart-autoscaler
        data:
          binSelectPodCpuThreshold: "3"
          binSelectPodMemoryThreshold: "16Gi"
          reuseBinSelectNodes: "false"
          spotPriceRatioEstimate: "0.3"
          nvidiaGPUTimeSlices: "4"
          binPackingNodePricing: "spot,on-demand"
          scaleDown.nodeUnneededDuration: "5m"
          nodeTTL: "7d"
          managedPodLabels: |
            elotl-luna: "true"
          annotationPrefixes: '["smart-autoscaler.io/", "node.elotl.co/"]'
        """,
    )
    config = load_config_file(path)
    assert config.bin_select_pod_cpu_threshold == 3000
    assert config.bin_select_pod_memory_threshold == 16 * GI
    assert config.reuse_bin_select_nodes is False
    assert config.spot_price_ratio_estimate == 0.3
    assert config.nvidia_gpu_time_slices == 4
    assert config.bin_packing_node_pricing == ("spot", "on-demand")
    assert config.scale_down.node_unneeded_duration == 300.0
    assert config.node_ttl == 7 * 86400.0
    assert config.managed_pod_labels == (("elotl-luna", "true"),)
    assert config.annotation_prefixes == ("smart-autoscaler.io/", "node.elotl.co/")


def test_configmap_regexp_with_colon_is_taken_verbatim(tmp_path):
    path = write(
        tmp_path,
        """
        kind: ConfigMap
        data:
          pendingPodReasonRegexp: "^0/\\\\d+ nodes are available: .*"
        """,
    )
    assert load_config_file(path).pending_pod_reason_regexp == "^0/\\d+ nodes are available: .*"


def test_configmap_numeric_looking_string_option_is_taken_verbatim(tmp_path):
    path = write(
        tmp_path,
        """
        kind: ConfigMap
        data:
          clusterName: "2024"
        """,
    )
    assert load_config_file(path).cluster_name == "2024"


def test_invalid_value_in_a_file_names_the_file_and_the_key(tmp_path):
    path = write(tmp_path, "nvidiaGPUTimeSlices: 0\n")
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    assert path in str(err.value)
    assert "nvidiaGPUTimeSlices" in str(err.value)


def test_invalid_value_in_a_configmap_names_the_key(tmp_path):
    path = write(tmp_path, "kind: ConfigMap\ndata:\n  binPackingNodePricing: cheap\n")
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    assert "binPackingNodePricing" in str(err.value)
    assert "'cheap'" in str(err.value)


def test_invalid_yaml_names_the_file(tmp_path):
    path = write(tmp_path, "binPackingNodeCpu: [4\nscaleDown: {\n", name="broken.yaml")
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    assert path in str(err.value)
    assert "not valid YAML" in str(err.value)


def test_missing_file_names_the_file(tmp_path):
    path = str(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    assert path in str(err.value)


def test_options_not_acted_on_yet_are_named_at_start():
    from autoscaler.config import not_acted_on

    assert not_acted_on(config_from_mapping({})) == []
    # Hot-node mitigation and TTL cycling act now; only the Spot Advisor is still named.
    notes = not_acted_on(config_from_mapping({"nodeTTL": "7d", "manageHighUtilization.enabled": True, "aws.useSpotAdvisor": True}))
    # Hot-node mitigation, TTL cycling and the Spot Advisor are all acted on now.
    assert notes == []


def test_hot_node_and_ttl_options_of_their_own():
    config = config_from_mapping({"nodeTTL": "7d", "nodeTTLJitter": "6h", "manageHighUtilization": {"maxMetricsAge": "90s"}})
    assert (config.node_ttl, config.node_ttl_jitter, config.manage_high_utilization.max_metrics_age) == (604800.0, 21600.0, 90.0)
    assert config_from_mapping({}).manage_high_utilization.max_metrics_age == 150.0
    with pytest.raises(ConfigError, match="nodeTTLJitter must be below nodeTTL"):
        config_from_mapping({"nodeTTL": "1h", "nodeTTLJitter": "2h"})


def test_azure_options_nested_or_dotted_with_durations():
    config = config_from_mapping(
        {"azure": {"subscriptionId": "0b1f6471-1bf0-4dda-aec3-cb9272f09590", "resourceGroup": "rg-aks", "poolIdleTime": "5m"},
         "azure.skuNotAvailableOnDemandBackoff": "23h", "azure.gpuDriver": "None"}
    )
    assert (config.azure.resource_group, config.azure.pool_idle_time, config.azure.gpu_driver) == ("rg-aks", 300.0, "None")
    assert config.azure.sku_not_available_on_demand_backoff == 23 * 3600
    with pytest.raises(ConfigError, match=r"azure.osDiskSizeGB: invalid value 8"):
        config_from_mapping({"azure": {"osDiskSizeGB": 8}})
