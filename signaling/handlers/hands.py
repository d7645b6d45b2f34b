"""Raised hands: an ordered queue, first come first."""

from __future__ import annotations

import time

from signaling import messages as m
from signaling.hub import Ctx, Refused, Reply
from signaling.room import Participant, Room


def tell_positions(room: Room) -> None:
    """Each participant with a raised hand learns their place (1-based)."""
    for place, p in enumerate(room.hands(), start=1):
        p.send(m.HandQueue(position=place))


async def raise_hand(ctx: Ctx, msg: m.RaiseHand) -> Reply:
    room, me = ctx.room, ctx.me
    assert room is not None and me is not None
    if me.hand is None:
        me.hand = time.time()
        room.dirty.add(me)
        await room.save_hand(me)
        room.broadcast(m.HandRaised(participant=me.id, raised_at=me.hand))
    place = [p.id for p in room.hands()].index(me.id) + 1
    me.send(m.HandQueue(position=place))
    return None


async def _lower(ctx: Ctx, room: Room, p: Participant, by: str | None) -> None:
    p.hand = None
    room.dirty.add(p)
    await room.save_hand(p)
    room.broadcast(m.HandLowered(participant=p.id, by=by))
    p.send(m.HandQueue(position=None))


async def lower_hand(ctx: Ctx, msg: m.LowerHand) -> Reply:
    room, me = ctx.room, ctx.me
    assert room is not None and me is not None
    target = me if msg.participant in (None, me.id) else room.participants.get(msg.participant)
    if target is None:
        raise Refused("unknown_participant", "no such participant in the room")
    if target is not me and not me.moderator:
        raise Refused("not_allowed", "only hosts lower other people's hands")
    if target.hand is not None:
        await _lower(ctx, room, target, None if target is me else me.id)
        tell_positions(room)
    return None


async def lower_all(ctx: Ctx, msg: m.LowerAllHands) -> Reply:
    room, me = ctx.room, ctx.me
    assert room is not None and me is not None
    for p in room.hands():
        await _lower(ctx, room, p, me.id)
    return None
