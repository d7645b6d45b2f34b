"""Scheduled rooms: ordering, the link opening before the start, and the .ics feed."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from signaling import messages as m
from tests.signaling.conftest import Urok


async def _schedule(
    urok: Urok, headers: dict[str, str], title: str, start: float, **kw: Any
) -> str:
    body = {"title": title, "scheduled_start": start, **kw}
    resp = await urok.client.post("/api/rooms", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def test_schedule_is_ordered_and_opens_before_start(urok: Urok) -> None:
    teacher = {
        "Authorization": f"Bearer {urok.token('Анна Петровна', 'teacher', user_id='t-anna')}"
    }
    now = time.time()
    late = await _schedule(urok, teacher, "Физика", now + 7200, group="5А")
    soon = await _schedule(urok, teacher, "Алгебра", now + 600, group="5А")
    meeting = await _schedule(
        urok, teacher, "Собрание", now + 3600, purpose="parent_meeting", duration_s=3600
    )
    listed = await (await urok.client.get("/api/rooms", headers=teacher)).json()
    assert [r["id"] for r in listed["rooms"]] == [soon, meeting, late]
    assert listed["rooms"][1]["purpose"] == "parent_meeting"
    # 2 hours ahead: students are told it is not open yet; the teacher may come in early
    _, early = await urok.join(late, "Ученик")
    assert isinstance(early, m.Error) and early.code == "room_not_open"
    _, host = await urok.join(late, "Анна Петровна", "teacher", user_id="t-anna")
    assert isinstance(host, m.Welcome)
    # within the default 15 minutes before the start: students may knock
    _, knock = await urok.join(soon, "Ученик")
    assert isinstance(knock, m.Waiting)


async def test_calendar_feed_for_teacher_and_class(urok: Urok) -> None:
    teacher = {"Authorization": f"Bearer {urok.token('Анна', 'teacher', user_id='t-anna')}"}
    other = {"Authorization": f"Bearer {urok.token('Борис', 'teacher', user_id='t-boris')}"}
    start = time.time() + 86400
    mine = await _schedule(urok, teacher, "Геометрия 5А", start, group="5А", duration_s=2700)
    await _schedule(urok, other, "История 6Б", start + 3600, group="6Б")
    await _schedule(urok, other, "Литература 5А", start + 7200, group="5А")
    link = await (await urok.client.post("/api/calendar/link", json={}, headers=teacher)).json()
    feed = await urok.client.get("/calendar/" + link["url"].split("/calendar/")[1])
    assert feed.status == 200 and feed.content_type == "text/calendar"
    cal = icalendar.Calendar.from_ical(await feed.read())
    events = [c for c in cal.walk("VEVENT")]
    assert [str(e["summary"]) for e in events] == ["Геометрия 5А"]
    dtstart = events[0].decoded("dtstart")
    assert isinstance(dtstart, datetime) and dtstart.tzinfo is not None
    assert str(dtstart.tzinfo) == "Europe/Moscow" and dtstart.utcoffset() is not None
    assert abs(dtstart.timestamp() - start) < 1
    assert (events[0].decoded("dtend") - dtstart).total_seconds() == 2700
    assert str(events[0]["url"]).endswith(f"/r/{mine}")
    assert [tz["tzid"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Moscow"]
    # a class's feed: every 5А lesson, whoever teaches it, in order
    admin = {"Authorization": f"Bearer {urok.token('Директор', 'admin', user_id='a')}"}
    link5a = await (
        await urok.client.post("/api/calendar/link", json={"group": "5А"}, headers=admin)
    ).json()
    path = "/calendar/" + link5a["url"].split("/calendar/")[1]
    cal5a = icalendar.Calendar.from_ical(await (await urok.client.get(path)).read())
    assert [str(e["summary"]) for e in cal5a.walk("VEVENT")] == ["Геометрия 5А", "Литература 5А"]
    moscow = datetime.fromtimestamp(start, ZoneInfo("Europe/Moscow"))
    assert (
        cal5a.walk("VEVENT")[0].decoded("dtstart") == moscow.replace(microsecond=0)
        or abs(cal5a.walk("VEVENT")[0].decoded("dtstart").timestamp() - start) < 1
    )


async def test_calendar_tokens_only_read_calendars(urok: Urok) -> None:
    teacher = {"Authorization": f"Bearer {urok.token('Анна', 'teacher', user_id='t-anna')}"}
    room = await _schedule(urok, teacher, "Урок", time.time() + 60)
    link = await (await urok.client.post("/api/calendar/link", json={}, headers=teacher)).json()
    feed_token = link["url"].split("/calendar/")[1].removesuffix(".ics")
    _, joined = await urok.join(room, "X", token=feed_token)
    assert isinstance(joined, m.Error) and joined.code == "token_invalid"
    as_api = await urok.client.get("/api/rooms", headers={"Authorization": f"Bearer {feed_token}"})
    assert as_api.status == 401
    join_token = urok.token("Анна", "teacher", user_id="t-anna")
    assert (await urok.client.get(f"/calendar/{join_token}.ics")).status == 401
    assert (await urok.client.get("/calendar/garbage.ics")).status == 401


async def test_a_schedule_is_moved_and_cleared(urok: Urok) -> None:
    admin = {"Authorization": f"Bearer {urok.token('Директор', 'admin', user_id='a1')}"}
    start = time.time() + 7200
    body = {"title": "Линейка", "kind": "broadcast", "scheduled_start": start}
    room = (await (await urok.client.post("/api/rooms", json=body, headers=admin)).json())["id"]

    async def patch(change: dict[str, Any]) -> Any:
        resp = await urok.client.patch(f"/api/rooms/{room}", json=change, headers=admin)
        assert resp.status == 200, await resp.text()
        state = await (await urok.client.get(f"/api/broadcasts/{room}")).json()
        assert state["scheduled_start"] == (await resp.json())["scheduled_start"]
        return state["scheduled_start"]

    assert await patch({"title": "Линейка 1 сентября"}) == start  # absent: kept
    assert await patch({"scheduled_start": start + 600}) == start + 600  # moved
    assert await patch({"scheduled_start": None}) is None  # null: cleared, open at once
    _, viewer = await urok.join(room, "Ученик")
    assert not (isinstance(viewer, m.Error) and viewer.code == "room_not_open")
