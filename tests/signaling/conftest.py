"""A real app on a real loopback port, real WebSocket clients, both state backends."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from signaling import auth
from signaling import messages as m
from signaling.app import create_app
from signaling.config import Settings
from signaling.state import MemoryStore, StateStore
from signaling.state.redis import RedisStore
from tests.signaling.fakes import FakeMedia, FakeRecorder

SECRET = "test-secret-0123456789abcdef0123456789"
API_KEY = "test-api-key"
T = TypeVar("T", bound=m.ServerMsg)


class Peer:
    """One WebSocket client: requests with ids, and an inbox of events."""

    _ids = itertools.count(1)

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inbox: list[m.ServerMessage] = []
        self.unread: list[m.ServerMessage] = []  # the rest of a batch frame
        self.me: str | None = None
        self.resume: str | None = None

    async def send_raw(self, data: bytes | str) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def _read(self, timeout: float) -> m.ServerMessage:
        if self.unread:
            return self.unread.pop(0)
        frame = await self.ws.receive(timeout=timeout)
        if frame.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        ):
            raise ConnectionError(f"closed: {frame.extra}")
        self.unread = m.decode_frame(frame.data)  # one message, or a batch of them
        return self.unread.pop(0)

    async def request(self, msg: m.ClientMessage, timeout: float = 3.0) -> m.ServerMessage:
        await self.send_raw(m.encode_client(msg))
        return await self.reply_to(msg.id, timeout)

    async def reply_to(self, rid: m.ReqId, timeout: float = 3.0) -> m.ServerMessage:
        for i, queued in enumerate(self.inbox):
            if getattr(queued, "id", None) == rid:
                return self.inbox.pop(i)
        while True:
            msg = await self._read(timeout)
            if getattr(msg, "id", None) == rid:
                return msg
            self.inbox.append(msg)

    async def ok(self, msg: m.ClientMessage) -> None:
        reply = await self.request(msg)
        assert not isinstance(reply, m.Error), reply

    async def refused(self, msg: m.ClientMessage) -> str:
        reply = await self.request(msg)
        assert isinstance(reply, m.Error), reply
        return reply.code

    async def next(self, kind: type[T], timeout: float = 3.0) -> T:
        for i, queued in enumerate(self.inbox):
            if isinstance(queued, kind):
                return self.inbox.pop(i)  # type: ignore[return-value]
        while True:
            msg = await self._read(timeout)
            if isinstance(msg, kind):
                return msg
            self.inbox.append(msg)

    async def drain(self, wait: float = 0.15) -> list[m.ServerMessage]:
        """Everything that arrives within ``wait`` seconds (plus what was queued)."""
        got, self.inbox = self.inbox, []
        try:
            while True:
                got.append(await self._read(wait))
        except (TimeoutError, ConnectionError):
            return got

    async def alive(self) -> None:
        """The connection still answers."""
        reply = await self.request(m.Ping(id=next(self._ids)))
        assert isinstance(reply, m.Pong)

    @staticmethod
    def rid() -> int:
        return next(Peer._ids)


@dataclass
class Urok:
    client: TestClient[Any, Any]
    settings: Settings
    media: FakeMedia
    store: StateStore
    recorder: FakeRecorder
    peers: list[Peer] = field(default_factory=list)

    @property
    def api(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_KEY}"}

    async def create_room(self, **settings: Any) -> str:
        body: dict[str, Any] = {"title": "Урок математики", "org": "school1", "settings": settings}
        resp = await self.client.post("/api/rooms", json=body, headers=self.api)
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])

    def token(
        self, name: str, role: auth.Role = "student", room: str | None = None, **kw: Any
    ) -> str:
        user_id = kw.pop("user_id", f"{role}:{name}")
        org = kw.pop("org", "school1")
        return auth.mint(SECRET, user_id=user_id, name=name, role=role, org=org, room=room, **kw)

    async def connect(self) -> Peer:
        peer = Peer(await self.client.ws_connect("/ws"))
        self.peers.append(peer)
        return peer

    async def join(
        self,
        room: str,
        name: str,
        role: auth.Role = "student",
        *,
        token: str | None = None,
        resume: str | None = None,
        **kw: Any,
    ) -> tuple[Peer, m.ServerMessage]:
        peer = await self.connect()
        if token is None and role != "guest":
            token = self.token(name, role, room, **kw)
        reply = await peer.request(
            m.Join(id=Peer.rid(), room=room, version=1, token=token, name=name, resume=resume)
        )
        if isinstance(reply, m.Welcome | m.Waiting):
            peer.me, peer.resume = reply.you.id, reply.resume
        return peer, reply

    async def admitted(self, room: str, name: str, role: auth.Role = "student", **kw: Any) -> Peer:
        """Join, and admit through the room's host when the waiting room holds them."""
        peer, reply = await self.join(room, name, role, **kw)
        if isinstance(reply, m.Waiting):
            host = self.host_of(room)
            await host.ok(m.Admit(id=Peer.rid(), participant=reply.you.id))
            await peer.next(m.Welcome)
        return peer

    async def hub_room(self, room: str) -> Any:
        from signaling.ws import HUB

        return await self.client.app[HUB].room(room)

    def host_of(self, room: str) -> Peer:
        return self._hosts[room]

    _hosts: dict[str, Peer] = field(default_factory=dict)

    async def lesson(self, **settings: Any) -> tuple[str, Peer]:
        room = await self.create_room(**settings)
        host, reply = await self.join(room, "Мария Ивановна Петрова", "teacher")
        assert isinstance(reply, m.Welcome) and reply.you.rank == "host"
        self._hosts[room] = host
        return room, host


@pytest.fixture
async def urok(
    backend: str, redis_url: str, tmp_path: Path, aiohttp_client: Any
) -> AsyncIterator[Urok]:
    store: StateStore
    if backend == "memory":
        store = MemoryStore()
    else:
        store = RedisStore(redis_url, prefix=f"test:{uuid.uuid4().hex}:")
    settings = Settings(
        data_dir=tmp_path,
        secret=SECRET,
        api_keys=(API_KEY,),
        state="memory",
        reconnect_grace_s=1.0,
        ws_rate_per_s=1000,
        webhook_retry_s=0.1,
        media=False,
    )
    media, recorder = FakeMedia(), FakeRecorder()
    app = create_app(settings, media=media, store=store, recorder=recorder)
    client = await aiohttp_client(app)
    u = Urok(client=client, settings=settings, media=media, store=store, recorder=recorder)
    yield u
    await client.close()  # the server closes every socket first, so no client waits for it
    for peer in u.peers:
        await peer.ws.close()
    if isinstance(store, RedisStore):
        await store.flush_prefix()
        await store.close()
