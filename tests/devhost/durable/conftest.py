from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devhost.cli.start import load_app
from devhost.durable.engine import Engine
from devhost.durable.store import Store
from devhost.host.app import AppIndex

from ..support import APPS


@pytest.fixture(scope="session")
def semantics_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppIndex]:
    """The devhost test app, indexed and served by a worker process."""
    os.environ["SEMANTICS_ATTEMPTS_DIR"] = str(tmp_path_factory.mktemp("attempts"))
    index = load_app("semantics_app", APPS)
    yield index
    index.workers.stop()


@pytest.fixture()
def engine_factory(semantics_index: AppIndex, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    engines: list[Engine] = []

    def make() -> Engine:
        engine = Engine(semantics_index, Store(tmp_path / "durable.sqlite"))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.store.close()
