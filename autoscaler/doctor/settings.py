"""Configuration checks: the file reads, the options in force and where each came from, and
options that contradict the region's offerings (a type regexp nothing matches, a cost ceiling
below every node that fits, GPUs asked for where there are none)."""

from __future__ import annotations

from typing import Any

from autoscaler.doctor.report import Check, fail, ok, warn

AREA = "Configuration"


def load(path: str | None) -> tuple[Any, Check]:
    from autoscaler.config import Config, ConfigError, load_config_file

    if not path:
        return Config(), ok(AREA, "configuration", "no --config: every option at its default")
    try:
        return load_config_file(path), ok(AREA, "configuration", f"{path} reads and validates")
    except ConfigError as err:
        return None, fail(AREA, "configuration", str(err), "correct the option named above (README: Configuration)")


def options_in_force(config: Any, path: str | None) -> list[dict[str, Any]]:
    from autoscaler.config import Config, option_names, option_value

    defaults = Config()
    rows = []
    for name in option_names():
        value, default = option_value(config, name), option_value(defaults, name)
        rows.append({"name": name, "value": _shown(value), "source": path if value != default and path else "default"})
    return rows


def _shown(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_shown(v) for v in value]
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def contradictions(config: Any) -> list[Check]:
    """Options that no offering of the region can satisfy."""
    from autoscaler.config import not_acted_on
    from autoscaler.regex import compile_user_regex
    from pricing.catalog import catalog_settings, region_catalog

    catalog = region_catalog(config.cloud, config.region, catalog_settings(config))
    types = {o.instance_type.name: o.instance_type for o in catalog.offerings}
    where = f"{config.cloud} {config.region}"
    checks: list[Check] = []
    if config.bin_packing_node_type_regexp:
        pattern = compile_user_regex(config.bin_packing_node_type_regexp)
        matched = sorted(name for name in types if pattern.search(name))
        if matched:
            checks.append(ok(AREA, "binPackingNodeTypeRegexp", f"{len(matched)} types in {where} match (e.g. {matched[0]})"))
        else:
            checks.append(fail(AREA, "binPackingNodeTypeRegexp",
                               f"{config.bin_packing_node_type_regexp!r} matches no instance type offered in {where}",
                               "widen the regexp (names as the cloud spells them, e.g. ^m[5-7]) or choose the region"))
    for resource, type_regexp, count in config.extended_resources:
        pattern = compile_user_regex(type_regexp)
        matched = sorted(name for name in types if pattern.search(name))
        what = f"extendedResources {resource}"
        if matched:
            checks.append(ok(AREA, what, f"{count} per node on {len(matched)} types (e.g. {matched[0]})"))
        else:
            checks.append(fail(AREA, what, f"type regexp {type_regexp!r} matches no instance type in {where}",
                               "correct the regexp, or remove the entry: pods asking for it can never be placed"))
    gpu_types = [t for t in types.values() if t.gpu_count > 0]
    if config.bin_packing_node_gpu > 0 or config.cluster_gpu_limit:
        if not gpu_types:
            checks.append(fail(AREA, "GPU node types", f"GPUs are configured but {where} offers no GPU type",
                               "choose a region with GPU types (smart-autoscaler preview --target CLOUD:REGION shows them)"))
        else:
            checks.append(ok(AREA, "GPU node types", f"{len(gpu_types)} GPU types in {where}"))
    if config.cluster_gpu_limit == 0 and config.bin_packing_node_gpu > 0:
        checks.append(fail(AREA, "clusterGPULimit", "0 while binPackingNodeGPU asks for GPUs: no GPU node is ever added",
                           "raise clusterGPULimit or unset it"))
    checks += _cost_ceiling(config, catalog.offerings, where)
    if config.max_nodes == 0:
        checks.append(warn(AREA, "maxNodes", "0: the autoscaler never adds a node", "unset maxNodes or raise it"))
    for note in not_acted_on(config):
        checks.append(warn(AREA, "option not acted on", note))
    return checks


def _cost_ceiling(config: Any, offerings: Any, where: str) -> list[Check]:
    if config.max_cluster_hourly_cost is None:
        return []
    fitting = [
        o for o in offerings
        if o.instance_type.vcpu * 1000 >= config.min_node_cpu
        and o.instance_type.memory_mib * 2**20 >= config.min_node_memory
        and (o.instance_type.arch == "amd64" or config.include_arm_instance)
        and o.instance_type.gpu_count == 0
    ]
    if not fitting:
        return [fail(AREA, "node types that fit", f"no type in {where} has minNodeCpu and minNodeMemory",
                     "lower minNodeCpu / minNodeMemory")]
    cheapest = min(fitting, key=lambda o: o.price)
    what = "maxClusterHourlyCost"
    if cheapest.price > config.max_cluster_hourly_cost:
        return [fail(AREA, what, f"${config.max_cluster_hourly_cost:g}/h is below the cheapest node that fits "
                     f"({cheapest.instance_type.name} {cheapest.capacity_type} ${cheapest.price:.4f}/h in {where})",
                     "raise maxClusterHourlyCost, or lower minNodeCpu / minNodeMemory")]
    return [ok(AREA, what, f"${config.max_cluster_hourly_cost:g}/h; cheapest fitting node "
               f"{cheapest.instance_type.name} ${cheapest.price:.4f}/h")]
