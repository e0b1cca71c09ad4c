"""A local HTTP server answering the OCI Container Engine (OKE) and Identity API calls the OCI
provider makes, with the documented response shapes (API versions 20180222 and 20160918).

The `oci` SDK is pointed at it through `service_endpoint`; requests are signed by a dummy
signer. It keeps node pools and their nodes in memory: growing a pool adds a node (an instance
OCID, CREATING then ACTIVE), unless its shape is out of host capacity in that availability
domain, in which case the node fails with the 500 InternalError "Out of host capacity." the
work request and the node's `nodeError` report, as OKE does. Faults (status, code, message)
can be scripted per operation. It is a named test fixture, not part of the product.

Every request is checked against OCI's published contract first (tests/providers/oci_contract.py:
the SDK's generated models for bodies, the API reference for query parameters, OCI's tag rules,
Kubernetes' label rules); one the real API would refuse is answered 400 with OCI's error body.
DeleteNode honours `isDecrementSize`, and records `overrideEvictionGraceDuration` and
`isForceDeletionAfterOverrideGraceDuration` (API reference, DeleteNode) as the node's
`deletion` so a test can say whether OKE would have drained it with the pool's default
(PT60M). A pool answers 409 Conflict while `busy` counts down (OKE refuses a change to a pool
whose work request is still running).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.providers.oci_contract import Invalid, validate_body, validate_labels, validate_query, validate_tags

OKE = "/20180222"
IDENTITY = "/20160918"
CORE = "/20160918"  # Core Services (Compute) API, same version path as Identity
OUT_OF_HOST_CAPACITY = "Out of host capacity."


@dataclass
class Fault:
    status: int
    code: str
    message: str
    times: int = 1


@dataclass
class OkeState:
    region_key: str = "iad"
    availability_domains: tuple[str, ...] = ("Uocm:US-ASHBURN-AD-1", "Uocm:US-ASHBURN-AD-2", "Uocm:US-ASHBURN-AD-3")
    kubernetes_version: str = "v1.31.1"
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    work_requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    out_of_capacity: set[tuple[str, str]] = field(default_factory=set)  # (shape, availability domain)
    # (shape, availability domain) whose new nodes get an instance that then fails (scripted nodeError)
    failing_instances: set[tuple[str, str]] = field(default_factory=set)
    faults: dict[str, list[Fault]] = field(default_factory=dict)  # operation -> faults in order
    delays: dict[str, float] = field(default_factory=dict)  # operation -> seconds before answering
    busy: dict[str, int] = field(default_factory=dict)  # pool id -> updates still refused with 409
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (operation, path, body)
    call_times: list[tuple[str, float]] = field(default_factory=list)  # (operation, time.monotonic())
    preempted: set[str] = field(default_factory=set)  # instance OCIDs OCI is reclaiming (TERMINATING)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def ocid(self, kind: str) -> str:
        return f"ocid1.{kind}.oc1.{self.region_key}.fake{next(self._ids):06d}"

    def fail_next(self, operation: str, status: int, code: str, message: str, times: int = 1) -> None:
        with self.lock:
            self.faults.setdefault(operation, []).append(Fault(status, code, message, times))

    def preempt(self, instance_id: str) -> None:
        """OCI reclaims a preemptible node's instance ("Preemptible Instances": the instance is
        terminated): Compute lists it TERMINATING. Only preemptible instances can be preempted."""
        with self.lock:
            for pool in self.pools.values():
                for node in pool["nodes"]:
                    if node.get("id") == instance_id:
                        placement = pool["nodeConfigDetails"]["placementConfigs"][0]
                        if not placement.get("preemptibleNodeConfig"):
                            raise ValueError(f"{instance_id} is not preemptible")
                        self.preempted.add(instance_id)
                        return
        raise KeyError(instance_id)

    def live_nodes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(node) for pool in self.pools.values() for node in pool["nodes"] if node["lifecycleState"] != "DELETED"]

    def deleted_nodes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(node) for pool in self.pools.values() for node in pool["nodes"] if "deletion" in node]

    def operations(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for operation, _, body in self.calls if operation == name]


class _Handler(BaseHTTPRequestHandler):
    state: OkeState  # set per server

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # ---- plumbing

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("opc-request-id", "fake-request")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"code": code, "message": message})

    def _fault(self, operation: str) -> bool:
        faults = self.state.faults.get(operation)
        if not faults:
            return False
        fault = faults[0]
        fault.times -= 1
        if fault.times <= 0:
            faults.pop(0)
        self._error(fault.status, fault.code, fault.message)
        return True

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        body = self._body() if method in ("POST", "PUT") else {}
        for pattern, verb, operation, handler in _ROUTES:
            match = re.fullmatch(pattern, url.path)
            if match and verb == method:
                try:
                    _validate(operation, query, body)
                except Invalid as err:
                    with self.state.lock:
                        self.state.calls.append((operation + ":rejected", url.path, body))
                    self._error(400, err.code, str(err))
                    return
                delay = self.state.delays.get(operation)
                if delay:
                    threading.Event().wait(delay)
                with self.state.lock:
                    self.state.calls.append((operation, url.path, body if method != "DELETE" else query))
                    self.state.call_times.append((operation, time.monotonic()))
                    if self._fault(operation):
                        return
                    handler(self, query, body, *match.groups())
                return
        self._error(404, "NotAuthorizedOrNotFound", f"no route for {method} {url.path}")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    # ---- work requests

    def _work_request(self, operation: str, pool_id: str, action: str, errors: list[dict[str, Any]] = ()) -> str:
        request_id = self.state.ocid("clustersworkrequest")
        self.state.work_requests[request_id] = {
            "id": request_id,
            "operationType": operation,
            "status": "FAILED" if errors else "SUCCEEDED",
            "compartmentId": self.state.pools.get(pool_id, {}).get("compartmentId", ""),
            "resources": [{"actionType": action, "entityType": "nodepool", "identifier": pool_id, "entityUri": f"{OKE}/nodePools/{pool_id}"}],
            "timeAccepted": "2026-11-29T16:00:00Z",
            "errors": list(errors),
        }
        return request_id

    # ---- node pools

    def _grow(self, pool: dict[str, Any], size: int) -> list[dict[str, Any]]:
        """Nodes to `size`; returns the launch failures."""
        placement = pool["nodeConfigDetails"]["placementConfigs"][0]
        ad = placement["availabilityDomain"]
        failures = []
        live = [n for n in pool["nodes"] if n["lifecycleState"] != "DELETED"]
        for _ in range(size - len(live)):
            node: dict[str, Any] = {
                "name": f"oke-{pool['name']}-{len(pool['nodes'])}",
                "kubernetesVersion": pool["kubernetesVersion"],
                "availabilityDomain": ad,
                "subnetId": placement["subnetId"],
                "nodePoolId": pool["id"],
                "faultDomain": "FAULT-DOMAIN-1",
                "privateIp": f"10.0.10.{len(pool['nodes']) + 2}",
                "lifecycleDetails": "",
            }
            if (pool["nodeShape"], ad) in self.state.out_of_capacity:
                message = (
                    "1 node(s) launch failure. Reason for failure on one of the nodes : Error returned by LaunchInstance "
                    f"operation in Compute service.(500, InternalError, false) {OUT_OF_HOST_CAPACITY}"
                )
                node.update(id=None, lifecycleState="FAILING", lifecycleDetails=message,
                            nodeError={"code": "InternalError", "message": OUT_OF_HOST_CAPACITY, "status": "500"})
                failures.append({"code": "InternalError", "message": message, "timestamp": "2026-11-29T16:00:01Z"})
            elif (pool["nodeShape"], ad) in self.state.failing_instances:
                message = "Instance failed to start: boot volume attachment failed"
                node.update(id=self.state.ocid("instance"), lifecycleState="FAILING", lifecycleDetails=message,
                            nodeError={"code": "InternalError", "message": message, "status": "500"})
            else:
                node.update(id=self.state.ocid("instance"), lifecycleState="CREATING")
            pool["nodes"].append(node)
        return failures

    def _pool_view(self, pool: dict[str, Any]) -> dict[str, Any]:
        view = {key: value for key, value in pool.items() if not key.startswith("_")}
        view["nodes"] = [dict(node) for node in pool["nodes"] if node["lifecycleState"] != "DELETED"]
        for node in pool["nodes"]:
            if node["lifecycleState"] == "CREATING":
                node["lifecycleState"] = "ACTIVE"  # seen once as CREATING, then running
        return view

    def create_node_pool(self, query: dict, body: dict) -> None:
        token = self.headers.get("opc-retry-token")
        existing = [p for p in self.state.pools.values() if token and p.get("_token") == token]
        if existing:
            pool = existing[0]
            self._send(202, None, {"opc-work-request-id": pool["_create_request"]})
            return
        pool_id = self.state.ocid("nodepool")
        config = body["nodeConfigDetails"]
        pool = {
            "id": pool_id,
            "lifecycleState": "ACTIVE",
            "compartmentId": body["compartmentId"],
            "clusterId": body["clusterId"],
            "name": body["name"],
            "kubernetesVersion": body.get("kubernetesVersion", self.state.kubernetes_version),
            "nodeMetadata": body.get("nodeMetadata", {}),
            "nodeShape": body["nodeShape"],
            "nodeShapeConfig": body.get("nodeShapeConfig"),
            "nodeSourceDetails": body.get("nodeSourceDetails"),
            "initialNodeLabels": body.get("initialNodeLabels", []),
            "freeformTags": body.get("freeformTags", {}),
            "nodeEvictionNodePoolSettings": body.get("nodeEvictionNodePoolSettings"),
            "nodeConfigDetails": {"size": 0, "placementConfigs": config["placementConfigs"], "freeformTags": config.get("freeformTags", {})},
            "nodes": [],
            "_token": token,
            "_etag": 1,
        }
        self.state.pools[pool_id] = pool
        failures = self._grow(pool, config.get("size", 0))
        pool["nodeConfigDetails"]["size"] = config.get("size", 0)
        request_id = pool["_create_request"] = self._work_request("NODEPOOL_CREATE", pool_id, "CREATED", failures)
        self._send(202, None, {"opc-work-request-id": request_id})

    def list_node_pools(self, query: dict, body: dict) -> None:
        pools = [
            p for p in self.state.pools.values()
            if p["compartmentId"] == query.get("compartmentId")
            and p["clusterId"] == query.get("clusterId", p["clusterId"])
            and p["name"] == query.get("name", p["name"])
            and p["lifecycleState"] != "DELETED"
        ]
        summaries = [{k: v for k, v in self._pool_view(p).items() if k != "nodes"} for p in pools]
        page, limit = int(query.get("page") or 0), int(query.get("limit") or 2)  # small pages: pagination is exercised
        headers = {"opc-next-page": str(page + limit)} if page + limit < len(summaries) else {}
        self._send(200, summaries[page : page + limit], headers)

    def get_node_pool(self, query: dict, body: dict, pool_id: str) -> None:
        pool = self.state.pools.get(pool_id)
        if pool is None or pool["lifecycleState"] == "DELETED":
            self._error(404, "NotAuthorizedOrNotFound", f"node pool {pool_id} not found")
            return
        self._send(200, self._pool_view(pool), {"etag": str(pool["_etag"])})

    def update_node_pool(self, query: dict, body: dict, pool_id: str) -> None:
        pool = self.state.pools.get(pool_id)
        if pool is None:
            self._error(404, "NotAuthorizedOrNotFound", f"node pool {pool_id} not found")
            return
        if self.state.busy.get(pool_id, 0) > 0:
            self.state.busy[pool_id] -= 1
            self._error(409, "Conflict", f"node pool {pool_id} has a work request in progress")
            return
        if_match = self.headers.get("if-match")
        if if_match and if_match != str(pool["_etag"]):
            self._error(412, "PreconditionFailed", "The resource has been modified since the etag was read")
            return
        pool["_etag"] += 1
        if "freeformTags" in body:
            pool["freeformTags"] = body["freeformTags"]
        failures = []
        size = (body.get("nodeConfigDetails") or {}).get("size")
        if size is not None:
            live = [n for n in pool["nodes"] if n["lifecycleState"] != "DELETED"]
            # shrinking drops failed nodes first, then the newest
            for node in sorted(live, key=lambda n: (n["lifecycleState"] != "FAILING", -pool["nodes"].index(n)))[: max(0, len(live) - size)]:
                node["lifecycleState"] = "DELETED"
            failures = self._grow(pool, size)
            pool["nodeConfigDetails"]["size"] = size
        request_id = self._work_request("NODEPOOL_UPDATE", pool_id, "UPDATED", failures)
        self._send(202, None, {"opc-work-request-id": request_id})

    def delete_node(self, query: dict, body: dict, pool_id: str, node_id: str) -> None:
        pool = self.state.pools.get(pool_id)
        node = next((n for n in (pool or {}).get("nodes", []) if n.get("id") == node_id and n["lifecycleState"] != "DELETED"), None)
        if node is None:
            self._error(404, "NotAuthorizedOrNotFound", f"node {node_id} not found")
            return
        node["lifecycleState"] = "DELETED"
        node["deletion"] = {
            "evictionGraceDuration": query.get("overrideEvictionGraceDuration")
            or (pool.get("nodeEvictionNodePoolSettings") or {}).get("evictionGraceDuration", "PT60M"),
            "force": query.get("isForceDeletionAfterOverrideGraceDuration", "false") == "true",
        }
        if query.get("isDecrementSize", "true") == "true":
            pool["nodeConfigDetails"]["size"] -= 1
        self._send(202, None, {"opc-work-request-id": self._work_request("NODEPOOL_UPDATE", pool_id, "UPDATED")})

    def delete_node_pool(self, query: dict, body: dict, pool_id: str) -> None:
        pool = self.state.pools.get(pool_id)
        if pool is None or pool["lifecycleState"] == "DELETED":
            self._error(404, "NotAuthorizedOrNotFound", f"node pool {pool_id} not found")
            return
        pool["lifecycleState"] = "DELETED"
        for node in pool["nodes"]:
            node["lifecycleState"] = "DELETED"
        self._send(202, None, {"opc-work-request-id": self._work_request("NODEPOOL_DELETE", pool_id, "DELETED")})

    def get_work_request(self, query: dict, body: dict, request_id: str) -> None:
        request = self.state.work_requests.get(request_id)
        if request is None:
            self._error(404, "NotAuthorizedOrNotFound", f"work request {request_id} not found")
            return
        self._send(200, {k: v for k, v in request.items() if k != "errors"})

    def list_work_request_errors(self, query: dict, body: dict, request_id: str) -> None:
        self._send(200, self.state.work_requests.get(request_id, {}).get("errors", []))

    def get_cluster(self, query: dict, body: dict, cluster_id: str) -> None:
        self._send(200, {"id": cluster_id, "name": "oke", "kubernetesVersion": self.state.kubernetes_version, "lifecycleState": "ACTIVE"})

    def list_availability_domains(self, query: dict, body: dict) -> None:
        self._send(200, [{"name": ad, "id": f"ocid1.availabilitydomain.oc1..{i}", "compartmentId": query.get("compartmentId")}
                         for i, ad in enumerate(self.state.availability_domains)])


def _list_instances(handler: "_Handler", query: dict[str, str], body: Any) -> None:
    """Core Services ListInstances: compartmentId is required; lifecycleState narrows (Instance
    shape: id, availabilityDomain, compartmentId, displayName, lifecycleState, shape,
    preemptibleInstanceConfig with its preemptionAction)."""
    if not query.get("compartmentId"):
        handler._error(400, "MissingParameter", "compartmentId is required")
        return
    wanted = query.get("lifecycleState")
    items = []
    for pool in handler.state.pools.values():
        placement = pool["nodeConfigDetails"]["placementConfigs"][0]
        for node in pool["nodes"]:
            if not node.get("id") or node["lifecycleState"] == "DELETED":
                continue
            state = "TERMINATING" if node["id"] in handler.state.preempted else "RUNNING"
            if wanted and wanted != state:
                continue
            item = {"id": node["id"], "availabilityDomain": node["availabilityDomain"], "compartmentId": query["compartmentId"],
                    "displayName": node["name"], "lifecycleState": state, "shape": pool["nodeShape"], "region": "us-ashburn-1",
                    "timeCreated": "2026-11-29T16:00:00.000Z"}
            if placement.get("preemptibleNodeConfig"):
                item["preemptibleInstanceConfig"] = placement["preemptibleNodeConfig"]
            items.append(item)
    handler._send(200, items)


_ROUTES = [
    (rf"{CORE}/instances", "GET", "ListInstances", _list_instances),
    (rf"{OKE}/nodePools", "POST", "CreateNodePool", _Handler.create_node_pool),
    (rf"{OKE}/nodePools", "GET", "ListNodePools", _Handler.list_node_pools),
    (rf"{OKE}/nodePools/([^/]+)", "GET", "GetNodePool", _Handler.get_node_pool),
    (rf"{OKE}/nodePools/([^/]+)", "PUT", "UpdateNodePool", _Handler.update_node_pool),
    (rf"{OKE}/nodePools/([^/]+)", "DELETE", "DeleteNodePool", _Handler.delete_node_pool),
    (rf"{OKE}/nodePools/([^/]+)/node/([^/]+)", "DELETE", "DeleteNode", _Handler.delete_node),
    (rf"{OKE}/workRequests/([^/]+)", "GET", "GetWorkRequest", _Handler.get_work_request),
    (rf"{OKE}/workRequests/([^/]+)/errors", "GET", "ListWorkRequestErrors", _Handler.list_work_request_errors),
    (rf"{OKE}/clusters/([^/]+)", "GET", "GetCluster", _Handler.get_cluster),
    (rf"{IDENTITY}/availabilityDomains", "GET", "ListAvailabilityDomains", _Handler.list_availability_domains),
    (rf"{IDENTITY}/availabilityDomains/", "GET", "ListAvailabilityDomains", _Handler.list_availability_domains),
]


_BODIES = {"CreateNodePool": "CreateNodePoolDetails", "UpdateNodePool": "UpdateNodePoolDetails"}


def _validate(operation: str, query: dict[str, str], body: dict[str, Any]) -> None:
    validate_query(operation, query)
    model = _BODIES.get(operation)
    if model is None:
        return
    validate_body(body, model)
    validate_tags(body.get("freeformTags"), f"{operation}.freeformTags")
    validate_tags((body.get("nodeConfigDetails") or {}).get("freeformTags"), f"{operation}.nodeConfigDetails.freeformTags")
    validate_labels(body.get("initialNodeLabels"))


class OkeServer:
    """`with OkeServer() as server:` — server.endpoint for the SDK, server.state to script and inspect."""

    def __init__(self, state: OkeState | None = None) -> None:
        self.state = state or OkeState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.handle_error = lambda request, address: None  # a client that timed out hung up
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> OkeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
