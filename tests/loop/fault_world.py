"""The small world of the fault tests on the loop tier: 2 s loops, a 10 s launch, AWS us-east-1."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from autoscaler.config import config_from_mapping
from autoscaler.sim.scenario import Scenario, Simulation


def world(step: float = 2.0, launch_delay: float = 10.0, **options) -> Simulation:
    config = config_from_mapping({"loopPeriod": f"{step:g}s", **options})
    scenario = Scenario("faults", "aws", "us-east-1", 3600.0, step, config, launch_delay, [], Path("."))
    return Simulation(scenario, track_cheapest=False)


def add(sim: Simulation, *pods) -> None:
    """Pods as just created: pending, not yet marked Unschedulable by the scheduler."""
    for pod in pods:
        sim.cluster.add_pod(replace(pod, unschedulable=False, unschedulable_message="", created=sim.clock.now()))
