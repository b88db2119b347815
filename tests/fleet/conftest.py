"""Fleet fixtures: one real redis-server for the session, a fresh namespace per test.

Fleet tests run on real time (the default asyncio loop, not looptime): answers come
from another process (Redis), which a virtual clock would race.
"""

from __future__ import annotations

import shutil
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from .support import NO_REDIS, RedisProcess

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from redis.asyncio import Redis


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("asyncio", {"debug": False})


@pytest.fixture(name="redis_server", scope="session")
def _redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    if shutil.which("redis-server") is None:
        pytest.skip(NO_REDIS)
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="redis_url")
def _redis_url(redis_server: RedisProcess) -> str:
    return redis_server.url


@pytest.fixture(name="namespace")
def _namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(name="redis")
async def _redis(redis_url: str) -> AsyncIterator[Redis]:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()
