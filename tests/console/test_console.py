"""The school console in real Chromium: one-click call with a QR code, the schedule in order,
invite links that work once and then say so in the user's language, revocation, a calendar
(.ics) link whose feed holds the schedule, broadcasts scheduled, moved and cleared in the
viewer's local time, a live question count and a «Вести вопросы» link that opens the viewer page
as host, one clean column at 1280 and 420 px, and a teacher who sees only their own rooms, no
broadcasts and no school-wide calendar."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from signaling import auth
from signaling.app import create_app
from signaling.config import Settings
from signaling.state import MemoryStore
from tests.conftest import free_port
from tests.web.conftest import screenshot

SECRET = "console-secret-0123456789abcdef0123456"
pytestmark = pytest.mark.browser


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"  # links the server prints name this address
    settings = Settings(
        data_dir=tmp_path, secret=SECRET, api_keys=("k",), media=False, public_url=base
    )
    server = TestServer(create_app(settings, store=MemoryStore()), host="127.0.0.1", port=port)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


TZ = "Asia/Yekaterinburg"  # the browser's zone (UTC+5), not the server's (Europe/Moscow)
FEED_URL = re.compile(r"/calendar/[^/]+\.ics$")


async def _page(browser: Browser, locale: str = "ru-RU", **context: Any) -> Page:
    page = await (await browser.new_context(locale=locale, **context)).new_page()
    page.set_default_timeout(10_000)
    return page


def _token(name: str, role: auth.Role, user_id: str, **kw: str) -> str:
    return auth.mint(SECRET, user_id=user_id, name=name, role=role, org="school1", **kw)


async def _redeem(browser: Browser, url: str, name: str, locale: str = "ru-RU") -> Page:
    page = await _page(browser, locale)
    await page.goto(url)
    await page.locator("#invite-name").fill(name)
    await page.locator("#invite-form button").click()
    return page


async def test_admin_console(site: str, browser: Browser) -> None:
    async with asyncio.timeout(120):
        await _admin_console(site, browser)


async def _admin_console(site: str, browser: Browser) -> None:
    admin = await _page(browser)
    await admin.goto(site + "/console?token=" + _token("Директор", "admin", "a1"))
    await admin.get_by_role("button", name="Новый звонок в один клик").click()
    link = admin.locator("#call-link")
    await link.wait_for()
    call_url = await link.get_attribute("href")
    assert call_url and "/r/" in call_url
    assert await admin.locator("#call-qr svg rect").count() > 50  # a QR code was drawn
    # a student opening the link waits for the host
    student = await _page(browser)
    await student.goto(call_url + "?token=" + _token("Ваня", "student", "s1"))
    await student.get_by_role("button", name="Войти").click()
    await student.get_by_text("Вы в зале ожидания…").wait_for(timeout=15_000)
    # the schedule is in time order whatever the order of creation
    for title, when in (("Физика <i>8Б</i>", "2031-05-20T12:00"), ("Алгебра", "2031-05-20T09:30")):
        await admin.locator("#event-title").fill(title)
        await admin.locator("#event-start").fill(when)
        await admin.get_by_role("button", name="Создать событие").click()
        await admin.locator("#schedule-list li", has_text=title).wait_for()
    titles = await admin.locator("#schedule-list li strong").all_text_contents()
    assert titles == ["Алгебра", "Физика <i>8Б</i>"]
    assert await admin.locator("#schedule-list i").count() == 0  # text, never markup
    # an invite link with one use works once, then says so in the user's language
    await admin.locator("#invite-uses").fill("1")
    await admin.get_by_role("button", name="Создать приглашение").click()
    first = admin.locator("#invite-list li").first
    await first.wait_for()
    invite_url = await first.locator("a").first.get_attribute("href")
    assert invite_url
    used = await _redeem(browser, invite_url, "Пётр Сидоров")
    await used.get_by_text("Готово: вы зарегистрированы").wait_for()
    again = await _redeem(browser, invite_url, "Второй")
    await again.get_by_text("Ссылка уже использована").wait_for()
    english = await _redeem(browser, invite_url + "?lang=en", "Third", "en-US")
    await english.get_by_text("This link has been used up").wait_for()
    await admin.reload()
    await admin.locator("#invite-list li[data-state=used_up]").wait_for()
    # another link, revoked, then fails
    await admin.locator("#invite-uses").fill("5")
    await admin.get_by_role("button", name="Создать приглашение").click()
    active = admin.locator("#invite-list li[data-state=active]")
    await active.wait_for()
    other_url = await active.locator("a").first.get_attribute("href")
    await active.get_by_role("button").click()
    await admin.locator("#invite-list li[data-state=revoked]").wait_for()
    revoked = await _redeem(browser, other_url or "", "Кто-то")
    await revoked.get_by_text("Ссылка отозвана").wait_for()
    # broadcasts: create, the public viewer link, viewers and questions, end
    await admin.locator("#bc-title").fill("Линейка")
    await admin.get_by_role("button", name="Создать трансляцию").click()
    row = admin.locator("#bc-list li", has_text="Линейка")
    await row.wait_for()
    assert "/b/" in (await row.locator("a").first.get_attribute("href") or "")
    assert "зрителей: 0" in (await row.text_content() or "")
    await row.get_by_role("button", name="Завершить: Линейка").click()
    await row.wait_for(
        state="detached"
    )  # ended: it leaves the list (its recording is in the library)
    await screenshot(admin, "console")


async def test_teacher_sees_only_own_rooms(site: str, browser: Browser) -> None:
    async with asyncio.timeout(90):
        await _teacher_sees_only_own_rooms(site, browser)


async def _teacher_sees_only_own_rooms(site: str, browser: Browser) -> None:
    other = await _page(browser)
    await other.goto(site + "/console?token=" + _token("Другой", "teacher", "t2"))
    await other.get_by_role("button", name="Новый звонок в один клик").click()
    await other.locator("#call-link").wait_for()
    await other.locator("#event-title").fill("Чужой урок")
    await other.locator("#event-start").fill("2031-05-21T10:00")
    await other.get_by_role("button", name="Создать событие").click()
    await other.locator("#schedule-list li", has_text="Чужой урок").wait_for()
    mine = await _page(browser)
    await mine.goto(site + "/console?token=" + _token("Анна", "teacher", "t1"))
    await mine.locator("#event-title").fill("Мой урок")
    await mine.locator("#event-start").fill("2031-05-22T10:00")
    await mine.get_by_role("button", name="Создать событие").click()
    await mine.locator("#schedule-list li", has_text="Мой урок").wait_for()
    assert await mine.locator("#schedule-list li strong").all_text_contents() == ["Мой урок"]
    assert await mine.locator("#broadcasts").is_hidden()  # broadcasts are administrators' work
    # the calendar: their own lessons or a class, never the whole school
    assert await _choices(mine) == ["own", "group"]
    assert await mine.get_by_role("option", name="Вся школа").count() == 0
    await mine.get_by_role("button", name="Получить ссылку").click()
    field = mine.get_by_label("Ссылка на ленту .ics")
    await expect(field).to_have_value(FEED_URL)
    assert set(await _feed_events(await field.input_value())) == {"Мой урок"}


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status, await resp.read()


async def _feed_events(url: str) -> dict[str, datetime]:
    """The .ics feed behind a calendar link, fetched without headers as a calendar app would."""
    status, body = await _get(url)
    assert status == 200
    cal = icalendar.Calendar.from_ical(body)
    return {str(e["summary"]): e.decoded("dtstart") for e in cal.walk("VEVENT")}


async def _scheduled(site: str, room: str) -> Any:
    status, body = await _get(f"{site}/api/broadcasts/{room}")
    assert status == 200
    return json.loads(body)["scheduled_start"]


async def _choices(page: Page) -> list[str]:
    """The calendar choices the console offers."""
    return list(await page.locator("#cal-scope option").evaluate_all("os => os.map(o => o.value)"))


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(TZ)).timestamp()


async def test_admin_gets_a_calendar_link(site: str, browser: Browser) -> None:
    async with asyncio.timeout(90):
        admin = await _page(browser, timezone_id=TZ)
        await admin.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
        await admin.goto(site + "/console?token=" + _token("Директор", "admin", "a1"))
        await admin.locator("#event-title").fill("Геометрия 7В")
        await admin.locator("#event-start").fill("2031-05-20T12:00")
        await admin.get_by_role("button", name="Создать событие").click()
        await admin.locator("#schedule-list li", has_text="Геометрия 7В").wait_for()
        section = admin.locator("#calendar")
        await expect(section).to_contain_text("Яндекс Календарь или Google Календарь")
        await expect(section).to_contain_text("войти по ней никуда нельзя")
        assert await _choices(admin) == ["school", "group"]  # an admin: the school or a class
        await admin.get_by_role("button", name="Получить ссылку").click()
        field = admin.get_by_label("Ссылка на ленту .ics")
        await expect(field).to_have_value(FEED_URL)
        url = await field.input_value()
        assert url.startswith(site + "/calendar/")
        await admin.get_by_role("button", name="Копировать ссылку").click()
        await expect(admin.locator("#cal-note")).to_contain_text("Скопировано")
        assert await admin.evaluate("navigator.clipboard.readText()") == url
        events = await _feed_events(url)
        assert events["Геометрия 7В"].timestamp() == _at("2031-05-20T12:00")
        # the feed's token reads the feed and nothing else
        token = url.split("/calendar/")[1].removesuffix(".ics")
        assert (await _get(f"{site}/api/rooms", {"Authorization": f"Bearer {token}"}))[0] == 401


async def test_admin_schedules_and_hosts_a_broadcast(site: str, browser: Browser) -> None:
    async with asyncio.timeout(120):
        token = _token("Директор", "admin", "a1")
        admin = await _page(browser, timezone_id=TZ, viewport={"width": 1280, "height": 900})
        await admin.goto(site + "/console?token=" + token)
        await admin.locator("#bc-title").fill("Линейка")
        await admin.get_by_label("Начало (пусто — сейчас)").fill("2031-09-01T08:30")
        await admin.get_by_role("button", name="Создать трансляцию").click()
        row = admin.locator("#bc-list li", has_text="Линейка")
        await expect(row).to_contain_text("Начало: 1 сентября 2031 г. в 08:30")  # local time
        room = await row.get_attribute("data-id") or ""
        assert await _scheduled(site, room) == _at("2031-09-01T08:30")
        # the question count follows the questions without a reload
        await expect(row).to_contain_text("Вопросы: 0")
        asker = {"Authorization": "Bearer " + _token("Ольга", "parent", "p1")}
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{site}/api/broadcasts/{room}/questions",
                json={"text": "Будет запись?"},
                headers=asker,
            ) as resp,
        ):
            assert resp.status == 201
        await expect(row).to_contain_text("Вопросы: 1", timeout=12_000)
        # «Вести вопросы»: the viewer page with the caller's token, in a new tab, as host
        moderate = row.get_by_role("link", name="Вести вопросы: Линейка")
        assert await moderate.get_attribute("href") == f"/b/{room}?token={token}"
        assert await moderate.get_attribute("target") == "_blank"
        async with admin.context.expect_page() as opened:
            await moderate.click()
        host = await opened.value
        await expect(host.locator("#qa-host")).to_be_visible(timeout=10_000)
        await expect(host.get_by_role("button", name="Скрыть вопрос от Ольга")).to_be_visible()
        await host.close()
        # a refusal is told in words next to the section, and nothing changes
        refusal = {"error": {"code": "not_allowed", "message": "no"}}
        await admin.route(f"**/api/rooms/{room}", lambda r: r.fulfill(status=403, json=refusal))
        await row.get_by_role("button", name="Убрать время: Линейка").click()
        await expect(admin.locator("#bc-message")).to_have_text(
            "Сервер не разрешил это действие для вашей роли."
        )
        await admin.unroute(f"**/api/rooms/{room}")
        assert await _scheduled(site, room) == _at("2031-09-01T08:30")
        # moved, then cleared (the room is open at once)
        await row.get_by_label("Новое начало: Линейка").fill("2031-09-01T09:15")
        await row.get_by_role("button", name="Изменить время: Линейка").click()
        await expect(row).to_contain_text("Начало: 1 сентября 2031 г. в 09:15")
        assert await _scheduled(site, room) == _at("2031-09-01T09:15")
        await row.get_by_role("button", name="Убрать время: Линейка").click()
        await expect(row).to_contain_text("без времени начала")
        assert await _scheduled(site, room) is None
        # an unscheduled one starts now: no time
        await admin.locator("#bc-title").fill("Открытый урок")
        await admin.get_by_label("Начало (пусто — сейчас)").fill("")
        await admin.get_by_role("button", name="Создать трансляцию").click()
        fresh = admin.locator("#bc-list li", has_text="Открытый урок")
        await expect(fresh).to_contain_text("без времени начала")
        assert await _scheduled(site, await fresh.get_attribute("data-id") or "") is None
        # one column that fits the screen, wide and narrow
        await admin.get_by_role("button", name="Получить ссылку").click()
        await admin.locator("#cal-result").wait_for()
        for width in (1280, 420):
            await admin.set_viewport_size({"width": width, "height": 900})
            assert await admin.evaluate("document.documentElement.scrollWidth") <= width
            lefts = await admin.locator("main > section:visible").evaluate_all(
                "ss => ss.map(s => Math.round(s.getBoundingClientRect().left))"
            )
            assert len(lefts) == 6 and len(set(lefts)) == 1, lefts  # stacked, one left edge
            shot = await screenshot(admin, f"console-{width}")
            await admin.screenshot(path=str(shot), full_page=True)  # the whole page, for a look
