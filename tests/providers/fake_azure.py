"""A local Azure Resource Manager for the AKS provider's tests: an AKS cluster's agent pools
and machines, the scale sets AKS keeps behind them, and the public Retail Prices API.

Every behaviour follows a published source, never this project's code:

- Agent Pools (AKS REST API, Microsoft.ContainerService stable 2025-07-01, in
  Azure/azure-rest-api-specs `specification/containerservice/.../aks/stable/2025-07-01`,
  examples AgentPoolsCreate_Update.json, AgentPoolsDeleteMachines.json, MachineList.json;
  the same contract as azure-mgmt-containerservice's models): PUT creates a pool (201) or
  changes it (200) and runs a long-running operation; `count` is 0-1000 for a User pool;
  `vmSize`, `scaleSetPriority`, `osType` and `availabilityZones` cannot change on an existing
  pool (PropertyChangeNotAllowed, "Changing property ... vmSize is not allowed" in the stable
  API versions, quoted in Azure/bicep-registry-modules#7130; "You can't change the VM size of a
  node pool after you create it", AKS docs, multiple node pools); taints are `key=value:Effect`; the enums are the spec's. POST .../deleteMachines with
  `{"machineNames": [...]}` deletes exactly those machines (202) and the pool's count drops by
  as many. Machines - List / Get name each machine after its node and give its scale-set VM
  in `properties.resourceId`.
- One operation per agent pool at a time: a second is refused with 409 OperationNotAllowed,
  "Another agentpool operation (<pool> - <state>) is in progress" (the message AKS returns,
  quoted in cilium/cilium#25944 and Azure/azure-workload-identity#417).
- Tags (Azure Resource Manager, "Use tags to organize your Azure resources", Limitations):
  names without `<`, `>`, `%`, `&`, `\\`, `?`, `/` (InvalidTagNameCharacters, the code ARM
  returns), names up to 512 and values up to 256 characters, at most 50 tags a resource. AKS
  copies a pool's tags onto its scale set and VMs ("Use Azure tags in AKS"), so they must
  hold there too, next to AKS's own `aks-managed-*` tags. (The codes for the length and count
  limits are this fake's; ARM documents the limits, not the codes.)
- Long-running operations as ARM answers them ("Track asynchronous Azure operations"): the
  request is accepted (PUT 200/201, DELETE and POST 202) with `Azure-AsyncOperation` and
  `Location` headers; the operation's status resource says InProgress, then Succeeded, or
  Failed with an `error`. `lro_seconds` is how long an operation runs (0: done at the first
  poll); operations end by time, whether polled or not (a client that crashed does not stop
  Azure).
- The node resource group (MC_...): AKS makes a scale set per pool (tagged
  `aks-managed-poolName`), holding as many instances as the pool's count; a scale-out's
  instances exist at once, provisioning, and succeed when the operation does; a scripted
  in-operation failure leaves them Failed and the pool Failed. A cluster update (PUT or PATCH
  of the managed cluster) reconciles every scale set to its pool's stored count and tags, as
  AKS does (kubernetes/autoscaler#7943: with AKS's autoscaler off, an unrelated cluster update
  removed nodes added to the scale set directly), so a write behind AKS's back is undone.
- Retail Prices: the documented page shape (`Items`, `NextPageLink`).

Errors can be scripted synchronously (HTTP status and `{"error": {"code", "message"}}`) or
inside the long-running operation.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

SUBSCRIPTION = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
RESOURCE_GROUP = "rg-aks"
CLUSTER = "aks1"
REGION = "eastus"
NODE_RESOURCE_GROUP = f"MC_{RESOURCE_GROUP}_{CLUSTER}_{REGION}"
AKS_TAGS = {  # what AKS itself puts on a scale set (seen on AKS node resource groups)
    "aks-managed-orchestrator": "Kubernetes:1.33.3",
    "aks-managed-createOperationID": "00000000-0000-0000-0000-000000000000",
    "aks-managed-creationSource": "vmssclient",
    "aks-managed-kubeletIdentityClientID": "00000000-0000-0000-0000-000000000001",
    "aks-managed-resourceNameSuffix": "12345678",
}
POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
TAINT = re.compile(r"^[^=:\s]+=[^=:\s]*:(NoSchedule|PreferNoSchedule|NoExecute)$")
ENUMS = {
    "mode": {"System", "User", "Gateway"},
    "osType": {"Linux", "Windows"},
    "osSKU": {"Ubuntu", "Ubuntu2204", "Ubuntu2404", "AzureLinux", "AzureLinux3", "CBLMariner", "Windows2019", "Windows2022"},
    "type": {"VirtualMachineScaleSets", "AvailabilitySet", "VirtualMachines"},
    "scaleSetPriority": {"Spot", "Regular"},
    "scaleSetEvictionPolicy": {"Delete", "Deallocate"},
    "scaleDownMode": {"Delete", "Deallocate"},
}
IMMUTABLE = ("vmSize", "scaleSetPriority", "osType", "availabilityZones")
IN_PROGRESS = {"Creating", "Updating", "Scaling", "Deleting"}


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def tag_errors(tags: Any, extra: int = 0) -> ArmError | None:
    """ARM's verdict on a resource's tags (`extra`: tags the resource carries besides these)."""
    if tags is None:
        return None
    if not isinstance(tags, dict):
        return ArmError(400, "InvalidRequestContent", "tags must be an object of strings")
    bad = [k for k in tags if re.search(r"[<>%&\\?/]", k) or any(ord(c) < 32 for c in k)]
    if bad:
        return ArmError(400, "InvalidTagNameCharacters",
                        f"The tag names '{','.join(bad)}' have reserved characters '<,>,%,&,\\,?,/' or control characters.")
    if any(not k or len(k) > 512 for k in tags):
        return ArmError(400, "InvalidTagNameLength", "A tag name is empty or longer than 512 characters.")
    if any(not isinstance(v, str) or len(v) > 256 for v in tags.values()):
        return ArmError(400, "InvalidTagValueLength", "A tag value is not a string of at most 256 characters.")
    if len(tags) + extra > 50:
        return ArmError(400, "InvalidTagCount", f"{len(tags) + extra} tags; a resource can have at most 50.")
    return None


def validate_pool(name: str, body: Any, existing: dict[str, Any] | None) -> dict[str, Any]:
    """The pool's properties from a PUT body, or ArmError as AKS would refuse it."""
    if not POOL_NAME.match(name):
        raise ArmError(400, "InvalidParameter", f"agent pool name {name!r}: 1-12 lowercase letters and digits, starting with a letter")
    if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
        raise ArmError(400, "InvalidRequestContent", "the request body must be an AgentPool with properties")
    props = dict(body["properties"])
    count = props.get("count", 1 if existing is None else existing["properties"]["count"])
    mode = props.get("mode", "User")
    low = 1 if mode == "System" else 0
    if not isinstance(count, int) or isinstance(count, bool) or not low <= count <= 1000:
        raise ArmError(400, "InvalidParameter", f"properties.count {count!r}: must be {low} to 1000 for a {mode} pool")
    for key, allowed in ENUMS.items():
        if key in props and props[key] not in allowed:
            raise ArmError(400, "InvalidParameter", f"properties.{key} {props[key]!r}: one of {sorted(allowed)}")
    for taint in props.get("nodeTaints") or []:
        if not isinstance(taint, str) or not TAINT.match(taint):
            raise ArmError(400, "InvalidParameter", f"node taint {taint!r}: expected key=value:Effect")
    if not isinstance(props.get("nodeLabels") or {}, dict):
        raise ArmError(400, "InvalidRequestContent", "properties.nodeLabels must be an object")
    if existing is None and not props.get("vmSize"):
        raise ArmError(400, "InvalidParameter", "properties.vmSize is required")
    if existing is not None:
        old = existing["properties"]
        for key in IMMUTABLE:
            if key in props and props[key] != old.get(key):
                raise ArmError(400, "PropertyChangeNotAllowed", f"Changing property '{key}' is not allowed.")
    error = tag_errors(props.get("tags"), extra=len(AKS_TAGS) + 1)  # + aks-managed-poolName on the scale set
    if error:
        raise error
    props["count"] = count
    return props


@dataclass
class Fault:
    """One scripted failure: for requests whose method and path match, `times` times."""

    method: str
    path_pattern: str
    code: str
    message: str
    status: int = 400
    in_operation: bool = False  # True: accepted, then the long-running operation fails
    times: int = 1
    retry_after: str | None = None


@dataclass
class Operation:
    due: float
    on_success: Callable[[], None] | None
    on_failure: Callable[[], None] | None = None
    fault: Fault | None = None
    pool: str = ""
    status: str = "InProgress"
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())


@dataclass
class FakeAzure:
    base_url: str = ""
    lro_seconds: float = 0.0
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    scale_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    vms: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # vmss -> number -> vm
    operations: dict[str, Operation] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)  # time.monotonic() of each request
    price_pages: list[list[dict[str, Any]]] = field(default_factory=list)
    cluster_tags: dict[str, str] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _numbers: dict[str, itertools.count] = field(default_factory=dict)

    # ---- scripting and reading

    def fail(self, method: str, path_pattern: str, code: str, message: str = "", **kwargs: Any) -> None:
        self.faults.append(Fault(method, path_pattern, code, message or f"{code} (scripted)", **kwargs))

    def calls(self, method: str, pattern: str) -> list[Any]:
        return [body for m, path, body in self.requests if m == method and re.search(pattern, path)]

    def writes_to_node_resource_group(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests if m != "GET" and f"/resourceGroups/{NODE_RESOURCE_GROUP}/".lower() in p.lower()]

    def vmss_of(self, pool: str) -> str:
        return next(name for name, s in self.scale_sets.items() if s["tags"].get("aks-managed-poolName") == pool)

    def machines(self, pool: str) -> list[dict[str, Any]]:
        with self.lock:
            self.advance()
            return [self.machine(self.vmss_of(pool), vm) for vm in self.vms[self.vmss_of(pool)].values()]

    # ---- resource shapes

    def pool_id(self, name: str) -> str:
        return (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
            f"Microsoft.ContainerService/managedClusters/{CLUSTER}/agentPools/{name}"
        )

    def vmss_id(self, name: str) -> str:
        return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{NODE_RESOURCE_GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"

    def machine(self, vmss: str, vm: dict[str, Any]) -> dict[str, Any]:
        name = vm["properties"]["osProfile"]["computerName"]
        pool = self.scale_sets[vmss]["tags"]["aks-managed-poolName"]
        return {
            "id": f"{self.pool_id(pool)}/machines/{name}",
            "name": name,
            "type": "Microsoft.ContainerService/managedClusters/agentPools/machines",
            "zones": list(vm.get("zones") or []),
            "properties": {
                "network": {"ipAddresses": [{"ip": f"10.224.{int(vm['instanceId']) // 250}.{int(vm['instanceId']) % 250 + 4}", "family": "IPv4"}]},
                "resourceId": vm["id"],
            },
        }

    def add_pool(self, name: str, properties: dict[str, Any], state: str = "Succeeded") -> dict[str, Any]:
        """A pool as AKS stores it, with its scale set (and `count` instances, Succeeded)."""
        pool = {
            "id": self.pool_id(name),
            "name": name,
            "type": "Microsoft.ContainerService/managedClusters/agentPools",
            "properties": {**properties, "provisioningState": state, "count": properties.get("count", 0)},
        }
        self.pools[name] = pool
        vmss = f"aks-{name}-{abs(hash(name)) % 10**8:08d}-vmss"
        self.scale_sets[vmss] = {
            "id": self.vmss_id(vmss),
            "name": vmss,
            "type": "Microsoft.Compute/virtualMachineScaleSets",
            "location": REGION,
            "sku": {"name": properties.get("vmSize", ""), "tier": "Standard", "capacity": 0},
            "tags": self._scale_set_tags(name),
            "properties": {"provisioningState": "Succeeded", "orchestrationMode": "Uniform"},
        }
        self.vms[vmss] = {}
        self._numbers[vmss] = itertools.count(0)
        for _ in range(pool["properties"]["count"]):
            self.add_vm(vmss)
        return pool

    def _scale_set_tags(self, pool: str) -> dict[str, str]:
        return {**(self.pools[pool]["properties"].get("tags") or {}), **AKS_TAGS, "aks-managed-poolName": pool}

    def add_vm(self, vmss: str, state: str = "Succeeded") -> dict[str, Any]:
        """A scale-set instance: numbered in creation order, named as AKS names nodes
        (<vmss> + 6 base-36 digits of the instance number)."""
        number = next(self._numbers[vmss])
        digits = "".join("0123456789abcdefghijklmnopqrstuvwxyz"[(number // 36**i) % 36] for i in reversed(range(6)))
        pool = self.pools[self.scale_sets[vmss]["tags"]["aks-managed-poolName"]]["properties"]
        vm = {
            "id": f"{self.vmss_id(vmss)}/virtualMachines/{number}",
            "name": f"{vmss}_{number}",
            "instanceId": str(number),
            "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
            "location": REGION,
            "zones": list(pool.get("availabilityZones") or []),
            "tags": dict(self.scale_sets[vmss]["tags"]),
            "sku": {"name": self.scale_sets[vmss]["sku"]["name"], "tier": "Standard"},
            "properties": {
                "latestModelApplied": True,
                "vmId": f"00000000-0000-0000-0000-{number:012d}",
                "provisioningState": state,
                "timeCreated": datetime.now(timezone.utc).isoformat(),
                "osProfile": {"computerName": f"{vmss}{digits}"},
            },
        }
        self.vms[vmss][str(number)] = vm
        self.scale_sets[vmss]["sku"]["capacity"] = len(self.vms[vmss])
        return vm

    # ---- AKS's behaviour

    def advance(self) -> None:
        """End every operation whose time has come (Azure runs them whether polled or not)."""
        now = time.monotonic()
        for op in self.operations.values():
            if op.status != "InProgress" or op.due > now:
                continue
            if op.fault is not None:
                op.status = "Failed"
                if op.on_failure is not None:
                    op.on_failure()
            else:
                op.status = "Succeeded"
                if op.on_success is not None:
                    op.on_success()

    def busy_pool(self, pool: str) -> str | None:
        """The state of an operation running on the pool, if one runs."""
        for op in self.operations.values():
            if op.pool == pool and op.status == "InProgress":
                return self.pools[pool]["properties"]["provisioningState"] if pool in self.pools else "Deleting"
        return None

    def reconcile(self) -> None:
        """What AKS does on a cluster update: every scale set back to its pool's stored count
        (the newest instances go first) and its pool's tags."""
        for name, pool in self.pools.items():
            vmss = self.vmss_of(name)
            self.scale_sets[vmss]["tags"] = self._scale_set_tags(name)
            vms = self.vms[vmss]
            count = pool["properties"]["count"]
            for number in sorted(vms, key=int)[count:] if len(vms) > count else []:
                del vms[number]
            while len(vms) < count:
                self.add_vm(vmss)
            self.scale_sets[vmss]["sku"]["capacity"] = len(vms)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", "fake")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, err: ArmError, headers: dict[str, str] | None = None) -> None:
        self._send(err.status, {"error": {"code": err.code, "message": err.message}}, headers)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        url = urlparse(self.path)
        body = self._body() if method in ("PUT", "PATCH", "POST") else None
        with fake.lock:
            fake.advance()
            fake.requests.append((method, url.path, body))
            fake.arrived.append(time.monotonic())
            if url.path == "/api/retail/prices":
                return self._prices(parse_qs(url.query))
            fault = self._fault(method, url.path)
            if fault is not None and not fault.in_operation:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return self._error(ArmError(fault.status, fault.code, fault.message), headers)
            try:
                _route(self, fake, method, url.path, body, fault)
            except ArmError as err:
                self._error(err)
            except KeyError as err:
                self._error(ArmError(404, "ResourceNotFound", f"{err} not found"))

    def _fault(self, method: str, path: str) -> Fault | None:
        for fault in self.server.fake.faults:
            if fault.times > 0 and fault.method == method and re.search(fault.path_pattern, path):
                fault.times -= 1
                return fault
        return None

    def _prices(self, query: dict[str, list[str]]) -> None:
        fake = self.server.fake
        page = int(query.get("page", ["0"])[0])
        items = fake.price_pages[page] if page < len(fake.price_pages) else []
        next_link = None
        if page + 1 < len(fake.price_pages):
            next_link = f"{fake.base_url}/api/retail/prices?page={page + 1}"
        self._send(200, {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                         "Items": items, "NextPageLink": next_link, "Count": len(items)})

    def operation(
        self, status: int, body: Any, on_success: Callable[[], None] | None, fault: Fault | None,
        on_failure: Callable[[], None] | None = None, namespace: str = "Microsoft.ContainerService", pool: str = "",
    ) -> None:
        """Accept a long-running operation; its status resource answers from then on."""
        fake = self.server.fake
        name = f"op-{len(fake.operations)}"
        fake.operations[name] = Operation(time.monotonic() + fake.lro_seconds, on_success, on_failure, fault, pool)
        location = f"{fake.base_url}/subscriptions/{SUBSCRIPTION}/providers/{namespace}/locations/{REGION}/operations/{name}?api-version=2025-07-01"
        retry = "1" if fake.lro_seconds else "0"
        self._send(status, body, {"Azure-AsyncOperation": location, "Location": location, "Retry-After": retry})
        fake.advance()


def _route(handler: _Handler, fake: FakeAzure, method: str, path: str, body: Any, fault: Fault | None) -> None:
    if m := re.fullmatch(r".*/operations/(op-\d+)", path):
        op = fake.operations[m.group(1)]
        status: dict[str, Any] = {"id": path, "name": m.group(1), "status": op.status, "startTime": op.started}
        if op.status == "Failed" and op.fault is not None:
            status["error"] = {"code": op.fault.code, "message": op.fault.message}
        return handler._send(200, status, {"Retry-After": "1" if fake.lro_seconds else "0"} if op.status == "InProgress" else None)
    if m := re.fullmatch(r".*/managedClusters/([^/]+)", path):
        return _cluster(handler, fake, method, m.group(1), body)
    if re.fullmatch(r".*/managedClusters/[^/]+/agentPools", path):
        return handler._send(200, {"value": list(fake.pools.values())})
    if m := re.fullmatch(r".*/agentPools/([^/]+)", path):
        return _pool(handler, fake, method, m.group(1), body, fault)
    if m := re.fullmatch(r".*/agentPools/([^/]+)/deleteMachines", path):
        return _delete_machines(handler, fake, m.group(1), body, fault)
    if m := re.fullmatch(r".*/agentPools/([^/]+)/machines", path):
        vmss = fake.vmss_of(fake.pools[m.group(1)]["name"])
        return handler._send(200, {"value": [fake.machine(vmss, vm) for vm in fake.vms[vmss].values()]})
    if m := re.fullmatch(r".*/agentPools/([^/]+)/machines/([^/]+)", path):
        vmss = fake.vmss_of(fake.pools[m.group(1)]["name"])
        found = [vm for vm in fake.vms[vmss].values() if vm["properties"]["osProfile"]["computerName"] == m.group(2)]
        if not found:
            raise KeyError(m.group(2))
        return handler._send(200, fake.machine(vmss, found[0]))
    if re.fullmatch(r".*/resourceGroups/[^/]+/providers/Microsoft.Compute/virtualMachineScaleSets", path):
        return handler._send(200, {"value": list(fake.scale_sets.values())})
    if m := re.fullmatch(r".*/virtualMachineScaleSets/([^/]+)", path):
        vmss = fake.scale_sets[m.group(1)]
        if method == "GET":
            return handler._send(200, vmss)
        if method == "PATCH":  # ARM accepts a write behind AKS's back; AKS's next reconcile undoes it
            error = tag_errors(body.get("tags"))
            if error:
                raise error
            vmss["tags"] = body.get("tags", vmss["tags"])
            wanted = (body.get("sku") or {}).get("capacity")
            while wanted is not None and len(fake.vms[vmss["name"]]) < int(wanted):
                fake.add_vm(vmss["name"])
            return handler.operation(200, vmss, None, None, namespace="Microsoft.Compute")
    if m := re.fullmatch(r".*/virtualMachineScaleSets/([^/]+)/virtualMachines", path):
        return handler._send(200, {"value": list(fake.vms[m.group(1)].values())})
    if m := re.fullmatch(r".*/virtualMachineScaleSets/([^/]+)/virtualMachines/(\d+)", path):
        return handler._send(200, fake.vms[m.group(1)][m.group(2)])
    raise KeyError(path)


def _cluster(handler: _Handler, fake: FakeAzure, method: str, name: str, body: Any) -> None:
    if name != CLUSTER:
        raise KeyError(name)
    cluster = {"id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.ContainerService/managedClusters/{CLUSTER}",
               "name": CLUSTER, "location": REGION, "tags": fake.cluster_tags,
               "properties": {"nodeResourceGroup": NODE_RESOURCE_GROUP, "provisioningState": "Succeeded"}}
    if method == "GET":
        return handler._send(200, cluster)
    if method in ("PUT", "PATCH"):  # a cluster update: AKS reconciles every pool's scale set
        error = tag_errors((body or {}).get("tags"))
        if error:
            raise error
        fake.cluster_tags = dict((body or {}).get("tags") or {})
        return handler.operation(200, cluster, fake.reconcile, None)
    raise KeyError(name)


def _pool(handler: _Handler, fake: FakeAzure, method: str, name: str, body: Any, fault: Fault | None) -> None:
    if method == "GET":
        return handler._send(200, fake.pools[name])
    busy = fake.busy_pool(name)
    if busy is not None and method in ("PUT", "DELETE"):
        raise ArmError(409, "OperationNotAllowed", f"Operation is not allowed: Another agentpool operation ({name} - {busy}) is in "
                       "progress, please wait for it to finish before starting a new operation. See https://aka.ms/aks-pending-operation for more details")
    if method == "PUT":
        existing = fake.pools.get(name)
        props = validate_pool(name, body, existing)
        if existing is None:
            pool = fake.add_pool(name, {**props, "count": 0}, state="Creating")
            created = 201
        else:
            pool = existing
            pool["properties"] = {**props, "provisioningState": "Updating"}
            created = 200
        pool["properties"]["count"] = props["count"]
        vmss = fake.vmss_of(name)
        fake.scale_sets[vmss]["tags"] = fake._scale_set_tags(name)
        vms = fake.vms[vmss]
        for number in sorted(vms, key=int)[props["count"]:] if len(vms) > props["count"] else []:
            del vms[number]  # a lower count: AKS removes nodes
        new = [fake.add_vm(vmss, state="Creating") for _ in range(props["count"] - len(vms))]

        def done() -> None:
            pool["properties"]["provisioningState"] = "Succeeded"
            for vm in new:
                vm["properties"]["provisioningState"] = "Succeeded"

        def failed() -> None:  # as Azure does: the instances were made, their provisioning failed
            pool["properties"]["provisioningState"] = "Failed"
            for vm in new:
                vm["properties"]["provisioningState"] = "Failed"

        return handler.operation(created, pool, done, fault, failed, pool=name)
    if method == "DELETE":
        pool = fake.pools[name]
        pool["properties"]["provisioningState"] = "Deleting"

        def remove() -> None:
            fake.pools.pop(name, None)
            vmss = next((v for v, s in fake.scale_sets.items() if s["tags"].get("aks-managed-poolName") == name), None)
            if vmss:
                fake.scale_sets.pop(vmss)
                fake.vms.pop(vmss)

        return handler.operation(202, None, remove, fault, pool=name)
    raise KeyError(name)


def _delete_machines(handler: _Handler, fake: FakeAzure, name: str, body: Any, fault: Fault | None) -> None:
    pool = fake.pools[name]
    busy = fake.busy_pool(name)
    if busy is not None:
        raise ArmError(409, "OperationNotAllowed", f"Operation is not allowed: Another agentpool operation ({name} - {busy}) is in progress")
    wanted = (body or {}).get("machineNames")
    if not isinstance(wanted, list) or not wanted or not all(isinstance(n, str) for n in wanted):
        raise ArmError(400, "InvalidParameter", "machineNames must be a non-empty list of machine names")
    vmss = fake.vmss_of(name)
    by_name = {vm["properties"]["osProfile"]["computerName"]: number for number, vm in fake.vms[vmss].items()}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ArmError(400, "InvalidParameter", f"machines {unknown} are not in agent pool {name}")
    pool["properties"]["provisioningState"] = "Updating"
    for machine in wanted:
        fake.vms[vmss][by_name[machine]]["properties"]["provisioningState"] = "Deleting"

    def delete() -> None:
        for machine in wanted:
            fake.vms[vmss].pop(by_name[machine], None)
        pool["properties"]["count"] = max(0, pool["properties"]["count"] - len(wanted))
        pool["properties"]["provisioningState"] = "Succeeded"
        fake.scale_sets[vmss]["sku"]["capacity"] = len(fake.vms[vmss])

    def failed() -> None:
        pool["properties"]["provisioningState"] = "Failed"

    return handler.operation(202, None, delete, fault, failed, pool=name)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAzure


def start_fake_azure(lro_seconds: float = 0.0) -> tuple[FakeAzure, _Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    fake = FakeAzure(base_url=f"http://127.0.0.1:{server.server_address[1]}", lro_seconds=lro_seconds)
    server.fake = fake
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return fake, server
