"""The one placement simulation: whether a pod fits a node the way kube-scheduler decides it.

`rules` holds the semantics (domains, skew, inclusion policies) shared by both engines:
- `check.PlacementState`: pod-by-pod, node-by-node fit over a whole cluster (the in-memory
  cluster's scheduler, scale-down's "would these pods fit on the remaining nodes, together?",
  bin-select's reuse of idle and in-flight nodes);
- `autoscaler.planner.packer`: the same rules over groups of identical pods and numpy arrays
  of bins, for the planner's first-fit-decreasing bin-pack.
"""

from autoscaler.placement.check import NodeState, PlacementState

__all__ = ["NodeState", "PlacementState"]
