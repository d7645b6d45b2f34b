"""One contract, run against every StateStore implementation (memory and real Redis)."""

from __future__ import annotations

import asyncio

from signaling.state import StateStore


async def test_keys_and_expiry(store: StateStore) -> None:
    assert await store.get("a") is None
    await store.set("a", b"1")
    assert await store.get("a") == b"1"
    assert await store.set_if_absent("a", b"2") is False
    assert await store.get("a") == b"1"
    await store.set("short", b"x", ttl_s=0.05)
    await asyncio.sleep(0.15)
    assert await store.get("short") is None
    assert await store.set_if_absent("short", b"y") is True
    assert await store.delete("a", "short", "missing") == 2
    assert await store.get("a") is None


async def test_counters(store: StateStore) -> None:
    assert await store.incr("n") == 1
    assert await store.incr("n", 5) == 6
    assert await store.incr("n", -6) == 0
    assert await store.hincr("h", "f") == 1
    assert await store.hincr("h", "f", 2) == 3


async def test_hashes(store: StateStore) -> None:
    await store.hset("h", "x", b"1")
    await store.hset("h", "y", b"2")
    assert await store.hget("h", "x") == b"1"
    assert await store.hgetall("h") == {"x": b"1", "y": b"2"}
    assert await store.hdel("h", "x") is True
    assert await store.hdel("h", "x") is False
    assert await store.hgetall("h") == {"y": b"2"}
    assert await store.hgetall("nothing") == {}


async def test_sorted_sets_keep_order(store: StateStore) -> None:
    assert await store.zadd("q", "b", 2.0) is True
    assert await store.zadd("q", "a", 1.0) is True
    assert await store.zadd("q", "c", 3.0) is True
    assert await store.zadd("q", "a", 1.0) is False
    assert [m for m, _ in await store.zrange("q")] == ["a", "b", "c"]
    assert await store.zrank("q", "c") == 2
    assert await store.zrank("q", "zz") is None
    assert await store.zrem("q", "a") is True
    assert await store.zrem("q", "a") is False
    assert await store.zrange("q") == [("b", 2.0), ("c", 3.0)]
    assert await store.zcard("q") == 2
    assert await store.zrem_below("q", 3.0) == 1  # strictly below
    assert await store.zrange("q") == [("c", 3.0)]
    assert await store.zcard("missing") == 0


async def test_sets(store: StateStore) -> None:
    assert await store.sadd("s", "u1") is True
    assert await store.sadd("s", "u1") is False
    assert await store.sismember("s", "u1")
    assert not await store.sismember("s", "u2")
    assert await store.smembers("s") == {"u1"}
    assert await store.srem("s", "u1") is True
    assert await store.smembers("s") == set()


async def test_capped_list_keeps_the_newest(store: StateStore) -> None:
    for i in range(7):
        await store.rpush_capped("l", str(i).encode(), 5)
    assert await store.lrange("l") == [b"2", b"3", b"4", b"5", b"6"]
    assert await store.lrange("none") == []


async def test_pubsub_delivers_after_subscribe(store: StateStore) -> None:
    async with store.subscribe("chan") as sub:
        await asyncio.sleep(0.05)
        await store.publish("chan", b"hello")
        await store.publish("other", b"not for us")
        await store.publish("chan", b"again")
        got: list[bytes] = []

        async def read() -> None:
            async for item in sub:
                got.append(item)
                if len(got) == 2:
                    return

        await asyncio.wait_for(read(), 3)
    assert got == [b"hello", b"again"]
