"""WHIP ingest (RFC 9725): OBS or ffmpeg publish onto a room's stage with a bearer token.

``POST /whip/{room_id}`` with an SDP offer (``application/sdp``) and ``Authorization: Bearer
<join token>`` makes a participant without a WebSocket (connected while its media lives), admits
it — a WHIP publisher cannot wait in a waiting room, so its token must carry the moderate grant
unless the room has no waiting room — and answers ``201 Created`` with the SFU's answer and the
session's ``Location``. ``DELETE`` on that location ends it. The SFU is ICE-lite, which is what
WHIP clients expect (they send their own checks and never answer the server's).
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from sfu.api import MediaError
from signaling import auth
from signaling.handlers.membership import admit, check_entry, depart, new_participant_id
from signaling.hub import Hub, Refused
from signaling.rest import fail
from signaling.room import Participant, Room, TokenBucket
from signaling.ws import HUB

logger = logging.getLogger(__name__)
MAX_SDP = 64 * 1024


def _token(request: web.Request, room_id: str) -> auth.Identity:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise fail(401, "unauthorized", "WHIP needs Authorization: Bearer <join token>")
    try:
        return auth.verify(request.app[HUB].secret, header[7:].strip(), room_id)
    except auth.AuthError as exc:
        raise fail(401, exc.code, exc.message) from None


async def _room(hub: Hub, room_id: str) -> Room:
    room = await hub.room(room_id)
    if room is None:
        raise fail(404, "room_not_found", "no such room")
    if room.closed or room.record.ended:
        raise fail(410, "room_ended", "this room has ended")
    return room


async def publish(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    room_id = request.match_info["room_id"]
    ident = _token(request, room_id)
    if request.content_type != "application/sdp":
        raise web.HTTPUnsupportedMediaType(text="send the offer as application/sdp")
    offer = await request.content.read(MAX_SDP + 1)
    if len(offer) > MAX_SDP or not offer:
        raise fail(400, "invalid_body", "the SDP offer is empty or over 64 KiB")
    room = await _room(hub, room_id)
    if room.record.settings.waiting_room and not ident.grants.moderate:
        raise fail(403, "waiting_room", "this room has a waiting room: use a host's token")
    async with room.lock:
        try:
            check_entry(room, ident)
        except Refused as exc:
            raise fail(409 if exc.code == "room_full" else 403, exc.code, exc.message) from None
        p = Participant(
            id=new_participant_id(room),
            identity=ident,
            state="waiting",
            since=time.time(),
            chat_bucket=TokenBucket(1, 10.0),
            headless=True,
        )
        await admit(hub, room, p, None)
        for source in ("mic", "camera"):
            if source in ident.grants.publish:
                p.media[source] = True
                hub.set_forwarding(room, p, source)
        room.changed(p)
        try:
            answer = await hub.media.offer(room.id, p.id, offer.decode("utf-8", "replace"))
        except MediaError as exc:
            await depart(hub, room, p, "left")
            raise fail(400, exc.code, exc.message) from None
    location = f"/whip/{room.id}/{p.id}"
    return web.Response(
        status=201,
        body=answer.encode(),
        content_type="application/sdp",
        headers={"Location": location, "ETag": f'"{p.id}"'},
    )


async def unpublish(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    room_id, pid = request.match_info["room_id"], request.match_info["session_id"]
    ident = _token(request, room_id)
    room = await _room(hub, room_id)
    async with room.lock:
        p = room.participants.get(pid)
        if p is None or not p.headless or p.identity.user_id != ident.user_id:
            raise fail(404, "unknown_session", "no such WHIP session")
        await depart(hub, room, p, "left")
    return web.Response(status=200)


async def trickle(request: web.Request) -> web.Response:
    """ICE-lite answers carry every candidate; trickle and ICE restart are not offered."""
    raise web.HTTPMethodNotAllowed("PATCH", ["DELETE", "OPTIONS"])


async def options(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={"Accept-Post": "application/sdp"})


ROUTES = [
    ("OPTIONS", "/whip/{room_id}", options),
    ("POST", "/whip/{room_id}", publish),
    ("DELETE", "/whip/{room_id}/{session_id}", unpublish),
    ("PATCH", "/whip/{room_id}/{session_id}", trickle),
]
