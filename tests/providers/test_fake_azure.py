"""The local AKS server refuses what AKS refuses (tests/providers/fake_azure.py cites the
sources): bodies outside the Agent Pools contract, tag names Azure Resource Manager rejects,
a second operation on a pool while one runs. Through the real SDK, as the provider calls it."""

from __future__ import annotations

import pytest

from tests.providers.azure_fixtures import clock, fake_azure, make_provider  # noqa: F401
from tests.providers.fake_azure import start_fake_azure


def refusal(api, name: str, properties: dict) -> tuple[int, str]:
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError) as caught:
        api.wait(api.put_pool(name, {"properties": properties}), "put")
    return caught.value.status_code, caught.value.error.code


POOL = {"vmSize": "Standard_D4s_v5", "mode": "User", "osType": "Linux", "count": 1}


@pytest.mark.parametrize(
    "name, properties, code",
    [
        ("pool1", {**POOL, "tags": {"smart-autoscaler.io/cluster": "c"}}, "InvalidTagNameCharacters"),
        ("pool1", {**POOL, "tags": {"k": "v" * 257}}, "InvalidTagValueLength"),
        ("pool1", {**POOL, "tags": {f"k{i}": "" for i in range(45)}}, "InvalidTagCount"),  # + AKS's own on the scale set
        ("pool1", {**POOL, "count": 1001}, "InvalidParameter"),
        ("pool1", {**POOL, "scaleSetPriority": "LowPriority"}, "InvalidParameter"),
        ("pool1", {**POOL, "nodeTaints": ["no-effect"]}, "InvalidParameter"),
        ("Pool_1", POOL, "InvalidParameter"),
    ],
)
def test_a_pool_body_outside_the_contract_is_refused(fake_azure, clock, name, properties, code):
    provider = make_provider(fake_azure, clock)
    assert refusal(provider.api, name, properties) == (400, code)
    assert fake_azure.pools == {}


def test_a_pools_size_cannot_change_and_its_count_can(fake_azure, clock):
    api = make_provider(fake_azure, clock).api
    api.wait(api.put_pool("pool1", {"properties": POOL}), "create")
    assert refusal(api, "pool1", {**POOL, "vmSize": "Standard_E4as_v5"}) == (400, "PropertyChangeNotAllowed")
    api.wait(api.put_pool("pool1", {"properties": {**POOL, "count": 3}}), "scale")
    assert len(api.list_machines("pool1")) == 3


def test_a_second_operation_on_a_pool_while_one_runs_is_refused(clock):
    fake, server = start_fake_azure(lro_seconds=2.0)
    api = make_provider(fake, clock).api
    try:
        api.put_pool("pool1", {"properties": POOL})  # accepted, running for 2 s
        assert refusal(api, "pool1", {**POOL, "count": 2})[0] == 409
    finally:
        server.shutdown()


def test_machines_name_their_scale_set_vm_and_delete_machines_removes_exactly_those(fake_azure, clock):
    api = make_provider(fake_azure, clock).api
    api.wait(api.put_pool("pool1", {"properties": {**POOL, "count": 3}}), "create")
    machines = api.list_machines("pool1")
    assert [m["properties"]["resourceId"].rsplit("/", 1)[1] for m in machines] == ["0", "1", "2"]
    api.wait(api.delete_machines("pool1", [machines[1]["name"]]), "delete")
    assert [m["name"] for m in api.list_machines("pool1")] == [machines[0]["name"], machines[2]["name"]]
    assert api.get_pool("pool1")["properties"]["count"] == 2
