"""A local HTTP server answering as GKE, Compute Engine and the Cloud Billing Catalog do.

The SDKs talk to it at their REST transport (`client_options` api_endpoint, anonymous
credentials, transport="rest"), so their serialization and error parsing are the real ones.
Bodies follow the documented shapes: NodePool with instanceGroupUrls, container Operations,
Compute Operations with `error.errors[].code` and quota `errorDetails`, listManagedInstances
with `currentAction`, `instanceStatus` and `lastAttempt.errors`, aggregated machine and
accelerator types, Billing SKUs with `pricingInfo`. It models what the provider relies on:
node pools (created RUNNING with one MIG per location), MIGs that create named instances
(idempotent by requestId and by name), zonal stock-outs and quota errors that MIGs report
in lastAttempt while they keep retrying, operation errors, throttling (HTTP 429), and VMs
that stay CREATING; created VMs may boot for `boot_seconds` (STAGING) before they run, and an
e2e registrar (tests/e2e/gke_nodes.py) turns running ones into Nodes. It is a test double of the APIs, not a cloud: no billing, no disks.

For `doctor`: Cloud Resource Manager `projects.testIamPermissions` (POST
/v1/projects/{project}:testIamPermissions, body `{"permissions": [...]}`, answer the subset the
caller holds -- Resource Manager API reference; the same on a service account, POST
/v1/projects/-/serviceAccounts/{email}:testIamPermissions -- IAM API reference), Compute Engine `regions.get` with the
region's `quotas` (`metric`, `limit`, `usage` -- Compute Engine API reference, Region), and the
cluster's `currentMasterVersion`, `endpoint` and `nodeConfig.serviceAccount` (GKE API
reference, Cluster).
Requests are checked against Google's published contract first (tests/gcp_contract.py: the
SDKs' generated messages for bodies, the Compute API reference for query parameters, names,
network tags and labels); one the API would refuse is answered 400 INVALID_ARGUMENT.
aggregatedList applies `filter` as the Compute API reference says (`eq` is an RE2 expression
that must match the whole field) and answers each item's `zone` as the API does: a name for
machine types, a URL for accelerator types (`.../projects/<p>/zones/<zone>`). Instances GKE
names itself (surge upgrades, auto-repair) can be put in a pool's MIG with
`add_gke_instance`: they carry GKE's MIG-derived names, not the autoscaler's.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

from tests.gcp_contract import Invalid, list_filter, resource_fields, validate_body, validate_query

COMPUTE = "https://www.googleapis.com/compute/v1"


@dataclass
class FakeInstance:
    name: str
    zone: str
    pool: str
    mig: str
    machine_type: str
    spot: bool
    labels: dict[str, str]
    taints: list[dict[str, Any]]
    accelerators: list[dict[str, Any]]
    current_action: str = "NONE"
    instance_status: str = "RUNNING"
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Stockout:
    machine_type: str
    zone: str = ""  # "" = every zone
    spot: bool | None = None  # None = both
    code: str = "ZONE_RESOURCE_POOL_EXHAUSTED"
    where: str = "lastAttempt"  # or "operation"

    def blocks(self, machine_type: str, zone: str, spot: bool) -> bool:
        return self.machine_type == machine_type and self.zone in ("", zone) and self.spot in (None, spot)


class FakeGcp:
    def __init__(self, project: str = "proj", location: str = "us-central1", cluster: str = "c1") -> None:
        self.project, self.location, self.cluster = project, location, cluster
        self.zones: dict[str, list[str]] = {}  # machine type -> zones
        self.machine_specs: dict[str, dict[str, Any]] = {}  # machine type -> MachineType fields (guestCpus, ...)
        self.accelerator_zones: dict[str, list[str]] = {}
        self.skus: list[dict[str, Any]] = []
        self.cluster_locations: list[str] = []  # the cluster's node zones ([] = every zone)
        self.pools: dict[str, dict[str, Any]] = {}
        self.migs: dict[str, dict[str, Any]] = {}  # mig name -> {zone, pool, instances: {name: FakeInstance}}
        self.operations: dict[str, dict[str, Any]] = {}
        self.by_request_id: dict[str, str] = {}
        self.stockouts: list[Stockout] = []
        self.quota_errors: list[tuple[str, dict[str, Any]]] = []  # (machine type, error)
        self.stuck_creating: set[str] = set()  # machine types whose VMs never leave CREATING
        self.throttle_next: int = 0  # answer the next N calls with HTTP 429
        self.pool_create_error: str = ""  # a GKE operation error for the next pool creations
        self.calls: list[tuple[str, str]] = []
        self.rejected: list[tuple[str, str, str]] = []  # (method, path, why) of requests refused as invalid
        self.deleted: list[str] = []  # names of instances deleteInstances removed, in order
        self.boot_seconds: float = 0.0  # a created VM is STAGING this long, then RUNNING (and registers)
        self.granted: set[str] | None = None  # IAM permissions the caller holds (None: every one)
        self.region_quotas: list[dict[str, Any]] = []  # regions.get `quotas`
        self.granted_on_accounts: dict[str, set[str]] = {}  # service account email -> permissions held on it
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # ---- lifecycle

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                status, answer = fake.handle(self.command, self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ---- what tests look at

    def instances(self) -> list[FakeInstance]:
        with self._lock:
            return [i for mig in self.migs.values() for i in mig["instances"].values()]

    def migs_of(self, pool: str) -> list[dict[str, Any]]:
        """The MIGs of a pool that hold instances."""
        with self._lock:
            return [m for m in self.migs.values() if m["pool"] == pool and m["instances"]]

    def add_gke_instance(self, pool: str, suffix: str = "x7k2") -> FakeInstance:
        """An instance GKE made itself in the pool's first MIG (a surge upgrade or a repair),
        named as GKE names MIG instances: the MIG's base name and a random suffix."""
        with self._lock:
            mig_name = self.pools[pool]["instanceGroupUrls"][0].rsplit("/", 1)[-1]
            mig = self.migs[mig_name]
            config = self.pools[pool].get("config", {})
            name = f"{mig_name.removesuffix('-grp')}-{suffix}"
            instance = FakeInstance(name, mig["zone"], pool, mig_name, config.get("machineType", ""), bool(config.get("spot")),
                                    dict(config.get("labels", {})), list(config.get("taints", [])), list(config.get("accelerators", [])))
            mig["instances"][name] = instance
            return instance

    def count(self, method_and_path: str) -> int:
        return sum(1 for method, path in self.calls if re.search(method_and_path, f"{method} {path}"))

    # ---- routing

    def handle(self, method: str, raw_path: str, body: dict[str, Any]) -> tuple[int, Any]:
        url = urlparse(raw_path)
        path, query = url.path, {k: v[0] for k, v in parse_qs(url.query).items()}
        with self._lock:
            self.calls.append((method, path))
            if self.throttle_next > 0:
                self.throttle_next -= 1
                return _error(429, "Rate Limit Exceeded", "rateLimitExceeded", "RESOURCE_EXHAUSTED")
            for pattern, verb, handler in self._routes():
                match = re.fullmatch(pattern, path)
                if match and verb == method:
                    try:
                        validate_query(query, path)
                        kind = _BODIES.get(handler.__name__)
                        if kind is not None:
                            validate_body(kind, body)
                        return handler(body, query, *match.groups())
                    except Invalid as err:
                        self.rejected.append((method, path, str(err)))
                        return _error(400, str(err), "invalid", "INVALID_ARGUMENT")
        return _error(404, f"no route for {method} {path}", "notFound", "NOT_FOUND")

    def _routes(self) -> list[tuple[str, str, Callable[..., tuple[int, Any]]]]:
        gke = r"/v1/projects/[^/]+/locations/[^/]+"
        zone = r"/compute/v1/projects/[^/]+/zones/([^/]+)"
        return [
            (gke + r"/clusters/([^/]+)", "GET", self._get_cluster),
            (gke + r"/clusters/[^/]+/nodePools", "GET", self._list_pools),
            (gke + r"/clusters/[^/]+/nodePools", "POST", self._create_pool),
            (gke + r"/clusters/[^/]+/nodePools/([^/]+)", "GET", self._get_pool),
            (gke + r"/clusters/[^/]+/nodePools/([^/]+)", "DELETE", self._delete_pool),
            (gke + r"/operations/([^/]+)", "GET", self._gke_operation),
            (zone + r"/instanceGroupManagers/([^/]+)/createInstances", "POST", self._create_instances),
            (zone + r"/instanceGroupManagers/([^/]+)/deleteInstances", "POST", self._delete_instances),
            (zone + r"/instanceGroupManagers/([^/]+)/listManagedInstances", "POST", self._list_managed),
            (zone + r"/operations", "GET", self._list_zone_operations),
            (zone + r"/operations/([^/]+)/wait", "POST", self._wait),
            (zone + r"/operations/([^/]+)", "GET", self._wait),
            (r"/compute/v1/projects/[^/]+/aggregated/machineTypes", "GET", self._machine_types),
            (r"/compute/v1/projects/[^/]+/aggregated/acceleratorTypes", "GET", self._accelerator_types),
            (r"/v1/services/[^/]+/skus", "GET", self._skus),
            (r"/v1/projects/([^/:]+):testIamPermissions", "POST", self._test_permissions),
            (r"/v1/projects/-/serviceAccounts/([^/:]+):testIamPermissions", "POST", self._test_account_permissions),
            (r"/compute/v1/projects/[^/]+/regions/([^/]+)", "GET", self._region),
        ]

    # ---- doctor: IAM and quotas

    def _test_permissions(self, body: dict[str, Any], query: Any, project: str) -> tuple[int, Any]:
        if project != self.project:
            return _error(403, f"The caller does not have permission on project {project}", "forbidden", "PERMISSION_DENIED")
        asked = body.get("permissions") or []
        held = [p for p in asked if self.granted is None or p in self.granted]
        return 200, ({"permissions": held} if held else {})

    def _test_account_permissions(self, body: dict[str, Any], query: Any, email: str) -> tuple[int, Any]:
        held = [p for p in body.get("permissions") or [] if p in self.granted_on_accounts.get(email, set())]
        return 200, ({"permissions": held} if held else {})

    def _region(self, body: Any, query: Any, region: str) -> tuple[int, Any]:
        return 200, {"kind": "compute#region", "name": region, "status": "UP", "quotas": self.region_quotas}

    # ---- GKE

    def _pool_json(self, pool: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in pool.items() if not k.startswith("_")}

    def _get_cluster(self, body: Any, query: Any, name: str) -> tuple[int, Any]:
        if name != self.cluster:
            return _error(404, f"Not found: projects/{self.project}/locations/{self.location}/clusters/{name}.",
                          "notFound", "NOT_FOUND")
        return 200, {"name": self.cluster, "location": self.location, "locations": self.cluster_locations, "status": "RUNNING",
                     "currentMasterVersion": "1.31.5-gke.1000", "endpoint": "34.118.0.10",
                     "nodeConfig": {"serviceAccount": "default"}}

    def _list_pools(self, body: Any, query: Any) -> tuple[int, Any]:
        return 200, {"nodePools": [self._pool_json(p) for p in self.pools.values()]}

    def _get_pool(self, body: Any, query: Any, name: str) -> tuple[int, Any]:
        pool = self.pools.get(name)
        if pool is None:
            return _error(404, f"Not found: node pool {name}", "notFound", "NOT_FOUND")
        return 200, self._pool_json(pool)

    def _create_pool(self, body: dict[str, Any], query: Any) -> tuple[int, Any]:
        pool = _enum_names(body["nodePool"])
        name = pool["name"]
        if name in self.pools:
            return _error(409, f"Already exists: node pool {name}", "alreadyExists", "ALREADY_EXISTS")
        urls = []
        for zone in pool.get("locations") or [self.location]:
            mig = f"gke-{self.cluster}-{name}-{next(self._ids):04x}-grp"
            self.migs[mig] = {"zone": zone, "pool": name, "instances": {}}
            urls.append(f"{COMPUTE}/projects/{self.project}/zones/{zone}/instanceGroupManagers/{mig}")
        if self.pool_create_error:
            op = self._gke_op("CREATE_NODE_POOL", name)
            op["error"] = {"code": 8, "message": self.pool_create_error}
            op["statusMessage"] = self.pool_create_error
            return 200, op
        pool.update(status="RUNNING", instanceGroupUrls=urls, selfLink=f"/nodePools/{name}")
        self.pools[name] = pool
        return 200, self._gke_op("CREATE_NODE_POOL", name)

    def _delete_pool(self, body: Any, query: Any, name: str) -> tuple[int, Any]:
        pool = self.pools.pop(name, None)
        if pool is None:
            return _error(404, f"Not found: node pool {name}", "notFound", "NOT_FOUND")
        for url in pool["instanceGroupUrls"]:
            mig = self.migs.pop(url.rsplit("/", 1)[-1])
            for instance in mig["instances"].values():
                self._deleted(instance)
        return 200, self._gke_op("DELETE_NODE_POOL", name)

    def _gke_op(self, kind: str, target: str) -> dict[str, Any]:
        op = {"name": f"operation-{next(self._ids)}", "operationType": kind, "status": "DONE", "targetLink": target}
        self.operations[op["name"]] = op
        return op

    def _gke_operation(self, body: Any, query: Any, name: str) -> tuple[int, Any]:
        op = self.operations.get(name)
        return (200, op) if op else _error(404, "operation not found", "notFound", "NOT_FOUND")

    # ---- Compute: MIGs and operations

    def _compute_op(self, zone: str, kind: str, target: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        op: dict[str, Any] = {
            "kind": "compute#operation",
            "id": str(next(self._ids)),
            "name": f"operation-{next(self._ids)}",
            "zone": f"{COMPUTE}/projects/{self.project}/zones/{zone}",
            "operationType": kind,
            "targetLink": target,
            "status": "DONE",
            "progress": 100,
        }
        if errors:
            op["error"] = {"errors": errors}
            op["httpErrorStatusCode"] = 400
        self.operations[op["name"]] = op
        return op

    def _create_instances(self, body: dict[str, Any], query: dict[str, str], zone: str, mig_name: str) -> tuple[int, Any]:
        request_id = query.get("requestId", "")
        if request_id in self.by_request_id:
            return 200, self.operations[self.by_request_id[request_id]]
        mig = self.migs.get(mig_name)
        if mig is None:
            return _error(404, f"The resource 'instanceGroupManagers/{mig_name}' was not found", "notFound", "NOT_FOUND")
        pool = self.pools[mig["pool"]]
        config = pool.get("config", {})
        machine = config.get("machineType", "")
        spot = bool(config.get("spot"))
        errors: list[dict[str, Any]] = []
        for spec in body.get("instances", []):
            name = spec["name"]
            if name in mig["instances"]:
                errors.append({"code": "RESOURCE_ALREADY_EXISTS", "message": f"The resource '{name}' already exists"})
                continue
            stockout = next((s for s in self.stockouts if s.blocks(machine, zone, spot)), None)
            quota = next((q for m, q in self.quota_errors if m == machine), None)
            if stockout is not None and stockout.where == "operation":
                errors.append({"code": stockout.code, "message": f"The zone '{zone}' does not have enough resources available."})
                continue
            instance = FakeInstance(
                name, zone, mig["pool"], mig_name, machine, spot,
                dict(config.get("labels", {})), list(config.get("taints", [])), list(config.get("accelerators", [])),
            )
            if stockout is not None:
                instance.current_action, instance.instance_status = "CREATING", ""
                instance.errors = [{"code": stockout.code, "message": f"The zone '{zone}' does not have enough resources available to fulfill the request."}]
            elif quota is not None:
                instance.current_action, instance.instance_status = "CREATING", ""
                instance.errors = [quota]
            elif machine in self.stuck_creating:
                instance.current_action, instance.instance_status = "CREATING", ""
            mig["instances"][name] = instance
            if instance.instance_status:
                self._boot(instance)
        target = f"{COMPUTE}/projects/{self.project}/zones/{zone}/instanceGroupManagers/{mig_name}"
        op = self._compute_op(zone, "compute.instanceGroupManagers.createInstances", target, errors)
        if request_id:
            self.by_request_id[request_id] = op["name"]
        return 200, op

    def _delete_instances(self, body: dict[str, Any], query: dict[str, str], zone: str, mig_name: str) -> tuple[int, Any]:
        mig = self.migs.get(mig_name)
        if mig is None:
            return _error(404, f"The resource 'instanceGroupManagers/{mig_name}' was not found", "notFound", "NOT_FOUND")
        for url in body.get("instances", []):
            instance = mig["instances"].pop(url.rsplit("/", 1)[-1], None)
            if instance is not None:
                self.deleted.append(instance.name)
                self._deleted(instance)
        target = f"{COMPUTE}/projects/{self.project}/zones/{zone}/instanceGroupManagers/{mig_name}"
        return 200, self._compute_op(zone, "compute.instanceGroupManagers.deleteInstances", target)

    def _boot(self, instance: FakeInstance) -> None:
        """The VM boots (STAGING) for boot_seconds, then runs (its kubelet may register)."""
        if self.boot_seconds <= 0:
            return
        instance.instance_status = "STAGING"

        def running() -> None:
            with self._lock:
                if instance.instance_status == "STAGING":  # not deleted meanwhile
                    instance.instance_status = "RUNNING"

        timer = threading.Timer(self.boot_seconds, running)
        timer.daemon = True
        timer.start()

    def _deleted(self, instance: FakeInstance) -> None:
        instance.instance_status = "TERMINATED"

    def _list_managed(self, body: Any, query: Any, zone: str, mig_name: str) -> tuple[int, Any]:
        mig = self.migs.get(mig_name)
        if mig is None:
            return _error(404, f"The resource 'instanceGroupManagers/{mig_name}' was not found", "notFound", "NOT_FOUND")
        listed = []
        for instance in mig["instances"].values():
            item: dict[str, Any] = {
                "instance": f"{COMPUTE}/projects/{self.project}/zones/{zone}/instances/{instance.name}",
                "name": instance.name,
                "currentAction": instance.current_action,
            }
            if instance.instance_status:
                item["instanceStatus"] = instance.instance_status
                item["id"] = str(abs(hash(instance.name)) % 10**18)
            if instance.errors:
                item["lastAttempt"] = {"errors": {"errors": instance.errors}}
            listed.append(item)
        return 200, {"managedInstances": listed}

    # ---- Compute: Spot VM preemption (the "Spot VMs" preemption process: a zonal operation of
    # type compute.instances.preempted by user "system", the VM stopped; zoneOperations.list
    # answers an OperationList and narrows it by `filter`, "field = value" or "field eq value")

    def preempt(self, instance_name: str, insert_time: str) -> dict[str, Any]:
        """Compute Engine starts preempting a Spot VM: the operation is recorded, and the VM keeps
        running through its 30-second shutdown; `stop_preempted` ends it."""
        with self._lock:
            for mig in self.migs.values():
                instance = mig["instances"].get(instance_name)
                if instance is None:
                    continue
                if not instance.spot:
                    raise ValueError(f"{instance_name} is not a Spot VM: Compute Engine preempts only Spot and preemptible VMs")
                target = f"{COMPUTE}/projects/{self.project}/zones/{instance.zone}/instances/{instance_name}"
                op = {
                    "kind": "compute#operation", "id": str(next(self._ids)), "name": f"systemevent-{next(self._ids)}",
                    "zone": f"{COMPUTE}/projects/{self.project}/zones/{instance.zone}", "operationType": "compute.instances.preempted",
                    "targetLink": target, "targetId": str(abs(hash(instance_name)) % 10**18), "status": "DONE", "user": "system",
                    "progress": 100, "insertTime": insert_time, "startTime": insert_time, "endTime": insert_time,
                    "statusMessage": "Instance was preempted.",
                }
                self.operations[op["name"]] = op
                return op
        raise KeyError(instance_name)

    def stop_preempted(self, instance_name: str) -> None:
        with self._lock:
            for mig in self.migs.values():
                if instance_name in mig["instances"]:
                    mig["instances"][instance_name].instance_status = "TERMINATED"

    def _list_zone_operations(self, body: Any, query: Any, zone: str) -> tuple[int, Any]:
        matched = [op for op in self.operations.values() if op.get("zone", "").endswith(f"/zones/{zone}")]
        wanted = query.get("filter", "")
        if wanted:
            found = re.fullmatch(r'\s*(\w+)\s*(?:=|eq)\s*"?([^"]*)"?\s*', wanted)
            if found is None:
                return _error(400, f"Invalid value for field 'filter': '{wanted}'. Invalid list filter expression.", "invalid", "INVALID_ARGUMENT")
            field_name, value = found.groups()
            matched = [op for op in matched if str(op.get(field_name, "")) == value]
        return 200, {"kind": "compute#operationList", "id": f"projects/{self.project}/zones/{zone}/operations",
                     "items": matched, "selfLink": f"{COMPUTE}/projects/{self.project}/zones/{zone}/operations"}

    def _wait(self, body: Any, query: Any, zone: str, name: str) -> tuple[int, Any]:
        op = self.operations.get(name)
        return (200, op) if op else _error(404, f"operation {name} not found", "notFound", "NOT_FOUND")

    # ---- Compute: catalog of zones

    def _machine_types(self, body: Any, query: Any) -> tuple[int, Any]:
        return 200, {"items": self._by_zone(self.zones, "machineTypes", query, lambda zone: zone)}

    def _accelerator_types(self, body: Any, query: Any) -> tuple[int, Any]:
        url = lambda zone: f"{COMPUTE}/projects/{self.project}/zones/{zone}"  # noqa: E731
        return 200, {"items": self._by_zone(self.accelerator_zones, "acceleratorTypes", query, url)}

    def _by_zone(self, table: dict[str, list[str]], key: str, query: dict[str, str], zone_field: Callable[[str], str]) -> dict[str, Any]:
        kind = {"machineTypes": "MachineType", "acceleratorTypes": "AcceleratorType"}[key]
        keep = list_filter(query.get("filter", ""), resource_fields(kind))
        items: dict[str, Any] = {}
        for name, zones in table.items():
            for zone in zones:
                item = {"name": name, "zone": zone_field(zone), **(self.machine_specs.get(name, {}) if key == "machineTypes" else {})}
                if keep(item):
                    items.setdefault(f"zones/{zone}", {key: []})[key].append(item)
        return items

    # ---- Billing

    def _skus(self, body: Any, query: Any) -> tuple[int, Any]:
        return 200, {"skus": self.skus, "nextPageToken": ""}


_BODIES = {"_create_instances": "createInstances", "_delete_instances": "deleteInstances", "_create_pool": "createNodePool"}


def _enum_names(node_pool: dict[str, Any]) -> dict[str, Any]:
    """The SDK sends enums as numbers ($alt=json;enum-encoding=int); the API reads both. Keep
    the pool as the API would show it: enum names, camelCase fields."""
    from google.cloud import container_v1

    message = container_v1.NodePool.from_json(json.dumps(node_pool), ignore_unknown_fields=True)
    return json.loads(container_v1.NodePool.to_json(message, use_integers_for_enums=False))


def _error(code: int, message: str, reason: str, status: str) -> tuple[int, Any]:
    return code, {"error": {"code": code, "message": message, "status": status, "errors": [{"message": message, "domain": "global", "reason": reason}]}}


def quota_error(metric: str, region: str = "us-central1", limit: float = 0.0) -> dict[str, Any]:
    """A Compute Engine quota error as operations and lastAttempt report it."""
    return {
        "code": "QUOTA_EXCEEDED",
        "message": f"Quota '{metric}' exceeded.  Limit: {limit} in region {region}.",
        "errorDetails": [
            {
                "quotaInfo": {
                    "metricName": f"compute.googleapis.com/{metric.lower()}",
                    "limitName": f"{metric}-per-project-region",
                    "dimensions": {"region": region},
                    "limit": limit,
                }
            }
        ],
    }


def sku(description: str, usage_type: str, regions: list[str], price: float, unit: str = "h") -> dict[str, Any]:
    """A Compute Engine SKU as services.skus.list returns it."""
    units, nanos = int(price), round((price - int(price)) * 1e9)
    return {
        "name": f"services/6F81-5844-456A/skus/{abs(hash((description, usage_type))) % 10**12:012X}",
        "skuId": f"{abs(hash((description, usage_type))) % 10**12:012X}",
        "description": description,
        "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute", "resourceGroup": "CPU", "usageType": usage_type},
        "serviceRegions": regions,
        "pricingInfo": [
            {
                "summary": "",
                "pricingExpression": {
                    "usageUnit": unit,
                    "usageUnitDescription": "hour",
                    "baseUnit": "s",
                    "displayQuantity": 1,
                    "tieredRates": [{"startUsageAmount": 0, "unitPrice": {"currencyCode": "USD", "units": str(units), "nanos": nanos}}],
                },
                "currencyConversionRate": 1,
                "effectiveTime": "2026-11-01T00:00:00Z",
            }
        ],
        "serviceProviderName": "Google",
    }
