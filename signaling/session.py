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
        try:
            while True:
                data = await self._outbox.get()
                if data is None:
                    break
                await self.ws.send_frame(data, WSMsgType.TEXT)
                self._on_sent(1)
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
