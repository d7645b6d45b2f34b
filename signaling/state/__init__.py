"""Shared state: a small StateStore protocol with in-memory and Redis implementations."""

from __future__ import annotations

from signaling.state.base import StateStore
from signaling.state.memory import MemoryStore


async def open_store(url: str, prefix: str = "urok:") -> StateStore:
    """'memory' gives the embedded default; a redis:// URL connects (and pings) Redis."""
    if url == "memory":
        return MemoryStore()
    from signaling.state.redis import RedisStore

    store = RedisStore(url, prefix)
    await store.ping()
    return store


__all__ = ["MemoryStore", "StateStore", "open_store"]
