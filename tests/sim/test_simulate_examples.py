"""The shipped scenarios run in seconds and end as their comments say."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.sim.scenario import ScenarioError, run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


def test_gpu_burst_falls_back_from_the_stocked_out_type_and_cleans_up():
    result, text = run_scenario(str(SCENARIOS / "gpu-burst.yaml"))
    assert result.launched == {"gr6.8xlarge on-demand": 3}  # the API pods ride in a GPU node's spare room
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


def test_hot_node_is_tainted_its_hungriest_pod_moved_and_untainted_when_it_cools():
    result, text = run_scenario(str(SCENARIOS / "hot-node.yaml"))
    hot = [e for e in result.timeline if e.kind in ("hot-node", "evict")]
    # then at 10m the node is red (90% CPU): tainted and the worker (1.6 CPU, the most) evicted, once
    assert [e.message.split(":")[0] for e in hot] == [
        "node sim-i-00000001", "hot-node", "node sim-i-00000001"]
    assert "red (cpu 90%" in hot[0].message and "evicting shop/worker-" in hot[0].message
    assert hot[0].time - result.timeline[0].time == 10 * 60
    # and the worker's replacement gets a second node; at 40m the node is green and untainted
    assert result.launched == {"t3a.xlarge on-demand": 2}
    assert "cooled down" in hot[2].message and hot[2].time - result.timeline[0].time == 40 * 60
    assert sorted({reason for _, reason, _ in result.events}) == [
        "EvictedFromHotNode", "HotNodeEviction", "HotNodeTainted", "HotNodeUntainted"]
    assert result.never_scheduled == []


def test_a_week_of_ttl_cycling_replaces_every_node_first_and_holds_the_do_not_evict_one():
    result, _ = run_scenario(str(SCENARIOS / "ttl-week.yaml"))
    start = result.timeline[0].time
    expired = [e for e in result.timeline if e.kind == "ttl" and " expired: " in e.message]
    # then every node launched in the first 4 days expires between 2d - 6h and 2d of its life
    assert len(expired) == 7
    # web pods never wait for a node when they move: the replacement was Ready first
    waits = result.pod_waits
    assert waits.count(0.0) == len(waits) - 15  # only the first 15 pods (14 web + train) waited
    # the training node is held by its do-not-evict pod until it ends at 3d, then removed
    held = [e for e in result.timeline if "held until pod(s) ml/train" in e.message]
    assert len(held) == 1 and held[0].time - start < 2 * 86400
    removed = [e for e in result.timeline if e.kind == "remove" and "sim-i-00000001" in e.message]
    assert len(removed) == 1 and 3 * 86400 <= removed[0].time - start < 3 * 86400 + 3600  # it started at ~10m
    # nothing else: 3 generations of 2 web nodes + the training node = 9 launches, 2 left at the end
    assert result.launched == {"t3a.xlarge on-demand": 9}
    assert result.nodes_at_end == 2 and result.never_scheduled == []


def test_a_day_on_spot_replaces_every_interrupted_node_before_the_cloud_takes_it():
    result, text = run_scenario(str(SCENARIOS / "spot-day.yaml"))
    # seven spot instances were taken back over the day (2-minute notices)
    assert result.interrupted == 7
    interrupted = [e for e in result.timeline if e.kind == "spot" and "spot-interruption; reclaimed in 120s" in e.message]
    assert len(interrupted) == 7
    # every one was replaced and drained before it went: no pod waited for a node when it moved
    gone = [e for e in result.timeline if e.kind == "spot" and " is gone " in e.message]
    assert len(gone) == 7 and all("replaced before it went" in e.message for e in gone)
    assert result.interruption_waits == 0 and result.never_scheduled == []
    # everything ran on spot, at about half the on-demand day (benchmarks/bench_spot_day.py: $46.94)
    assert all(key.endswith(" spot") for key in result.launched)
    assert result.spent < 0.6 * 46.94
    assert "spot interruptions: 7 instance(s) taken back; 0 pod(s) evicted" in text
