"""The shipped scenarios run in seconds and end as their comments say."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.sim.scenario import ScenarioError, run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


def test_gpu_burst_falls_back_from_the_stocked_out_type_and_cleans_up():
    result, text = run_scenario(str(SCENARIOS / "gpu-burst.yaml"))
    assert result.launched == {"gr6.8xlarge on-demand": 3, "t3a.xlarge on-demand": 1}
    assert any(e.kind == "launch-failed" and "g6.8xlarge" in e.message for e in result.timeline)
    assert result.nodes_at_end == 1
    assert result.never_scheduled == []
    assert max(result.pod_waits) == 90 + 20  # boot plus NotReady time: no loop was lost
    assert "spent: $" in text and "cheapest possible" in text


def test_kai_queue_launches_nothing_while_the_queue_holds_the_job():
    result, _ = run_scenario(str(SCENARIOS / "kai-queue.yaml"))
    launches = [e for e in result.timeline if e.kind == "launch"]
    assert len(launches) == 1 and "p4d.24xlarge" in launches[0].message
    assert launches[0].time - result.timeline[0].time == 20 * 60
    assert result.nodes_at_end == 0


def test_bin_pack_wave_launches_once_and_drains_away():
    result, _ = run_scenario(str(SCENARIOS / "binpack-wave.yaml"))
    assert result.launched == {"t3a.xlarge on-demand": 6}
    assert len({e.time for e in result.timeline if e.kind == "launch"}) == 1
    assert result.nodes_at_end == 0
    assert sorted(result.pod_waits) == [60.0 + 20.0] * 40


def test_simulate_command_prints_timeline_and_summary(capsys):
    assert main(["simulate", str(SCENARIOS / "binpack-wave.yaml")]) == 0
    out = capsys.readouterr().out
    assert "timeline:" in out and "summary:" in out and "6 x t3a.xlarge on-demand" in out


@pytest.mark.parametrize(
    "content, expected",
    [
        ("events: [{at: 1m}]\n", "exactly one action"),
        ("duration: soon\n", "duration"),
        ("config: {binPackingNodeCpu: lots}\n", "binPackingNodeCpu"),
        ("events: [{at: 0s, delete: Deployment/default/none}]\n", "no workload"),
    ],
)
def test_bad_scenarios_say_what_is_wrong(tmp_path, content, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ScenarioError, match=expected):
        run_scenario(str(path))
