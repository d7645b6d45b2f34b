"""The embedded default: everything in this process's memory."""

from __future__ import annotations

import asyncio
import bisect
import builtins
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


class _Sub:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10000)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            yield await self.queue.get()


class MemoryStore:
    """StateStore in one process; expiry is checked on read."""

    def __init__(self) -> None:
        self._kv: dict[str, tuple[bytes, float | None]] = {}
        self._hashes: dict[str, dict[str, bytes]] = {}
        self._zsets: dict[str, dict[str, float]] = {}
        self._sets: dict[str, set[str]] = {}
        self._lists: dict[str, deque[bytes]] = {}
        self._subs: dict[str, set[_Sub]] = {}

    def _live(self, key: str) -> bytes | None:
        item = self._kv.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.monotonic():
            del self._kv[key]
            return None
        return value

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        self._kv[key] = (value, None if ttl_s is None else time.monotonic() + ttl_s)

    async def set_if_absent(self, key: str, value: bytes, ttl_s: float | None = None) -> bool:
        if self._live(key) is not None:
            return False
        await self.set(key, value, ttl_s)
        return True

    async def delete(self, *keys: str) -> int:
        count = 0
        for key in keys:
            for table in (self._kv, self._hashes, self._zsets, self._sets, self._lists):
                store: dict[str, Any] = table
                if key in store:
                    del store[key]
                    count += 1
        return count

    async def incr(self, key: str, by: int = 1) -> int:
        current = self._live(key)
        value = int(current or b"0") + by
        expires = self._kv[key][1] if key in self._kv else None
        self._kv[key] = (str(value).encode(), expires)
        return value

    async def hset(self, key: str, field: str, value: bytes) -> None:
        self._hashes.setdefault(key, {})[field] = value

    async def hget(self, key: str, field: str) -> bytes | None:
        return self._hashes.get(key, {}).get(field)

    async def hgetall(self, key: str) -> dict[str, bytes]:
        return dict(self._hashes.get(key, {}))

    async def hdel(self, key: str, field: str) -> bool:
        table = self._hashes.get(key)
        if table is None or field not in table:
            return False
        del table[field]
        if not table:
            del self._hashes[key]
        return True

    async def hincr(self, key: str, field: str, by: int = 1) -> int:
        table = self._hashes.setdefault(key, {})
        value = int(table.get(field, b"0")) + by
        table[field] = str(value).encode()
        return value

    async def zadd(self, key: str, member: str, score: float) -> bool:
        table = self._zsets.setdefault(key, {})
        added = member not in table
        table[member] = score
        return added

    async def zrem(self, key: str, member: str) -> bool:
        table = self._zsets.get(key)
        if table is None or member not in table:
            return False
        del table[member]
        return True

    def _sorted(self, key: str) -> list[tuple[str, float]]:
        table = self._zsets.get(key, {})
        return sorted(table.items(), key=lambda item: (item[1], item[0]))

    async def zrange(self, key: str) -> list[tuple[str, float]]:
        return self._sorted(key)

    async def zrank(self, key: str, member: str) -> int | None:
        table = self._zsets.get(key, {})
        if member not in table:
            return None
        ordered = self._sorted(key)
        return bisect.bisect_left(ordered, (table[member], member), key=lambda i: (i[1], i[0]))

    async def zcard(self, key: str) -> int:
        return len(self._zsets.get(key, {}))

    async def zrem_below(self, key: str, score: float) -> int:
        """Remove members scored below ``score``; returns how many."""
        table = self._zsets.get(key, {})
        old = [member for member, value in table.items() if value < score]
        for member in old:
            del table[member]
        return len(old)

    async def sadd(self, key: str, member: str) -> bool:
        table = self._sets.setdefault(key, set())
        added = member not in table
        table.add(member)
        return added

    async def srem(self, key: str, member: str) -> bool:
        table = self._sets.get(key)
        if table is None or member not in table:
            return False
        table.discard(member)
        return True

    async def sismember(self, key: str, member: str) -> bool:
        return member in self._sets.get(key, set())

    async def smembers(self, key: str) -> builtins.set[str]:
        return set(self._sets.get(key, set()))

    async def rpush_capped(self, key: str, value: bytes, maxlen: int) -> None:
        items = self._lists.get(key)
        if items is None or items.maxlen != maxlen:
            items = deque(items or (), maxlen=maxlen)
            self._lists[key] = items
        items.append(value)

    async def lrange(self, key: str) -> list[bytes]:
        return list(self._lists.get(key, ()))

    async def publish(self, channel: str, data: bytes) -> None:
        for sub in self._subs.get(channel, set()):
            if not sub.queue.full():
                sub.queue.put_nowait(data)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[_Sub]:
        sub = _Sub()
        self._subs.setdefault(channel, set()).add(sub)
        try:
            yield sub
        finally:
            self._subs[channel].discard(sub)

    async def close(self) -> None:
        self._subs.clear()
