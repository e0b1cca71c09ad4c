"""The pure planner: pods, nodes, catalog, back-offs and config in; decisions out."""

from autoscaler.planner.options import DaemonSetOverhead, NodeOption, OfferingKey, OptionBook
from autoscaler.planner.plan import plan
from autoscaler.planner.types import NewNode, Placement, Plan, Unplaceable

__all__ = [
    "DaemonSetOverhead",
    "NewNode",
    "NodeOption",
    "OfferingKey",
    "OptionBook",
    "Placement",
    "Plan",
    "Unplaceable",
    "plan",
]
