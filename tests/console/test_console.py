"""The school console in real Chromium: one-click call with a QR code, the schedule in order,
invite links that work once and then say so in the user's language, revocation, and a teacher
who sees only their own rooms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright

from signaling import auth
from signaling.app import create_app
from signaling.config import Settings
from signaling.state import MemoryStore
from tests.conftest import free_port
from tests.web.conftest import CHROMIUM_ARGS, screenshot

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


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def _page(browser: Browser, locale: str = "ru-RU") -> Page:
    page = await (await browser.new_context(locale=locale)).new_page()
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
