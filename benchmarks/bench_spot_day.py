"""A day on spot with interruptions against the same day all on-demand (SPEC: spot interruptions).

Run: python benchmarks/bench_spot_day.py [examples/scenarios/spot-day.yaml]
Prints, for both runs of the scenario's workload: $ spent, pods' wait from creation to a node
(median, p95, max), interruptions and pods evicted before their replacement was Ready. The
on-demand run is the same file with every spot allowance turned into on-demand and no
interruptions (nothing to interrupt).
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoscaler.sim.scenario import Simulation, load_scenario  # noqa: E402


def on_demand_copy(path: Path) -> Path:
    raw = yaml.safe_load(path.read_text())
    raw["config"] = {**(raw.get("config") or {}), "binPackingNodePricing": "on-demand"}
    raw["events"] = [e for e in raw["events"] if "interrupt" not in e]
    text = yaml.safe_dump(raw, sort_keys=False).replace("spot,on-demand", "on-demand")
    out = Path(tempfile.mkdtemp()) / path.name.replace(".yaml", "-on-demand.yaml")
    out.write_text(text)
    return out


def run(path: Path) -> str:
    started = time.process_time()
    result = Simulation(load_scenario(str(path)), track_cheapest=False).run()
    waits = result.pod_waits or [0.0]
    p95 = waits[min(len(waits) - 1, int(round(0.95 * (len(waits) - 1))))]
    return (f"${result.spent:8.2f}  pods waited median {statistics.median(waits):.0f}s p95 {p95:.0f}s max {max(waits):.0f}s"
            f"  interruptions {result.interrupted}, pods evicted before a Ready replacement {result.interruption_waits}"
            f"  ({time.process_time() - started:.1f} s CPU)")


def main() -> int:
    logging.disable(logging.WARNING)
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/scenarios/spot-day.yaml")
    print(f"scenario {path}")
    print(f"  spot with interruptions: {run(path)}")
    print(f"  all on-demand:           {run(on_demand_copy(path))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
