"""A nine-tile lesson (eight protocol clients and a teacher in Chromium): admit all, hands with
times, search, mute all, accessible names everywhere; and the join page in English with errors."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from signaling import auth
from tests.web.conftest import LOW_CONTRAST_JS, SECRET, Bot, Server, new_page, screenshot

pytestmark = pytest.mark.browser

STUDENTS = [
    "Иван Сидоров", "Анна Смирнова", "Олег Денисов", "Мария Кузнецова",
    "Дмитрий Попов", "Елена Васильева", "Сергей Новиков", "Ольга Морозова",
]  # fmt: skip

UNNAMED = """() => [...document.querySelectorAll('button, input, select, textarea, [role=switch]')]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => {
    const label = el.getAttribute('aria-label') || (el.labels && el.labels[0]?.textContent)
      || el.textContent;
    return !label || !label.trim();
  }).map((el) => el.outerHTML.slice(0, 80))"""


async def test_nine_tiles_and_host_panel(server: Server, browser: Browser) -> None:
    room = await server.create_room()
    _, teacher = await new_page(browser)
    await teacher.goto(server.link(room, "Мария Ивановна Петрова", "teacher"))
    await teacher.get_by_role("button", name="Войти", exact=True).click()
    await teacher.get_by_role("button", name="Участники", exact=True).click()
    bots = [await Bot.join(server, room, name) for name in STUDENTS]
    await expect(teacher.get_by_role("heading", name="Зал ожидания (8)")).to_be_visible()
    await teacher.get_by_role("button", name="Впустить всех").click()
    for bot in bots:
        await bot.admitted()
    await bots[1].request("set_media", source="mic", enabled=True)
    await bots[4].request("set_media", source="mic", enabled=True)
    await bots[2].request("raise_hand")

    grid = teacher.get_by_role("list", name="Участники на экране")
    await expect(grid.get_by_role("listitem")).to_have_count(9)
    await expect(grid.get_by_role("listitem", name=re.compile("^Олег Денисов,"))).to_have_attribute(
        "aria-label", re.compile("рука поднята")
    )
    hands = teacher.get_by_role("region", name="Поднятые руки (1)")
    await expect(hands.get_by_role("listitem")).to_have_text(
        re.compile(r"1\.Олег Денисов\d\d:\d\d")
    )
    assert await teacher.evaluate(UNNAMED) == []
    assert await teacher.evaluate(LOW_CONTRAST_JS) == []
    await screenshot(teacher, "host-panel")
    await teacher.get_by_role("button", name="Закрыть панель").click()
    await expect(grid.get_by_role("listitem")).to_have_count(9)
    await teacher.evaluate("document.getElementById('toasts').replaceChildren()")  # a clear view
    await screenshot(teacher, "lesson-9-tiles")

    await search_and_mute_all(teacher)
    for bot in bots:
        await bot.close()


async def search_and_mute_all(teacher: Page) -> None:
    await teacher.keyboard.press("p")  # shortcut: the participants panel
    people = teacher.get_by_role("list", name="Участники (9)")
    await teacher.get_by_role("searchbox", name="Поиск участников").fill("ова")
    visible = people.get_by_role("listitem")  # rows that do not match are hidden
    await expect(visible).to_have_count(4)  # Петрова, Смирнова, Кузнецова, Морозова
    await expect(people.get_by_role("listitem").filter(has_text="Сидоров")).to_have_count(0)
    await teacher.get_by_role("searchbox", name="Поиск участников").fill("")
    await expect(visible).to_have_count(9)
    anna = people.get_by_role("listitem").filter(has_text="Анна Смирнова")
    await expect(anna.get_by_role("img", name="микрофон включён")).to_be_visible()
    await teacher.get_by_role("button", name="Выключить микрофоны у всех").click()
    await expect(anna.get_by_role("img", name="микрофон выключен")).to_be_visible()
    await teacher.get_by_role("button", name="Опустить все руки").click()
    await expect(teacher.get_by_role("region", name=re.compile("Поднятые руки"))).to_be_hidden()
    # Shortcuts can be turned off: "p" then does nothing.
    keys = teacher.get_by_role("checkbox", name="Горячие клавиши")
    people_button = teacher.get_by_role("button", name="Участники", exact=True)
    await keys.uncheck()
    await teacher.evaluate("document.activeElement.blur()")
    await teacher.keyboard.press("p")
    await expect(people_button).to_have_attribute("aria-pressed", "true")
    await keys.check()
    await teacher.evaluate("document.activeElement.blur()")
    await teacher.keyboard.press("p")  # on again: the panel closes
    await expect(people_button).to_have_attribute("aria-pressed", "false")


async def test_english_join_page_and_errors(server: Server, browser: Browser) -> None:
    room = await server.create_room(guests_allowed=False)
    _, page = await new_page(browser, locale="en-US")
    await page.goto(f"{server.url}/")  # the start page: a code leads to the room
    await page.get_by_label("Code or link").fill(f"  {room} ")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="Join the lesson")).to_be_visible()
    assert page.url == server.link(room)
    await expect(page.get_by_label("Your first and last name")).to_be_focused()
    await expect(page.get_by_role("alert")).to_have_text(re.compile("invited people only"))
    assert await page.evaluate(LOW_CONTRAST_JS) == []
    # The check itself finds grey on dark (a probe added and removed by the test).
    await page.evaluate(
        "() => { const p = document.createElement('p'); p.id = 'probe'; p.textContent = 'x';"
        " p.style.color = '#555'; document.querySelector('main').append(p); }"
    )
    assert len(await page.evaluate(LOW_CONTRAST_JS)) == 1
    await page.evaluate("() => document.getElementById('probe').remove()")
    # Keyboard: the name field has focus; Tab walks the form in reading order.
    order = []
    for _ in range(5):
        await page.keyboard.press("Tab")
        order.append(await page.evaluate("document.activeElement.id"))
    assert order == ["cam-select", "mic-select", "join-mic-on", "join-cam-on", "join-button"]
    await page.get_by_label("Your first and last name").fill("Guest")
    await page.get_by_role("button", name="Join", exact=True).click()
    await expect(page.get_by_role("alert")).to_have_text(re.compile("invited people only"))

    await page.get_by_role("combobox", name="Language").select_option("ru")
    await expect(page.get_by_role("heading", name="Вход на урок")).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_text(re.compile("только по приглашению"))
    expired = auth.mint(
        SECRET, user_id="s1", name="Иван", role="student", room=room, ttl_s=-10, now=None
    )
    await page.goto(f"{server.url}/r/{room}?token={expired}")  # the choice of Russian is kept
    await page.get_by_role("button", name="Войти", exact=True).click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Срок действия ссылки истёк. Попросите новую ссылку."
    )
    same_keys = await page.evaluate(
        """async () => {
          const ru = (await import('/static/i18n/ru.js')).default;
          const en = (await import('/static/i18n/en.js')).default;
          return JSON.stringify(Object.keys(ru).sort()) === JSON.stringify(Object.keys(en).sort());
        }"""
    )
    assert same_keys
