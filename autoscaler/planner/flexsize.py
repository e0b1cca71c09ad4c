"""Flexible shapes in the option lists: a template option becomes the size the need calls for.

A flexible shape (OCI `*.Flex`) is offered as one template option at its largest size. Before
the planner compares options for a need, each template is replaced by the cheapest size of
its shape that holds the need (pricing.flex), at that size's price, with the DaemonSet
overhead the template carried; the list is then ordered by price again. The result is cached
per (option list, need), so the planner's per-list caches keep working.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from autoscaler.planner.options import NodeOption, OptionBook
from autoscaler.resources import Resources
from pricing.flex import FlexConfig, FlexShape, size_for_allocatable


def _sized(
    book: OptionBook,
    options: list[NodeOption],
    key: tuple,
    size: Callable[[FlexShape, NodeOption, Resources], FlexConfig | None],
) -> list[NodeOption]:
    if not book.flex_shapes or not any(o.instance_type.flexible for o in options):
        return options
    cache_key = (id(options), *key)
    cached = book.flex_cache.get(cache_key)
    if cached is not None:
        return cached
    constraints = book.made_for.get(id(options))
    max_cost = constraints.selection.max_cost if constraints is not None else None
    sized = []
    for option in options:
        shape = book.flex_shapes.get(option.name) if option.instance_type.flexible else None
        if shape is None:
            sized.append(option)
            continue
        overhead = (option.instance_type.allocatable - option.allocatable).clamp_zero()
        config = size(shape, option, overhead)
        if config is None or (max_cost is not None and config.price > max_cost):
            continue
        itype = shape.instance_type(config.ocpus, config.memory_gb)
        sized.append(
            replace(
                option,
                instance_type=itype,
                price=config.price,
                allocatable=(itype.allocatable - overhead).clamp_zero(),
            )
        )
    sized.sort(key=lambda option: option.order_key)
    book.flex_cache[cache_key] = sized
    return sized


def sized_for(
    book: OptionBook, options: list[NodeOption], need: Resources, min_cpu: int = 0, min_memory: int = 0
) -> list[NodeOption]:
    """Each flexible template sized so its allocatable, after DaemonSets, holds `need`, and its
    listed size reaches `min_cpu` millicores and `min_memory` bytes (a bin-pack node shape) and
    minNodeCpu / minNodeMemory."""
    config = book.config
    min_cpu, min_memory = max(min_cpu, config.min_node_cpu), max(min_memory, config.min_node_memory)

    def size(shape: FlexShape, option: NodeOption, overhead: Resources) -> FlexConfig | None:
        return size_for_allocatable(shape, need + overhead, option.capacity_type, min_cpu, min_memory)

    return _sized(book, options, (need, min_cpu, min_memory), size)
