"""Two server nodes sharing one state store: REST on one reaches a room live on the other."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from signaling import auth
from signaling import messages as m
from signaling.app import create_app
from signaling.config import Settings
from signaling.state import MemoryStore, StateStore
from signaling.state.redis import RedisStore
from tests.signaling.conftest import API_KEY, SECRET, Peer
from tests.signaling.fakes import FakeMedia


def _stores(backend: str, redis_url: str) -> tuple[StateStore, StateStore]:
    if backend == "memory":
        shared = MemoryStore()
        return shared, shared
    prefix = f"test:{uuid.uuid4().hex}:"
    return RedisStore(redis_url, prefix), RedisStore(redis_url, prefix)


async def test_rest_on_another_node_reaches_the_live_room(
    backend: str, redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, secret=SECRET, api_keys=(API_KEY,))
    store_a, store_b = _stores(backend, redis_url)
    api = {"Authorization": f"Bearer {API_KEY}"}
    node_a = TestClient(TestServer(create_app(settings, media=FakeMedia(), store=store_a)))
    node_b = TestClient(TestServer(create_app(settings, media=FakeMedia(), store=store_b)))
    async with node_a, node_b:
        await asyncio.sleep(0.1)  # both listeners subscribed
        resp = await node_b.post("/api/rooms", json={"title": "Совет"}, headers=api)
        room = (await resp.json())["id"]
        host = Peer(await node_a.ws_connect("/ws"))
        token = auth.mint(SECRET, user_id="t", name="Учитель", role="teacher", room=room)
        welcome = await host.request(m.Join(id=1, room=room, version=1, token=token))
        assert isinstance(welcome, m.Welcome) and not welcome.room.locked
        patch: dict[str, Any] = {"settings": {"locked": True}}
        assert (await node_b.patch(f"/api/rooms/{room}", json=patch, headers=api)).status == 200
        assert (await host.next(m.RoomChanged)).room.locked is True
        people = await (await node_b.get(f"/api/rooms/{room}/participants", headers=api)).json()
        assert [p["name"] for p in people["participants"]] == ["Учитель"]
        assert (await node_b.post(f"/api/rooms/{room}/end", headers=api)).status == 200
        assert (await host.next(m.RoomEnded)).reason == "ended_by_api"
        await host.ws.close()
    if isinstance(store_a, RedisStore) and isinstance(store_b, RedisStore):
        await store_a.flush_prefix()
        await store_a.close()
        await store_b.close()
