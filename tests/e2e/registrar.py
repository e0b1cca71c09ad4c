"""A test registrar that plays every kubelet of a fake cloud: it turns the cloud's running
machines into kwok Nodes, and deletes the Node of a machine that is gone (what a cloud
controller manager does). Cloud-agnostic: a cloud gives `list_machines() -> [Machine]`.

`Registrar(core_v1, list_machines).start()` polls in a thread; `pause()` holds registration
(a kubelet still booting), `resume()` lets it go on. Nodes it made carry the annotation
REGISTRAR_ANNOTATION, so it never touches other Nodes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Mapping

from tests.controlplane.nodes import kwok_node_manifest

log = logging.getLogger(__name__)
REGISTRAR_ANNOTATION = "e2e.smart-autoscaler.io/registrar"


@dataclass(frozen=True)
class Machine:
    """A running machine as its kubelet would register it."""

    name: str  # the Node name (the kubelet's hostname)
    provider_id: str
    labels: Mapping[str, str]
    cpu: str
    memory: str
    pods: int = 110
    gpus: int = 0
    taints: tuple[Mapping[str, str], ...] = ()
    arch: str = "amd64"


@dataclass
class Registrar:
    core_v1: object
    list_machines: Callable[[], list[Machine]]
    interval: float = 0.25
    registered: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Registrar":
        self._thread = threading.Thread(target=self._run, name="registrar", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self._paused.is_set():
                continue
            try:
                self.sync()
            except Exception:  # noqa: BLE001 - a cloud or API hiccup: try again next round
                log.exception("registrar round failed")

    def sync(self) -> None:
        machines = {m.name: m for m in self.list_machines()}
        nodes = {
            node.metadata.name
            for node in self.core_v1.list_node().items
            if (node.metadata.annotations or {}).get(REGISTRAR_ANNOTATION)
        }
        for name, machine in machines.items():
            if name not in nodes:
                self._register(machine)
        for name in nodes - set(machines):
            with contextlib.suppress(Exception):
                self.core_v1.delete_node(name)
            self.registered.discard(name)

    def _register(self, machine: Machine) -> None:
        from kubernetes.client.exceptions import ApiException

        manifest = kwok_node_manifest(
            machine.name,
            machine.cpu,
            machine.memory,
            machine.pods,
            dict(machine.labels),
            machine.provider_id,
            machine.gpus,
            arch=machine.arch,
            taints=[dict(t) for t in machine.taints] or None,
            annotations={REGISTRAR_ANNOTATION: "true"},
        )
        manifest["metadata"]["labels"].pop("type", None)
        try:
            self.core_v1.create_node(manifest)
        except ApiException as err:
            if err.status != 409:
                raise
        self.registered.add(machine.name)
