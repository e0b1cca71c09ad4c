"""One node more or less in a scale set, with the launch key recorded on the scale set.

A launch raises the capacity by one with its key in a tag (`sa-launch-<request id>` =
"pending|<role>"), then records which instance it got ("<instance>|<role>"). A retry of the
same launch attempt finds the tag: the recorded instance, or - when the process died between
the two steps - the newest instance no tag claims. A failed scale-out deletes whatever
instance it made and drops its tag. Call under the scale set's lock.
"""

from __future__ import annotations

import logging
from typing import Any

from providers.azure import names
from providers.azure.api import AzureApi
from providers.base import ProviderError

log = logging.getLogger("smart_autoscaler.providers.azure")
MAX_LAUNCH_TAGS = 30  # Azure allows 50 tags per resource, and AKS uses some


class ScaleSetNodes:
    def __init__(self, api: AzureApi) -> None:
        self.api = api

    def add(self, vmss: str, request_id: str, role: str) -> tuple[dict[str, Any], str]:
        """The instance of this launch attempt (made now, or found), and its role."""
        scale_set = self.api.get_scale_set(vmss)
        tags = dict(scale_set.get("tags") or {})
        vms = {vm["instanceId"]: vm for vm in self.api.list_vms(vmss)}
        key = names.launch_tag(request_id)
        found = self._replayed(vmss, tags, vms, key, role)
        if found is not None:
            return found
        tags = live_launch_tags(tags, vms)
        tags[key] = names.launch_value(names.PENDING, role)
        capacity = int((scale_set.get("sku") or {}).get("capacity") or 0)
        try:
            self.api.update_scale_set(vmss, capacity + 1, tags)
        except Exception:
            self._clean_up(vmss, set(vms), key)
            raise
        after = {vm["instanceId"]: vm for vm in self.api.list_vms(vmss)}
        fresh = [n for n in after if n not in vms and n not in claimed(tags)]
        if not fresh:
            raise ProviderError(f"{vmss} grew to {capacity + 1} but no new instance is listed", "NoNewInstance")
        number = max(fresh, key=int)
        tags[key] = names.launch_value(number, role)
        self.api.update_scale_set(vmss, None, tags)
        return after[number], role

    def delete(self, vmss: str, number: str) -> None:
        """Delete exactly that instance; quiet when it is already gone."""
        if self.api.get_vm(vmss, number) is None:
            return
        self.api.delete_instances(vmss, [number])

    def _replayed(
        self, vmss: str, tags: dict[str, str], vms: dict[str, dict], key: str, role: str
    ) -> tuple[dict[str, Any], str] | None:
        if key not in tags:
            return None
        number, recorded_role = names.parse_launch_value(tags[key])
        role = recorded_role or role
        if number == names.PENDING:  # the scale-out went through but the instance was not recorded
            unclaimed = [n for n in vms if n not in claimed(tags)]
            if not unclaimed:
                return None
            number = max(unclaimed, key=int)
            tags[key] = names.launch_value(number, role)
            self.api.update_scale_set(vmss, None, tags)
        vm = vms.get(number)
        return (vm, role) if vm is not None else None

    def _clean_up(self, vmss: str, before: set[str], key: str) -> None:
        """Nothing left behind: instances the failed scale-out made are deleted, its tag removed."""
        try:
            tags = dict(self.api.get_scale_set(vmss).get("tags") or {})
            made = [vm["instanceId"] for vm in self.api.list_vms(vmss)]
            leftovers = [n for n in made if n not in before and n not in claimed(tags)]
            if leftovers:
                self.api.delete_instances(vmss, leftovers)
            if key in tags:
                del tags[key]
                self.api.update_scale_set(vmss, None, tags)
        except Exception as err:  # the loop's timeout and orphan sweep catch what is left
            log.error("cleaning up after the failed scale-out of %s failed: %s", vmss, err)


def launches(tags: dict[str, str]) -> dict[str, tuple[str, str]]:
    """instance number -> (request id, role), from a scale set's launch tags."""
    found = {}
    for key, value in tags.items():
        if key.startswith(names.LAUNCH_TAG_PREFIX):
            number, role = names.parse_launch_value(value)
            if number != names.PENDING:
                found[number] = (key[len(names.LAUNCH_TAG_PREFIX) :], role)
    return found


def claimed(tags: dict[str, str]) -> set[str]:
    return set(launches(tags))


def live_launch_tags(tags: dict[str, str], vms: dict[str, Any]) -> dict[str, str]:
    """Launch tags of instances that still exist, the newest MAX_LAUNCH_TAGS - 1 at most
    (room for the new one): older launches are long done, only a retry of a recent launch
    attempt needs its key."""
    kept, recorded = {}, []
    for key, value in tags.items():
        number = names.parse_launch_value(value)[0]
        if key.startswith(names.LAUNCH_TAG_PREFIX) and number != names.PENDING:
            if number not in vms:
                continue
            recorded.append((int(number), key))
        kept[key] = value
    for _, key in sorted(recorded)[: max(0, len(recorded) - (MAX_LAUNCH_TAGS - 1))]:
        del kept[key]
    return kept
