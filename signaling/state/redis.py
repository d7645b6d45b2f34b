"""StateStore on Redis (redis.asyncio): shared state across nodes."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

# Trims a list to its last N items after a push, atomically.
_PUSH_CAPPED = """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return 1
"""


class _Sub:
    def __init__(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            data = message.get("data")
            if isinstance(data, bytes):
                yield data


class RedisStore:
    """StateStore on one Redis; every key is prefixed (tests use a unique prefix each)."""

    def __init__(self, url: str, prefix: str = "urok:") -> None:
        # Any: redis-py's annotations change between the major versions we accept (5 to 8).
        self._redis: Any = Redis.from_url(url, decode_responses=False)
        self._prefix = prefix
        self._push = self._redis.register_script(_PUSH_CAPPED)

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def ping(self) -> None:
        await self._redis.ping()

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._redis.get(self._k(key))
        return value

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        await self._redis.set(self._k(key), value, px=px)

    async def set_if_absent(self, key: str, value: bytes, ttl_s: float | None = None) -> bool:
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        return bool(await self._redis.set(self._k(key), value, px=px, nx=True))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._redis.delete(*(self._k(k) for k in keys)))

    async def incr(self, key: str, by: int = 1) -> int:
        return int(await self._redis.incrby(self._k(key), by))

    async def hset(self, key: str, field: str, value: bytes) -> None:
        await self._redis.hset(self._k(key), field, value)

    async def hget(self, key: str, field: str) -> bytes | None:
        value: bytes | None = await self._redis.hget(self._k(key), field)
        return value

    async def hgetall(self, key: str) -> dict[str, bytes]:
        raw: dict[bytes, bytes] = await self._redis.hgetall(self._k(key))
        return {k.decode(): v for k, v in raw.items()}

    async def hdel(self, key: str, field: str) -> bool:
        return bool(await self._redis.hdel(self._k(key), field))

    async def hincr(self, key: str, field: str, by: int = 1) -> int:
        return int(await self._redis.hincrby(self._k(key), field, by))

    async def zadd(self, key: str, member: str, score: float) -> bool:
        return bool(await self._redis.zadd(self._k(key), {member: score}))

    async def zrem(self, key: str, member: str) -> bool:
        return bool(await self._redis.zrem(self._k(key), member))

    async def zrange(self, key: str) -> list[tuple[str, float]]:
        raw: list[Any] = await self._redis.zrange(self._k(key), 0, -1, withscores=True)
        return [(m.decode(), float(s)) for m, s in raw]

    async def zrank(self, key: str, member: str) -> int | None:
        rank = await self._redis.zrank(self._k(key), member)
        return None if rank is None else int(rank)

    async def zcard(self, key: str) -> int:
        return int(await self._redis.zcard(self._k(key)))

    async def zrem_below(self, key: str, score: float) -> int:
        return int(await self._redis.zremrangebyscore(self._k(key), "-inf", f"({score}"))

    async def sadd(self, key: str, member: str) -> bool:
        return bool(await self._redis.sadd(self._k(key), member))

    async def srem(self, key: str, member: str) -> bool:
        return bool(await self._redis.srem(self._k(key), member))

    async def sismember(self, key: str, member: str) -> bool:
        return bool(await self._redis.sismember(self._k(key), member))

    async def smembers(self, key: str) -> builtins.set[str]:
        raw: Any = await self._redis.smembers(self._k(key))
        return {m.decode() for m in raw}

    async def rpush_capped(self, key: str, value: bytes, maxlen: int) -> None:
        await self._push(keys=[self._k(key)], args=[value, maxlen])

    async def lrange(self, key: str) -> list[bytes]:
        raw: list[bytes] = list(await self._redis.lrange(self._k(key), 0, -1))
        return raw

    async def publish(self, channel: str, data: bytes) -> None:
        await self._redis.publish(self._k(channel), data)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[_Sub]:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._k(channel))
        try:
            yield _Sub(pubsub)
        finally:
            # bounded: a connection closed mid-read must not hold a shutdown forever
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(pubsub.aclose()), 2.0)

    async def close(self) -> None:
        await self._redis.aclose()

    async def flush_prefix(self) -> None:
        """Delete every key under this store's prefix (tests)."""
        async for key in self._redis.scan_iter(match=self._prefix + "*", count=500):
            await self._redis.delete(key)
