"""Helpers for the engine tests (imported, never a conftest): run an orchestration to its
end, drive a started engine in a fresh event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from devhost.durable.engine import Engine


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
