"""Everything the loop tells people: Kubernetes Events and the timeline (log lines).

One reporter holds the dedupe keys and repeat intervals: an event on a pod is made once per
(pod, reason) and repeated only when its message changes or after `WARNING_REPEAT`; a node
event once per (node, reason, message) per drain. A failed event write is logged and
counted, never raised: reporting must not stop the loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from autoscaler.clock import Clock
from autoscaler.cluster import Cluster, ClusterError, KubeNode, ObjectRef
from autoscaler.metrics import Metrics
from autoscaler.model import Pod

log = logging.getLogger("smart_autoscaler.loop")

NODE_ADD_WARNING = "NodeAddRequestWarning"
LIMIT_WARNING = "NodeAddLimitReached"
INVALID_ANNOTATION = "InvalidAnnotation"
LAUNCHED_NODE_NOT_USED = "LaunchedNodeNotUsed"
LAUNCHED_NODE_TAKEN = "LaunchedNodeTaken"
UNUSED_LAUNCH_LIMIT = "UnusedLaunchLimit"
SCALE_DOWN_BLOCKED = "ScaleDownBlocked"
WARNING_REPEAT = 600.0  # seconds before the same message is repeated on a pod
TIMELINE_LIMIT = 10_000


@dataclass(frozen=True)
class TimelineEntry:
    time: float
    kind: str  # launch, launch-failed, registered, timeout, evict, drain, remove, blocked, estimate, ...
    message: str


def pod_ref(pod: Pod) -> ObjectRef:
    return ObjectRef("Pod", pod.namespace, pod.name, pod.uid)


def node_ref(node: KubeNode) -> ObjectRef:
    return ObjectRef("Node", "", node.name, node.uid)


class EventReporter:
    def __init__(
        self,
        cluster: Cluster,
        clock: Clock,
        metrics: Metrics,
        on_timeline: Callable[[TimelineEntry], None] | None = None,
    ) -> None:
        self.cluster = cluster
        self.clock = clock
        self.metrics = metrics
        self.on_timeline = on_timeline
        self.timeline: list[TimelineEntry] = []
        self._sent: dict[tuple[str, str], tuple[str, float]] = {}

    def pod(self, pod: Pod, reason: str, message: str, event_type: str = "Warning", repeat: float = WARNING_REPEAT) -> None:
        """An event on a pod, made again only when the message changes or after `repeat` seconds."""
        now = self.clock.now()
        key = (pod.uid or pod.key, reason)
        last = self._sent.get(key)
        if last is not None and last[0] == message and now - last[1] < repeat:
            return
        self._sent[key] = (message, now)
        self.send(pod_ref(pod), event_type, reason, message)

    def node(self, node: KubeNode, reason: str, message: str, event_type: str = "Warning") -> None:
        self.send(node_ref(node), event_type, reason, message)

    def send(self, ref: ObjectRef, event_type: str, reason: str, message: str) -> None:
        try:
            self.cluster.create_event(ref, event_type, reason, message)
        except ClusterError as err:
            self.metrics.kube_api_errors.labels("create_event").inc()
            log.error("creating event %s on %s %s failed: %s", reason, ref.kind, ref.name, err)

    def forget_pods(self, live: set[str]) -> None:
        """Drop dedupe keys of pods that are gone (`live`: uids or keys of pods that exist)."""
        for key in [k for k in self._sent if k[0] not in live]:
            del self._sent[key]

    def note(self, kind: str, message: str) -> None:
        """A line of the timeline (and of the log)."""
        entry = TimelineEntry(self.clock.now(), kind, message)
        self.timeline.append(entry)
        if len(self.timeline) > TIMELINE_LIMIT:
            del self.timeline[: TIMELINE_LIMIT // 2]
        log.info("%s: %s", kind, message)
        if self.on_timeline:
            self.on_timeline(entry)
