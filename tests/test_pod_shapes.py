"""Pod shapes are interned so that pods of one set group by identity (autoscaler/model.py)."""

from __future__ import annotations

import gc

from autoscaler.model import PodShape
from autoscaler.resources import Resources
from tests.helpers import plan_for, replicas


def test_a_set_stays_one_set_however_many_other_shapes_come_and_go():
    """Given two pods of one Deployment, when 250,000 other shapes are made and dropped (more
    than any table size a daemon would clear at) and a third replica is made, then all three
    share one shape object and the planner packs them as one set: 1 node, not 2."""
    first = replicas("web", 2, "1", "1Gi")
    for millicores in range(250_000):
        PodShape.of(Resources(cpu=10_000_000 + millicores))
    gc.collect()
    (third,) = replicas("web", 1, "1", "1Gi")
    assert third.shape is first[0].shape is first[1].shape
    assert len(plan_for(first + [third]).new_nodes) == 1


def test_shapes_no_pod_holds_are_not_kept():
    shape = PodShape.of(Resources(cpu=123_456_789))
    key = (shape.requests, shape.constraints)
    del shape
    gc.collect()
    assert key not in PodShape._interned
    assert key[0] not in PodShape._plain
