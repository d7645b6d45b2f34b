"""Joining, the waiting room, leaving, dropping out and coming back within the grace period."""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec
from aiohttp import WSCloseCode

from signaling import auth
from signaling import messages as m
from signaling.hub import REPLIED, Ctx, Hub, Refused, Reply
from signaling.room import Participant, Room, TokenBucket

logger = logging.getLogger(__name__)


async def join(ctx: Ctx, msg: m.Join) -> Reply:
    if ctx.me is not None:
        raise Refused("already_joined", "this connection has already joined")
    if msg.version != m.PROTOCOL_VERSION:
        raise Refused(
            "unsupported_version", f"server speaks protocol {m.PROTOCOL_VERSION}, not {msg.version}"
        )
    hub = ctx.hub
    room = await hub.room(msg.room)
    if room is None:
        raise Refused("room_not_found", "no such room")
    if room.record.ended or room.closed:
        raise Refused("room_ended", "this room has ended")
    identity = _identify(hub, room, msg)
    async with room.lock:
        if room.closed:
            raise Refused("room_ended", "this room has ended")
        try:
            p = _returning(room, identity, msg.resume)
            if p is not None:
                return await _reattach(ctx, room, p, msg.id)
            return await _arrive(ctx, room, identity, msg.id)
        finally:
            await room.flush()


def _identify(hub: Hub, room: Room, msg: m.Join) -> auth.Identity:
    try:
        if msg.token:
            identity = auth.verify(hub.secret, msg.token, room.id)
            if identity.room in (None, "*") and room.record.org not in (None, identity.org):
                raise Refused("token_wrong_room", "this token is for another school")
            return identity
        if not room.record.settings.guests_allowed:
            raise Refused("guests_not_allowed", "this room admits registered users only")
        return auth.guest(msg.name)
    except auth.AuthError as exc:
        raise Refused(exc.code, exc.message) from None


def _returning(room: Room, identity: auth.Identity, resume: str | None) -> Participant | None:
    """The participant this join resumes: by resume key, or the same registered user."""
    if resume:
        p = room.by_resume(resume)
        if p is not None and (identity.guest or p.identity.user_id == identity.user_id):
            return p
    if not identity.guest:
        return room.by_user(identity.user_id)
    return None


def check_entry(room: Room, identity: auth.Identity) -> None:
    if identity.user_id in room.bans:
        raise Refused("banned", "you were removed from this room and may not return")
    settings = room.record.settings
    if settings.locked and not identity.grants.moderate:
        raise Refused("room_locked", "the room is locked")
    opens = room.record.opens_at()
    if opens is not None and time.time() < opens and not identity.grants.moderate:
        raise Refused("room_not_open", f"the room opens at {opens:.0f} (unix time)")
    if room.occupancy() >= settings.max_participants:
        raise Refused("room_full", f"the room is full ({settings.max_participants} participants)")


def _rank(room: Room, identity: auth.Identity) -> m.Rank:
    record = room.record
    if identity.guest:
        return "member"
    if record.host_user == identity.user_id:
        return "host"
    if identity.grants.moderate and room.host() is None and record.host_user is None:
        return "host"
    if identity.grants.moderate or identity.user_id in room.cohosts:
        return "cohost"
    return "member"


def _must_wait(room: Room, p: Participant) -> bool:
    settings = room.record.settings
    if p.moderator or not settings.waiting_room:
        return False
    ident = p.identity
    same_org = ident.org is not None and ident.org == room.record.org
    return not (same_org and ident.role in settings.auto_admit_roles)


async def _arrive(ctx: Ctx, room: Room, identity: auth.Identity, rid: m.ReqId) -> Reply:
    check_entry(room, identity)
    hub = ctx.hub
    rate = hub.settings.chat_rate_per_10s
    p = Participant(
        id=new_participant_id(room),
        identity=identity,
        state="waiting",
        since=time.time(),
        chat_bucket=TokenBucket(rate, 10.0),
    )
    p.rank = _rank(room, identity)
    if p.rank == "host" and room.record.host_user != identity.user_id:
        await room.save_record(msgspec.structs.replace(room.record, host_user=identity.user_id))
    _bind(ctx, room, p)
    if _must_wait(room, p):
        room.waiting[p.id] = p
        await room.save_waiting(p, True)
        await room.save_participant(p)
        room.to_moderators(m.WaitingJoined(entry=p.waiting_info()))
        return _waiting_reply(room, p, rid)
    await admit(ctx.hub, room, p, rid)
    return REPLIED


def new_participant_id(room: Room) -> str:
    from signaling.records import new_id

    while True:
        pid = "p" + new_id(6)
        if room.find(pid) is None:
            return pid


def _bind(ctx: Ctx, room: Room, p: Participant) -> None:
    ctx.room, ctx.me = room, p
    p.session = ctx.session


def _waiting_reply(room: Room, p: Participant, rid: m.ReqId | None) -> m.Waiting:
    position = list(room.waiting).index(p.id) + 1
    return m.Waiting(
        id=rid,
        version=m.PROTOCOL_VERSION,
        you=p.waiting_info(),
        resume=p.resume,
        room_title=room.record.title,
        position=position,
    )


def welcome(hub: Hub, room: Room, p: Participant, rid: m.ReqId | None) -> m.Welcome:
    return m.Welcome(
        id=rid,
        version=m.PROTOCOL_VERSION,
        you=p.info(),
        resume=p.resume,
        room=room.info(),
        participants=tuple(q.info() for q in room.participants.values()),
        hands=tuple(m.HandInfo(participant=q.id, raised_at=q.hand or 0.0) for q in room.hands()),
        waiting=tuple(q.waiting_info() for q in room.waiting.values()) if p.moderator else (),
        chat=tuple(room.chat),
        pinned=room.pinned,
        ice_servers=hub.ice_servers(p),
    )


async def admit(hub: Hub, room: Room, p: Participant, rid: m.ReqId | None) -> None:
    """Move into the room: others get exactly one message, the newcomer the whole state."""
    if room.waiting.pop(p.id, None) is not None:
        await room.save_waiting(p, False)
        room.to_moderators(m.WaitingLeft(participant=p.id, outcome="admitted"))
    p.state = "admitted"
    first = not room.started
    if first:
        room.started = True
        hub.emit_room(room.record, "started")
        if room.record.kind == "broadcast":  # seen by the audience API on any node
            await hub.repo.store.set(f"bc:{room.id}:live", b"1")
    room.participants[p.id] = p
    await room.save_participant(p)
    room.broadcast(m.ParticipantJoined(participant=p.info()), exclude=p)
    p.send(welcome(hub, room, p, rid))
    hub.metrics.joins.inc()
    hub.emit_participant(room, p, "participant_joined")
    await hub.media_join(room, p)
    if first:
        from signaling.handlers.recording import begin_on_start

        await begin_on_start(hub, room)


async def _reattach(ctx: Ctx, room: Room, p: Participant, rid: m.ReqId) -> Reply:
    """The same person is back: their place, rank and hand are kept; no waiting room again."""
    hub = ctx.hub
    hub._cancel_grace(p)
    old = p.session
    if old is not None and old is not ctx.session:
        old.send(m.Removed(reason="replaced", banned=False))
        old.close(WSCloseCode.OK, "replaced")
    _bind(ctx, room, p)
    if p.state == "waiting":
        return _waiting_reply(room, p, rid)
    p.send(welcome(hub, room, p, rid))
    room.changed(p)
    await room.save_participant(p)
    await hub.media.leave(room.id, p.id)
    await hub.media_join(room, p)
    return REPLIED


async def leave(ctx: Ctx, msg: m.Leave) -> Reply:
    assert ctx.room is not None and ctx.me is not None
    await depart(ctx.hub, ctx.room, ctx.me, "left")
    ctx.session.send(m.Ok(id=msg.id))
    ctx.session.close(WSCloseCode.OK, "left")
    ctx.room = ctx.me = None
    return REPLIED


async def depart(hub: Hub, room: Room, p: Participant, reason: str) -> None:
    """Remove for good: tell others once, forget stored state, close media."""
    hub._cancel_grace(p)
    if room.waiting.pop(p.id, None) is not None:
        room.to_moderators(m.WaitingLeft(participant=p.id, outcome="left"))
    elif room.participants.pop(p.id, None) is not None:
        had_hand = p.hand is not None
        room.broadcast(m.ParticipantLeft(participant=p.id, reason=reason))
        hub.emit_participant(room, p, "participant_left", reason=reason)
        if had_hand:
            from signaling.handlers.hands import tell_positions

            tell_positions(room)
        if p.rank == "host":
            await _pass_host(hub, room)
    await room.forget_participant(p)
    await hub.media.leave(room.id, p.id)


async def _pass_host(hub: Hub, room: Room) -> None:
    """The host left for good: the longest-present co-host becomes host."""
    cohosts = [q for q in room.participants.values() if q.rank == "cohost" and not q.identity.guest]
    if not cohosts:
        await room.save_record(msgspec.structs.replace(room.record, host_user=None))
        return
    heir = cohosts[0]
    heir.rank = "host"
    hub.media.set_host(room.id, heir.id, True)
    await room.save_record(msgspec.structs.replace(room.record, host_user=heir.identity.user_id))
    room.changed(heir)


async def disconnected(ctx: Ctx) -> None:
    """The socket went away without a leave: keep the place for the grace period."""
    room, p = ctx.room, ctx.me
    if room is None or p is None or p.session is not ctx.session:
        return
    async with room.lock:
        # Removed, banned or departed already: nothing more is said of them, no grace timer.
        if p.session is not ctx.session or room.closed or room.find(p.id) is not p:
            return
        p.session = None
        if p.state == "admitted":
            room.changed(p)
        start_grace(ctx.hub, room, p)
        await room.flush()


def start_grace(hub: Hub, room: Room, p: Participant) -> None:
    """Keep the place for reconnect_grace_s, then the participant has left."""
    loop = asyncio.get_running_loop()
    grace = hub.settings.reconnect_grace_s
    p.grace = loop.call_later(grace, lambda: loop.create_task(_expire(hub, room, p)))


async def _expire(hub: Hub, room: Room, p: Participant) -> None:
    async with room.lock:
        if p.grace is None or p.connected or room.closed:
            return
        p.grace = None
        await depart(hub, room, p, "disconnected")
