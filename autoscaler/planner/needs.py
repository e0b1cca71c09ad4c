"""Which pods the autoscaler acts for (SPEC §1)."""

from __future__ import annotations

from autoscaler.config import Config
from autoscaler.model import Pod
from autoscaler.regex import compile_user_regex

COST_ESTIMATE_GATE = "nodecostestimate"


def is_managed(pod: Pod, config: Config) -> bool:
    labels = pod.labels
    return all(labels.get(key) == value for key, value in config.managed_pod_labels)


def needs_capacity(pod: Pod, config: Config) -> bool:
    """Managed, unbound, Pending, ungated, marked Unschedulable with a message the regexp accepts."""
    if pod.node_name or pod.phase != "Pending" or pod.scheduling_gates or not pod.unschedulable or pod.unreadable:
        return False  # an unreadable pod (autoscaler.podrecord) is planned as if absent
    if not is_managed(pod, config):
        return False
    pattern = config.pending_pod_reason_regexp
    return not pattern or compile_user_regex(pattern).search(pod.unschedulable_message) is not None


def wants_cost_estimate(pod: Pod, config: Config) -> bool:
    return (
        not pod.node_name
        and pod.phase == "Pending"
        and COST_ESTIMATE_GATE in pod.scheduling_gates
        and is_managed(pod, config)
    )
