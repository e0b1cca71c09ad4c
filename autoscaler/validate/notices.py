"""Nothing dropped silently in the preview: pods that need no node are set aside with the
reason, and annotations under a known prefix that the configuration does not read get a hint."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from autoscaler.config import Config
from autoscaler.model import Pod
from autoscaler.planner.needs import COST_ESTIMATE_GATE, is_managed

# Prefixes whose annotations mean something to an autoscaler of this kind: ours and Luna's.
KNOWN_PREFIXES = ("smart-autoscaler.io/", "node.elotl.co/")
ANNOTATIONS = (
    "instance-type-regexp", "instance-family-inclusions", "instance-family-exclusions", "instance-gpu-skus",
    "instance-max-gpus", "instance-max-cost", "instance-offerings", "do-not-evict",
)


@dataclass
class PodTriage:
    planned: list[Pod] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (namespace/name, reason)
    notes: list[str] = field(default_factory=list)


def _labels_text(config: Config) -> str:
    return ", ".join(f"{key}={value}" for key, value in config.managed_pod_labels)


def _needs_no_node(pod: Pod) -> str | None:
    if pod.node_name:
        return f"already bound to node {pod.node_name}: needs no new node"
    if pod.phase in ("Succeeded", "Failed"):
        return f"finished (phase {pod.phase}): needs no node"
    gates = [gate for gate in pod.scheduling_gates if gate != COST_ESTIMATE_GATE]
    if gates:
        # Pod Scheduling Readiness: the scheduler leaves a gated pod alone until every gate is
        # removed, and whoever set the gate decides when; no node is needed before that.
        return f"held by schedulingGates {', '.join(gates)}: kube-scheduler will not place it until they are removed"
    return None


def triage(pods: Sequence[Pod], config: Config) -> PodTriage:
    """Which pods the preview plans. Pods that are bound or finished are skipped. Pods without
    the managedPodLabels are skipped too, as the daemon would skip them, once any pod in the
    files carries the labels; when none does, all are planned and a note says so (a preview of
    plain manifests is still useful)."""
    out = PodTriage()
    live = []
    for pod in pods:
        reason = _needs_no_node(pod)
        if reason:
            out.skipped.extend((key, reason) for key in pod.replica_keys)
        else:
            live.append(pod)
    managed = [pod for pod in live if is_managed(pod, config)]
    if managed or not live:
        out.planned = managed
        reason = f"not managed: lacks the managedPodLabels {_labels_text(config)}; the daemon would not act for it"
        if len(managed) < len(live):
            kept = {id(pod) for pod in managed}
            out.skipped += [(key, reason) for pod in live if id(pod) not in kept for key in pod.replica_keys]
    else:
        out.planned = live
        out.notes.append(
            f"no pod carries the managedPodLabels ({_labels_text(config)}): all {sum(p.replicas for p in live)} pods "
            "are planned as if managed; the daemon acts only for pods with these labels"
        )
    return out


def annotation_hints(annotations_by_pod: Iterable[tuple[str, dict]], prefixes: Sequence[str]) -> list[str]:
    """One hint per known prefix that pods use but `annotationPrefixes` does not list."""
    unread = [prefix for prefix in KNOWN_PREFIXES if prefix not in prefixes]
    found: dict[str, tuple[list[str], set[str]]] = {}
    misspelt: dict[str, tuple[str, str]] = {}  # annotation -> (a pod, the name it was meant to be)
    for pod, pod_annotations in annotations_by_pod:
        for key in pod_annotations:
            for prefix in prefixes:
                if isinstance(key, str) and key.startswith(prefix) and key[len(prefix):] not in ANNOTATIONS:
                    close = difflib.get_close_matches(key[len(prefix):], ANNOTATIONS, n=1, cutoff=0.8)
                    if close and key not in misspelt:
                        misspelt[key] = (pod, prefix + close[0])
            for prefix in unread:
                if isinstance(key, str) and key.startswith(prefix) and key[len(prefix):] in ANNOTATIONS:
                    pods, names = found.setdefault(prefix, ([], set()))
                    if not pods or pods[-1] != pod:
                        pods.append(pod)
                    names.add(key)
    hints = [f"annotation {key} on {pod} is not one the autoscaler reads (ignored); did you mean {meant}?"
             for key, (pod, meant) in misspelt.items()]
    for prefix, (pods, names) in found.items():
        shown = ", ".join(pods[:3]) + (f" and {len(pods) - 3} more" if len(pods) > 3 else "")
        hints.append(
            f"annotations {', '.join(sorted(names))} on {shown} are ignored: {prefix} is not in annotationPrefixes "
            f"(now {', '.join(prefixes) or 'empty'}); add it, e.g. annotationPrefixes: [{', '.join([*prefixes, prefix])}]"
        )
    return hints
