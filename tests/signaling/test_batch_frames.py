"""The outbox sends what queued up while the socket was busy as one ``batch`` frame, in order,
and every reader (tests, bench, the web client) expands it to the same messages."""

from __future__ import annotations

import asyncio
import json

from aiohttp import WSMsgType

from signaling import messages as m
from signaling.session import MAX_BATCH, Session


class SlowSocket:
    """A WebSocket whose first send blocks until released (a client slower than the room)."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.release = asyncio.Event()

    async def send_frame(self, data: bytes, opcode: WSMsgType) -> None:
        assert opcode == WSMsgType.TEXT
        if not self.frames:
            self.frames.append(data)
            await self.release.wait()
            return
        self.frames.append(data)

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        return None


def hand(i: int) -> m.ServerMessage:
    return m.HandLowered(participant=f"p{i}", by="host")


async def test_queued_messages_leave_as_one_batch_in_order() -> None:
    ws = SlowSocket()
    counted: list[int] = []
    session = Session(ws, 1024, counted.append)  # type: ignore[arg-type]
    session.send(hand(0))
    await asyncio.sleep(0.01)  # the writer is now stuck sending the first frame
    for i in range(1, 1 + MAX_BATCH + 3):
        session.send(hand(i))
    ws.release.set()
    for _ in range(100):
        if sum(counted) == 1 + MAX_BATCH + 3:
            break
        await asyncio.sleep(0.01)
    assert counted == [1, MAX_BATCH, 3]  # one alone, then full batches
    decoded = [msg for frame in ws.frames for msg in m.decode_frame(frame)]
    assert decoded == [hand(i) for i in range(1 + MAX_BATCH + 3)]
    assert json.loads(ws.frames[1])["type"] == "batch"
    as_dicts = [d for frame in ws.frames for d in m.frame_dicts(json.loads(frame))]
    assert [d["participant"] for d in as_dicts] == [f"p{i}" for i in range(1 + MAX_BATCH + 3)]
    session.close()
    await asyncio.sleep(0.01)


async def test_a_close_after_queued_messages_still_sends_them() -> None:
    ws = SlowSocket()
    session = Session(ws, 1024, lambda n: None)  # type: ignore[arg-type]
    session.send(hand(0))
    await asyncio.sleep(0.01)
    session.send(hand(1))
    session.send(hand(2))
    session.close()
    ws.release.set()
    await asyncio.sleep(0.05)
    assert [msg for frame in ws.frames for msg in m.decode_frame(frame)] == [
        hand(0),
        hand(1),
        hand(2),
    ]


def test_frame_readers_refuse_nothing_they_should_read() -> None:
    assert m.frame_dicts({"type": "batch", "messages": "nonsense"}) == []
    assert m.frame_dicts({"type": "batch", "messages": [1, {"type": "pong"}]}) == [{"type": "pong"}]
    assert m.frame_dicts([1, 2]) == []
    assert m.decode_frame(m.encode(hand(5))) == [hand(5)]
