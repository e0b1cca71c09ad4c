"""Back-off of what the cloud could not deliver (SPEC §4): scopes from the provider, durations,
doubling, expiry."""

from __future__ import annotations

import pytest

from autoscaler.config import BackoffConfig
from autoscaler.loop.backoff import BackoffState, BackoffTracker
from providers.base import FailureKind, FailureScope

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20Z
G5 = FailureScope.offering("g5.xlarge", "on-demand", "us-east-1a")
G5_ALL_ZONES = FailureScope.offering("g5.xlarge", "on-demand", None)


@pytest.fixture
def tracker() -> BackoffTracker:
    return BackoffTracker(BackoffConfig())  # 300 / 900 / 600 / 120 s, capped at 3600 s


@pytest.mark.parametrize(
    ("kind", "seconds"),
    [
        (FailureKind.INSUFFICIENT_CAPACITY, 300),
        (FailureKind.QUOTA_EXCEEDED, 900),
        (FailureKind.LAUNCH_TIMEOUT, 600),
        (FailureKind.THROTTLED, 120),
        (FailureKind.OTHER, 120),
    ],
)
def test_first_failure_backs_off_for_the_configured_duration_of_its_kind(tracker, kind, seconds):
    assert tracker.record_failure(G5, kind, T0) == seconds


def test_durations_come_from_the_configuration():
    tracker = BackoffTracker(BackoffConfig(insufficient_capacity=45))
    assert tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0) == 45


def test_each_consecutive_failure_doubles_the_duration_up_to_the_cap(tracker):
    # given a stock-out that repeats each time the back-off ends
    now, durations = T0, []
    for _ in range(6):
        duration = tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, now)
        durations.append(duration)
        now += duration  # retried the moment it expires
    # then 300 -> 600 -> 1200 -> 2400, and 3600 (max_duration) from then on
    assert durations == [300, 600, 1200, 2400, 3600, 3600]


def test_a_failure_while_already_backed_off_does_not_compound(tracker):
    # given two launches of one batch failing one second apart
    tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0)
    # when the second failure is recorded
    remaining = tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0 + 1)
    # then the back-off still ends at T0+300, and the next streak step is 600, not 1200
    assert remaining == 299
    assert tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0 + 300) == 600


def test_back_off_ends_at_the_exact_second(tracker):
    tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0)
    assert G5 in tracker.active(T0 + 299)
    assert G5 in tracker.active(T0 + 299.999)
    assert tracker.active(T0 + 300) == {}


def test_streak_is_forgotten_two_durations_after_expiry(tracker):
    # given a 300 s back-off that ended at T0+300
    tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0)
    # when the offering fails again 600 s after it ended (streak remembered until then)
    # then the streak starts afresh
    assert tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0 + 300 + 600) == 300


def test_streak_still_doubles_shortly_after_expiry(tracker):
    tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0)
    assert tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0 + 899) == 600


def test_success_resets_the_streak(tracker):
    # given two failures in a row (300 then 600)
    tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0)
    tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0 + 300)
    # when a node of that offering comes up
    tracker.record_success("g5.xlarge", "on-demand", "us-east-1a")
    # then nothing is backed off and the next failure counts as the first
    assert tracker.active(T0 + 900) == {}
    assert tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0 + 1000) == 300


def test_success_in_one_offering_leaves_others_backed_off(tracker):
    other = FailureScope.offering("m5.large", "spot", "us-east-1b")
    tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0)
    tracker.record_failure(other, FailureKind.INSUFFICIENT_CAPACITY, T0)
    tracker.record_success("g5.xlarge", "on-demand", "us-east-1a")
    assert list(tracker.active(T0 + 1)) == [other]


def test_a_scope_with_no_zone_covers_every_zone(tracker):
    # when the provider says a failure covers the type in every zone (zone None)
    tracker.record_failure(G5_ALL_ZONES, FailureKind.QUOTA_EXCEEDED, T0, "VcpuLimitExceeded: vCPU limit reached")
    # then zones a, b and c are all backed off, and other types are not
    for zone in ("us-east-1a", "us-east-1b", "us-east-1c"):
        assert tracker.reason("g5.xlarge", "on-demand", zone, T0 + 1)
    assert tracker.reason("g5.2xlarge", "on-demand", "us-east-1a", T0 + 1) is None
    assert list(tracker.active(T0 + 1)) == [G5_ALL_ZONES]


def test_the_tracker_keeps_the_scope_the_provider_gives_it(tracker):
    """The core holds no cloud knowledge: a quota scope that names a group of types (as a cloud
    counts its quota) backs off those types and no others, in every zone."""
    group = FailureScope(frozenset({"g5.xlarge", "g5.2xlarge"}), "on-demand", None, "vCPU quota group G")
    tracker.record_failure(group, FailureKind.QUOTA_EXCEEDED, T0, "VcpuLimitExceeded")
    assert tracker.reason("g5.2xlarge", "on-demand", "us-east-1f", T0 + 1).startswith(
        "quota exceeded (VcpuLimitExceeded) [vCPU quota group G] until"
    )
    assert tracker.reason("g5.2xlarge", "spot", "us-east-1f", T0 + 1) is None
    assert tracker.reason("g6.xlarge", "on-demand", "us-east-1f", T0 + 1) is None
    spot_everywhere = FailureScope(None, "spot", None, "spot in us-east-1")
    tracker.record_failure(spot_everywhere, FailureKind.INSUFFICIENT_CAPACITY, T0)
    assert tracker.reason("m5.large", "spot", "us-east-1b", T0 + 1)


def test_stockout_backs_off_only_its_zone(tracker):
    tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0)
    assert list(tracker.active(T0 + 1)) == [G5]
    assert tracker.reason("g5.xlarge", "on-demand", "us-east-1b", T0 + 1) is None


def test_reason_says_why_until_when_and_which_failure(tracker):
    tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0, "InsufficientInstanceCapacity: none left")
    tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0 + 300, "InsufficientInstanceCapacity: none left")
    tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0 + 900, "InsufficientInstanceCapacity: none left")
    # the third failure at 22:28:20Z backs off for 1200 s, until 22:48:20Z
    assert tracker.active(T0 + 901)[G5] == (
        "insufficient capacity (InsufficientInstanceCapacity: none left) until 22:48:20Z, 3rd failure"
    )


def test_first_failure_reason_has_no_count(tracker):
    tracker.record_failure(G5, FailureKind.LAUNCH_TIMEOUT, T0)
    assert tracker.active(T0)[G5] == "node did not register in time until 22:23:20Z"


def test_snapshot_lists_kind_and_end_for_metrics(tracker):
    tracker.record_failure(G5, FailureKind.INSUFFICIENT_CAPACITY, T0)
    tracker.record_failure(G5_ALL_ZONES, FailureKind.QUOTA_EXCEEDED, T0)
    assert tracker.snapshot() == [
        BackoffState(G5_ALL_ZONES, FailureKind.QUOTA_EXCEEDED, T0 + 900),
        BackoffState(G5, FailureKind.INSUFFICIENT_CAPACITY, T0 + 300),
    ]
    assert tracker.snapshot(now=T0 + 300) == [BackoffState(G5_ALL_ZONES, FailureKind.QUOTA_EXCEEDED, T0 + 900)]


def test_a_providers_own_duration_replaces_the_kinds_and_may_pass_the_cap(tracker):
    """Azure: a size not offered on demand stays out 23 h (past maxDuration 1 h); an allocation
    failure 1 h, not doubled past it; an empty figure leaves the configured duration."""
    sku = FailureScope.offering("Standard_NC24ads_A100_v4", "on-demand", "eastus")
    assert tracker.record_failure(sku, FailureKind.INSUFFICIENT_CAPACITY, T0, base=23 * 3600) == 23 * 3600
    allocation = FailureScope.offering("Standard_D4s_v5", "spot", "eastus")
    assert tracker.record_failure(allocation, FailureKind.INSUFFICIENT_CAPACITY, T0, base=3600) == 3600
    assert tracker.record_failure(allocation, FailureKind.INSUFFICIENT_CAPACITY, T0 + 3601, base=3600) == 3600
    assert tracker.record_failure(G5, FailureKind.THROTTLED, T0, base=0.0) == 120


def test_a_view_answers_from_the_back_offs_in_force_when_it_was_made_and_plans_share_books_by_them(tracker):
    """Given a view made with nothing backed off, when g6.8xlarge fails afterwards, then that
    view still offers it (its plan and the option book made for it answer from one fixed set),
    a new view backs it off, and a plan with the old view after one with the new picks
    g6.8xlarge again: the two views key different option books."""
    from autoscaler.config import config_from_mapping
    from autoscaler.planner import plan
    from tests.helpers import catalog, make_pod

    before = tracker.view(1000.0)
    tracker.record_failure(FailureScope.offering("g6.8xlarge", "on-demand", None), FailureKind.INSUFFICIENT_CAPACITY, 1000.0)
    after = tracker.view(1000.0)
    assert before.reason("g6.8xlarge", "on-demand", "us-east-1a") is None
    assert after.reason("g6.8xlarge", "on-demand", "us-east-1a")
    assert before.cache_key() != after.cache_key() and before.cache_key() == tracker.view(5000.0).cache_key()
    pods = [make_pod("train", "30", "100Gi", gpu=1)]
    config, aws = config_from_mapping({}), catalog()
    assert plan(pods, aws, config, backoffs=after).new_nodes[0].instance_type != "g6.8xlarge"
    assert plan(pods, aws, config, backoffs=before).new_nodes[0].instance_type == "g6.8xlarge"
