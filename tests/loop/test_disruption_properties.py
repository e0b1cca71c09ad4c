"""Property runs: hundreds of seeded random hours of cluster life on the simulated clock, with
arrivals, departures, usage spikes, scale-down, hot-node mitigation and TTL cycling all at
once, PodDisruptionBudgets (some forbidding any disruption) and do-not-evict pods
(tests/loop/disruption_runs.py says what is checked, at each eviction). More seeds and
longer runs: benchmarks/bench_disruptions.py."""

from __future__ import annotations

import sys

from tests.loop.disruption_runs import Counts, run

SEEDS = range(200)  # ~25 s of CPU; benchmarks/bench_disruptions.py runs thousands


def test_no_disruption_breaks_a_rule_in_hundreds_of_random_runs():
    # given 200 random one-hour runs (GCP catalog, 60 s loop, nodeTTL 20-45m, TTL limit 1 or 2)
    total, failing = Counts(), []
    for seed in SEEDS:
        counts = run(seed)
        total.add(counts)
        if counts.violations:
            failing.append((seed, vars(counts)))
    sys.stderr.write(f"\n[disruption properties] {len(SEEDS)} runs: {vars(total)}\n")
    # then every disruption happened, and none broke a rule
    assert total.evictions.get("ttl", 0) > 700 and total.evictions.get("hot-node", 0) > 700
    assert total.nodes_cycled > 200 and total.refused > 100 and total.evictions.get("unneeded", 0) > 50
    assert failing == []
    assert (total.pdb_violations, total.do_not_evict_evicted, total.nowhere_to_go) == (0, 0, 0)
    assert (total.double_drains, total.hot_evictions_while_draining, total.over_cycling_limit) == (0, 0, 0)
