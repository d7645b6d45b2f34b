"""The REST API (JSON): rooms, participants, join tokens, invite links.

Callers authenticate with ``Authorization: Bearer <api key>`` (full rights) or a teacher's or
administrator's join token (teachers see their own rooms, administrators their organisation's).
Request and response bodies are msgspec Structs; signaling/openapi.py builds the document from
the same types.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from aiohttp import web
from msgspec import UNSET, Meta, Struct, UnsetType

from signaling import auth
from signaling import messages as m
from signaling.hub import Hub
from signaling.records import (
    InviteRecord,
    JoinRole,
    Kind,
    Purpose,
    RoomRecord,
    RoomSettings,
    new_id,
    now,
)
from signaling.webhooks import WebhookConfig
from signaling.ws import HUB

T = TypeVar("T")
RoomId = Annotated[str, Meta(pattern="^[A-Za-z0-9_-]{3,64}$")]
Short = Annotated[str, Meta(min_length=1, max_length=200)]


class ApiError(Struct, frozen=True):
    code: str
    message: str


class ErrorBody(Struct, frozen=True):
    error: ApiError


class RoomCreate(Struct, frozen=True, forbid_unknown_fields=True):
    title: Short
    id: RoomId | None = None
    kind: Kind = "call"
    org: Short | None = None
    group: Short | None = None
    owner: Short | None = None
    scheduled_start: float | None = None
    duration_s: Annotated[int, Meta(ge=60, le=24 * 3600)] = 2700
    purpose: Purpose = "lesson"
    settings: RoomSettings = RoomSettings()


class RoomPatch(Struct, frozen=True, forbid_unknown_fields=True):
    """A change to a room; ``scheduled_start: null`` clears the schedule (absent keeps it)."""

    title: Short | None = None
    scheduled_start: float | UnsetType | None = UNSET
    duration_s: Annotated[int, Meta(ge=60, le=24 * 3600)] | None = None
    settings: dict[str, Any] | None = None


class RoomView(Struct, frozen=True):
    id: str
    title: str
    kind: Kind
    org: str | None
    group: str | None
    owner: str | None
    created_at: float
    scheduled_start: float | None
    duration_s: int
    purpose: Purpose
    ended_at: float | None
    settings: RoomSettings
    participants: int
    waiting: int
    join_url: str


class RoomList(Struct, frozen=True):
    rooms: list[RoomView]


class RoomPublic(Struct, frozen=True):
    id: str
    title: str
    kind: Kind
    guests_allowed: bool
    ended: bool
    scheduled_start: float | None


class ParticipantList(Struct, frozen=True):
    participants: list[m.ParticipantInfo]


class TokenRequest(Struct, frozen=True, forbid_unknown_fields=True):
    user_id: Short
    name: Short
    role: JoinRole
    org: Short | None = None
    group: Short | None = None
    room: Short | None = None
    publish: list[m.Source] | None = None
    chat: bool | None = None
    moderate: bool | None = None
    ttl_s: Annotated[int, Meta(ge=60, le=30 * 86400)] = 6 * 3600


class TokenView(Struct, frozen=True):
    token: str
    expires_at: float
    join_url: str | None


class InviteCreate(Struct, frozen=True, forbid_unknown_fields=True):
    role: JoinRole
    room: RoomId | None = None
    group: Short | None = None
    max_uses: Annotated[int, Meta(ge=1, le=100000)] = 100
    expires_in_s: Annotated[int, Meta(ge=60, le=90 * 86400)] = 14 * 86400


InviteState = Literal["active", "expired", "used_up", "revoked"]


class InviteView(Struct, frozen=True):
    id: str
    url: str
    room: str | None
    role: JoinRole
    group: str | None
    max_uses: int
    uses: int
    expires_at: float
    revoked: bool
    state: InviteState


class InviteList(Struct, frozen=True):
    invites: list[InviteView]


class RedeemRequest(Struct, frozen=True, forbid_unknown_fields=True):
    name: Short


class RedeemView(Struct, frozen=True):
    token: str
    room: str | None
    role: JoinRole
    join_url: str | None


class Health(Struct, frozen=True):
    status: str
    rooms: int
    participants: int


# ------------------------------------------------------------------ helpers
_HTTP_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    410: web.HTTPGone,
    413: web.HTTPRequestEntityTooLarge,
    429: web.HTTPTooManyRequests,
    503: web.HTTPServiceUnavailable,
}


def fail(status: int, code: str, message: str) -> web.HTTPException:
    body = msgspec.json.encode(ErrorBody(error=ApiError(code=code, message=message)))
    cls = _HTTP_ERRORS[status]
    return cls(text=body.decode(), content_type="application/json")


def reply(body: Struct, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(body), status=status, content_type="application/json"
    )


async def body_of(request: web.Request, kind: type[T]) -> T:
    raw = await request.read()
    if len(raw) > 64 * 1024:
        raise fail(413, "body_too_large", "request body over 64 KiB")
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise fail(400, "invalid_body", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise fail(400, "bad_json", f"not valid JSON: {exc}") from None


@dataclass(frozen=True)
class Principal:
    """Who calls the REST API."""

    kind: Literal["api", "admin", "teacher"]
    user_id: str | None = None
    org: str | None = None

    def sees(self, room: RoomRecord) -> bool:
        if self.kind == "api":
            return True
        if self.kind == "admin":
            return room.org == self.org
        return room.owner == self.user_id


def principal(request: web.Request) -> Principal:
    hub = request.app[HUB]
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise fail(401, "unauthorized", "send Authorization: Bearer <api key or token>")
    credential = header[7:].strip()
    if any(secrets.compare_digest(credential, key) for key in request.app[API_KEYS]):
        return Principal("api")
    try:
        ident = auth.verify(hub.secret, credential)
    except auth.AuthError as exc:
        raise fail(401, exc.code, exc.message) from None
    if ident.role not in ("admin", "teacher"):
        raise fail(403, "not_allowed", "only teachers and administrators use this API")
    return Principal(ident.role, ident.user_id, ident.org)


API_KEYS = web.AppKey("api_keys", tuple)


def _view(hub: Hub, record: RoomRecord) -> RoomView:
    live = hub.rooms.get(record.id)
    return RoomView(
        id=record.id,
        title=record.title,
        kind=record.kind,
        org=record.org,
        group=record.group,
        owner=record.owner,
        created_at=record.created_at,
        scheduled_start=record.scheduled_start,
        duration_s=record.duration_s,
        purpose=record.purpose,
        ended_at=record.ended_at,
        settings=record.settings,
        participants=0 if live is None else len(live.participants),
        waiting=0 if live is None else len(live.waiting),
        join_url=f"{hub.settings.base_url()}/r/{record.id}",
    )


async def _room_for(request: web.Request, who: Principal) -> RoomRecord:
    record = await request.app[HUB].repo.room(request.match_info["room_id"])
    if record is None or not who.sees(record):
        raise fail(404, "room_not_found", "no such room")
    return record


# ------------------------------------------------------------------ rooms
async def create_room(request: web.Request) -> web.Response:
    who = principal(request)
    hub = request.app[HUB]
    body = await body_of(request, RoomCreate)
    if body.kind == "broadcast" and who.kind == "teacher":
        raise fail(403, "not_allowed", "broadcasts are created by administrators")
    org = body.org if who.kind == "api" else who.org
    owner = body.owner if who.kind == "api" else who.user_id
    room_id = body.id or new_id(9)
    record = RoomRecord(
        id=room_id,
        title=body.title,
        kind=body.kind,
        org=org,
        group=body.group,
        owner=owner,
        created_at=now(),
        scheduled_start=body.scheduled_start,
        settings=body.settings,
        host_user=owner,
        purpose=body.purpose,
        duration_s=body.duration_s,
    )
    if not await hub.repo.store.set_if_absent(f"room-id:{room_id}", b"1"):
        raise fail(409, "room_exists", "a room with this id exists")
    await hub.repo.save_room(record)
    return reply(_view(hub, record), 201)


async def list_rooms(request: web.Request) -> web.Response:
    who = principal(request)
    hub = request.app[HUB]
    include_ended = request.query.get("ended") == "1"
    found = [r for r in await hub.repo.rooms() if who.sees(r) and (include_ended or not r.ended)]
    found.sort(key=lambda r: (r.scheduled_start or r.created_at, r.created_at))
    rooms = [_view(hub, r) for r in found]
    return reply(RoomList(rooms=rooms))


async def get_room(request: web.Request) -> web.Response:
    record = await _room_for(request, principal(request))
    return reply(_view(request.app[HUB], record))


async def update_room(request: web.Request) -> web.Response:
    who = principal(request)
    hub = request.app[HUB]
    record = await _room_for(request, who)
    body = await body_of(request, RoomPatch)
    if record.ended:
        raise fail(409, "room_ended", "this room has ended")
    settings = record.settings
    if body.settings is not None:
        merged = {**msgspec.to_builtins(settings), **body.settings}
        try:
            settings = msgspec.convert(merged, RoomSettings)
        except msgspec.ValidationError as exc:
            raise fail(400, "invalid_body", f"settings: {exc}") from None
    changed = msgspec.structs.replace(
        record,
        title=body.title or record.title,
        scheduled_start=record.scheduled_start
        if body.scheduled_start is UNSET
        else body.scheduled_start,
        settings=settings,
        duration_s=body.duration_s or record.duration_s,
    )
    await hub.update_record(changed)
    return reply(_view(hub, changed))


async def end_room(request: web.Request) -> web.Response:
    who = principal(request)
    hub = request.app[HUB]
    record = await _room_for(request, who)
    await hub.end_by_id(record.id, "ended_by_api")
    fresh = await hub.repo.room(record.id)
    assert fresh is not None
    return reply(_view(hub, fresh))


async def room_participants(request: web.Request) -> web.Response:
    record = await _room_for(request, principal(request))
    stored = await request.app[HUB].repo.store.hgetall(f"room:{record.id}:participants")
    people = [msgspec.json.decode(v, type=m.ParticipantInfo) for v in stored.values()]
    return reply(ParticipantList(participants=sorted(people, key=lambda p: p.name)))


async def room_public(request: web.Request) -> web.Response:
    """What the join page may show before anyone has authenticated."""
    record = await request.app[HUB].repo.room(request.match_info["room_id"])
    if record is None:
        raise fail(404, "room_not_found", "no such room")
    return reply(
        RoomPublic(
            id=record.id,
            title=record.title,
            kind=record.kind,
            guests_allowed=record.settings.guests_allowed,
            ended=record.ended,
            scheduled_start=record.scheduled_start,
        )
    )


# ------------------------------------------------------------------ tokens and invites
async def mint_token(request: web.Request) -> web.Response:
    who = principal(request)
    hub = request.app[HUB]
    body = await body_of(request, TokenRequest)
    if who.kind != "api" and (who.kind != "admin" or body.org not in (None, who.org)):
        raise fail(403, "not_allowed", "only an API key or the school's administrator")
    base = auth.default_grants(body.role)
    grants = auth.Grants(
        publish=frozenset(body.publish) if body.publish is not None else base.publish,
        chat=base.chat if body.chat is None else body.chat,
        moderate=base.moderate if body.moderate is None else body.moderate,
    )
    issued = now()
    token = auth.mint(
        hub.secret,
        user_id=body.user_id,
        name=body.name,
        role=body.role,
        org=body.org if who.kind == "api" else who.org,
        group=body.group,
        room=body.room,
        grants=grants,
        ttl_s=body.ttl_s,
        now=issued,
    )
    url = f"{hub.settings.base_url()}/r/{body.room}?token={token}" if body.room else None
    return reply(TokenView(token=token, expires_at=int(issued) + body.ttl_s, join_url=url), 201)


def _invite_state(invite: InviteRecord, uses: int) -> InviteState:
    if invite.revoked:
        return "revoked"
    if invite.expires_at <= now():
        return "expired"
    if uses >= invite.max_uses:
        return "used_up"
    return "active"


async def _invite_view(hub: Hub, invite: InviteRecord) -> InviteView:
    uses = await hub.repo.invite_uses(invite.id)
    return InviteView(
        id=invite.id,
        url=f"{hub.settings.base_url()}/i/{invite.id}",
        room=invite.room,
        role=invite.role,
        group=invite.group,
        max_uses=invite.max_uses,
        uses=min(uses, invite.max_uses),
        expires_at=invite.expires_at,
        revoked=invite.revoked,
        state=_invite_state(invite, uses),
    )


async def create_invite(request: web.Request) -> web.Response:
    who = principal(request)
    hub = request.app[HUB]
    body = await body_of(request, InviteCreate)
    if body.room is not None:
        record = await hub.repo.room(body.room)
        if record is None or not who.sees(record):
            raise fail(404, "room_not_found", "no such room")
    if who.kind == "teacher" and body.role == "admin":
        raise fail(403, "not_allowed", "teachers cannot invite administrators")
    created = now()
    invite = InviteRecord(
        id=new_id(12),
        org=who.org,
        room=body.room,
        role=body.role,
        group=body.group,
        max_uses=body.max_uses,
        expires_at=created + body.expires_in_s,
        created_at=created,
        created_by=who.user_id or "api",
    )
    await hub.repo.save_invite(invite)
    return reply(await _invite_view(hub, invite), 201)


def _invite_visible(who: Principal, invite: InviteRecord) -> bool:
    if who.kind == "api":
        return True
    if who.kind == "admin":
        return invite.org == who.org
    return invite.created_by == who.user_id


async def list_invites(request: web.Request) -> web.Response:
    who = principal(request)
    hub = request.app[HUB]
    views = [
        await _invite_view(hub, i) for i in await hub.repo.invites() if _invite_visible(who, i)
    ]
    return reply(InviteList(invites=views))


async def revoke_invite(request: web.Request) -> web.Response:
    who = principal(request)
    hub = request.app[HUB]
    invite = await hub.repo.invite(request.match_info["invite_id"])
    if invite is None or not _invite_visible(who, invite):
        raise fail(404, "unknown_invite", "no such invite link")
    revoked = msgspec.structs.replace(invite, revoked=True)
    await hub.repo.save_invite(revoked)
    return reply(await _invite_view(hub, revoked))


async def redeem_invite(request: web.Request) -> web.Response:
    """Public: turn one use of an invite link into a join token for the named person."""
    hub = request.app[HUB]
    invite = await hub.repo.invite(request.match_info["invite_id"])
    if invite is None:
        raise fail(404, "unknown_invite", "no such invite link")
    body = await body_of(request, RedeemRequest)
    state = _invite_state(invite, await hub.repo.invite_uses(invite.id))
    if state == "active" and await hub.repo.use_invite(invite.id) > invite.max_uses:
        state = "used_up"
    if state != "active":
        raise fail(410, f"invite_{state}", f"this invite link is {state.replace('_', ' ')}")
    token = auth.mint(
        hub.secret,
        user_id=f"inv:{invite.id}:{new_id(6)}",
        name=body.name.strip(),
        role=invite.role,
        org=invite.org,
        group=invite.group,
        room=invite.room,
        ttl_s=hub.settings.token_ttl_s,
    )
    url = f"{hub.settings.base_url()}/r/{invite.room}?token={token}" if invite.room else None
    return reply(RedeemView(token=token, room=invite.room, role=invite.role, join_url=url), 201)


class WebhookSet(Struct, frozen=True, forbid_unknown_fields=True):
    url: Annotated[str, Meta(pattern="^https?://", max_length=2000)]
    secret: Annotated[str, Meta(min_length=16, max_length=200)]


class WebhookView(Struct, frozen=True):
    org: str
    url: str | None


def _org_admin(request: web.Request) -> str:
    who = principal(request)
    org = request.match_info["org"]
    if who.kind == "api" or (who.kind == "admin" and who.org == org):
        return org
    raise fail(403, "not_allowed", "only an API key or this school's administrator")


async def set_webhook(request: web.Request) -> web.Response:
    org = _org_admin(request)
    body = await body_of(request, WebhookSet)
    await request.app[HUB].webhooks.configure(org, WebhookConfig(url=body.url, secret=body.secret))
    return reply(WebhookView(org=org, url=body.url))


async def get_webhook(request: web.Request) -> web.Response:
    org = _org_admin(request)
    config = await request.app[HUB].webhooks.config_for(org)
    return reply(WebhookView(org=org, url=None if config is None else config.url))


async def delete_webhook(request: web.Request) -> web.Response:
    org = _org_admin(request)
    await request.app[HUB].webhooks.configure(org, None)
    return reply(WebhookView(org=org, url=None))


async def health(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    people = sum(len(r.participants) for r in hub.rooms.values())
    return reply(Health(status="ok", rooms=len(hub.rooms), participants=people))


async def metrics(request: web.Request) -> web.Response:
    body = request.app[HUB].metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/api/rooms", create_room),
    ("GET", "/api/rooms", list_rooms),
    ("GET", "/api/rooms/{room_id}", get_room),
    ("PATCH", "/api/rooms/{room_id}", update_room),
    ("POST", "/api/rooms/{room_id}/end", end_room),
    ("GET", "/api/rooms/{room_id}/participants", room_participants),
    ("GET", "/api/rooms/{room_id}/info", room_public),
    ("POST", "/api/tokens", mint_token),
    ("POST", "/api/invites", create_invite),
    ("GET", "/api/invites", list_invites),
    ("DELETE", "/api/invites/{invite_id}", revoke_invite),
    ("POST", "/api/invites/{invite_id}/redeem", redeem_invite),
    ("PUT", "/api/orgs/{org}/webhook", set_webhook),
    ("GET", "/api/orgs/{org}/webhook", get_webhook),
    ("DELETE", "/api/orgs/{org}/webhook", delete_webhook),
]
