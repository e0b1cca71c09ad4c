"""A vector of schedulable resources with exact integer amounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from autoscaler.quantity import format_bytes, format_cpu


@dataclass(frozen=True, slots=True)
class Resources:
    """cpu in millicores, memory and ephemeral storage in bytes, gpu in devices, pods in pods."""

    cpu: int = 0
    memory: int = 0
    gpu: int = 0
    pods: int = 0
    ephemeral: int = 0

    @staticmethod
    def total(requests: Iterable[Resources]) -> Resources:
        """The sum of many requests, added as plain numbers (one object at the end, not one per
        addition: a node's 50 pods, a cluster's 50,000)."""
        cpu = memory = gpu = pods = ephemeral = 0
        for r in requests:
            cpu += r.cpu
            memory += r.memory
            gpu += r.gpu
            pods += r.pods
            ephemeral += r.ephemeral
        return Resources(cpu, memory, gpu, pods, ephemeral)

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu + other.cpu,
            self.memory + other.memory,
            self.gpu + other.gpu,
            self.pods + other.pods,
            self.ephemeral + other.ephemeral,
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu - other.cpu,
            self.memory - other.memory,
            self.gpu - other.gpu,
            self.pods - other.pods,
            self.ephemeral - other.ephemeral,
        )

    def times(self, factor: int) -> Resources:
        return Resources(
            self.cpu * factor,
            self.memory * factor,
            self.gpu * factor,
            self.pods * factor,
            self.ephemeral * factor,
        )

    def fits_in(self, room: Resources) -> bool:
        return (
            self.cpu <= room.cpu
            and self.memory <= room.memory
            and self.gpu <= room.gpu
            and self.pods <= room.pods
            and self.ephemeral <= room.ephemeral
        )

    def how_many_fit_in(self, room: Resources) -> int:
        """How many copies of this request fit in `room` (0 when even one does not)."""
        best = 1 << 62
        for need, have in (
            (self.cpu, room.cpu),
            (self.memory, room.memory),
            (self.gpu, room.gpu),
            (self.pods, room.pods),
            (self.ephemeral, room.ephemeral),
        ):
            if need > 0:
                if have < need:
                    return 0
                best = min(best, have // need)
            elif have < 0:
                return 0
        return best

    def clamp_zero(self) -> Resources:
        return Resources(
            max(self.cpu, 0),
            max(self.memory, 0),
            max(self.gpu, 0),
            max(self.pods, 0),
            max(self.ephemeral, 0),
        )

    @staticmethod
    def least(requests: Iterable[Resources]) -> list[Resources]:
        """The requests no other one is at most in every resource (the Pareto-least): room fits
        one of `requests` exactly when it fits one of these. Smallest cpu first."""
        kept: list[Resources] = []
        for r in sorted(set(requests), key=lambda r: (r.cpu, r.memory, r.gpu, r.pods, r.ephemeral)):
            if not any(k.fits_in(r) for k in kept):
                kept.append(r)
        return kept

    def shortfall(self, room: Resources) -> list[str]:
        """Names of the resources this request needs more of than `room` has."""
        names = []
        if self.cpu > room.cpu:
            names.append("cpu")
        if self.memory > room.memory:
            names.append("memory")
        if self.gpu > room.gpu:
            names.append("gpu")
        if self.pods > room.pods:
            names.append("pods")
        if self.ephemeral > room.ephemeral:
            names.append("ephemeral-storage")
        return names

    def describe(self) -> str:
        parts = [f"cpu={format_cpu(self.cpu)}", f"memory={format_bytes(self.memory)}"]
        if self.gpu:
            parts.append(f"gpu={self.gpu}")
        if self.ephemeral:
            parts.append(f"ephemeral-storage={format_bytes(self.ephemeral)}")
        return " ".join(parts)


ZERO = Resources()
