"""Preemptible OKE nodes reclaimed by OCI, as the Compute API lists them (TERMINATING, with
preemptibleInstanceConfig), against the local OKE/Compute server through the oci SDK."""

from __future__ import annotations

import pytest

pytest.importorskip("oci")

from providers.interruptions import PREEMPTED  # noqa: E402
from tests.providers.test_oci import flex_request, provider, server  # noqa: E402,F401 - the fixtures


def test_a_reclaimed_preemptible_node_is_a_notice_to_act_on_now(server, provider):  # noqa: F811
    spot = provider.launch(flex_request("r1", capacity="spot"))
    provider.launch(flex_request("r2"))
    provider.list_instances()
    server.state.preempt(spot.instance_id)
    [notice] = provider.interruption_notices().notices
    assert (notice.kind, notice.instance_id) == (PREEMPTED, spot.instance_id)
    assert notice.deadline is not None and notice.deadline <= provider.clock()  # no notice: act at once
    # the provider asked Compute for TERMINATING instances of the compartment only
    [(_, path, _)] = [c for c in server.state.calls if c[0] == "ListInstances"]
    assert path == "/20160918/instances"


def test_a_termination_the_autoscaler_asked_for_is_no_preemption(server, provider):  # noqa: F811
    spot = provider.launch(flex_request("r1", capacity="spot"))
    provider.list_instances()
    server.state.preempt(spot.instance_id)  # listed TERMINATING, but because we deleted it
    provider.terminate(spot.instance_id)
    assert provider.interruption_notices().notices == ()


def test_without_preemptible_nodes_compute_is_not_asked(server, provider):  # noqa: F811
    provider.launch(flex_request("r1"))
    provider.list_instances()
    assert provider.interruption_notices().notices == ()
    assert not [c for c in server.state.calls if c[0] == "ListInstances"]


def test_the_fake_refuses_a_list_without_its_required_compartment(server):  # noqa: F811
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.endpoint}/20160918/instances")
    assert refused.value.code == 400
