"""OKE checks, read-only. OCI has no dry run and no permission simulator, so each policy
statement of README 'Run it on OKE' is proved by the read call it allows (GetCluster for
`read clusters`, ListNodePools for the node pools, ListAvailabilityDomains for `inspect
compartments`); the `manage` / `use` halves of the statements cannot be proved without
creating something and are listed as a warning to check by hand."""

from __future__ import annotations

import importlib.util
from typing import Any, Callable

from autoscaler.doctor.report import Check, fail, ok, warn

AREA = "OCI"
POLICY_FIX = "add the policy statement README 'Run it on OKE' lists"
# Statements whose write half only a real launch proves.
UNPROVABLE = ("manage cluster-node-pools", "manage instance-family", "use subnets", "use vnics")


def sdk_available() -> bool:
    return importlib.util.find_spec("oci") is not None


def checks(config: Any, target: Any = None, signer: Any = None) -> list[Check]:
    from providers.oci import REQUIRED
    from providers.oci.clients import make_clients

    missing = [option for attr, option in REQUIRED if not getattr(config.oci, attr)]
    if missing:
        return [fail(AREA, "configuration", f"{', '.join(missing)} not set", "set them (README 'Run it on OKE', step 3)")]
    try:
        clients = make_clients(config.oci, config.region, signer)
    except ValueError as err:
        return [fail(AREA, "credentials", str(err), "README 'Run it on OKE', step 1: workload identity or a dynamic group")]
    found = [ok(AREA, "credentials", f"oci.authMethod {config.oci.auth_method}, region {config.region}")]
    settings = config.oci
    reads: list[tuple[str, str, Callable[[], Any], Callable[[Any], str]]] = [
        ("OKE cluster", "read clusters",
         lambda: clients.container_engine.get_cluster(settings.cluster_id, retry_strategy=clients.read_retry).data,
         lambda c: f"{c.name}: Kubernetes {c.kubernetes_version}, {c.lifecycle_state}"),
        ("node pools of the compartment", "manage cluster-node-pools (its read half)",
         lambda: clients.container_engine.list_node_pools(settings.compartment_id, cluster_id=settings.cluster_id,
                                                          retry_strategy=clients.read_retry).data,
         lambda pools: f"{len(pools)} listed in {settings.compartment_id}"),
        ("availability domains", "inspect compartments",
         lambda: clients.identity.list_availability_domains(settings.compartment_id, retry_strategy=clients.read_retry).data,
         lambda ads: ", ".join(sorted(ad.name for ad in ads)) or "none"),
    ]
    for what, statement, call, describe in reads:
        found.append(_read(what, statement, call, describe))
    found.append(warn(AREA, "policy statements with writes", f"{', '.join(UNPROVABLE)}: OCI has no dry run, so "
                      "these are proved only by the first launch",
                      "check the policies hold the README's statements (oci iam policy list --compartment-id ...)"))
    return found


def _read(what: str, statement: str, call: Callable[[], Any], describe: Callable[[Any], str]) -> Check:
    import oci

    try:
        return ok(AREA, what, f"{describe(call())} (proves '{statement}')")
    except oci.exceptions.ServiceError as err:
        if err.status in (401, 403, 404):
            return fail(AREA, what, f"{err.status} {err.code}: {err.message} -- OCI says NotAuthorizedOrNotFound "
                        f"both for a missing resource and a missing '{statement}' policy",
                        f"check the OCID, then {POLICY_FIX} ('{statement}')")
        return fail(AREA, what, f"{err.status} {err.code}: {err.message}", "see the error above")
    except (oci.exceptions.RequestException, oci.exceptions.ConnectTimeout) as err:
        return fail(AREA, what, f"{type(err).__name__}: {err}", "check network access to the OCI endpoints")
