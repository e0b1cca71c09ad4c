"""Seeded fault schedules (tests/loop/fault_runs.py says what happens and what is checked):
API outages and blips, stale nodes, cloud errors, nodes deleted by hand, operator drains,
pods the planner cannot read, and crashes after every kind of call."""

from __future__ import annotations

import sys

from tests.loop.fault_runs import Counts, run

SEEDS = range(10)  # five simulated minutes each


def test_no_fault_schedule_loses_a_pod_leaks_an_instance_or_leaves_pods_waiting():
    failing: dict[int, list[str]] = {}
    totals = Counts()
    for seed in SEEDS:
        counts = run(seed, 300.0)
        for name in ("launched", "crashes", "outages", "deleted_by_hand", "unreadable_pods", "evictions"):
            setattr(totals, name, getattr(totals, name) + getattr(counts, name))
        if counts.violations:
            failing[seed] = counts.violations
    sys.stderr.write(f"\n[fault schedules] {len(SEEDS)} runs: {vars(totals)}\n")
    # then faults of every kind happened
    assert totals.crashes > 10 and totals.outages > 3 and totals.deleted_by_hand > 3 and totals.unreadable_pods > 5
    # and none lost a pod, leaked an instance, left a pod waiting or backed off a type wrongly
    assert failing == {}
