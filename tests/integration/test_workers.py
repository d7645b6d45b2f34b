"""`urok serve --workers 2`: rooms placed on two processes; a killed worker comes back and its
participants resume their places through the front."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from signaling import auth
from signaling import messages as m
from signaling.state.redis import RedisStore
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
SECRET = "workers-secret-0123456789abcdef012345"
KEY = "workers-key"


class Client:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.n = ws, 0

    async def request(self, msg_type: str, **fields: Any) -> m.ServerMessage | None:
        """The reply, or None when the server closed the connection instead."""
        self.n += 1
        await self.ws.send_str(json.dumps({"type": msg_type, "id": self.n, **fields}))
        while True:
            frame = await self.ws.receive(timeout=10)
            if frame.type != aiohttp.WSMsgType.TEXT:
                return None
            for msg in m.decode_frame(frame.data):
                if getattr(msg, "id", None) == self.n:
                    return msg

    async def next(self, kind: type, limit: float = 10) -> Any:
        while True:
            frame = await self.ws.receive(timeout=limit)
            if frame.type != aiohttp.WSMsgType.TEXT:
                return frame
            for msg in m.decode_frame(frame.data):
                if isinstance(msg, kind):
                    return msg


OPEN: list[aiohttp.ClientWebSocketResponse] = []


async def _join(
    http: aiohttp.ClientSession, base: str, room: str, token: str, resume: str | None = None
) -> tuple[Client, m.ServerMessage | None]:
    client = Client(await http.ws_connect(base.replace("http", "ws") + "/ws"))
    OPEN.append(client.ws)
    return client, await client.request("join", room=room, version=1, token=token, resume=resume)


async def test_two_workers_place_rooms_and_survive_a_kill(redis_url: str, tmp_path: Path) -> None:
    port, prefix = free_port(), f"test:{uuid.uuid4().hex}:"
    env = {**os.environ, "UROK_SECRET": SECRET, "UROK_API_KEYS": KEY, "UROK_STATE_PREFIX": prefix,
           "UROK_RECONNECT_GRACE_S": "30"}  # fmt: skip
    cmd = [sys.executable, "-m", "signaling.cli", "serve", "--workers", "2", "--state", redis_url,
           "--port", str(port), "--data-dir", str(tmp_path), "--no-media", "--no-demo"]  # fmt: skip
    front = await asyncio.create_subprocess_exec(*cmd, env=env, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    store = RedisStore(redis_url, prefix)
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
            for _ in range(300):
                try:
                    async with http.get(base + "/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            rooms = []
            for title in ("5А", "6Б"):
                async with http.post(base + "/api/rooms", json={"title": title}) as resp:
                    rooms.append((await resp.json())["id"])
            teacher = auth.mint(SECRET, user_id="t", name="Учитель", role="teacher")
            kid = auth.mint(SECRET, user_id="k", name="Ученик", role="student")
            host_a, _ = await _join(http, base, rooms[0], teacher)
            host_b, hello_b = await _join(
                http, base, rooms[1], auth.mint(SECRET, user_id="t2", name="Т2", role="teacher")
            )
            assert isinstance(hello_b, m.Welcome)
            placed = {int(await store.get(f"room-node:{r}") or b"-1") for r in rooms}
            assert placed == {0, 1}, "two rooms, two workers"
            child, knock = await _join(http, base, rooms[0], kid)
            assert isinstance(knock, m.Waiting)
            assert isinstance(knock, m.Waiting)
            await host_a.request("admit", participant=knock.you.id)
            welcome = await child.next(m.Welcome)
            # kill -9 the worker that holds room A
            index = int(await store.get(f"room-node:{rooms[0]}") or b"0")
            workers = json.loads((tmp_path / "workers.json").read_text())
            os.kill(workers[str(index)]["pid"], signal.SIGKILL)
            closed = await child.next(m.Welcome)  # returns the close frame: never another welcome
            assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert child.ws.close_code == 1012
            assert isinstance(await host_b.request("ping"), m.Pong), (
                "the other worker's room goes on"
            )
            # the worker comes back; the student resumes their place: no waiting room
            reply: m.ServerMessage | None = None
            for _ in range(100):
                try:
                    again, reply = await _join(http, base, rooms[0], kid, resume=welcome.resume)
                except aiohttp.ClientError:
                    reply = None
                if isinstance(reply, m.Welcome):
                    break
                await asyncio.sleep(0.2)
            assert isinstance(reply, m.Welcome) and reply.you.id == knock.you.id
            restarted = json.loads((tmp_path / "workers.json").read_text())
            assert restarted[str(index)]["restarts"] == 1
            # REST on the front reaches the room on its worker
            async with http.post(base + f"/api/rooms/{rooms[1]}/end") as resp:
                assert resp.status == 200
            assert (await host_b.next(m.RoomEnded)).reason == "ended_by_api"
            for ws in OPEN:  # websockets leave the connection pool: close each one
                await ws.close()
            OPEN.clear()
    finally:
        front.send_signal(signal.SIGTERM)
        await asyncio.wait_for(front.wait(), 20)
        await store.flush_prefix()
        await store.close()
    pids = json.loads((tmp_path / "workers.json").read_text())
    for entry in pids.values():
        assert (
            not Path(f"/proc/{entry['pid']}").exists()
            or "zombie" in Path(f"/proc/{entry['pid']}/status").read_text().lower()
        )
