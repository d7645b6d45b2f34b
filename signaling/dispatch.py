"""Which message goes to which handler, and who may send it: the authorisation table.

The table is the one place rights are decided before a handler runs; handlers add the checks
that depend on the target (a co-host may not mute the host, a guest may not chat).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from signaling import messages as m
from signaling.handlers import chat, hands, media, membership, moderation, recording, waiting
from signaling.hub import REPLIED, Ctx, Refused, Reply

logger = logging.getLogger(__name__)


class Right(enum.Enum):
    """Who may send a message."""

    ANYONE = "anyone"  # before joining too
    PRESENT = "present"  # joined: waiting or admitted
    MEMBER = "member"  # admitted
    MODERATOR = "moderator"  # host or co-host
    HOST = "host"


Handler = Callable[[Ctx, Any], Awaitable[Reply]]


async def _ping(ctx: Ctx, msg: m.Ping) -> Reply:
    return m.Pong(id=msg.id, at=time.time())


async def _waiting_leave(ctx: Ctx, msg: m.Leave) -> Reply:
    return await membership.leave(ctx, msg)


TABLE: dict[type[m.ClientMsg], tuple[Handler, Right]] = {
    m.Join: (membership.join, Right.ANYONE),
    m.Ping: (_ping, Right.ANYONE),
    m.Leave: (_waiting_leave, Right.PRESENT),
    m.Admit: (waiting.admit_one, Right.MODERATOR),
    m.Deny: (waiting.deny, Right.MODERATOR),
    m.AdmitAll: (waiting.admit_all, Right.MODERATOR),
    m.RaiseHand: (hands.raise_hand, Right.MEMBER),
    m.LowerHand: (hands.lower_hand, Right.MEMBER),
    m.LowerAllHands: (hands.lower_all, Right.MODERATOR),
    m.SetMedia: (moderation.set_media, Right.MEMBER),
    m.Mute: (moderation.mute, Right.MODERATOR),
    m.MuteAll: (moderation.mute_all, Right.MODERATOR),
    m.RequestUnmute: (moderation.request_unmute, Right.MODERATOR),
    m.SetRoom: (moderation.set_room, Right.MODERATOR),
    m.Remove: (moderation.remove, Right.MODERATOR),
    m.Ban: (moderation.ban, Right.MODERATOR),
    m.Promote: (moderation.promote, Right.HOST),
    m.Demote: (moderation.demote, Right.HOST),
    m.TransferHost: (moderation.transfer_host, Right.HOST),
    m.EndRoom: (moderation.end_room, Right.HOST),
    m.StartRecording: (recording.start, Right.MODERATOR),
    m.StopRecording: (recording.stop, Right.MODERATOR),
    m.SetLayout: (recording.layout, Right.MODERATOR),
    m.ChatSend: (chat.send, Right.MEMBER),
    m.ChatDelete: (chat.delete, Right.MODERATOR),
    m.ChatPin: (chat.pin, Right.MODERATOR),
    m.MediaOffer: (media.offer, Right.MEMBER),
    m.MediaAnswer: (media.answer, Right.MEMBER),
    m.MediaCandidate: (media.candidate, Right.MEMBER),
    m.View: (media.view, Right.MEMBER),
}


def check(ctx: Ctx, right: Right) -> None:
    """Raise Refused unless this connection holds ``right`` now."""
    if right is Right.ANYONE:
        return
    me = ctx.me
    if me is None:
        raise Refused("not_joined", "join a room first")
    if right is Right.PRESENT:
        return
    if me.state != "admitted":
        raise Refused("not_admitted", "wait until a host admits you")
    if right is Right.MODERATOR and not me.moderator:
        raise Refused("not_allowed", "only the host and co-hosts can do this")
    if right is Right.HOST and me.rank != "host":
        raise Refused("not_allowed", "only the host can do this")


async def dispatch(ctx: Ctx, msg: m.ClientMessage) -> None:
    """Run one message under its room's lock; answer with its reply, ok, or an error."""
    handler, right = TABLE[type(msg)]
    try:
        check(ctx, right)
        if ctx.room is not None and not isinstance(msg, m.Ping):
            if ctx.room.closed:
                raise Refused("room_ended", "this room has ended")
            room = ctx.room
            async with room.lock:
                check(ctx, right)  # rights may have changed while waiting for the lock
                try:
                    reply = await handler(ctx, msg)
                finally:
                    await room.flush()
        else:
            reply = await handler(ctx, msg)
    except Refused as exc:
        ctx.hub.metrics.errors.labels(exc.code).inc()
        ctx.session.send(m.Error(id=msg.id, code=exc.code, message=exc.message))
        return
    if reply is REPLIED:
        return
    ctx.session.send(m.Ok(id=msg.id) if reply is None else reply)  # type: ignore[arg-type]
