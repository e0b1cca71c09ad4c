"""The GKE / Compute Engine fake refuses what Google's APIs refuse (tests/gcp_contract.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

GKE_POOLS = "/v1/projects/proj/locations/us-central1/clusters/c1/nodePools"
GOOD_POOL = {"nodePool": {"name": "sa-n1", "config": {"machineType": "n1-standard-4", "labels": {"team": "web"}}, "initialNodeCount": 0}}


def _post(fake, path: str, body: dict):
    request = urllib.request.Request(fake.endpoint + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize(
    "pool, complaint",
    [
        ({"name": "sa-n1", "config": {"machineTypeName": "n1-standard-4"}}, "no field named \"machineTypeName\""),  # field name
        ({"name": "sa-n1", "initialNodeCount": "two"}, "initialNodeCount"),  # type
        ({"name": "sa-n1", "config": {"labels": {"bad key!": "x"}}}, "not a valid Kubernetes label key"),  # label
        ({"name": "sa-n1", "config": {"tags": ["Not_A_Tag"]}}, "nodePool.config.tags"),  # network tag
        ({"name": "SA_N1"}, "nodePool.name"),
    ],
)
def test_the_gke_fake_refuses_what_gke_refuses(gcp, pool, complaint):
    status, error = _post(gcp, GKE_POOLS, {"nodePool": pool})
    assert status == 400 and error["error"]["status"] == "INVALID_ARGUMENT" and complaint in error["error"]["message"]
    assert _post(gcp, GKE_POOLS, GOOD_POOL)[0] == 200


def test_the_compute_fake_refuses_a_bad_request_id_and_a_filter_on_an_unknown_field(gcp):
    _post(gcp, GKE_POOLS, GOOD_POOL)
    mig = gcp.pools["sa-n1"]["instanceGroupUrls"][0].split("/compute/v1")[1]
    status, error = _post(gcp, f"/compute/v1{mig}/createInstances?requestId=attempt-1", {"instances": [{"name": "vm-1"}]})
    assert status == 400 and "must be a valid UUID" in error["error"]["message"]
    status, error = _post(gcp, f"/compute/v1{mig}/createInstances", {"instances": [{"name": "vm-1", "zone": "x"}]})
    assert status == 400 and "no field named \"zone\"" in error["error"]["message"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(gcp.endpoint + "/compute/v1/projects/proj/aggregated/machineTypes?filter=region+eq+us-central1")
    assert refused.value.code == 400 and "Invalid field name 'region'" in json.loads(refused.value.read())["error"]["message"]
