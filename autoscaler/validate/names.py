"""Kubernetes' name rules: DNS labels and subdomains for object and container names, qualified
names for label and annotation keys, label values, resource names, as the API server checks them."""

from __future__ import annotations

import re
from typing import Any

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_MAX_ANNOTATIONS_BYTES = 256 * 1024
# Strings already found valid (big manifests repeat the same names, label keys and values);
# only successes are kept, so a bad value is checked, and worded, afresh every time.
_GOOD_LABELS: set[tuple[str, str]] = set()
_GOOD_DNS_LABELS: set[str] = set()
_GOOD_DNS_SUBDOMAINS: set[str] = set()
_GOOD_KEYS: set[str] = set()
_REMEMBERED = 65_536


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _dns_subdomain(value: Any) -> str:
    if type(value) is str and value in _GOOD_DNS_SUBDOMAINS:
        return value
    if not _DNS_SUBDOMAIN.fullmatch(_string(value)) or len(value) > 253:
        raise ValueError("expected a DNS subdomain name (lower-case letters, digits, '-' and '.', at most 253)")
    if type(value) is str and len(_GOOD_DNS_SUBDOMAINS) < _REMEMBERED:
        _GOOD_DNS_SUBDOMAINS.add(value)
    return value


def _dns_label(value: Any) -> str:
    if type(value) is str and value in _GOOD_DNS_LABELS:
        return value
    if not _DNS_LABEL.fullmatch(_string(value)) or len(value) > 63:
        raise ValueError("expected a DNS label (lower-case letters, digits and '-', at most 63)")
    if type(value) is str and len(_GOOD_DNS_LABELS) < _REMEMBERED:
        _GOOD_DNS_LABELS.add(value)
    return value


def qualified_name_problem(key: Any) -> str | None:
    """Why `key` is not a label/annotation key (an optional DNS-subdomain prefix and '/', then a name)."""
    if type(key) is str and key in _GOOD_KEYS:
        return None
    if not isinstance(key, str):
        return "keys must be strings"
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return "the prefix before '/' must be a DNS subdomain (e.g. example.com)"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return "the name must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    if type(key) is str and len(_GOOD_KEYS) < _REMEMBERED:
        _GOOD_KEYS.add(key)
    return None


def _labels(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping")
    for key, item in value.items():
        if type(item) is str and (key, item) in _GOOD_LABELS:  # only (str, str) pairs are ever added
            continue
        problem = qualified_name_problem(key)
        if problem:
            raise ValueError(f"label key {str(key)[:80]!r}: {problem}")
        if not isinstance(item, str):
            raise ValueError(f"label {key}: expected a string value, got {item!r:.60}")
        if len(item) > 63 or not _LABEL_VALUE.fullmatch(item):
            raise ValueError(f"label {key}: the value must be at most 63 letters, digits, '-', '_' or '.', "
                             f"starting and ending with a letter or digit, got {item!r:.60}")
        if type(key) is str and type(item) is str and len(_GOOD_LABELS) < _REMEMBERED:
            _GOOD_LABELS.add((key, item))
    return value


def _annotations(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping")
    size = 0
    for key, item in value.items():
        problem = qualified_name_problem(key)
        if problem:
            raise ValueError(f"annotation key {str(key)[:80]!r}: {problem}")
        if not isinstance(item, str):
            raise ValueError(f"annotation {key}: expected a string value, got {item!r:.60}")
        size += len(key) + len(item)
    if size > _MAX_ANNOTATIONS_BYTES:
        raise ValueError(f"annotations total {size:,} bytes, more than Kubernetes' 256 KiB")
    return value


def is_resource_name(key: str) -> bool:
    """cpu, memory, ephemeral-storage, storage, pods, hugepages-<size>, or a fully qualified
    extended resource (nvidia.com/gpu)."""
    if key in _STANDARD_RESOURCES or key.startswith("hugepages-"):
        return True
    return "/" in key and qualified_name_problem(key) is None


def resource_names(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping")
    for key in value:
        if not isinstance(key, str):
            raise ValueError("keys must be strings")
        if not is_resource_name(key):
            raise ValueError(f"{key!r} is not a resource name: use cpu, memory, ephemeral-storage, hugepages-<size> "
                             "or a fully qualified extended resource such as nvidia.com/gpu")
    return value


_STANDARD_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "storage", "pods"})
