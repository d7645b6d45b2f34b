"""Own media switches and host controls: mute, ask to unmute, A/V moderation, remove, ban,
lock, co-hosts, transfer, end. Every rule is enforced here, whatever the client shows."""

from __future__ import annotations

import msgspec
from aiohttp import WSCloseCode

from sfu.api import Source
from signaling import messages as m
from signaling.handlers.membership import depart
from signaling.handlers.waiting import refuse_waiting
from signaling.hub import Ctx, Refused, Reply
from signaling.room import Participant, Room


def _target(ctx: Ctx, pid: str, *, waiting_ok: bool = False) -> Participant:
    """The participant acted on; a co-host may not act on the host."""
    room, me = ctx.room, ctx.me
    assert room is not None and me is not None
    p = room.participants.get(pid) or (room.waiting.get(pid) if waiting_ok else None)
    if p is None:
        raise Refused("unknown_participant", "no such participant in the room")
    if p.rank == "host" and me.rank != "host":
        raise Refused("not_allowed", "only the host can do this to the host")
    return p


def may_enable(room: Room, p: Participant, source: Source) -> bool:
    """Under A/V moderation only moderators and those asked to unmute may turn a source on."""
    if p.moderator or source in p.allowed:
        return True
    return room.record.settings.participants_may_unmute


async def set_media(ctx: Ctx, msg: m.SetMedia) -> Reply:
    room, me = ctx.room, ctx.me
    assert room is not None and me is not None
    if msg.enabled:
        if msg.source not in me.identity.grants.publish:
            raise Refused("not_allowed", f"your link does not allow publishing {msg.source}")
        if not may_enable(room, me, msg.source):
            raise Refused("unmute_not_allowed", "the host does not allow unmuting now")
        me.blocked.discard(msg.source)
    if me.media[msg.source] != msg.enabled:
        me.media[msg.source] = msg.enabled
        ctx.hub.set_forwarding(room, me, msg.source)
        room.changed(me)
        await room.save_participant(me)
    return None


async def _force_off(ctx: Ctx, p: Participant, source: Source, announce: bool = True) -> None:
    room = ctx.room
    assert room is not None
    was_on = p.media[source]
    p.media[source] = False
    p.blocked.add(source)
    p.allowed.discard(source)
    ctx.hub.set_forwarding(room, p, source)
    await room.save_participant(p)
    if announce or was_on:
        room.changed(p)
    else:
        p.send(m.ParticipantChanged(participant=p.info()))


async def mute(ctx: Ctx, msg: m.Mute) -> Reply:
    await _force_off(ctx, _target(ctx, msg.participant), msg.source)
    return None


async def mute_all(ctx: Ctx, msg: m.MuteAll) -> Reply:
    """Everyone but moderators; others hear of a change only where a source was on."""
    room = ctx.room
    assert room is not None
    for p in list(room.participants.values()):
        if not p.moderator:
            await _force_off(ctx, p, msg.source, announce=False)
    return None


async def request_unmute(ctx: Ctx, msg: m.RequestUnmute) -> Reply:
    me = ctx.me
    assert me is not None
    p = _target(ctx, msg.participant)
    if msg.source not in p.identity.grants.publish:
        raise Refused("not_allowed", f"that participant may not publish {msg.source}")
    p.allowed.add(msg.source)
    p.send(m.UnmuteRequested(source=msg.source, by=me.id))
    return None


async def set_room(ctx: Ctx, msg: m.SetRoom) -> Reply:
    room = ctx.room
    assert room is not None
    changes = {
        k: v
        for k, v in (
            ("locked", msg.locked),
            ("participants_may_unmute", msg.participants_may_unmute),
            ("chat", msg.chat),
            ("waiting_room", msg.waiting_room),
        )
        if v is not None
    }
    settings = msgspec.structs.replace(room.record.settings, **changes)
    await room.save_record(msgspec.structs.replace(room.record, settings=settings))
    room.broadcast(m.RoomChanged(room=room.info()))
    if msg.waiting_room is False:
        from signaling.handlers.membership import admit

        for p in list(room.waiting.values()):
            await admit(ctx.hub, room, p, None)
    return None


async def _expel(ctx: Ctx, p: Participant, reason: str, banned: bool) -> None:
    room = ctx.room
    assert room is not None
    if banned:
        await room.ban(p.identity.user_id)
    if p.id in room.waiting:
        await refuse_waiting(ctx, room, p, "banned" if banned else "removed")
        return
    p.send(m.Removed(reason=reason, banned=banned))
    session = p.session
    await depart(ctx.hub, room, p, "banned" if banned else "removed")
    if session is not None:
        session.close(WSCloseCode.OK, "removed")


async def remove(ctx: Ctx, msg: m.Remove) -> Reply:
    await _expel(ctx, _target(ctx, msg.participant, waiting_ok=True), msg.reason, banned=False)
    return None


async def ban(ctx: Ctx, msg: m.Ban) -> Reply:
    await _expel(ctx, _target(ctx, msg.participant, waiting_ok=True), msg.reason, banned=True)
    return None


def _registered(p: Participant) -> None:
    if p.identity.guest:
        raise Refused("not_allowed", "a guest cannot be a host or co-host")


async def promote(ctx: Ctx, msg: m.Promote) -> Reply:
    room = ctx.room
    assert room is not None
    p = _target(ctx, msg.participant)
    _registered(p)
    if p.rank == "member":
        p.rank = "cohost"
        await room.set_cohost(p.identity.user_id, True)
        room.changed(p)
        _send_waiting_list(room, p)
    return None


def _send_waiting_list(room: Room, p: Participant) -> None:
    for q in room.waiting.values():
        p.send(m.WaitingJoined(entry=q.waiting_info()))


async def demote(ctx: Ctx, msg: m.Demote) -> Reply:
    room, me = ctx.room, ctx.me
    assert room is not None and me is not None
    p = _target(ctx, msg.participant)
    if p is me:
        raise Refused("not_allowed", "transfer the host role first")
    if p.rank == "cohost":
        p.rank = "member"
        await room.set_cohost(p.identity.user_id, False)
        room.changed(p)
    return None


async def transfer_host(ctx: Ctx, msg: m.TransferHost) -> Reply:
    room, me = ctx.room, ctx.me
    assert room is not None and me is not None
    p = _target(ctx, msg.participant)
    _registered(p)
    if p is me:
        return None
    was_member = p.rank == "member"
    p.rank, me.rank = "host", "cohost"
    ctx.hub.media.set_host(room.id, p.id, True)
    ctx.hub.media.set_host(room.id, me.id, False)
    await room.save_record(msgspec.structs.replace(room.record, host_user=p.identity.user_id))
    await room.set_cohost(me.identity.user_id, True)
    room.changed(p)
    room.changed(me)
    if was_member:
        _send_waiting_list(room, p)
    return None


async def end_room(ctx: Ctx, msg: m.EndRoom) -> Reply:
    room = ctx.room
    assert room is not None
    ctx.session.send(m.Ok(id=msg.id))
    await ctx.hub.end_room(room, "ended_by_host")
    from signaling.hub import REPLIED

    return REPLIED
