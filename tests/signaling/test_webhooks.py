"""Webhooks: every event in order with a valid signature; a receiver that was down catches up."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from signaling import messages as m
from signaling import webhooks
from tests.conftest import free_port
from tests.signaling.conftest import Peer, Urok

SECRET = "hook-secret-0123456789"


class Receiver:
    """A real HTTP endpoint on loopback that keeps what it is sent."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.got: list[tuple[dict[str, Any], bool, bytes, str, str]] = []
        self.runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        stamp = request.headers["X-Urok-Timestamp"]
        sig = request.headers["X-Urok-Signature"]
        self.got.append(
            (await request.json(), webhooks.verify(SECRET, stamp, body, sig), body, stamp, sig)
        )
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def wait_for(self, count: int, limit_s: float = 10.0) -> None:
        for _ in range(int(limit_s / 0.05)):
            if len(self.got) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"got {len(self.got)} of {count}: {[g[0]['event'] for g in self.got]}")


async def _configure(urok: Urok, port: int) -> None:
    resp = await urok.client.put(
        "/api/orgs/school1/webhook",
        json={"url": f"http://127.0.0.1:{port}/hook", "secret": SECRET},
        headers=urok.api,
    )
    assert resp.status == 200


async def test_events_arrive_in_order_and_signed(urok: Urok) -> None:
    receiver = Receiver(free_port())
    await receiver.start()
    try:
        await _configure(urok, receiver.port)
        room, host = await urok.lesson(waiting_room=False)
        kid = await urok.admitted(room, "Ученик")
        await kid.ok(m.Leave(id=Peer.rid()))
        await host.ok(m.EndRoom(id=Peer.rid()))
        await receiver.wait_for(6)
    finally:
        await receiver.stop()
    events = [g[0] for g in receiver.got]
    assert [e["event"] for e in events] == [
        "room_started",
        "participant_joined",
        "participant_joined",
        "participant_left",
        "participant_left",
        "room_ended",
    ]
    assert all(g[1] for g in receiver.got), "every signature verifies"
    assert events[2]["data"]["name"] == "Ученик" and events[2]["data"]["role"] == "student"
    assert events[3]["data"]["reason"] == "left" and events[0]["room"] == room
    _, _, body, stamp, sig = receiver.got[0]
    assert not webhooks.verify("a-wrong-secret-000000", stamp, body, sig)
    assert not webhooks.verify(SECRET, stamp, body + b" ", sig)


async def test_a_receiver_that_was_down_gets_everything_later(urok: Urok) -> None:
    port = free_port()
    await _configure(urok, port)
    room, host = await urok.lesson(waiting_room=False)
    for name in ("Аня", "Боря", "Вика"):
        await urok.admitted(room, name)
    await asyncio.sleep(0.5)  # deliveries are failing and being retried meanwhile
    await host.alive()  # the room never waited for the webhook
    receiver = Receiver(port)
    await receiver.start()
    try:
        await receiver.wait_for(5, limit_s=15)
    finally:
        await receiver.stop()
    names = [
        g[0]["data"].get("name") for g in receiver.got if g[0]["event"] == "participant_joined"
    ]
    assert names == ["Мария Ивановна Петрова", "Аня", "Боря", "Вика"]


async def test_webhook_settings_need_rights(urok: Urok) -> None:
    body = {"url": "http://127.0.0.1:9/hook", "secret": SECRET}
    other_admin = {
        "Authorization": f"Bearer {urok.token('A', 'admin', user_id='a', org='school2')}"
    }
    assert (
        await urok.client.put("/api/orgs/school1/webhook", json=body, headers=other_admin)
    ).status == 403
    own_admin = {"Authorization": f"Bearer {urok.token('A', 'admin', user_id='a1')}"}
    assert (
        await urok.client.put("/api/orgs/school1/webhook", json=body, headers=own_admin)
    ).status == 200
    bad = {"url": "ftp://x", "secret": SECRET}
    assert (
        await urok.client.put("/api/orgs/school1/webhook", json=bad, headers=own_admin)
    ).status == 400
    got = await (await urok.client.get("/api/orgs/school1/webhook", headers=own_admin)).json()
    assert got == {
        "org": "school1",
        "url": "http://127.0.0.1:9/hook",
    }  # the secret is never returned
