"""Reasons a person understands for a pod that gets no node."""

from __future__ import annotations

from dataclasses import replace

from autoscaler.model import PodConstraints, Toleration
from autoscaler.planner.options import GPU_RESOURCES, NodeOption, OptionBook
from autoscaler.quantity import format_bytes, format_cpu
from autoscaler.resources import Resources

_MAX_LISTED = 5


def describe_need(requests: Resources, constraints: PodConstraints) -> str:
    selection = constraints.selection
    parts = []
    if requests.gpu and constraints.gpu_resource not in (None, *GPU_RESOURCES):
        parts.append(f"{requests.gpu} {constraints.gpu_resource}")
    elif requests.gpu:
        models = "/".join(sorted(selection.gpu_skus)) + " " if selection.gpu_skus else ""
        vendor = "AMD " if constraints.gpu_resource == "amd.com/gpu" else ""
        parts.append(f"{requests.gpu} {models}{vendor}GPU{'s' if requests.gpu > 1 else ''}")
    parts.extend(f"{count} {name}" for name, count in constraints.extra_devices)
    parts.append(f"{format_cpu(requests.cpu)} CPU")
    parts.append(f"{format_bytes(requests.memory)} memory")
    if requests.ephemeral:
        parts.append(f"{format_bytes(requests.ephemeral)} ephemeral storage")
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text + " allocatable"


def describe_selection(constraints: PodConstraints, capacity_types: tuple[str, ...]) -> str:
    selection = constraints.selection
    phrases = []
    if selection.type_regexp is not None:
        phrases.append(f"matching {selection.type_regexp}")
    if selection.family_inclusions is not None:
        phrases.append(f"in families {','.join(sorted(selection.family_inclusions))}")
    if selection.family_exclusions:
        phrases.append(f"outside families {','.join(sorted(selection.family_exclusions))}")
    if selection.max_gpus is not None:
        phrases.append(f"with at most {selection.max_gpus} GPUs")
    if constraints.affinity.terms:
        phrases.append(f"with node labels {constraints.affinity.describe()}")
    phrases.append("as " + " or ".join(capacity_types))
    return " " + " ".join(phrases)


def _fitting(options: list[NodeOption], requests: Resources) -> list[NodeOption]:
    return [option for option in options if requests.fits_in(option.allocatable)]


def _hint(
    book: OptionBook,
    requests: Resources,
    constraints: PodConstraints,
    role: str,
    default_capacity_types: tuple[str, ...],
) -> str:
    """What would have made an offering fit: a taint to tolerate, or arm64 to allow."""
    tolerant = replace(constraints, tolerations=(Toleration(operator="Exists"),))
    tainted = _fitting(book.candidates(tolerant, role, default_capacity_types)[0], requests)
    if tainted:
        taints = sorted({taint.describe() for option in tainted for taint in option.taints})
        return f"; offerings that fit carry taints the pod does not tolerate: {', '.join(taints)}"
    if not book.config.include_arm_instance:
        arm_book = OptionBook(book.catalog, replace(book.config, include_arm_instance=True), None, book.daemonsets)
        arm = _fitting(arm_book.candidates(constraints, role, default_capacity_types)[0], requests)
        if arm:
            return (
                f"; arm64 types would fit (e.g. {arm[0].name} at ${arm[0].price:g}/h): allow kubernetes.io/arch=arm64 "
                "in the pod's node affinity or set includeArmInstance"
            )
    return ""


def _uncarried_devices(book: OptionBook, constraints: PodConstraints) -> list[str]:
    """Device resources the pod asks for that no type of the region carries (all of them when
    no one type carries every kind it asks for)."""
    wanted = ([constraints.gpu_resource] if constraints.gpu_resource else []) + [n for n, _ in constraints.extra_devices]
    if not wanted:
        return []
    types = {offering.instance_type.name: offering.instance_type for offering in book.catalog.offerings}.values()
    if any(all(book.devices(itype, name) for name in wanted) for itype in types):
        return []
    return wanted


def explain_no_option(
    book: OptionBook,
    requests: Resources,
    constraints: PodConstraints,
    role: str,
    default_capacity_types: tuple[str, ...],
) -> str:
    """Why no offering can be had for a pod of these requests and constraints."""
    region = f"{book.catalog.cloud} {book.catalog.region}"
    missing = _uncarried_devices(book, constraints)
    if missing:
        return (
            f"no node type in {region} carries {' and '.join(missing)}"
            + (" together" if len(missing) > 1 or constraints.extra_devices else "")
            + "; set extendedResources in the configuration to say which types carry it and how many per node"
        )
    capacity_types = book.capacity_types(constraints, default_capacity_types)
    need = describe_need(requests, constraints) + describe_selection(constraints, capacity_types)
    max_cost = constraints.selection.max_cost
    relaxed = OptionBook(book.catalog, book.config, None, book.daemonsets)
    without_cost = replace(constraints, selection=replace(constraints.selection, max_cost=None))
    fitting = _fitting(relaxed.candidates(without_cost, role, default_capacity_types)[0], requests)
    if not fitting:
        return f"no offering has {need} in {region}" + _hint(relaxed, requests, without_cost, role, default_capacity_types)
    if max_cost is not None:
        within = [option for option in fitting if option.price <= max_cost]
        if not within:
            cheapest = fitting[0]
            return (
                f"no offering has {need} under ${max_cost:g}/h in {region} "
                f"(the cheapest that fits is {cheapest.name} {cheapest.capacity_type} at ${cheapest.price:g}/h)"
            )
    _, rejections = book.candidates(constraints, role, default_capacity_types)
    backed = rejections.backed_off or []
    if backed:
        listed = "; ".join(backed[:_MAX_LISTED])
        more = f"; and {len(backed) - _MAX_LISTED} more" if len(backed) > _MAX_LISTED else ""
        return f"all candidate offerings are backed off: {listed}{more}"
    return f"no offering has {need} in {region}"
