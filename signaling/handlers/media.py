"""Media signalling, carried here and handled by the SFU behind sfu.api.MediaBackend."""

from __future__ import annotations

from sfu.api import MediaError, TileView
from signaling import messages as m
from signaling.hub import Ctx, Refused, Reply


async def offer(ctx: Ctx, msg: m.MediaOffer) -> Reply:
    assert ctx.room is not None and ctx.me is not None
    try:
        sdp = await ctx.hub.media.offer(ctx.room.id, ctx.me.id, msg.sdp, msg.sources)
    except MediaError as exc:
        raise Refused(exc.code, exc.message) from None
    return m.MediaAnswerOut(id=msg.id, sdp=sdp)


async def answer(ctx: Ctx, msg: m.MediaAnswer) -> Reply:
    assert ctx.room is not None and ctx.me is not None
    try:
        await ctx.hub.media.answer(ctx.room.id, ctx.me.id, msg.sdp)
    except MediaError as exc:
        raise Refused(exc.code, exc.message) from None
    return None


async def candidate(ctx: Ctx, msg: m.MediaCandidate) -> Reply:
    assert ctx.room is not None and ctx.me is not None
    try:
        await ctx.hub.media.candidate(ctx.room.id, ctx.me.id, msg.candidate, msg.sdp_mid)
    except MediaError as exc:
        raise Refused(exc.code, exc.message) from None
    return None


async def view(ctx: Ctx, msg: m.View) -> Reply:
    assert ctx.room is not None and ctx.me is not None
    tiles = tuple(TileView(t.participant, t.source, t.width, t.height) for t in msg.tiles)
    ctx.hub.media.set_view(ctx.room.id, ctx.me.id, tiles)
    return None
