"""GKE nodes as the core reads them: the machine type label GKE sets, the catalog's type name
with attached GPUs, and launches priced for the whole region that land in one of its zones."""

from __future__ import annotations

from autoscaler.nodelabels import INSTANCE_TYPE, catalog_type_name, node_labels
from pricing.catalog import region_catalog
from pricing.types import ON_DEMAND


def _itype(name: str):
    return next(o.instance_type for o in region_catalog("gcp", "us-central1").offerings if o.instance_type.name == name)


def test_a_gke_node_with_an_attached_t4_is_labelled_with_its_machine_type_and_read_back_as_the_catalog_type():
    labels = node_labels("gcp", "us-central1", _itype("n1-highmem-2+1xnvidia-tesla-t4"), ON_DEMAND, "us-central1-a", "bin-select")
    assert labels[INSTANCE_TYPE] == "n1-highmem-2"  # what GKE's kubelet sets; '+' is no valid label value
    assert catalog_type_name(labels) == "n1-highmem-2+1xnvidia-tesla-t4"


def test_without_the_count_label_the_gpus_a_node_advertises_give_the_count_time_sharing_included():
    labels = {
        INSTANCE_TYPE: "n1-standard-8",
        "cloud.google.com/gke-accelerator": "nvidia-tesla-t4",
        "cloud.google.com/gke-max-shared-clients-per-gpu": "2",
    }
    assert catalog_type_name(labels, gpus=4) == "n1-standard-8+2xnvidia-tesla-t4"
    assert catalog_type_name({INSTANCE_TYPE: "g2-standard-8", "cloud.google.com/gke-accelerator": "nvidia-l4"}, 1) == "g2-standard-8"
    assert catalog_type_name({INSTANCE_TYPE: "m5.large"}) == "m5.large"
