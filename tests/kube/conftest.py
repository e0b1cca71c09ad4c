from __future__ import annotations

from typing import Iterator

import pytest

from tests.kube.fakeapi import FakeApiServer


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    yield server
    server.close()
