"""The WebSocket endpoint: read frames, check size and rate, decode, dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSCloseCode, WSMsgType, web

from signaling import messages as m
from signaling.dispatch import dispatch
from signaling.handlers.membership import disconnected
from signaling.hub import Ctx, Hub
from signaling.room import TokenBucket
from signaling.session import Session

logger = logging.getLogger(__name__)

HUB = web.AppKey("hub", Hub)

# Frames above the protocol limit get an error and the connection lives on; frames far above it
# (16x) are refused by aiohttp itself, which closes the connection (1009).
HARD_LIMIT_FACTOR = 16


async def websocket(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[HUB]
    limit = hub.settings.max_message_bytes
    ws = web.WebSocketResponse(
        heartbeat=20.0, max_msg_size=limit * HARD_LIMIT_FACTOR, decode_text=False
    )
    await ws.prepare(request)
    session = Session(ws, hub.settings.outbox_messages, hub.metrics.messages_out.inc)
    hub.sessions.add(session)
    ctx = Ctx(hub=hub, session=session)
    watchdog = asyncio.get_running_loop().call_later(
        hub.settings.join_timeout_s, _join_timeout, ctx
    )
    per_s = hub.settings.ws_rate_per_s
    rate = TokenBucket(2 * per_s, 2.0)  # generous for people, a wall for floods
    try:
        async for frame in ws:
            if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            data: bytes = frame.data if isinstance(frame.data, bytes) else frame.data.encode()
            await _receive(ctx, data, limit, rate)
            if session.closed:
                break
    finally:
        watchdog.cancel()
        hub.sessions.discard(session)
        await disconnected(ctx)
        session.close(WSCloseCode.GOING_AWAY, session.close_reason or "bye")
        await session.wait_closed(1.0)
    return ws


def _join_timeout(ctx: Ctx) -> None:
    if ctx.me is None and not ctx.session.closed:
        ctx.session.send(m.Error(id=None, code="join_timeout", message="join within the time"))
        ctx.session.close(WSCloseCode.POLICY_VIOLATION, "join_timeout")


async def _receive(ctx: Ctx, data: bytes, limit: int, rate: TokenBucket) -> None:
    metrics = ctx.hub.metrics
    error: m.Error | None = None
    msg: m.ClientMessage | None = None
    if len(data) > limit:
        error = m.Error(
            id=m.request_id(data),
            code="message_too_large",
            message=f"a message may have at most {limit} bytes",
        )
    else:
        try:
            msg = m.decode(data)
        except m.ProtocolError as exc:
            error = m.Error(id=exc.req_id, code=exc.code, message=exc.message)
    if msg is not None and not rate.take():
        error = m.Error(id=msg.id, code="rate_limited", message="too many messages; slow down")
    if error is not None or msg is None:
        assert error is not None
        metrics.errors.labels(error.code).inc()
        metrics.messages_in.labels("invalid").inc()
        ctx.session.send(error)
        return
    metrics.messages_in.labels(type(msg).__struct_config__.tag or "unknown").inc()
    try:
        await dispatch(ctx, msg)
    except Exception:  # a bug must not take the room down; the client gets a clear error
        logger.exception("handler failed for %s", type(msg).__name__)
        metrics.errors.labels("internal_error").inc()
        with contextlib.suppress(Exception):
            ctx.session.send(m.Error(id=msg.id, code="internal_error", message="server error"))
