"""Host controls that change who is in the room: lock, co-hosts, remove, ban, end for everyone;
and pages of the grid once the room outgrows one page."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.web.conftest import Bot, Server, new_page

pytestmark = pytest.mark.browser


async def enter(page: Page, link: str) -> None:
    await page.goto(link)
    await page.get_by_role("button", name="Войти", exact=True).click()
    await expect(page.get_by_role("button", name="Поднять руку")).to_be_visible()


async def act(teacher: Page, name: str, action: str) -> None:
    await teacher.get_by_role("button", name=f"Действия: {name}").click()
    await teacher.get_by_role("menuitem", name=action).click()


async def test_host_controls(server: Server, browser: Browser) -> None:
    room = await server.create_room(waiting_room=False)
    _, teacher = await new_page(browser)
    _, anna = await new_page(browser)
    await enter(teacher, server.link(room, "Мария Ивановна Петрова", "teacher"))
    await enter(anna, server.link(room, "Анна Смирнова"))
    bots = [await Bot.join(server, room, f"Ученик {n:02d}") for n in range(1, 10)]

    # Eleven people: the grid pages.
    pager = anna.get_by_role("navigation", name="Страницы участников")
    await expect(pager.get_by_text("Страница 1 из 2")).to_be_visible()
    await pager.get_by_role("button", name="Следующая страница").click()
    await expect(
        anna.get_by_role("list", name="Участники на экране").get_by_role("listitem")
    ).to_have_count(2)

    await teacher.get_by_role("button", name="Участники", exact=True).click()
    await teacher.get_by_role("switch", name="Закрыть вход").check()
    assert await Bot.refused(server, room, "Опоздавший") == "room_locked"

    # Recording: everyone sees the mark; a recorder problem reaches the host and ends it.
    await teacher.get_by_role("button", name="Записывать звонок").click()
    await expect(anna.get_by_text("Идёт запись")).to_be_visible()
    await expect(teacher.get_by_role("button", name="Записывать звонок")).to_have_attribute(
        "aria-pressed", "true"
    )
    server.recorder.fail(room, "disk_full", "no space left on the recordings disk")
    await expect(
        teacher.get_by_text("Запись остановлена: на сервере закончилось место.")
    ).to_be_visible()
    await expect(anna.get_by_text("Идёт запись")).to_be_hidden()

    # A co-host gets the host's controls; demoted, loses them.
    await act(teacher, "Анна Смирнова", "Сделать соведущим")
    await anna.get_by_role("button", name="Участники", exact=True).click()
    await expect(anna.get_by_role("button", name="Выключить микрофоны у всех")).to_be_visible()
    await expect(anna.get_by_role("button", name="Действия: Ученик 01")).to_be_visible()
    await expect(anna.get_by_role("button", name="Завершить для всех")).to_be_hidden()  # host only
    await act(teacher, "Анна Смирнова", "Снять права соведущего")
    await expect(anna.get_by_role("button", name="Выключить микрофоны у всех")).to_be_hidden()

    # The host role goes to Анна and comes back.
    await act(teacher, "Анна Смирнова", "Сделать ведущим")
    await teacher.get_by_role("alertdialog").get_by_role("button", name="Сделать ведущим").click()
    await expect(anna.get_by_role("button", name="Завершить для всех")).to_be_visible()
    await expect(teacher.get_by_role("button", name="Завершить для всех")).to_be_hidden()
    await act(anna, "Мария Ивановна Петрова", "Сделать ведущим")
    await anna.get_by_role("alertdialog").get_by_role("button", name="Сделать ведущим").click()
    await expect(teacher.get_by_role("button", name="Завершить для всех")).to_be_visible()

    # Remove one, ban another (confirmed in the prompt), end for everyone.
    people = teacher.get_by_role("heading", name=re.compile(r"^Участники \("))
    await expect(people).to_have_text("Участники (11)")
    await act(teacher, "Ученик 01", "Удалить из звонка")
    await teacher.get_by_role("alertdialog").get_by_role("button", name="Удалить из звонка").click()
    await expect(people).to_have_text("Участники (10)")
    await act(teacher, "Анна Смирнова", "Заблокировать")
    await teacher.get_by_role("alertdialog").get_by_role("button", name="Заблокировать").click()
    await expect(anna.get_by_role("heading", name="Вы заблокированы")).to_be_visible()
    await anna.get_by_role("button", name="Войти снова").click()
    await anna.get_by_role("button", name="Войти", exact=True).click()
    await expect(anna.get_by_role("alert")).to_have_text("Ведущий заблокировал вас в этом звонке.")

    await teacher.get_by_role("button", name="Завершить для всех").click()
    await (
        teacher.get_by_role("alertdialog").get_by_role("button", name="Завершить для всех").click()
    )
    await expect(teacher.get_by_role("heading", name="Звонок завершён")).to_be_visible()
    for bot in bots:
        await bot.close()
