"""`smart-autoscaler simulate SCENARIO.yaml`: the real reconcile loop on a simulated clock.

The loop runs unchanged against two named simulators — `InMemoryCluster` (with its minimal
scheduler and controllers) and `SimulatedProvider` (a cloud that boots instances after a
delay and fails on cue) — so an hour of cluster life runs in seconds, with no cloud account
and no cluster. A scenario file says what arrives and leaves when, and what the cloud
refuses:

    name: GPU burst with a stock-out
    cloud: aws
    region: us-east-1
    duration: 90m            # simulated time
    step: 10s                # one reconcile per step
    config: {...}            # autoscaler options, SPEC names
    cloudSimulator: {launchDelay: 90s, readyDelay: 20s}   # boot time; NotReady time after registration
    events:
      - at: 0s
        stockout: {instanceType: g6.8xlarge, capacityType: on-demand, until: 30m}
      - at: 1m
        apply: <manifests, inline YAML>     # or  file: workload.yaml (relative to the scenario)
        runFor: 20m                          # optional: the pods succeed after running this long
        heldBy: "OverLimit: queue quota reached"   # optional: a queueing scheduler holds them
      - at: 20m
        release: Job/default/train           # the queue lets them go
      - at: 40m
        delete: Deployment/default/web       # the workload goes away
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from autoscaler.clock import SimClock
from autoscaler.config import Config, ConfigError, config_from_mapping, parse_duration
from autoscaler.kube.convert import node_from_api
from autoscaler.sim.cluster import InMemoryCluster
from autoscaler.sim.metrics import SimulatedMetricsServer
from autoscaler.quantity import QuantityError, parse_count, parse_cpu_millis
from autoscaler.manifests import ManifestError, load_manifest_text
from autoscaler.model import Pod
from autoscaler.planner import plan
from autoscaler.planner.needs import is_managed
from autoscaler.podspec import PodSpecError, pod_from_manifest
from autoscaler.loop.reconcile import Reconciler, TimelineEntry
from autoscaler.validate.problems import describe
from autoscaler.validate.scenario import CloudSimulator, scenario_problems
from autoscaler.validate.scenario_files import (
    DEFAULT_REGIONS,
    ScenarioError,
    check_event_references,
    read_event_file,
    read_scenario_file,
)
from pricing.catalog import CatalogError, CatalogSettings, region_catalog
from providers.base import Instance, LaunchRequest
from autoscaler.sim.cloud import SimulatedProvider, node_manifest, node_name_for

log = logging.getLogger("smart_autoscaler.sim.scenario")


@dataclass
class ScenarioEvent:
    at: float
    action: str  # apply, delete, release, stockout, quota, slowLaunch, neverBoots, clearFaults, usage, interrupt
    spec: Any
    run_for: float | None = None
    held_by: str | None = None


@dataclass
class Scenario:
    name: str
    cloud: str
    region: str
    duration: float
    step: float
    config: Config
    launch_delay: float
    events: list[ScenarioEvent]
    base_dir: Path
    ready_delay: float = 0.0  # from a Node's registration to its kubelet reporting Ready
    call_time: float = 0.0  # simulated seconds a launch or terminate call takes to answer
    metrics_resolution: float = 15.0  # the simulated metrics-server's scrape interval


def _duration(value: Any, where: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as err:
        raise ScenarioError(f"{where}: invalid duration {value!r}: {err}") from None


def load_scenario(path: str) -> Scenario:
    """Read and validate a scenario file (`autoscaler.validate.scenario` holds its schema and
    bounds); every problem is a ScenarioError naming the file and the field."""
    raw = read_scenario_file(path)
    validated, problems = scenario_problems(raw)
    if validated is None:
        raise ScenarioError(f"scenario {path}: {describe(problems)}")
    cloud = validated.cloud
    region = validated.region or DEFAULT_REGIONS[cloud]
    try:
        config = config_from_mapping({**(validated.config or {}), "cloud": cloud, "region": region})
    except ConfigError as err:
        raise ScenarioError(f"scenario {path}: config: {err}") from None
    simulator = validated.cloudSimulator or CloudSimulator()
    read = [_event(path, index, item, raw["events"][index]) for index, item in enumerate(validated.events or [])]
    check_event_references(path, read)
    events = sorted((event for _, event, _ in read), key=lambda e: e.at)
    return Scenario(
        name=validated.name or Path(path).stem,
        cloud=cloud,
        region=region,
        duration=validated.duration,
        step=validated.step,
        config=config,
        launch_delay=simulator.launchDelay,
        ready_delay=simulator.readyDelay,
        events=events,
        base_dir=Path(path).parent,
        metrics_resolution=validated.metricsServer.resolution if validated.metricsServer else 15.0,
    )


def _event(path: str, index: int, item: Any, raw: dict) -> tuple[int, ScenarioEvent, set[str]]:
    """(index, the event, the workloads it applies)."""
    where = f"scenario {path}: events[{index}]"
    action = next(key for key in ("apply", "file", "delete", "release", "stockout", "quota", "slowLaunch",
                                  "neverBoots", "clearFaults", "usage", "interrupt") if key in raw)
    spec = raw[action]
    if action == "file":
        spec = read_event_file(Path(path).parent / item.file, f"{where}.file")
        action = "apply"
    elif action == "apply" and not isinstance(spec, str):
        spec = yaml.safe_dump_all(spec if isinstance(spec, list) else [spec])
    elif action in ("stockout", "quota", "slowLaunch", "neverBoots", "usage", "interrupt"):
        spec = getattr(item, action).model_dump(exclude_none=True)
    workloads: set[str] = set()
    if action == "apply":
        try:
            loaded = load_manifest_text(str(spec), f"{where}.{'file' if 'file' in raw else 'apply'}")
        except ManifestError as err:
            raise ScenarioError(str(err)) from None
        workloads = {pod.workload for pod in loaded.pods}
    event = ScenarioEvent(at=item.at, action=action, spec=spec, run_for=item.runFor, held_by=item.heldBy)
    return index, event, workloads


@dataclass
class SimulationResult:
    scenario: Scenario
    timeline: list[TimelineEntry]
    launched: dict[str, int]  # "type capacity" -> instances launched
    nodes_at_end: int
    pod_waits: list[float]  # seconds from creation to binding, per pod that got a node
    never_scheduled: list[str]
    spent: float  # $ for instance time
    cheapest: float  # $ had every pod set been served by the cheapest plan at every moment
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (object, reason, message)
    interrupted: int = 0  # spot instances the scenario took back
    interruption_waits: int = 0  # pods evicted from them before their replacement was Ready


class Simulation:
    def __init__(self, scenario: Scenario, track_cheapest: bool = True) -> None:
        self.scenario = scenario
        self.track_cheapest = track_cheapest
        self.clock = SimClock()
        self.start = self.clock.now()
        self.cluster = InMemoryCluster(self.clock)
        config = scenario.config
        self.catalog = region_catalog(
            scenario.cloud,
            scenario.region,
            CatalogSettings(config.spot_price_ratio_estimate, config.vm_memory_overhead_percent, config.max_pods_per_node),
        )
        self.provider = SimulatedProvider(
            self.clock,
            config.cluster_name,
            scenario.region,
            launch_delay=scenario.launch_delay,
            on_boot=self._boot,
            on_terminate=self._terminated,
            call_time=scenario.call_time,
            catalog=self.catalog,
        )
        self.metrics_server = SimulatedMetricsServer(self.cluster, self.clock, scenario.metrics_resolution)
        self.reconciler = Reconciler(self.cluster, self.provider, self.catalog, config, self.clock, usage=self.metrics_server)
        self.workloads: dict[str, set[str]] = {}  # workload -> owners of its pods
        self.created: dict[str, float] = {}
        self.waits: dict[str, float] = {}
        self.cluster.on_pod_bound = self._bound
        self._cheapest_cache: dict[tuple, float] = {}
        self._events = list(scenario.events)
        self.spent = 0.0
        self.cheapest = 0.0
        self.cloud_init_delay = 0.0  # seconds new nodes carry the cloud controller's start-up taint
        self.interrupted = 0  # instances the scenario interrupted

    # ---- simulated parts talking to each other

    def _boot(self, instance: Instance, request: LaunchRequest) -> None:
        manifest = node_manifest(instance, request, node_name_for(instance))
        node = node_from_api(manifest)
        slices = self.scenario.config.nvidia_gpu_time_slices
        if slices > 1 and request.instance_type.gpu_resource == "nvidia.com/gpu":
            node = replace(node, allocatable=replace(node.allocatable, gpu=node.allocatable.gpu * slices))
        self.cluster.add_node(
            replace(node, ready=True, created=self.clock.now()), ready_after=self.scenario.ready_delay,
            initialized_after=self.cloud_init_delay,
        )

    def _terminated(self, instance: Instance) -> None:
        name = node_name_for(instance)
        if name in self.cluster.nodes:
            self.cluster.delete_node(name)

    def _bound(self, pod: Pod, node: str) -> None:
        created = self.created.get(pod.key, pod.created)
        self.waits.setdefault(pod.key, self.clock.now() - created)

    # ---- scenario actions

    def _apply(self, event: ScenarioEvent) -> None:
        try:
            loaded = load_manifest_text(str(event.spec), f"{self.scenario.name} at {event.at:g}s")
        except ManifestError as err:
            raise ScenarioError(str(err)) from None
        for expanded in loaded.pods:
            try:
                pod = pod_from_manifest(expanded.manifest, self.scenario.config.annotation_prefixes)
            except PodSpecError as err:
                raise ScenarioError(f"{expanded.source}: {err}") from None
            pod = replace(pod, created=self.clock.now())
            self.cluster.add_pod(pod, run_for=event.run_for)
            self.created[pod.key] = self.clock.now()
            self.workloads.setdefault(expanded.workload, set()).add(pod.owner or pod.key)
            if event.held_by:
                self.cluster.hold(pod.key, event.held_by)

    def _owners(self, workload: str) -> set[str]:
        if workload not in self.workloads:
            raise ScenarioError(f"no workload {workload!r} was applied; known: {', '.join(sorted(self.workloads))}")
        return self.workloads[workload]

    def _do(self, event: ScenarioEvent) -> None:
        spec = event.spec if isinstance(event.spec, dict) else {}
        until = (lambda: self.start + _duration(spec["until"], "until")) if "until" in spec else (lambda: None)
        if event.action == "apply":
            self._apply(event)
        elif event.action == "delete":
            for owner in self._owners(str(event.spec)):
                self.cluster.remove_workload(owner)
                if owner in self.cluster.pods:  # a bare pod
                    self.cluster.pods.pop(owner)
        elif event.action == "release":
            owners = self._owners(str(event.spec))
            for key, pod in list(self.cluster.pods.items()):
                if (pod.owner or pod.key) in owners:
                    self.cluster.release(key)
        elif event.action == "stockout":
            self.provider.inject_stockout(
                spec["instanceType"], spec.get("capacityType", "on-demand"), spec.get("zone", ""), until()
            )
        elif event.action == "quota":
            self.provider.inject_quota(spec["instanceType"], spec.get("capacityType", "on-demand"), until())
        elif event.action == "slowLaunch":
            self.provider.inject_slow_launch(spec["instanceType"], _duration(spec["delay"], "slowLaunch.delay"))
        elif event.action == "neverBoots":
            self.provider.inject_never_boots(spec["instanceType"])
        elif event.action == "clearFaults":
            self.provider.clear_faults()
        elif event.action == "usage":
            self._usage(spec)
        elif event.action == "interrupt":
            chosen = self.provider.interrupt_spot(
                int(spec.get("count", 1)), str(spec.get("instanceType", "")), float(spec.get("notice", 120.0)),
                str(spec.get("kind", "spot-interruption")),
            )
            self.interrupted += len(chosen)
        self.reconciler.note("scenario", f"{event.action} {event.spec if event.action != 'apply' else ''}".strip())

    def _usage(self, spec: dict) -> None:
        try:
            cpu, memory = parse_cpu_millis(spec.get("cpu", 0)), parse_count(spec.get("memory", 0))
        except QuantityError as err:
            raise ScenarioError(f"{self.scenario.name}: usage of {spec['workload']}: {err}") from None
        for owner in self._owners(str(spec["workload"])):
            self.metrics_server.set_usage(owner, cpu, memory)

    # ---- accounting

    def _cheapest_now(self) -> float:
        """$/h of the cheapest plan for the managed pods present now, from scratch, with no faults."""
        pods = [
            p for p in self.cluster.pods.values()
            if not p.terminal and not p.daemonset and is_managed(p, self.scenario.config) and p.key not in self.cluster.held
        ]
        key = tuple(sorted((p.owner or p.key, id(p.shape)) for p in pods))
        if key not in self._cheapest_cache:
            fresh = [replace(p, node_name="", phase="Pending") for p in pods]
            self._cheapest_cache[key] = plan(fresh, self.catalog, self.scenario.config, apply_cluster_limits=False).hourly_cost
        return self._cheapest_cache[key]

    def step(self) -> None:
        """One simulated step: due scenario events, the cloud, the scheduler, one reconcile."""
        now = self.clock.now()
        while self._events and self.start + self._events[0].at <= now:
            self._do(self._events.pop(0))
        self.provider.tick()
        self.cluster.schedule()
        self.reconciler.reconcile_once()
        self.cluster.schedule()
        hours = self.scenario.step / 3600.0
        self.spent += hours * sum(
            self.reconciler.prices.price(i.instance_type, i.capacity_type, i.tags) for i in self.provider.list_instances()
        )
        if self.track_cheapest:
            self.cheapest += hours * self._cheapest_now()
        self.clock.advance(self.scenario.step)

    def run_for(self, seconds: float) -> None:
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            self.step()

    def run(self) -> SimulationResult:
        scenario = self.scenario
        self.run_for(self.start + scenario.duration - self.clock.now())
        launched: dict[str, int] = {}
        for instance in self.provider.launched:
            key = f"{instance.instance_type} {instance.capacity_type}"
            launched[key] = launched.get(key, 0) + 1
        never = sorted(
            key for key, pod in self.cluster.pods.items()
            if not pod.node_name and not pod.terminal and key not in self.waits and is_managed(pod, scenario.config)
        )
        return SimulationResult(
            scenario=scenario,
            timeline=list(self.reconciler.timeline),
            launched=launched,
            nodes_at_end=len(self.cluster.nodes),
            pod_waits=sorted(self.waits.values()),
            never_scheduled=never,
            spent=round(self.spent, 4),
            cheapest=round(self.cheapest, 4),
            interrupted=self.interrupted,
            interruption_waits=int(self.reconciler.metrics.interruption_pods_waited._value.get()),
            events=[(f"{e.ref.kind} {e.ref.namespace + '/' if e.ref.namespace else ''}{e.ref.name}", e.reason, e.message) for e in self.cluster.events],
        )


def _clock_text(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def format_result(result: SimulationResult, start: float) -> str:
    out = [f"scenario: {result.scenario.name} ({result.scenario.cloud} {result.scenario.region}, "
           f"{_clock_text(result.scenario.duration)} simulated)", "", "timeline:"]
    for entry in result.timeline:
        out.append(f"  [{_clock_text(entry.time - start)}] {entry.kind:<13} {entry.message}")
    out += ["", "summary:"]
    if result.launched:
        out.append("  nodes launched: " + ", ".join(f"{count} x {key}" for key, count in sorted(result.launched.items())))
    else:
        out.append("  nodes launched: none")
    out.append(f"  nodes at the end: {result.nodes_at_end}")
    if result.pod_waits:
        waits = result.pod_waits
        p95 = waits[min(len(waits) - 1, int(round(0.95 * (len(waits) - 1))))]
        out.append(
            f"  pod wait (creation to node): {len(waits)} pods, median {statistics.median(waits):.0f}s, "
            f"p95 {p95:.0f}s, max {max(waits):.0f}s"
        )
    if result.never_scheduled:
        out.append(f"  pods never scheduled: {len(result.never_scheduled)} ({', '.join(result.never_scheduled[:5])}"
                   f"{', ...' if len(result.never_scheduled) > 5 else ''})")
    if result.interrupted:
        out.append(f"  spot interruptions: {result.interrupted} instance(s) taken back; "
                   f"{result.interruption_waits} pod(s) evicted before their replacement was Ready")
    ratio = f" ({result.spent / result.cheapest:.2f}x)" if result.cheapest else ""
    out.append(f"  spent: ${result.spent:.4f} vs cheapest possible ${result.cheapest:.4f}{ratio}")
    warnings = [e for e in result.events if e[1] not in ("NodeCostEstimate",)]
    if warnings:
        out.append(f"  events: {len(result.events)} ({', '.join(sorted({e[1] for e in result.events}))})")
    return "\n".join(out)


def run_scenario(path: str) -> tuple[SimulationResult, str]:
    try:
        scenario = load_scenario(path)
        simulation = Simulation(scenario)
    except CatalogError as err:
        raise ScenarioError(f"scenario {path}: {err}") from None
    result = simulation.run()
    return result, format_result(result, simulation.start)
