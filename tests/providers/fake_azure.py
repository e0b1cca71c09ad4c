"""A local HTTP server answering the Azure Resource Manager calls the AKS provider makes,
in the documented response shapes, plus the public Retail Prices API.

Not a simulator of Azure's behaviour beyond what the provider's tests need: an AKS cluster
with agent pools (PUT creates the pool and, as AKS does, a scale set tagged
`aks-managed-poolName` in the node resource group), scale sets whose PATCH of sku.capacity
adds instances, `delete` (delete_instances) removing exactly the named instances.
Long-running operations answer 201/202 with `Azure-AsyncOperation` (and `Location`) headers
and `Retry-After: 0`; the operation's status resource goes InProgress -> Succeeded, or Failed
with a scripted error. Errors can be scripted synchronously (the HTTP status and
`{"error": {"code", "message"}}` body) or inside the long-running operation.

For `doctor` (read-only calls, Azure REST API reference shapes): Permissions - List For
Resource Group (`GET .../resourceGroups/{rg}/providers/Microsoft.Authorization/permissions`,
`value[]` of `{actions, notActions, dataActions, notDataActions}`; by default one entry with
`actions: ["*"]`, what Owner lists), Usage - List (`GET .../providers/Microsoft.Compute/
locations/{location}/usages`, `value[]` of `{unit, currentValue, limit, name: {value,
localizedValue}}`), and the managed cluster's `kubernetesVersion`, `fqdn` and
`identityProfile.kubeletidentity`.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

SUBSCRIPTION = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
RESOURCE_GROUP = "rg-aks"
CLUSTER = "aks1"
REGION = "eastus"
NODE_RESOURCE_GROUP = f"MC_{RESOURCE_GROUP}_{CLUSTER}_{REGION}"


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
class FakeAzure:
    base_url: str = ""
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    scale_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    vms: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # vmss -> number -> vm
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    price_pages: list[list[dict[str, Any]]] = field(default_factory=list)
    permissions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # resource group -> entries
    usages: list[dict[str, Any]] = field(default_factory=list)  # Compute usages of REGION
    lock: threading.RLock = field(default_factory=threading.RLock)
    _numbers: itertools.count = field(default_factory=lambda: itertools.count(0))

    # ---- scripting

    def fail(self, method: str, path_pattern: str, code: str, message: str = "", **kwargs: Any) -> None:
        self.faults.append(Fault(method, path_pattern, code, message or f"{code} (scripted)", **kwargs))

    def calls(self, method: str, pattern: str) -> list[Any]:
        return [body for m, path, body in self.requests if m == method and re.search(pattern, path)]

    # ---- resource shapes

    def pool_id(self, name: str) -> str:
        return (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
            f"Microsoft.ContainerService/managedClusters/{CLUSTER}/agentPools/{name}"
        )

    def vmss_id(self, name: str) -> str:
        return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{NODE_RESOURCE_GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"

    def add_pool(self, name: str, properties: dict[str, Any], state: str = "Succeeded") -> dict[str, Any]:
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
            "tags": {**(properties.get("tags") or {}), "aks-managed-poolName": name, "aks-managed-orchestrator": "Kubernetes:1.33.3"},
            "properties": {"provisioningState": "Succeeded", "orchestrationMode": "Uniform"},
        }
        self.vms[vmss] = {}
        return pool

    def vmss_of(self, pool: str) -> str:
        return next(name for name, s in self.scale_sets.items() if s["tags"].get("aks-managed-poolName") == pool)

    def add_vm(self, vmss: str, state: str = "Succeeded") -> dict[str, Any]:
        number = str(next(self._numbers))
        vm = {
            "id": f"{self.vmss_id(vmss)}/virtualMachines/{number}",
            "name": f"{vmss}_{number}",
            "instanceId": number,
            "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
            "location": REGION,
            "sku": {"name": self.scale_sets[vmss]["sku"]["name"], "tier": "Standard"},
            "properties": {
                "latestModelApplied": True,
                "vmId": f"00000000-0000-0000-0000-{int(number):012d}",
                "provisioningState": state,
                "timeCreated": datetime.now(timezone.utc).isoformat(),
                "osProfile": {"computerName": f"{vmss[:-5]}{int(number):06x}"},
            },
        }
        self.vms[vmss][number] = vm
        return vm


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
            fake.requests.append((method, url.path, body))
            if url.path == "/api/retail/prices":
                return self._prices(parse_qs(url.query))
            fault = self._fault(method, url.path)
            if fault is not None and not fault.in_operation:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return self._send(fault.status, {"error": {"code": fault.code, "message": fault.message}}, headers)
            try:
                _route(self, fake, method, url.path, body, fault)
            except KeyError as err:
                self._send(404, {"error": {"code": "ResourceNotFound", "message": f"{err} not found"}})

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
        self, on_success: Any, fault: Fault | None, status: int, body: Any, on_failure: Any = None,
        namespace: str = "Microsoft.Compute",
    ) -> None:
        """Answer a long-running operation: accepted now, Succeeded (after `on_success`) or
        Failed (with the fault's error) on the second poll of its Azure-AsyncOperation."""
        fake = self.server.fake
        op = f"op-{len(fake.operations)}"
        fake.operations[op] = {"polls": 0, "on_success": on_success, "fault": fault, "on_failure": on_failure}
        location = f"{fake.base_url}/subscriptions/{SUBSCRIPTION}/providers/{namespace}/locations/{REGION}/operations/{op}?api-version=2024-07-01"
        self._send(status, body, {"Azure-AsyncOperation": location, "Location": location, "Retry-After": "0"})


def _route(handler: _Handler, fake: FakeAzure, method: str, path: str, body: Any, fault: Fault | None) -> None:
    if m := re.fullmatch(r".*/operations/(op-\d+)", path):
        op = fake.operations[m.group(1)]
        op["polls"] += 1
        if op["polls"] < 2:
            return handler._send(200, {"status": "InProgress"}, {"Retry-After": "0"})
        if op["fault"] is not None:
            if op.get("on_failure") is not None:
                op.pop("on_failure")()
            error = {"code": op["fault"].code, "message": op["fault"].message}
            return handler._send(200, {"status": "Failed", "error": error})
        if op["on_success"] is not None:
            op["on_success"]()
            op["on_success"] = None
        return handler._send(200, {"status": "Succeeded"})
    if m := re.fullmatch(r".*/managedClusters/([^/]+)", path):
        if m.group(1) != CLUSTER:
            raise KeyError(m.group(1))
        return handler._send(200, {"name": CLUSTER, "location": REGION, "properties": {
            "nodeResourceGroup": NODE_RESOURCE_GROUP, "provisioningState": "Succeeded", "kubernetesVersion": "1.31.2",
            "fqdn": f"{CLUSTER}-dns-00000000.hcp.{REGION}.azmk8s.io",
            "identityProfile": {"kubeletidentity": {
                "resourceId": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{NODE_RESOURCE_GROUP}/providers/"
                              f"Microsoft.ManagedIdentity/userAssignedIdentities/{CLUSTER}-agentpool",
                "clientId": "11111111-2222-3333-4444-555555555555", "objectId": "66666666-7777-8888-9999-000000000000"}}}})
    if m := re.fullmatch(r".*/resourceGroups/([^/]+)/providers/Microsoft.Authorization/permissions", path):
        owner = [{"actions": ["*"], "notActions": [], "dataActions": [], "notDataActions": []}]
        return handler._send(200, {"value": fake.permissions.get(m.group(1), owner)})
    if m := re.fullmatch(r"/subscriptions/[^/]+/providers/Microsoft.Compute/locations/([^/]+)/usages", path):
        return handler._send(200, {"value": fake.usages if m.group(1) == REGION else []})
    if re.fullmatch(r".*/managedClusters/[^/]+/agentPools", path):
        return handler._send(200, {"value": list(fake.pools.values())})
    if m := re.fullmatch(r".*/agentPools/([^/]+)", path):
        name = m.group(1)
        if method == "GET":
            return handler._send(200, fake.pools[name])
        if method == "PUT":
            pool = fake.add_pool(name, body["properties"], state="Creating")
            done = lambda: pool["properties"].__setitem__("provisioningState", "Succeeded")  # noqa: E731
            return handler.operation(done, fault, 201, pool, namespace="Microsoft.ContainerService")
        if method == "DELETE":
            fake.pools[name]["properties"]["provisioningState"] = "Deleting"

            def remove() -> None:
                fake.pools.pop(name, None)
                vmss = next((v for v, s in fake.scale_sets.items() if s["tags"].get("aks-managed-poolName") == name), None)
                if vmss:
                    fake.scale_sets.pop(vmss)
                    fake.vms.pop(vmss)

            return handler.operation(remove, fault, 202, None, namespace="Microsoft.ContainerService")
    if re.fullmatch(r".*/resourceGroups/[^/]+/providers/Microsoft.Compute/virtualMachineScaleSets", path):
        return handler._send(200, {"value": list(fake.scale_sets.values())})
    if m := re.fullmatch(r".*/virtualMachineScaleSets/([^/]+)", path):
        vmss = fake.scale_sets[m.group(1)]
        if method == "GET":
            return handler._send(200, vmss)
        if method == "PATCH":
            return _patch_scale_set(handler, fake, vmss, body, fault)
    if m := re.fullmatch(r".*/virtualMachineScaleSets/([^/]+)/delete", path):
        name = m.group(1)
        numbers = body["instanceIds"]
        for number in numbers:
            fake.vms[name][number]["properties"]["provisioningState"] = "Deleting"

        def delete() -> None:
            for number in numbers:
                fake.vms[name].pop(number, None)
            fake.scale_sets[name]["sku"]["capacity"] = len(fake.vms[name])

        return handler.operation(delete, fault, 202, None)
    if m := re.fullmatch(r".*/virtualMachineScaleSets/([^/]+)/virtualMachines", path):
        return handler._send(200, {"value": list(fake.vms[m.group(1)].values())})
    if m := re.fullmatch(r".*/virtualMachineScaleSets/([^/]+)/virtualMachines/(\d+)", path):
        return handler._send(200, fake.vms[m.group(1)][m.group(2)])
    raise KeyError(path)


def _patch_scale_set(handler: _Handler, fake: FakeAzure, vmss: dict[str, Any], body: Any, fault: Fault | None) -> None:
    name = vmss["name"]
    if "tags" in body:
        vmss["tags"] = body["tags"]
    wanted = (body.get("sku") or {}).get("capacity")
    if wanted is None:
        return handler.operation(None, None, 200, vmss)
    grow = max(0, int(wanted) - len(fake.vms[name]))
    vmss["sku"]["capacity"] = int(wanted)
    if fault is not None:
        # As Azure does: the instance is made, its provisioning fails, the scale set says so.
        failing = [fake.add_vm(name, state="Creating") for _ in range(grow)]
        failed = lambda: [vm["properties"].__setitem__("provisioningState", "Failed") for vm in failing]  # noqa: E731
        return handler.operation(None, fault, 200, vmss, on_failure=failed)
    created = [fake.add_vm(name, state="Creating") for _ in range(grow)]
    done = lambda: [vm["properties"].__setitem__("provisioningState", "Succeeded") for vm in created]  # noqa: E731
    return handler.operation(done, None, 200, vmss)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAzure


def start_fake_azure() -> tuple[FakeAzure, _Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    fake = FakeAzure(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    server.fake = fake
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return fake, server
