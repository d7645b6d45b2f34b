"""WHEP playback: a broadcast's stage straight from the SFU, for the few viewers who need it in
well under a second (HLS, for everyone else, is seconds behind).

``POST /whep/{broadcast_id}`` with an SDP offer (``application/sdp``) of recvonly audio and
video sections answers ``201 Created`` with the SFU's answer and the session's ``Location``;
``DELETE`` on it ends the session. Each recvonly section is a fixed receive slot: video shows
the screen share, else the current speaker, else the host; audio carries the loudest voices
(one per audio section offered). The viewer is not a participant: nobody sees it in the list.
A broadcast that requires registration wants ``Authorization: Bearer <token>`` of a
registered (non-guest) viewer. At most ``whep_max_viewers`` sessions per broadcast, so a few
sub-second viewers never cost what the HLS audience would; sessions whose ICE consent lapsed
are swept before a new one is counted.
"""

from __future__ import annotations

import logging
import secrets

from aiohttp import web

from sfu.api import MediaError
from signaling.audience import broadcast_record, viewer_identity
from signaling.rest import fail
from signaling.whip import options, trickle  # the same answers as WHIP's
from signaling.ws import HUB

logger = logging.getLogger(__name__)
MAX_SDP = 256 * 1024

SESSIONS = web.AppKey("whep_sessions", dict)  # broadcast id -> set of session ids


def _sessions(request: web.Request, room_id: str) -> set[str]:
    table: dict[str, set[str]] = request.app[SESSIONS]
    return table.setdefault(room_id, set())


def _sweep(request: web.Request, room_id: str) -> set[str]:
    """Forget the sessions whose path is gone (the SFU keeps their slots until leave)."""
    media = request.app[HUB].media
    sessions = _sessions(request, room_id)
    for session in [s for s in sessions if not media.connected(room_id, s)]:
        sessions.discard(session)
        request.app[DEAD].add((room_id, session))
    return sessions


DEAD = web.AppKey("whep_dead", set)  # (broadcast, session) still to leave the SFU


async def _leave_dead(request: web.Request) -> None:
    media = request.app[HUB].media
    dead: set[tuple[str, str]] = request.app[DEAD]
    while dead:
        room_id, session = dead.pop()
        await media.leave(room_id, session)


async def play(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    record = await broadcast_record(request)
    ident = viewer_identity(request, record)
    if record.settings.viewers_require_registration and (ident is None or ident.guest):
        raise fail(401, "registration_required", "this broadcast is for registered viewers")
    if record.ended:
        raise fail(410, "room_ended", "this broadcast has ended")
    if request.content_type != "application/sdp":
        raise web.HTTPUnsupportedMediaType(text="send the offer as application/sdp")
    offer = await request.content.read(MAX_SDP + 1)
    if len(offer) > MAX_SDP or not offer:
        raise fail(400, "invalid_body", "the SDP offer is empty or over 256 KiB")
    sessions = _sweep(request, record.id)
    await _leave_dead(request)
    if len(sessions) >= hub.settings.whep_max_viewers:
        raise fail(503, "whep_full", "sub-second viewing is full: watch the HLS stream")
    session = "v" + secrets.token_urlsafe(12)
    try:
        answer = await hub.media.watch(record.id, session, offer.decode("utf-8", "replace"))
    except MediaError as exc:
        raise fail(400, exc.code, exc.message) from None
    sessions.add(session)
    return web.Response(
        status=201,
        body=answer.encode(),
        content_type="application/sdp",
        headers={"Location": f"/whep/{record.id}/{session}", "ETag": f'"{session}"'},
    )


async def stop(request: web.Request) -> web.Response:
    """The session id in the Location is the capability to end it (unguessable)."""
    room_id, session = request.match_info["room_id"], request.match_info["session_id"]
    sessions = _sessions(request, room_id)
    if session not in sessions:
        raise fail(404, "unknown_session", "no such WHEP session")
    sessions.discard(session)
    await request.app[HUB].media.leave(room_id, session)
    return web.Response(status=200)


ROUTES = [
    ("OPTIONS", "/whep/{room_id}", options),
    ("POST", "/whep/{room_id}", play),
    ("DELETE", "/whep/{room_id}/{session_id}", stop),
    ("PATCH", "/whep/{room_id}/{session_id}", trickle),
]


def setup(app: web.Application) -> None:
    app[SESSIONS] = {}
    app[DEAD] = set()
