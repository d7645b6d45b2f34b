"""A process that held a room goes away; a new one gives everyone their place back on reconnect."""

from __future__ import annotations

import uuid
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from signaling import auth
from signaling import messages as m
from signaling.app import create_app
from signaling.config import Settings
from signaling.state import MemoryStore, StateStore
from signaling.state.redis import RedisStore
from tests.signaling.conftest import API_KEY, SECRET, Peer
from tests.signaling.fakes import FakeMedia


def _app(tmp: Path, store: StateStore) -> TestClient:  # type: ignore[type-arg]
    settings = Settings(data_dir=tmp, secret=SECRET, api_keys=(API_KEY,), reconnect_grace_s=5.0)
    return TestClient(TestServer(create_app(settings, media=FakeMedia(), store=store)))


async def _join(
    client: TestClient, room: str, token: str, resume: str | None = None
) -> tuple[Peer, m.ServerMessage]:  # type: ignore[type-arg]
    peer = Peer(await client.ws_connect("/ws"))
    reply = await peer.request(
        m.Join(id=Peer.rid(), room=room, version=1, token=token, resume=resume)
    )
    return peer, reply


async def test_places_survive_a_new_process(backend: str, redis_url: str, tmp_path: Path) -> None:
    store: StateStore = (
        MemoryStore() if backend == "memory" else RedisStore(redis_url, f"test:{uuid.uuid4().hex}:")
    )
    teacher = auth.mint(SECRET, user_id="t", name="Учитель", role="teacher", org="s")
    kid = auth.mint(SECRET, user_id="k", name="Ученик", role="student", org="s")
    waiting = auth.mint(SECRET, user_id="w", name="Ждущий", role="student", org="s")
    first = _app(tmp_path, store)
    async with first:
        resp = await first.post(
            "/api/rooms",
            json={"title": "Урок", "org": "s"},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        room = (await resp.json())["id"]
        host, hello = await _join(first, room, teacher)
        assert isinstance(hello, m.Welcome)
        child, knock = await _join(first, room, kid)
        assert isinstance(knock, m.Waiting)
        await host.ok(m.Admit(id=Peer.rid(), participant=knock.you.id))
        admitted = await child.next(m.Welcome)
        await child.ok(m.RaiseHand(id=Peer.rid()))
        await host.ok(m.Mute(id=Peer.rid(), participant=knock.you.id, source="camera"))
        late, queued = await _join(first, room, waiting)
        assert isinstance(queued, m.Waiting)
        for peer in (host, child, late):
            await peer.ws.close()
    second = _app(tmp_path, store)  # a new process: nothing in memory, the same store
    async with second:
        back, reply = await _join(second, room, kid, resume=admitted.resume)
        assert isinstance(reply, m.Welcome), reply
        assert reply.you.id == knock.you.id and reply.you.hand is not None
        assert reply.you.media.blocked == ("camera",)
        assert {p.name for p in reply.participants} == {"Учитель", "Ученик"}
        again, still = await _join(second, room, waiting, resume=queued.resume)
        assert isinstance(still, m.Waiting) and still.you.id == queued.you.id
        host2, hello2 = await _join(second, room, teacher)
        assert (
            isinstance(hello2, m.Welcome)
            and hello2.you.rank == "host"
            and hello2.you.id == hello.you.id
        )
        assert [w.id for w in hello2.waiting] == [queued.you.id]
        for peer in (back, again, host2):
            await peer.ws.close()
    if isinstance(store, RedisStore):
        await store.flush_prefix()
        await store.close()
