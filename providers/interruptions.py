"""Interruption notices: what a cloud says about taking an instance back, in one shape.

A provider that can hear its cloud's notices implements

    interruption_notices(handled: Sequence[str]) -> NoticeBatch

called off the loop thread once a loop. `handled` are the receipts of notices the loop has
acted on since the last call: the provider deletes them from its channel first (an SQS
message is deleted only once acted on, so a daemon that dies in between sees it again after
the visibility timeout), then reads what is new. Every notice names an instance; the loop
finds its Node through the instance's provider id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# What a notice says. An interruption and a preemption take the instance back at `deadline`;
# a rebalance recommendation only says the risk went up; a scheduled change is maintenance
# (AWS Health) at `deadline`; a state change reports the instance stopping or gone already.
SPOT_INTERRUPTION = "spot-interruption"
REBALANCE_RECOMMENDATION = "rebalance-recommendation"
SCHEDULED_CHANGE = "scheduled-change"
STATE_CHANGE = "state-change"
PREEMPTED = "preempted"

NOTICE_KINDS = (SPOT_INTERRUPTION, REBALANCE_RECOMMENDATION, SCHEDULED_CHANGE, STATE_CHANGE, PREEMPTED)
# The kinds that end the instance: the node's pods must move before `deadline`.
RECLAIMING = frozenset({SPOT_INTERRUPTION, SCHEDULED_CHANGE, STATE_CHANGE, PREEMPTED})


@dataclass(frozen=True, slots=True)
class InterruptionNotice:
    notice_id: str  # the cloud's id of the message or event: a notice seen twice acts once
    kind: str  # one of NOTICE_KINDS
    instance_id: str
    deadline: float | None  # epoch seconds when the cloud takes the instance back; None: not said
    detail: str = ""  # what the cloud said, for events and the log
    receipt: str = ""  # handed back in `handled` once acted on ("" = nothing to delete)
    # When the instance may be gone from the listing already: its Node's spec.providerID, and
    # its offering (instance type, capacity type, zone) for the back-off.
    provider_id: str = ""
    offering: tuple[str, str, str] | None = None


@dataclass(frozen=True, slots=True)
class NoticeBatch:
    notices: tuple[InterruptionNotice, ...] = ()
    # Messages that could not be read, each "id: why"; the provider already deleted them.
    malformed: tuple[str, ...] = field(default=())
