"""Chat: registered users post; hosts delete and pin; rate and length limits."""

from __future__ import annotations

import time

from signaling import messages as m
from signaling.hub import Ctx, Refused, Reply
from signaling.records import new_id
from signaling.room import Room


async def send(ctx: Ctx, msg: m.ChatSend) -> Reply:
    room, me = ctx.room, ctx.me
    assert room is not None and me is not None
    if me.identity.guest:
        raise Refused("chat_registered_only", "only registered users can write in the chat")
    if not me.identity.grants.chat:
        raise Refused("not_allowed", "your link does not allow chat")
    if not room.record.settings.chat and not me.moderator:
        raise Refused("chat_disabled", "the host has turned the chat off")
    text = msg.text.strip()
    if not text:
        raise Refused("empty_message", "the message is empty")
    limit = ctx.hub.settings.chat_max_chars
    if len(text) > limit:
        raise Refused("message_too_long", f"a message may have at most {limit} characters")
    if not me.chat_bucket.take():
        raise Refused("rate_limited", "too many messages; wait a moment")
    posted = m.ChatMessage(
        id="c" + new_id(6), sender=me.id, sender_name=me.identity.name, text=text, at=time.time()
    )
    room.chat.append(posted)
    await room.save_chat(posted, ctx.hub.settings.chat_history)
    room.broadcast(m.ChatPosted(message=posted))
    ctx.hub.metrics.chat.inc()
    return None


def _find(room: Room, message_id: str) -> m.ChatMessage:
    for item in room.chat:
        if item.id == message_id:
            return item
    raise Refused("unknown_message", "no such chat message")


async def delete(ctx: Ctx, msg: m.ChatDelete) -> Reply:
    room = ctx.room
    assert room is not None
    item = _find(room, msg.message)
    room.chat.remove(item)
    await room.rewrite_chat()
    if room.pinned is not None and room.pinned.id == item.id:
        room.pinned = None
        await room.save_pinned()
        room.broadcast(m.ChatPinned(message=None))
    room.broadcast(m.ChatDeleted(message=item.id))
    return None


async def pin(ctx: Ctx, msg: m.ChatPin) -> Reply:
    room = ctx.room
    assert room is not None
    room.pinned = None if msg.message is None else _find(room, msg.message)
    await room.save_pinned()
    room.broadcast(m.ChatPinned(message=room.pinned))
    return None
