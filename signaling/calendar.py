"""Calendar export: an .ics feed of scheduled rooms for a teacher, a class or a school.

Calendar apps fetch a URL without headers, so the feed URL carries its own long-lived token with
``scope = "calendar"``: it lists events and cannot join anything.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import icalendar
from aiohttp import web
from msgspec import Meta, Struct

from signaling import auth
from signaling.records import RoomRecord
from signaling.rest import Principal, body_of, fail, principal, reply
from signaling.ws import HUB

FEED_TTL_S = 365 * 86400
PURPOSES = {
    "lesson": "Урок",
    "parent_meeting": "Родительское собрание",
    "staff_meeting": "Педсовет",
    "event": "Мероприятие",
}


class FeedRequest(Struct, frozen=True, forbid_unknown_fields=True):
    """Whose calendar: one's own (teachers), a class (``group``), or the school (admins)."""

    group: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    org: Annotated[str, Meta(min_length=1, max_length=200)] | None = None


class FeedView(Struct, frozen=True):
    url: str
    expires_at: float


def _feed_claims(who: Principal, body: FeedRequest) -> tuple[str, auth.Role, str | None]:
    if who.kind == "teacher" and body.group is None:
        return who.user_id or "", "teacher", who.org
    if body.group is not None:
        return f"group:{body.group}", "student", who.org if who.kind != "api" else body.org
    if who.kind == "admin" or (who.kind == "api" and body.org):
        return f"school:{who.org or body.org}", "admin", who.org or body.org
    raise fail(400, "invalid_body", "name a group (or, with an API key, an org)")


async def feed_link(request: web.Request) -> web.Response:
    who = principal(request)
    body = await body_of(request, FeedRequest)
    hub = request.app[HUB]
    user_id, role, org = _feed_claims(who, body)
    token = auth.mint(
        hub.secret,
        user_id=user_id,
        name="calendar",
        role=role,
        org=org,
        group=body.group,
        ttl_s=FEED_TTL_S,
        scope="calendar",
    )
    url = f"{hub.settings.base_url()}/calendar/{token}.ics"
    return reply(FeedView(url=url, expires_at=time.time() + FEED_TTL_S), 201)


def _wanted(ident: auth.Identity, record: RoomRecord) -> bool:
    if record.scheduled_start is None or record.org != ident.org:
        return False
    if ident.role == "teacher":
        return record.owner == ident.user_id
    if ident.group is not None:
        return record.group == ident.group
    return ident.role == "admin"


def render(records: list[RoomRecord], base_url: str, tz: ZoneInfo, name: str) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//urok//calendar//RU")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", str(tz))
    for record in records:
        assert record.scheduled_start is not None
        start = datetime.fromtimestamp(record.scheduled_start, tz)
        event = icalendar.Event()
        event.add("uid", f"{record.id}@urok")
        event.add("dtstamp", datetime.fromtimestamp(record.created_at, UTC))
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(seconds=record.duration_s))
        event.add("summary", record.title)
        event.add("description", PURPOSES[record.purpose])
        event.add("url", f"{base_url}/r/{record.id}")
        cal.add_component(event)
    cal.add_missing_timezones()
    data: bytes = cal.to_ical()
    return data


async def feed(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    token = request.match_info["token"]
    try:
        ident = auth.verify(hub.secret, token, scope="calendar")
    except auth.AuthError as exc:
        raise fail(401, exc.code, exc.message) from None
    records = [r for r in await hub.repo.rooms() if _wanted(ident, r)]
    records.sort(key=lambda r: r.scheduled_start or 0.0)
    title = ident.group or ("Расписание" if ident.role != "teacher" else ident.user_id)
    body = render(records, hub.settings.base_url(), ZoneInfo(hub.settings.timezone), title)
    return web.Response(body=body, content_type="text/calendar", charset="utf-8")
