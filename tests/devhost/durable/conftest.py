from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.cli.start import load_app
from devhost.durable.engine import Engine
from devhost.durable.store import Store
from devhost.host.app import AppIndex

APPS = Path(__file__).resolve().parents[1] / "apps"


@pytest.fixture(scope="session")
def semantics_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppIndex]:
    """The devhost test app, indexed and served by a worker process."""
    import os

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


async def start(engine: Engine) -> Engine:
    await engine.start()
    return engine


async def run(engine: Engine, name: str, payload: str | None, timeout: float = 20,
              instance_id: str | None = None) -> dict[str, object]:
    iid = engine.start_new(name, instance_id, payload)
    await engine.wait(iid, timeout)
    status = engine.status(iid)
    assert status is not None
    return status


def drive(engine: Engine, body: Callable[[Engine], Awaitable[Any]]) -> Any:
    """Run `body` against a started engine in a fresh event loop, then stop the engine."""
    async def main() -> Any:
        await engine.start()
        try:
            return await body(engine)
        finally:
            await engine.stop()

    return asyncio.run(main())


__all__ = ["AsyncIterator", "asyncio", "run", "start"]
