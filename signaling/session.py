"""One WebSocket connection: a bounded outbox drained by one writer task.

Sending never awaits the socket: a room-wide event is encoded once and put in every outbox.
A client whose outbox is full is too slow to keep up; it is dropped, never allowed to stall
the room (Galène's model).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiohttp import WSCloseCode, WSMsgType, web

from signaling import messages as m

logger = logging.getLogger(__name__)

MAX_BATCH = 64  # messages in one frame at most
BATCH_HEAD = b'{"type":"batch","messages":['


class Session:
    """The server side of one client connection."""

    def __init__(
        self, ws: web.WebSocketResponse, outbox_size: int, on_sent: Callable[[int], None]
    ) -> None:
        self.ws = ws
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=outbox_size)
        self._on_sent = on_sent
        self._writer = asyncio.create_task(self._write())
        self.closed = False
        self.close_reason = ""

    def send(self, msg: m.ServerMessage) -> bool:
        return self.send_raw(m.encode(msg))

    def send_raw(self, data: bytes) -> bool:
        """Queue an encoded frame; a full outbox drops this client. Never blocks."""
        if self.closed:
            return False
        try:
            self._outbox.put_nowait(data)
        except asyncio.QueueFull:
            logger.warning("dropping slow client (outbox full)")
            self.close(WSCloseCode.POLICY_VIOLATION, "slow_client")
            return False
        return True

    def close(self, code: int = WSCloseCode.OK, reason: str = "") -> None:
        """Stop sending after what is queued (or at once, for a slow client); idempotent."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        if reason == "slow_client":
            self._writer.cancel()
            asyncio.get_running_loop().create_task(self._close_ws(code, reason))
            return
        with contextlib.suppress(asyncio.QueueFull):
            self._outbox.put_nowait(None)
        self._pending_close = (code, reason)

    async def _close_ws(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason.encode()[:120])

    async def _write(self) -> None:
        """Send what is queued; several queued messages go out as one ``batch`` frame (no
        delay is added: batches form only when events arrive faster than this client's
        socket takes them, as in a storm of raised hands or joins in a room of 300)."""
        try:
            closing = False
            while not closing:
                data = await self._outbox.get()
                if data is None:
                    break
                items = [data]
                while len(items) < MAX_BATCH:
                    try:
                        more = self._outbox.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    if more is None:
                        closing = True
                        break
                    items.append(more)
                frame = items[0] if len(items) == 1 else BATCH_HEAD + b",".join(items) + b"]}"
                await self.ws.send_frame(frame, WSMsgType.TEXT)
                self._on_sent(len(items))
        except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
            return
        code, reason = getattr(self, "_pending_close", (WSCloseCode.OK, ""))
        await self._close_ws(code, reason)

    async def wait_closed(self, limit_s: float = 2.0) -> None:
        """Let the writer flush what is queued (used at shutdown and after a goodbye)."""
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._writer), limit_s)
        if not self._writer.done():
            self._writer.cancel()
