"""A pod's effective resource requests, as the scheduler counts them.

The larger of (sum of app containers plus sidecar init containers) and (each regular init
container plus the sidecars started before it), plus the pod overhead; a resource given only
as a limit is requested at the limit, as the API server defaults it. Pod-level
`spec.resources` (Kubernetes 1.34) replace the containers' sum for cpu and memory. Extended
resources (devices) are counted per name; a fractional one is rejected as the API server does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoscaler.model import AMD_GPU, NVIDIA_GPU
from autoscaler.quantity import QuantityError, parse_count, parse_cpu_millis
from autoscaler.resources import Resources

_GPU_RESOURCES = (NVIDIA_GPU, AMD_GPU)


class PodSpecError(ValueError):
    """A pod whose resources cannot be read (e.g. a request that is not a quantity)."""


def _quantities(resources: Mapping[str, Any] | None) -> dict[str, Any]:
    if not resources:
        return {}
    merged = dict(resources.get("limits") or {})
    merged.update(resources.get("requests") or {})
    return merged


_STANDARD = frozenset({"cpu", "memory", "ephemeral-storage", "pods", "storage"})


def is_device(name: str) -> bool:
    """Extended resources (vendor-domain names: nvidia.com/gpu, aws.amazon.com/neuron,
    example.com/fpga); hugepages and the standard resources are not devices."""
    return name not in _STANDARD and not name.startswith(("hugepages-", "requests.", "attachable-volumes-")) and "/" in name


def _container_request(container: Mapping[str, Any], where: str) -> tuple[Resources, dict[str, int]]:
    values = _quantities(container.get("resources"))
    devices: dict[str, int] = {}
    try:
        for name, raw in values.items():
            if name not in _STANDARD and is_device(str(name)):
                if parse_cpu_millis(raw) % 1000:
                    raise QuantityError(
                        f"{name}: {raw!r} must be a whole number (Kubernetes rejects fractional extended resources)"
                    )
                count = parse_count(raw)
                if count:
                    devices[str(name)] = count
        return (
            Resources(
                cpu=parse_cpu_millis(values["cpu"]) if "cpu" in values else 0,
                memory=parse_count(values["memory"]) if "memory" in values else 0,
                ephemeral=parse_count(values["ephemeral-storage"]) if "ephemeral-storage" in values else 0,
            ),
            devices,
        )
    except QuantityError as err:
        raise PodSpecError(f"{where}: {err}") from None


def _elementwise_max(a: Resources, b: Resources) -> Resources:
    return Resources(
        max(a.cpu, b.cpu), max(a.memory, b.memory), max(a.gpu, b.gpu), max(a.pods, b.pods), max(a.ephemeral, b.ephemeral)
    )


def _max_devices(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    if not a or not b:
        return a or b
    return {name: max(a.get(name, 0), b.get(name, 0)) for name in a.keys() | b.keys()}


def _add_devices(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    if not a or not b:
        return a or b
    return {name: a.get(name, 0) + b.get(name, 0) for name in a.keys() | b.keys()}


def pod_devices(spec: Mapping[str, Any], pod: str = "pod") -> tuple[Resources, dict[str, int]]:
    """Effective requests of a pod spec (with 1 pod slot, gpu left 0) and its device requests."""
    containers = spec.get("containers") or []
    if len(containers) == 1 and not (spec.get("initContainers") or spec.get("overhead") or spec.get("resources")):
        request, devices = _container_request(containers[0], f"pod {pod}: spec.containers[0].resources")
        return Resources(request.cpu, request.memory, 0, 1, request.ephemeral), devices
    app, app_devices = Resources(), {}
    for index, container in enumerate(spec.get("containers") or []):
        request, devices = _container_request(container, f"pod {pod}: spec.containers[{index}].resources")
        app += request
        app_devices = _add_devices(app_devices, devices)
    sidecars, sidecar_devices = Resources(), {}
    init_peak, init_devices = Resources(), {}
    for index, container in enumerate(spec.get("initContainers") or []):
        request, devices = _container_request(container, f"pod {pod}: spec.initContainers[{index}].resources")
        if container.get("restartPolicy") == "Always":
            sidecars += request
            sidecar_devices = _add_devices(sidecar_devices, devices)
            init_peak = _elementwise_max(init_peak, sidecars)
            init_devices = _max_devices(init_devices, sidecar_devices)
        else:
            init_peak = _elementwise_max(init_peak, request + sidecars)
            init_devices = _max_devices(init_devices, _add_devices(devices, sidecar_devices))
    total = _elementwise_max(app + sidecars, init_peak)
    devices = _max_devices(_add_devices(app_devices, sidecar_devices), init_devices)
    # Pod-level resources (Kubernetes 1.34, PodLevelResources): cpu and memory given at the pod
    # level replace the containers' sum; a limit alone is the request, as for containers.
    pod_level = _quantities(spec.get("resources"))
    if pod_level.get("cpu") is not None or pod_level.get("memory") is not None:
        level, _ = _container_request(
            {"resources": {"requests": {k: v for k, v in pod_level.items() if k in ("cpu", "memory")}}},
            f"pod {pod}: spec.resources",
        )
        total = Resources(
            level.cpu if "cpu" in pod_level else total.cpu,
            level.memory if "memory" in pod_level else total.memory,
            total.gpu,
            total.pods,
            total.ephemeral,
        )
    overhead = spec.get("overhead")
    if overhead:
        extra, _ = _container_request({"resources": {"requests": overhead}}, f"pod {pod}: spec.overhead")
        total += extra
    return Resources(total.cpu, total.memory, 0, 1, total.ephemeral), {k: v for k, v in devices.items() if v}


def unplannable_requests(spec: Mapping[str, Any]) -> str:
    """Why no new node can be planned for this pod spec, or "".

    - hugepages-<size> (Manage HugePages): a node reports huge pages only when they are
      pre-allocated on it at boot; the nodes this autoscaler launches pre-allocate none, so
      kube-scheduler's NodeResourcesFit finds "Insufficient hugepages-2Mi" on every one.
    - spec.resourceClaims (Dynamic Resource Allocation): the devices are allocated from the
      ResourceSlices a DRA driver publishes for each node once it runs there; which devices a
      node not yet launched will publish is not known before.
    """
    asked: set[str] = set()
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or ():
            if isinstance(container, Mapping):
                _hugepages(container.get("resources"), asked)
    _hugepages(spec.get("resources"), asked)
    if not asked and not spec.get("resourceClaims"):
        return ""
    reasons = []
    if asked:
        reasons.append(
            f"asks for {', '.join(sorted(asked))}: the nodes the autoscaler launches pre-allocate no huge pages"
        )
    claims = [str(c.get("name")) for c in spec.get("resourceClaims") or [] if isinstance(c, Mapping)]
    if claims:
        reasons.append(
            f"asks for DRA resource claims ({', '.join(claims)}): their devices come from a DRA driver's "
            "ResourceSlices, unknown for a node before it runs"
        )
    return "; ".join(reasons)


def _hugepages(resources: Any, asked: set[str]) -> None:
    """Add the hugepages-<size> resources `resources` asks for (a request, else a limit, not 0)."""
    if not isinstance(resources, Mapping):
        return
    names = [name for values in (resources.get("requests"), resources.get("limits")) for name in values or ()
             if str(name).startswith("hugepages-")]
    if names:
        merged = _quantities(resources)
        asked.update(str(name) for name in names if str(merged.get(name)).strip() not in ("0", ""))


def pod_requests(spec: Mapping[str, Any], pod: str = "pod") -> tuple[Resources, str | None]:
    """Effective requests of a pod spec (with 1 pod slot) and the device resource it asks for
    (the `gpu` dimension counts that one; GPUs first when it asks for several kinds)."""
    base, devices = pod_devices(spec, pod)
    primary = _primary_device(devices)
    if primary is None:
        return base, None
    return Resources(base.cpu, base.memory, devices[primary], 1, base.ephemeral), primary


def _primary_device(devices: Mapping[str, int]) -> str | None:
    if not devices:
        return None
    for name in _GPU_RESOURCES:
        if name in devices:
            return name
    return sorted(devices)[0]
