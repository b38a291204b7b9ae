"""The lookup tests' servers as pytest fixtures, one of each per test module that asks for it.

A module imports the ``*_fixture`` functions; its tests ask for ``zebra``, ``openlibrary``, ``silent``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lookup_servers import OpenLibraryStandIn, SilentServer, Zebra, start_zebra


@pytest.fixture(scope="module", name="zebra")
def zebra_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zebra]:
    server = start_zebra(tmp_path_factory.mktemp("zebra"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", name="openlibrary")
def openlibrary_fixture() -> Iterator[OpenLibraryStandIn]:
    server = OpenLibraryStandIn().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", name="silent")
def silent_fixture() -> Iterator[SilentServer]:
    server = SilentServer().start()
    try:
        yield server
    finally:
        server.stop()
