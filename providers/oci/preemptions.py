"""Preemptible instance termination as the OCI Compute API reports it.

OCI reclaims preemptible capacity by terminating the instance, with no notice before it starts
("Preemptible Instances", OCI Compute documentation: "When preemptible capacity is reclaimed,
the instance is terminated"; the Events service's PreemptionAction event says the same after
the fact). What the Compute API shows is the instance's `lifecycleState` turning TERMINATING,
on an instance whose `preemptibleInstanceConfig` is set (Core Services API 20160918,
ListInstances / Instance). The reader lists the compartment's TERMINATING instances, keeps the
preemptible ones this cluster's pools hold, and reports each as preempted now: the loop drains
at once and launches the replacement its pods need. A termination the autoscaler asked for
itself is not reported (`ours_ending`).
"""

from __future__ import annotations

from typing import Any, Callable, Collection

from providers.interruptions import PREEMPTED, InterruptionNotice, NoticeBatch


class Preemptions:
    def __init__(self, compute: Any, compartment_id: str, retry: Any, now: Callable[[], float]) -> None:
        self.compute = compute
        self.compartment_id = compartment_id
        self.retry = retry
        self.now = now

    def read(self, nodes: Collection[str], ours_ending: Collection[str]) -> NoticeBatch:
        """Preempted instances among `nodes` (instance OCIDs of this cluster's pool nodes)."""
        import oci

        listed = oci.pagination.list_call_get_all_results(
            self.compute.list_instances, self.compartment_id, lifecycle_state="TERMINATING", retry_strategy=self.retry,
        ).data
        now = self.now()
        notices = [
            InterruptionNotice(f"oci-preempted-{item.id}", PREEMPTED, item.id, now,
                               f"OCI reclaimed preemptible instance {item.display_name or item.id} ({item.shape})")
            for item in listed
            if item.id in nodes and item.id not in ours_ending and item.preemptible_instance_config is not None
        ]
        return NoticeBatch(tuple(notices))
