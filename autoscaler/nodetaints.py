"""The taints a new node is launched with: the offering's own, plus a device taint on accelerator nodes.

This is the one place that says which taints a launched node carries. The launch request
carries them; every provider registers its nodes with the request's taints (AWS user data,
GKE and AKS node pools, OKE's `--register-with-taints`, the simulated kubelet), and the
planner counts an in-flight node with the same taints, so all of them agree.

* The offering's taints are the cloud's own (pricing/catalog.py): GKE and OKE taint NVIDIA GPU
  nodes `nvidia.com/gpu=present:NoSchedule`, AKS spot nodes `kubernetes.azure.com/scalesetpriority=spot:NoSchedule`.
* A node carrying a device resource (a GPU, AWS Neuron chips, an `extendedResources` device)
  launched for pods that request it is tainted `<resource>=present:NoSchedule`, as GKE taints
  its GPU nodes, so that kube-scheduler never gives its room to pods that do not need the
  device (Kubernetes documentation, "Taints and Tolerations", dedicated nodes with special
  hardware). Pods requesting the resource get the toleration from kube-apiserver's
  `ExtendedResourceToleration` admission plugin (on in EKS since 1.19 and in GKE) or from
  their own spec. The node is tainted only when every pod it is launched for carries that
  toleration in its stored spec: where the plugin is off and the pods do not tolerate it, the
  node is launched untainted, so nothing waits on a taint nobody tolerates.
"""

from __future__ import annotations

from typing import Iterable

from autoscaler.model import Pod
from autoscaler.regex import compile_user_regex
from pricing.devices import catalog_devices, known_resources
from pricing.types import InstanceType, Taint

PRESENT = "present"


def device_taint(resource: str) -> Taint:
    return Taint(resource, PRESENT, "NoSchedule")


def type_devices(itype: InstanceType, cloud: str, extended: Iterable[tuple[str, str, int]] = ()) -> tuple[str, ...]:
    """The device resources a node of this type advertises once its device plugins run."""
    names = [itype.gpu_resource] if itype.gpu_count and itype.gpu_resource else []
    names += [name for name, pattern, count in extended if count > 0 and compile_user_regex(pattern).search(itype.name)]
    names += [name for name in sorted(known_resources(cloud)) if catalog_devices(cloud, name, itype.name)]
    return tuple(dict.fromkeys(names))


def launch_taints(offering_taints: Iterable[Taint], devices: Iterable[str], pods: Iterable[Pod]) -> tuple[Taint, ...]:
    """The taints of a node launched for `pods` from an offering with `offering_taints` whose
    type advertises `devices`."""
    taints = list(offering_taints)
    pods = list(pods)
    keys = {taint.key for taint in taints}
    for resource in devices:
        if resource in keys or not pods:
            continue
        if all(pod.device_tolerated and _requests(pod, resource) for pod in pods):
            taints.append(device_taint(resource))
    return tuple(taints)


def _requests(pod: Pod, resource: str) -> bool:
    constraints = pod.constraints
    return constraints.gpu_resource == resource or any(name == resource for name, _ in constraints.extra_devices)
