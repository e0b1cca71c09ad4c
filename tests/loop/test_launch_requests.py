"""What a launch asks the cloud for, and what the loop records when the cloud delivers another
equivalent offering (SPEC §4; providers.base.LaunchRequest.price / .alternatives).

The planner names the equivalent offerings of a new node (NewNode.alternatives, next cheapest
first); here they are given to it by wrapping the real planner, so the test is about the loop.
"""

from __future__ import annotations

from dataclasses import replace

import autoscaler.loop.scaleup as scaleup
from tests.helpers import make_pod
from tests.loop.test_reconcile import L4, add, running, world


def with_next_cheapest_as_alternative(monkeypatch):
    real = scaleup.plan

    def plan(pods, catalog, config, **kwargs):
        decided = real(pods, catalog, config, **kwargs)
        nodes = []
        for new in decided.new_nodes:
            others = real(pods, catalog, config, **{**kwargs, "backoffs": {(new.instance_type, new.capacity_type, ""): "x"}})
            nodes.append(replace(new, alternatives=tuple(n.option for n in others.new_nodes[:1])))
        return replace(decided, new_nodes=tuple(nodes))

    monkeypatch.setattr(scaleup, "plan", plan)


def test_request_carries_price_and_alternatives_and_the_loop_records_the_type_delivered(monkeypatch):
    """Given g6.8xlarge ($2.0144/h) stocked out and a cloud that takes alternatives in one call,
    when an L4 pod needs a node, then one call asks for g6.8xlarge at $2.0144/h with gr6.8xlarge
    as its alternative, the cloud delivers gr6.8xlarge, and the loop counts that: its price in
    the $/h gauge, its type on the node, and the pod runs there."""
    with_next_cheapest_as_alternative(monkeypatch)
    sim = world()
    sim.provider.use_alternatives = True
    sim.provider.inject_stockout("g6.8xlarge", "on-demand")
    sent = []
    launch = sim.provider.launch
    sim.provider.launch = lambda request: sent.append(request) or launch(request)
    add(sim, make_pod("w", "16", "16Gi", 1, owner="ReplicaSet/w", annotations=L4))
    sim.step()
    (request,) = sent
    assert (request.instance_type.name, request.price) == ("g6.8xlarge", 2.0144)
    assert [(a.instance_type.name, a.capacity_type) for a in request.alternatives] == [("gr6.8xlarge", "on-demand")]
    (instance,) = sim.provider.launched
    assert instance.instance_type == "gr6.8xlarge" and sim.provider.launch_calls == 1
    delivered_price = sim.reconciler.prices.price("gr6.8xlarge", "on-demand")
    registry = sim.reconciler.metrics.registry
    assert registry.get_sample_value("smart_autoscaler_managed_nodes_hourly_cost_dollars") == delivered_price
    (line,) = [e.message for e in sim.reconciler.timeline if e.kind == "launch"]
    assert "gr6.8xlarge on-demand" in line and f"${delivered_price:g}/h" in line
    sim.run_for(70)
    (node,) = sim.cluster.nodes.values()
    assert node.labels["node.kubernetes.io/instance-type"] == "gr6.8xlarge"
    assert running(sim) == ["default/w"]
    assert len(sim.provider.launched) == 1
