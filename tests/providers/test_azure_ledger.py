"""The launch ledger on an agent pool (providers/azure/ledger.py): which machine each launch
got, read back from the pool's tags alone, as a new process after a crash reads it."""

from __future__ import annotations

from providers.azure.ledger import MAX_BATCH, Ledger
from providers.azure.names import tag_problems

VMSS = "/subscriptions/s/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-sar1-1-vmss/virtualMachines/"


def machines(*numbers: int) -> list[dict]:
    return [{"name": f"m{n}", "properties": {"resourceId": f"{VMSS}{n}"}} for n in numbers]


def test_each_batch_gets_the_machines_made_after_its_watermark_in_request_order():
    """Batch 0 (3 launches) on an empty pool made machines 0-2; batch 1 (2 launches) made 3-4."""
    ledger = Ledger().add(["a", "b", "c"], watermark=-1, now=100)
    ledger = ledger.add(["d", "e"], watermark=ledger.watermark_of(machines(0, 1, 2)), now=200)

    read = Ledger.of(ledger.tags({"other": "kept"}))

    assert read == ledger
    assert {name: request for name, (request, _) in read.assign(machines(0, 1, 2, 3, 4)).items()} == {
        "m0": "a", "m1": "b", "m2": "c", "m3": "d", "m4": "e"}
    assert read.assign(machines(3))["m3"] == ("d", 200)


def test_a_machine_deleted_before_the_next_batch_does_not_shift_that_batch():
    """Batch 0 made 0-2 and machine 2 was deleted; batch 1's watermark is 1, its machines are
    numbered on from 3 (Azure never reuses a number): batch 1 still gets 3 and 4."""
    ledger = Ledger().add(["a", "b", "c"], watermark=-1, now=100)
    ledger = ledger.add(["d", "e"], watermark=ledger.watermark_of(machines(0, 1)), now=200)
    assigned = ledger.assign(machines(0, 1, 3, 4))
    assert (assigned["m3"][0], assigned["m4"][0]) == ("d", "e")


def test_a_full_batch_of_the_loops_request_ids_fits_azures_tag_limits():
    ids = [f"{n:032x}" for n in range(MAX_BATCH)]
    ledger = Ledger()
    for _ in range(6):
        ledger = ledger.add(ids, watermark=0, now=1_800_000_000)
    tags = ledger.tags({})
    assert tag_problems(tags) == [] and len(tags) <= 12
    assert Ledger.of(tags).known(ids[-1]) and not Ledger.of(tags).known("f" * 32)
