"""Count changes and machine deletions of the autoscaler's agent pools: batched per pool,
concurrent across pools, never on the loop's thread.

Each pool has one worker thread while it has work. Launches for a pool wait in its queue;
the worker takes every launch queued (up to MAX_BATCH, after a short gather so that the
launches one loop submits together arrive together) and makes one count change for all of
them: the pool is created with that count, or its count is raised by as many (AgentPools
Create Or Update). Terminations queued for the pool go in one Delete Machines call naming
exactly those machines. AKS runs one operation per agent pool at a time (a second one is
refused, `OperationNotAllowed: Another agentpool operation ... is in progress`), so the
worker waits for each operation to end before the next; other pools' workers go on at the
same time.

A launch call waits for its batch's answer on an event of its own and holds no lock: when
the loop gives up on it (cloudCallTimeout), nothing of the pool stays held, the batch goes
on, and a retry with the same request id joins it or finds its machine in the pool's
ledger (ledger.py).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from autoscaler.config import Config
from providers.azure.api import AzureApi, OperationTimeout
from providers.azure.ledger import MAX_BATCH, Ledger, stored_id
from providers.azure.names import Offering
from providers.azure.pools import changed_pool, pool_count, pool_state, pool_tags
from providers.base import Instance, LaunchRequest, ProviderError

log = logging.getLogger("smart_autoscaler.providers.azure")

GATHER_SECONDS = 0.2
# AKS provisioningState values while an operation runs on the pool (AKS REST API, AgentPool
# provisioningState; "Scaling" and "Upgrading" are reported by AKS though not enumerated).
IN_PROGRESS = frozenset({"creating", "updating", "scaling", "upgrading", "starting", "stopping", "deleting", "canceling"})

Describe = Callable[[str, dict[str, Any], str, int], Instance]  # (pool, machine, request id, made at) -> Instance
Failure = Callable[[Exception, Offering, str], ProviderError]


@dataclass(eq=False)
class Waiter:
    key: str  # the request id of a launch, the machine name of a deletion
    request: LaunchRequest | None = None
    done: threading.Event = field(default_factory=threading.Event)
    instance: Instance | None = None
    error: ProviderError | None = None

    def answer(self, instance: Instance | None = None, error: ProviderError | None = None) -> None:
        if not self.done.is_set():
            self.instance, self.error = instance, error
            self.done.set()

    def result(self, timeout: float, what: str) -> Instance | None:
        if not self.done.wait(timeout):
            raise ProviderError(f"{what}: no answer from AKS within {timeout:g}s", "OperationTimeout")
        if self.error is not None:
            raise self.error
        return self.instance


@dataclass(eq=False)
class PoolWork:
    offering: Offering
    create_body: Callable[[int], dict[str, Any]]  # the pool's resource for a count, when it must be made
    lock: threading.Lock = field(default_factory=threading.Lock)  # the worker's, or the reaper's
    grows: dict[str, Waiter] = field(default_factory=dict)  # request id -> launch, in arrival order
    deletes: dict[str, Waiter] = field(default_factory=dict)  # machine name -> termination
    running: bool = False


class PoolScaler:
    def __init__(self, api: AzureApi, config: Config, clock: Any, describe: Describe, failure: Failure) -> None:
        self.api = api
        self.settings = config.azure
        self.clock = clock
        self.describe = describe
        self.failure = failure
        self._guard = threading.Lock()
        self._pools: dict[str, PoolWork] = {}
        self._in_flight: dict[str, Waiter] = {}  # request id -> launch whose count change runs
        self.full_ids: dict[str, str] = {}  # a hashed id in the ledger -> the request id this process saw
        # What this process saw each launch get, right after its count change (the ledger's
        # order-based answer holds only until a machine of the batch is deleted).
        self.request_of: dict[str, str] = {}  # machine name -> request id
        self.deleting: set[str] = set()  # instance ids whose deletion runs

    # ---- what the provider asks

    def launch(self, pool: str, offering: Offering, request: LaunchRequest, create_body: Callable[[int], dict[str, Any]]) -> Instance:
        with self._guard:
            work = self._work(pool, offering, create_body)
            waiter = work.grows.get(request.request_id) or self._in_flight.get(request.request_id)
            if waiter is None:  # a retry of a launch still queued or running joins it
                waiter = work.grows[request.request_id] = Waiter(request.request_id, request)
            if stored_id(request.request_id) != request.request_id:
                self.full_ids[stored_id(request.request_id)] = request.request_id
            self._start(pool, work)
        instance = waiter.result(self._patience(), f"launch {request.request_id[:12]} in agent pool {pool}")
        assert instance is not None
        return instance

    def delete(self, pool: str, machine: str, offering: Offering) -> None:
        with self._guard:
            work = self._work(pool, offering, None)
            waiter = work.deletes.get(machine) or Waiter(machine)
            work.deletes[machine] = waiter
            self._start(pool, work)
        waiter.result(self._patience(), f"deleting machine {machine} of agent pool {pool}")

    def lock(self, pool: str) -> threading.Lock:
        with self._guard:
            work = self._pools.get(pool)
            return work.lock if work is not None else self._pools.setdefault(pool, PoolWork(Offering("", "", ""), _no_body)).lock

    def idle(self, pool: str) -> bool:
        """No launch or deletion waits for the pool. Under the pool's lock nothing runs on it
        either: a worker takes the lock for each round of work (a launch that comes meanwhile
        waits, then finds the pool gone and makes it anew)."""
        with self._guard:
            work = self._pools.get(pool)
            return work is None or not (work.grows or work.deletes)

    def _patience(self) -> float:
        # the operation itself, a wait for an operation already running on the pool, and the clean-up
        return 2 * self.settings.operation_timeout + GATHER_SECONDS

    def _work(self, pool: str, offering: Offering, create_body: Callable[[int], dict[str, Any]] | None) -> PoolWork:
        work = self._pools.get(pool)
        if work is None:
            work = self._pools[pool] = PoolWork(offering, create_body or _no_body)
        elif create_body is not None:
            work.offering, work.create_body = offering, create_body
        return work

    def _start(self, pool: str, work: PoolWork) -> None:
        if not work.running:
            work.running = True
            threading.Thread(target=self._run, args=(pool, work), name=f"aks-pool-{pool}", daemon=True).start()

    # ---- the pool's worker

    def _run(self, pool: str, work: PoolWork) -> None:
        while True:
            time.sleep(GATHER_SECONDS)  # the launches of one loop arrive within this of each other
            with self._guard:
                deletes = list(work.deletes.values())
                work.deletes.clear()
                grows = list(work.grows.values())[:MAX_BATCH]
                for waiter in grows:
                    del work.grows[waiter.key]
                    self._in_flight[waiter.key] = waiter
                if not deletes and not grows:
                    work.running = False
                    return
            try:
                with work.lock:
                    if deletes:
                        self._delete(pool, work, deletes)
                    if grows:
                        self._grow(pool, work, grows)
            except Exception as err:  # no caller is ever left waiting
                log.exception("agent pool %s: unexpected failure", pool)
                for waiter in [*deletes, *grows]:
                    waiter.answer(error=ProviderError(f"agent pool {pool}: {type(err).__name__}: {err}"))
            finally:
                with self._guard:
                    for waiter in grows:
                        self._in_flight.pop(waiter.key, None)

    def _settled(self, pool: str) -> dict[str, Any] | None:
        """The pool once no operation runs on it (None: there is no pool)."""
        deadline = time.monotonic() + self.settings.operation_timeout
        while True:
            found = self.api.get_pool(pool)
            if found is None or pool_state(found) not in IN_PROGRESS:
                return found
            if time.monotonic() >= deadline:
                raise OperationTimeout(f"agent pool {pool} stayed {pool_state(found)} past azure.operationTimeout")
            time.sleep(max(0.05, self.settings.poll_interval))

    def _grow(self, pool: str, work: PoolWork, waiters: list[Waiter]) -> None:
        offering = work.offering
        try:
            found = self._settled(pool)
            machines = self.api.list_machines(pool) if found is not None else []
        except Exception as err:
            error = self.failure(err, offering, f"reading agent pool {pool}")
            for waiter in waiters:
                waiter.answer(error=error)
            return
        ledger = Ledger.of(pool_tags(found) if found else {})
        fresh = []
        for waiter in waiters:
            if ledger.known(waiter.key):  # made earlier (by this process or one before it)
                waiter.answer(self._recorded(pool, ledger, machines, waiter.key))
            else:
                fresh.append(waiter)
        if not fresh:
            return
        ledger = ledger.add([w.key for w in fresh], ledger.watermark_of(machines), self.clock.now())
        if found is None:
            body = work.create_body(len(fresh))
            body["properties"]["tags"] = ledger.tags(body["properties"].get("tags") or {})
            what = f"creating agent pool {pool} with {len(fresh)} node(s)"
            log.info("creating agent pool %s for %s %s in %s with %d node(s)", pool, offering.vm_size,
                     offering.capacity_type, offering.zone or self.api.settings.resource_group, len(fresh))
        else:
            count = pool_count(found)
            body = changed_pool(found, count + len(fresh), ledger.tags(pool_tags(found)))
            what = f"raising agent pool {pool} from {count} to {count + len(fresh)} node(s)"
            log.info("agent pool %s: count %d -> %d for %d launch(es)", pool, count, count + len(fresh), len(fresh))
        try:
            self.api.wait(self.api.put_pool(pool, body), what)
        except Exception as err:
            error = self.failure(err, offering, what)
            for waiter in fresh:
                waiter.answer(error=error)  # first: the loop can ask for the next offering now
            if not isinstance(err, OperationTimeout):  # a timed-out operation may still deliver
                self._undo(pool, created=found is None, before={m["name"] for m in machines}, ledger=ledger)
            return
        machines = self.api.list_machines(pool)
        for waiter in fresh:
            try:
                waiter.answer(self._recorded(pool, ledger, machines, waiter.key, missing_is_error=True))
            except ProviderError as err:
                waiter.answer(error=err)

    def _recorded(
        self, pool: str, ledger: Ledger, machines: list[dict[str, Any]], request_id: str, missing_is_error: bool = False
    ) -> Instance:
        wanted = stored_id(request_id)
        by_name = {m["name"]: m for m in machines}
        assigned = ledger.assign(machines)
        remembered = [name for name, request in list(self.request_of.items()) if request == request_id]
        if remembered:  # this process saw which machine it got: that one, or none when it is gone
            found = by_name.get(remembered[0])
            if found is not None:
                return self.describe(pool, found, request_id, assigned.get(remembered[0], ("", 0))[1])
        else:
            for name, (short, made_at) in assigned.items():
                if short == wanted and name not in self.request_of:
                    self.request_of[name] = request_id
                    return self.describe(pool, by_name[name], request_id, made_at)
        if missing_is_error:
            raise ProviderError(f"agent pool {pool} grew but lists no machine for launch {request_id[:12]}", "NoNewMachine")
        # Its machine is gone (deleted, or never made): the loop launches anew.
        gone = {"name": f"launch-{wanted}", "properties": {"provisioningState": "Deleted"}}
        return self.describe(pool, gone, request_id, 0)

    def _undo(self, pool: str, created: bool, before: set[str], ledger: Ledger) -> None:
        """A failed count change leaves nothing behind: a pool it created is deleted; else the
        machines it made are deleted by name and the count set back to what is there."""
        try:
            if created:
                self.api.delete_pool(pool)
                return
            made = [m["name"] for m in self.api.list_machines(pool) if m["name"] not in before]
            if made:
                self.api.wait(self.api.delete_machines(pool, made), f"deleting {len(made)} machine(s) of agent pool {pool}")
            found = self._settled(pool)
            if found is None:
                return
            machines = self.api.list_machines(pool)
            if pool_count(found) != len(machines):
                body = changed_pool(found, len(machines), ledger.without_last().tags(pool_tags(found)))
                self.api.wait(self.api.put_pool(pool, body), f"setting agent pool {pool} back to {len(machines)} node(s)")
        except Exception as err:  # the loop's scale-up timeout and the idle-pool sweep catch what is left
            log.error("cleaning up after the failed count change of agent pool %s failed: %s", pool, err)

    def _delete(self, pool: str, work: PoolWork, waiters: list[Waiter]) -> None:
        names = [w.key for w in waiters]
        what = f"deleting machine(s) {', '.join(names)} of agent pool {pool}"
        try:
            found = self._settled(pool)
            present = {m["name"] for m in self.api.list_machines(pool)} if found is not None else set()
            doomed = [name for name in names if name in present]
            if doomed:
                log.info("agent pool %s: deleting machine(s) %s", pool, ", ".join(doomed))
                self.api.wait(self.api.delete_machines(pool, doomed), what)
        except Exception as err:
            error = self.failure(err, work.offering, what)
            for waiter in waiters:
                waiter.answer(error=error)
            return
        for waiter in waiters:
            waiter.answer()  # deleted, or already gone


def _no_body(count: int) -> dict[str, Any]:
    raise ProviderError("an agent pool is made only for a launch", "NoPool")
