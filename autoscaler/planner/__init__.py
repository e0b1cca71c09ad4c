"""The pure planner: pods, nodes, catalog, back-offs and config in; decisions out."""

import os

# The planner's numpy work is elementwise, never BLAS: the OpenBLAS thread pool numpy starts
# when it loads would only spin on the daemon's (or preview's) CPU. A value the user set stays.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

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
