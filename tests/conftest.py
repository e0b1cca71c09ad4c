"""Test order: the fast tiers first, the end-to-end tier against the real control plane last."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# Compiled catalogs (pricing/compiled.py) go to a directory of this run's own: the tests, and
# the daemons and previews they start, never read one a previous run or the user left.
os.environ["SMART_AUTOSCALER_CACHE_DIR"] = tempfile.mkdtemp(prefix="smart-autoscaler-test-cache-")
atexit.register(shutil.rmtree, os.environ["SMART_AUTOSCALER_CACHE_DIR"], ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
