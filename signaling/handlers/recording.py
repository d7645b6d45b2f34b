"""Hosts start and stop recording; everyone sees the indicator; problems reach the hosts."""

from __future__ import annotations

import logging

from signaling import messages as m
from signaling.hub import Ctx, Hub, Refused, Reply
from signaling.recording import RecorderError, RecordingInfo
from signaling.room import Room

logger = logging.getLogger(__name__)


def _info(room: Room) -> RecordingInfo:
    r = room.record
    public = r.kind == "broadcast" and not r.settings.viewers_require_registration
    return RecordingInfo(
        room_id=r.id,
        title=r.title,
        org=r.org,
        group=r.group,
        owner=r.owner,
        kind=r.kind,
        public=public,
    )


async def begin(hub: Hub, room: Room) -> None:
    """Start recording (caller holds the room lock); raises RecorderError."""
    if room.recording:
        return

    def on_problem(code: str, message: str) -> None:
        hub.metrics.recording_problems.labels(code).inc()
        room.recording = False
        room.broadcast(m.RoomChanged(room=room.info()))
        room.to_moderators(m.RecordingProblem(code=code, message=message))

    await hub.recorder.start(_info(room), on_problem)
    hub.recorder.set_layout(room.id, room.layout)
    room.recording = True
    room.broadcast(m.RoomChanged(room=room.info()))


async def begin_on_start(hub: Hub, room: Room) -> None:
    """Rooms set to record from the start, and every broadcast, record when they start."""
    if not (room.record.settings.record_on_start or room.record.kind == "broadcast"):
        return
    try:
        await begin(hub, room)
    except RecorderError as exc:
        logger.warning("room %s could not start recording: %s", room.id, exc.message)
        hub.metrics.recording_problems.labels(exc.code).inc()
        room.to_moderators(m.RecordingProblem(code=exc.code, message=exc.message))


async def start(ctx: Ctx, msg: m.StartRecording) -> Reply:
    assert ctx.room is not None
    try:
        await begin(ctx.hub, ctx.room)
    except RecorderError as exc:
        raise Refused(exc.code, exc.message) from None
    return None


async def stop(ctx: Ctx, msg: m.StopRecording) -> Reply:
    room = ctx.room
    assert room is not None
    if room.recording:
        await ctx.hub.recorder.stop(room.id)
        room.recording = False
        room.broadcast(m.RoomChanged(room=room.info()))
    return None


async def layout(ctx: Ctx, msg: m.SetLayout) -> Reply:
    room = ctx.room
    assert room is not None
    if room.layout != msg.layout:
        room.layout = msg.layout
        ctx.hub.recorder.set_layout(room.id, msg.layout)
        room.broadcast(m.RoomChanged(room=room.info()))
    return None
