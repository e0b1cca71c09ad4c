"""Offline cost preview (SPEC §7): what would these manifests cost on each cloud/region?"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from autoscaler.config import Config
from autoscaler.manifests import LoadedManifests
from autoscaler.model import Pod
from autoscaler.planner import DaemonSetOverhead, plan
from autoscaler.podspec import PodSpecError, pod_from_manifest
from autoscaler.runtimeclass import RuntimeClassError, admitted_spec
from autoscaler.validate.notices import annotation_hints, triage
from autoscaler.volumes import (
    VolumeTopology,
    claim_from_api,
    ephemeral_claims,
    storage_class_from_api,
    volume_from_api,
    with_volumes,
)
from pricing.catalog import DEFAULT_REGIONS, CatalogError, catalog_settings, region_catalog
from pricing.option_store import candidate_store

HOURS_PER_MONTH = 730


class TargetError(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    cloud: str
    region: str

    def __str__(self) -> str:
        return f"{self.cloud}:{self.region}"


def parse_target(text: str) -> Target:
    cloud, _, region = text.partition(":")
    cloud = cloud.strip().lower()
    if cloud not in DEFAULT_REGIONS:
        raise TargetError(f"--target {text!r}: unknown cloud {cloud!r}; use aws, gcp, azure or oci, as CLOUD:REGION")
    return Target(cloud, region.strip() or DEFAULT_REGIONS[cloud])


@dataclass
class NodeLine:
    instance_type: str
    capacity_type: str
    mode: str
    count: int
    hourly_cost_each: float
    pods: list[str]
    zones: list[str]
    vcpu: int
    memory_gib: float
    gpus: int
    gpu_model: str | None
    price_estimated: bool
    price_note: str

    def as_json(self) -> dict[str, Any]:
        return {
            "instance_type": self.instance_type,
            "capacity_type": self.capacity_type,
            "mode": self.mode,
            "count": self.count,
            "hourly_cost_each": self.hourly_cost_each,
            "pods": self.pods,
            "zones": self.zones,
            "vcpu": self.vcpu,
            "memory_gib": self.memory_gib,
            "gpus": self.gpus,
            "gpu_model": self.gpu_model,
            "price_estimated": self.price_estimated,
            **({"price_note": self.price_note} if self.price_note else {}),
        }


@dataclass
class TargetResult:
    target: Target
    nodes: list[NodeLine] = field(default_factory=list)
    unplaceable: list[tuple[str, str]] = field(default_factory=list)
    placed_pods: int = 0

    @property
    def total_hourly_cost(self) -> float:
        return round(sum(line.count * line.hourly_cost_each for line in self.nodes), 6)

    @property
    def node_count(self) -> int:
        return sum(line.count for line in self.nodes)

    def as_json(self) -> dict[str, Any]:
        return {
            "cloud": self.target.cloud,
            "region": self.target.region,
            "total_hourly_cost": self.total_hourly_cost,
            "node_count": self.node_count,
            "nodes": [line.as_json() for line in self.nodes],
            "unplaceable": [{"pod": pod, "reason": reason} for pod, reason in self.unplaceable],
        }


@dataclass
class PreviewResult:
    targets: list[TargetResult]
    problems: list[str]
    skipped: list[str]  # objects that give no pods: "file#2 Rollout/web: reason"
    skipped_pods: list[tuple[str, str]] = field(default_factory=list)  # (pod, reason): needs no node

    def as_json(self) -> dict[str, Any]:
        return {
            "targets": [t.as_json() for t in self.targets],
            "problems": self.problems,
            "skipped": [_skipped_object(line) for line in self.skipped],
            "skipped_pods": [{"pod": pod, "reason": reason} for pod, reason in self.skipped_pods],
        }


def _skipped_object(line: str) -> dict[str, str]:
    """'file#2 Rollout/web: reason' -> {"object": "file#2 Rollout/web", "reason": "reason"}."""
    head, _, reason = line.partition(": ")
    return {"object": head, "reason": reason}


def manifest_overheads(daemonsets: Sequence[dict[str, Any]]) -> tuple[list[DaemonSetOverhead], list[str]]:
    """Per-node overhead of the DaemonSets in the files; an unreadable one is a problem, not a crash."""
    if not daemonsets:
        return [], []
    from autoscaler.kube.convert import daemonset_from_api  # the cluster model, for DaemonSets only
    from autoscaler.snapshot import daemonset_overheads

    infos, problems = [], []
    for ds in daemonsets:
        try:
            infos.append(daemonset_from_api(ds))
        except PodSpecError as err:
            problems.append(f"DaemonSet ignored: {err}")
    return daemonset_overheads(infos), problems


def pods_of(manifests: LoadedManifests, config: Config) -> tuple[list[Pod], list[tuple[str, str]]]:
    """Planner pods for every expanded pod; unreadable ones come back as (pod, reason)."""
    pods, broken = [], []
    memo: dict = {}
    admitted: dict[int, tuple[dict, dict]] = {}  # id(template spec) -> (spec, as admitted)
    for expanded in manifests.pods:
        try:
            manifest = _with_runtime_class(expanded.manifest, manifests.runtime_classes, admitted)
            pod = pod_from_manifest(manifest, config.annotation_prefixes, memo, validated=True)
            if expanded.replica_names:  # replicas stay a count (autoscaler/planner/replicas.py)
                pod = replace(pod, replicas=len(expanded.replica_names), replica_names=expanded.replica_names)
            pods.append(pod)
        except (PodSpecError, RuntimeClassError) as err:
            meta = expanded.manifest.get("metadata") or {}
            namespace = meta.get("namespace", "default")
            for name in expanded.replica_names or (meta.get("name", ""),):
                broken.append((f"{namespace}/{name}", f"{expanded.source}: {err}"))
    return pods, broken


def volume_topology(manifests: LoadedManifests) -> VolumeTopology:
    """The claims, volumes and classes in the files, and the claims of the pods' ephemeral
    volumes (the ephemeral volume controller makes `<pod>-<volume>` from the volume's
    template). What is not in them is not known (the cluster may have it), so a pod whose claim
    is not in the files is planned as if its volume could be anywhere, and an unbound claim of
    a class not in the files likewise."""
    claims = {key: claim_from_api(raw) for key, raw in manifests.claims.items()}
    for expanded in manifests.pods:
        for key, claim in ephemeral_claims(expanded.manifest).items():
            claims.setdefault(key, claim)
    return VolumeTopology(
        claims=claims,
        volumes={name: volume_from_api(raw) for name, raw in manifests.volumes.items()},
        classes={name: storage_class_from_api(raw) for name, raw in manifests.storage_classes.items()},
        strict=False,
    )


def _with_runtime_class(manifest: dict, classes: dict[str, dict], admitted: dict[int, tuple[dict, dict]]) -> dict:
    """The pod as the RuntimeClass admission controller leaves it (autoscaler/runtimeclass.py);
    one admitted spec per template, so the replicas keep sharing it."""
    spec = manifest.get("spec") or {}
    name = spec.get("runtimeClassName")
    if not name:
        return manifest
    if name not in classes:
        raise RuntimeClassError(
            f"runtimeClassName {name!r}: no RuntimeClass {name} in the files, so its overhead and scheduling are "
            "unknown; add the RuntimeClass manifest (the API server rejects a pod whose RuntimeClass does not exist)"
        )
    known = admitted.get(id(spec))
    if known is None or known[0] is not spec:
        known = admitted[id(spec)] = (spec, admitted_spec(spec, classes[name]))
    return {**manifest, "spec": known[1]}


def _node_lines(result_plan: Any) -> list[NodeLine]:
    lines: dict[tuple[str, str, str, tuple[str, ...]], NodeLine] = {}
    for node in result_plan.new_nodes:
        option = node.option
        itype = option.instance_type
        key = (itype.display_name, option.capacity_type, node.mode, option.zones)
        line = lines.get(key)
        if line is None:
            line = lines[key] = NodeLine(
                instance_type=itype.display_name,
                capacity_type=option.capacity_type,
                mode=node.mode,
                count=0,
                hourly_cost_each=option.price,
                pods=[],
                zones=list(option.zones),
                vcpu=itype.vcpu,
                memory_gib=round(itype.memory_mib / 1024, 2),
                gpus=itype.gpu_count,
                gpu_model=itype.gpu_model,
                price_estimated=option.price_estimated,
                price_note=option.price_note,
            )
        line.count += 1
        line.pods.extend(node.pods)
    return list(lines.values())


def _with_live_prices(catalog: Any, target: Target, config: Config, problems: list[str]) -> Any:
    """`--live-prices`: the target cloud's public price API over the embedded figures; on
    failure a warning, and the embedded catalog answers."""
    from pricing.catalog import with_live_prices
    from providers.registry import live_prices

    try:
        table = live_prices(target.cloud, target.region, config)
    except ValueError as err:
        problems.append(f"{target}: {err}; using the embedded prices")
        return catalog
    if table is None:
        problems.append(f"{target}: no live price source for {target.cloud}; using the embedded prices")
        return catalog
    if hasattr(table, "apply"):  # re-prices the catalog itself (providers/public_prices.py)
        return table.apply(catalog)
    return with_live_prices(catalog, table.prices, table.note())


def run_preview(
    manifests: LoadedManifests, targets: Sequence[Target], config: Config, timings: dict[str, float] | None = None,
    live_prices: bool = False,
) -> PreviewResult:
    """`timings` (phase -> seconds), when given, gets the time spent turning pods into the
    planner's (expand) and planning (plan)."""
    timings = timings if timings is not None else {}
    started = time.perf_counter()
    pods, broken = pods_of(manifests, config)
    if any(pod.claims for pod in pods):
        pods = with_volumes(pods, volume_topology(manifests))
    timings["expand"] = timings.get("expand", 0.0) + time.perf_counter() - started
    triaged = triage(pods, config)
    pods = triaged.planned
    overheads, problems = manifest_overheads(manifests.daemonsets)
    problems += [f"{pod}: {reason}" for pod, reason in broken]
    problems += triaged.notes
    problems += annotation_hints(
        ((f"{(p.manifest.get('metadata') or {}).get('namespace', 'default')}/{p.manifest['metadata'].get('name')}",
          p.manifest["metadata"]["annotations"]) for p in manifests.pods if p.manifest["metadata"].get("annotations")),
        config.annotation_prefixes,
    )
    results = []
    for target in targets:
        settings = catalog_settings(config, target.cloud)
        try:
            catalog = region_catalog(target.cloud, target.region, settings)
        except CatalogError as err:
            raise TargetError(f"--target {target}: {err}") from None
        if live_prices:
            catalog = _with_live_prices(catalog, target, config, problems)
        target_config = replace(config, cloud=target.cloud, region=target.region)
        started = time.perf_counter()
        store = candidate_store(catalog, target_config, overheads)
        decided = plan(pods, catalog, target_config, daemonsets=overheads, option_store=store)
        timings["plan"] = timings.get("plan", 0.0) + time.perf_counter() - started
        if store is not None:
            store.flush()  # the candidate lists this plan filtered, for the next preview
        result = TargetResult(target, _node_lines(decided))
        result.unplaceable = [(u.pod, u.reason) for u in decided.unplaceable] + broken
        result.placed_pods = sum(len(line.pods) for line in result.nodes)
        results.append(result)
        for problem in decided.problems:
            if problem not in problems:
                problems.append(problem)
    return PreviewResult(results, problems, list(manifests.skipped), triaged.skipped)


# ---- table output


_POD_LINES = 10  # per node line in the table; -o json lists every pod


def _pods_cell(pods: list[str], width: int = 60) -> list[str]:
    """Pod names wrapped over lines of about `width` characters; a longer name gets a line of
    its own, whole. Past a few lines the rest is counted, visibly, never dropped silently."""
    lines: list[str] = []
    current = ""
    for index, pod in enumerate(pods):
        candidate = f"{current}, {pod}" if current else pod
        if current and len(candidate) > width:
            lines.append(current + ",")
            if len(lines) == _POD_LINES:
                lines.append(f"... and {len(pods) - index} more pods (-o json lists every pod)")
                return lines
            candidate = pod
        current = candidate
    if current:
        lines.append(current)
    return lines


def format_table(result: PreviewResult) -> str:
    out: list[str] = []
    for target in result.targets:
        out.append(f"== {target.target} ==")
        if target.nodes:
            rows = [("INSTANCE TYPE", "CAPACITY", "ZONE", "MODE", "COUNT", "$/H EACH", "$/H", "PODS")]
            for line in target.nodes:
                mark = "*" if line.price_estimated else ""
                first, *more = _pods_cell(line.pods) or [""]
                rows.append(
                    (
                        line.instance_type,
                        line.capacity_type,
                        line.zones[0] if len(line.zones) == 1 else "any",
                        line.mode,
                        str(line.count),
                        f"{line.hourly_cost_each:.4f}{mark}",
                        f"{line.count * line.hourly_cost_each:.4f}{mark}",
                        first,
                    )
                )
                rows += [("", "", "", "", "", "", "", extra) for extra in more]
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
            for row in rows:
                out.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        else:
            out.append("  no new nodes")
        for pod, reason in target.unplaceable:
            out.append(f"  UNPLACEABLE {pod}: {reason}")
        out.append(f"  total ${target.total_hourly_cost:.4f}/h")
        out.append("")
    out.append("== summary ==")
    rows = [("TARGET", "NODES", "$/HOUR", f"$/MONTH ({HOURS_PER_MONTH}h)", "PODS PLACED", "UNPLACEABLE")]
    for target in result.targets:
        rows.append(
            (
                str(target.target),
                str(target.node_count),
                f"{target.total_hourly_cost:.4f}",
                f"{target.total_hourly_cost * HOURS_PER_MONTH:.2f}",
                str(target.placed_pods),
                str(len(target.unplaceable)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    if len(result.targets) > 1:
        cheapest = min(result.targets, key=lambda t: (len(t.unplaceable), t.total_hourly_cost))
        out.append(f"  cheapest: {cheapest.target} at ${cheapest.total_hourly_cost:.4f}/h")
    if any(line.price_estimated for target in result.targets for line in target.nodes):
        out.append("  * estimated price (spot from on-demand x spotPriceRatioEstimate or the Spot Instance Advisor's saving, or another region's list price)")
    if result.skipped or result.skipped_pods:
        out.append("")
        out.append("== skipped ==")
        out += [f"  {line}" for line in result.skipped]
        out += [f"  pod {pod}: {reason}" for pod, reason in result.skipped_pods]
    for problem in result.problems:
        out.append(f"warning: {problem}")
    return "\n".join(out)
