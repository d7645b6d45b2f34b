"""Host actions on the waiting room: admit one, deny one, admit all."""

from __future__ import annotations

from aiohttp import WSCloseCode

from signaling import messages as m
from signaling.handlers.membership import admit
from signaling.hub import Ctx, Refused, Reply
from signaling.room import Participant, Room


def _waiting(room: Room, pid: str) -> Participant:
    p = room.waiting.get(pid)
    if p is None:
        raise Refused("unknown_participant", "nobody with that id is waiting")
    return p


async def admit_one(ctx: Ctx, msg: m.Admit) -> Reply:
    assert ctx.room is not None
    p = _waiting(ctx.room, msg.participant)
    await admit(ctx.hub, ctx.room, p, None)
    return None


async def admit_all(ctx: Ctx, msg: m.AdmitAll) -> Reply:
    room = ctx.room
    assert room is not None
    for p in list(room.waiting.values()):
        await admit(ctx.hub, room, p, None)
    return None


async def deny(ctx: Ctx, msg: m.Deny) -> Reply:
    room = ctx.room
    assert room is not None
    p = _waiting(room, msg.participant)
    await refuse_waiting(ctx, room, p, "denied")
    return None


async def refuse_waiting(ctx: Ctx, room: Room, p: Participant, reason: str) -> None:
    del room.waiting[p.id]
    ctx.hub._cancel_grace(p)
    await room.save_waiting(p, False)
    await room.forget_participant(p)
    room.to_moderators(m.WaitingLeft(participant=p.id, outcome="denied"))
    p.send(m.Denied(reason=reason))
    if p.session is not None:
        p.session.close(WSCloseCode.OK, reason)
