"""The custom role shipped with the chart grants every Azure action the provider uses, and no
more: a whole node life cycle (pool created, node added, node deleted, idle pool removed)
against the local ARM server, each request mapped to its Azure RBAC action (named as Azure
names resource provider operations: `<provider>/<resource type path>/<read|write|delete>`, a
POST action `.../<action>/action`). All of them are on the AKS resource provider: nothing in
the node resource group."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.providers.azure_fixtures import clock, fake_azure, make_provider  # noqa: F401
from tests.providers.test_azure_launch import request

ROLE = Path(__file__).resolve().parents[2] / "helm" / "smart-autoscaler" / "files" / "azure-role.json"
_ACTIONS = [  # (method, path pattern, action)
    ("GET", r"Microsoft.ContainerService/locations/[^/]+/operations/", "Microsoft.ContainerService/locations/operations/read"),
    ("GET", r"/managedClusters/[^/]+$", "Microsoft.ContainerService/managedClusters/read"),
    ("GET", r"/agentPools(/[^/]+)?$", "Microsoft.ContainerService/managedClusters/agentPools/read"),
    ("PUT", r"/agentPools/[^/]+$", "Microsoft.ContainerService/managedClusters/agentPools/write"),
    ("DELETE", r"/agentPools/[^/]+$", "Microsoft.ContainerService/managedClusters/agentPools/delete"),
    ("POST", r"/agentPools/[^/]+/deleteMachines$", "Microsoft.ContainerService/managedClusters/agentPools/deleteMachines/action"),
    ("GET", r"/agentPools/[^/]+/machines(/[^/]+)?$", "Microsoft.ContainerService/managedClusters/agentPools/machines/read"),
]


def action_of(method: str, path: str) -> str:
    for m, pattern, action in _ACTIONS:
        if m == method and re.search(pattern, path):
            return action
    raise AssertionError(f"no RBAC action known for {method} {path}")


def test_the_chart_role_grants_every_call_of_a_node_life_cycle(fake_azure, clock):
    provider = make_provider(fake_azure, clock, poolIdleTime="1m")
    instance = provider.launch(request("life", capacity="spot"))
    provider.list_instances()
    provider.terminate(instance.instance_id)
    provider.list_instances()
    clock.advance(120)
    provider.list_instances()
    provider.pools.flush()
    provider.close()
    assert fake_azure.pools == {}

    used = {action_of(method, path) for method, path, _ in fake_azure.requests}
    granted = set(json.loads(ROLE.read_text())["Actions"])
    assert used == granted
