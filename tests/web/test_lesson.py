"""The issue's lesson, end to end: a teacher and three students in real Chromium, real server.

Everything is found by accessible names (the Russian catalogue), as a screen reader would.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.async_api import Browser, Page, expect

from tests.web.conftest import LOW_CONTRAST_JS, Server, new_page, screenshot

pytestmark = pytest.mark.browser

TEACHER = "Мария Ивановна Петрова"
HTML_TEXT = '<img src=x onerror="window.pwned=1"><b>жирный</b> <script>window.pwned=2</script>'


async def join(page: Page, link: str, guest_name: str | None = None) -> None:
    await page.goto(link)
    if guest_name is not None:
        await page.get_by_label("Ваше имя и фамилия").fill(guest_name)
    await page.get_by_role("button", name="Войти", exact=True).click()


async def test_lesson(server: Server, browser: Browser) -> None:
    room = await server.create_room(guests_allowed=True, participants_may_unmute=True)
    _, teacher = await new_page(browser)
    await join(teacher, server.link(room, TEACHER, "teacher"))
    await expect(teacher.get_by_role("toolbar", name="Управление звонком")).to_be_visible()
    await teacher.get_by_role("button", name="Участники", exact=True).click()

    # Three students knock: two registered, one guest; all wait.
    _, ivan = await new_page(browser)
    _, oleg = await new_page(browser)
    _, guest = await new_page(browser)
    await ivan.goto(server.link(room, "Иван Сидоров"))
    await expect(ivan.get_by_text("Вы входите как Иван Сидоров")).to_be_visible()
    mic_on = ivan.get_by_label("Войти с включённым микрофоном")
    await expect(mic_on).not_to_be_checked()  # students come in muted by default
    await ivan.get_by_role("button", name="Войти", exact=True).click()
    await join(oleg, server.link(room, "Олег Денисов"))
    await guest.goto(server.link(room))
    await expect(guest.get_by_label("Ваше имя и фамилия")).to_be_visible()
    await screenshot(guest, "join-page")
    await guest.get_by_label("Ваше имя и фамилия").fill("Пётр Гость")
    await guest.get_by_role("button", name="Войти", exact=True).click()
    for page in (ivan, oleg, guest):
        await expect(page.get_by_role("heading", name="Вы в зале ожидания…")).to_be_visible()
    await expect(guest.get_by_role("button", name="Выйти")).to_be_visible()
    await screenshot(ivan, "waiting-room")

    # The teacher sees the queue (with the knock cue) and admits two, denies one.
    await expect(teacher.get_by_role("heading", name="Зал ожидания (3)")).to_be_visible()
    knock = teacher.get_by_text("В зале ожидания ждут: 3. Последний — Пётр Гость")
    await expect(knock).to_be_visible()
    await teacher.get_by_role("button", name="Впустить: Иван Сидоров").click()
    await teacher.get_by_role("button", name="Впустить: Пётр Гость").click()
    await teacher.get_by_role("button", name="Отклонить: Олег Денисов").click()
    await expect(oleg.get_by_role("heading", name="Вас не впустили")).to_be_visible()
    for page in (ivan, guest):
        await expect(page.get_by_role("button", name="Поднять руку")).to_be_visible()
    await expect(teacher.get_by_role("heading", name="Участники (3)")).to_be_visible()
    await expect(teacher.get_by_role("heading", name=re.compile("Зал ожидания"))).to_be_hidden()
    # The denied student knocks again, then leaves the waiting room.
    await oleg.get_by_role("button", name="Войти снова").click()
    await oleg.get_by_role("button", name="Войти", exact=True).click()
    await expect(teacher.get_by_role("heading", name="Зал ожидания (1)")).to_be_visible()
    await oleg.get_by_role("button", name="Выйти").click()
    await expect(oleg.get_by_role("heading", name="Вы вышли из звонка")).to_be_visible()
    await expect(teacher.get_by_role("heading", name=re.compile("Зал ожидания"))).to_be_hidden()

    await hands(teacher, ivan)
    await mute_under_moderation(teacher, ivan)
    await chat(teacher, ivan, guest)
    await screen_share(teacher, ivan)
    await reload_returns(teacher, ivan)
    await ivan.get_by_role("button", name="Чат", exact=True).click()  # history comes with welcome
    await expect(ivan.get_by_role("log").get_by_text("Домашнее задание: §12")).to_be_visible()
    await reload_returns(teacher, guest)  # a guest has no user id: only the resume key helps
    await network_loss(server, teacher, ivan)
    await guest.get_by_role("button", name="Выйти").click()
    await expect(guest.get_by_role("heading", name="Вы вышли из звонка")).to_be_visible()
    await expect(teacher.get_by_role("heading", name="Участники (2)")).to_be_visible()


async def hands(teacher: Page, ivan: Page) -> None:
    """A student raises a hand and sees their place; the teacher lowers it."""
    hand = ivan.get_by_role("button", name="Поднять руку")
    await hand.click()
    await expect(hand).to_have_attribute("aria-pressed", "true")
    await expect(ivan.get_by_text("Ваше место в очереди: 1")).to_be_visible()
    await expect(teacher.get_by_role("heading", name="Поднятые руки (1)")).to_be_visible()
    await expect(teacher.get_by_text("Иван Сидоров: рука поднята")).to_be_visible()
    tile = teacher.get_by_role("listitem", name=re.compile(r"^Иван Сидоров,"))
    await expect(tile).to_have_attribute("aria-label", re.compile("рука поднята"))
    await teacher.get_by_role("button", name="Опустить руку: Иван Сидоров").click()
    await expect(hand).to_have_attribute("aria-pressed", "false")
    await expect(ivan.get_by_text("Вашу руку опустили.")).to_be_visible()
    await expect(ivan.get_by_text("Ваше место в очереди")).to_be_hidden()
    await expect(teacher.get_by_role("heading", name=re.compile("Поднятые руки"))).to_be_hidden()


async def mute_under_moderation(teacher: Page, ivan: Page) -> None:
    """The teacher mutes a student; under A/V moderation the student cannot unmute."""
    mic = ivan.get_by_role("button", name="Микрофон")
    await mic.click()
    await expect(mic).to_have_attribute("aria-pressed", "true")
    tile = teacher.get_by_role("listitem", name=re.compile(r"^Иван Сидоров,"))
    await expect(tile).to_have_attribute("aria-label", re.compile("микрофон включён"))

    await teacher.get_by_role("switch", name="Участники могут включать микрофон").uncheck()
    await teacher.get_by_role("button", name="Действия: Иван Сидоров").click()
    await teacher.get_by_role("menuitem", name="Выключить микрофон").click()
    await expect(tile).to_have_attribute("aria-label", re.compile("микрофон выключен"))
    own_tile = ivan.get_by_role("listitem", name=re.compile(r"^Иван Сидоров \(вы\),"))
    await expect(own_tile).to_have_attribute("aria-label", re.compile("микрофон выключен"))
    await expect(mic).to_have_attribute("aria-pressed", "false")
    await expect(mic).to_have_attribute("aria-disabled", "true")
    assert await ivan.evaluate(LOW_CONTRAST_JS) == []
    assert not await ivan.evaluate("window.urok.client.media.local.getAudioTracks()[0].enabled")

    await ivan.keyboard.press("m")  # the shortcut; refused by the server: stays muted, says why
    await expect(ivan.get_by_text("пока не разрешает включать")).to_be_visible()
    await expect(mic).to_have_attribute("aria-pressed", "false")
    await expect(tile).to_have_attribute("aria-label", re.compile("микрофон выключен"))

    # Asked to unmute, the student may, despite moderation.
    await teacher.get_by_role("button", name="Действия: Иван Сидоров").click()
    await teacher.get_by_role("menuitem", name="Попросить включить микрофон").click()
    prompt = ivan.get_by_role("alertdialog", name=f"{TEACHER} просит вас включить микрофон.")
    await prompt.get_by_role("button", name="Включить", exact=True).click()
    await expect(mic).to_have_attribute("aria-pressed", "true")
    await expect(tile).to_have_attribute("aria-label", re.compile("микрофон включён"))


async def chat(teacher: Page, ivan: Page, guest: Page) -> None:
    """A registered student's message reaches everyone, as text; a guest cannot post."""
    await ivan.get_by_role("button", name="Чат", exact=True).click()
    text = f"{HTML_TEXT} см. https://example.org/x?a=1"
    await ivan.get_by_role("textbox", name="Сообщение").fill(text)
    await ivan.get_by_role("button", name="Отправить").click()
    for page in (teacher, ivan, guest):
        if page is not ivan:
            await page.get_by_role("button", name="Чат", exact=True).click()
        log = page.get_by_role("log", name="Сообщения чата")
        await expect(log.get_by_text("<b>жирный</b>", exact=False)).to_be_visible()
        assert await log.locator("b, img, script").count() == 0
        link = log.get_by_role("link", name="https://example.org/x?a=1")
        await expect(link).to_have_attribute("href", "https://example.org/x?a=1")
        assert await page.evaluate("window.pwned === undefined")
    await expect(guest.get_by_text("Писать в чат могут только зарегистрированные")).to_be_visible()
    assert await guest.get_by_role("textbox", name="Сообщение").count() == 0

    # The host pins, then deletes the message for everyone.
    await teacher.get_by_role("button", name="Закрепить сообщение от Иван Сидоров").click()
    await expect(guest.get_by_text("Закреплённое сообщение")).to_be_visible()
    await teacher.get_by_role("button", name="Удалить сообщение от Иван Сидоров").click()
    await expect(guest.get_by_role("log").get_by_text("жирный", exact=False)).to_have_count(0)
    await expect(guest.get_by_text("Закреплённое сообщение")).to_be_hidden()
    await teacher.get_by_role("textbox", name="Сообщение").fill("Домашнее задание: §12")
    await teacher.keyboard.press("Enter")  # Enter sends
    await expect(guest.get_by_role("log").get_by_text("Домашнее задание: §12")).to_be_visible()


async def screen_share(teacher: Page, ivan: Page) -> None:
    """The teacher's screen share becomes the main picture for a student."""
    await teacher.get_by_role("button", name="Демонстрация экрана").click()
    main = ivan.get_by_role("region", name=f"{TEACHER}: демонстрация экрана")
    await expect(main).to_be_visible()
    # The picture is the shared screen itself (1280x720 from Chromium's fake capture).
    await ivan.wait_for_function(
        "() => { const v = document.querySelector('#main-view video');"
        " return v && v.videoWidth === 1280 && v.currentTime > 0.2; }"
    )
    await ivan.evaluate("document.getElementById('toasts').replaceChildren()")  # a clear view
    await screenshot(ivan, "screen-share")
    await teacher.get_by_role("button", name="Демонстрация экрана").click()
    await expect(main).to_be_hidden()
    # The teacher's microphone (on by default for teachers) rings the tile while it beeps...
    speaking = ivan.locator("#grid .tile.speaking", has_text=TEACHER)
    await expect(speaking).to_have_count(1, timeout=10_000)
    # ...and plays through an audio element.
    assert await ivan.evaluate(
        "() => [...document.querySelectorAll('#remote-audio audio')]"
        ".some((a) => a.srcObject && a.srcObject.getAudioTracks()[0].readyState === 'live')"
    )


async def reload_returns(teacher: Page, student: Page) -> None:
    """A reload comes back within 30 s without the waiting room (the resume key)."""
    started = time.monotonic()
    await student.reload()
    await expect(student.get_by_role("button", name="Поднять руку")).to_be_visible(timeout=30_000)
    assert time.monotonic() - started < 30
    await expect(student.get_by_role("heading", name="Вы в зале ожидания…")).to_be_hidden()
    await teacher.get_by_role("tab", name="Чат").focus()
    await teacher.keyboard.press("ArrowLeft")  # the tab list follows the arrow keys
    await expect(teacher.get_by_role("tab", name="Участники")).to_be_focused()
    await expect(teacher.get_by_role("heading", name="Участники (3)")).to_be_visible()
    await expect(teacher.get_by_role("heading", name=re.compile("Зал ожидания"))).to_be_hidden()


async def network_loss(server: Server, teacher: Page, ivan: Page) -> None:
    """The network goes away: "reconnecting…" shows; when it is back, the lesson goes on,
    the teacher's screen share included."""
    await teacher.get_by_role("button", name="Демонстрация экрана").click()
    await expect(ivan.get_by_role("region", name=re.compile("демонстрация экрана"))).to_be_visible()
    # Muted by the teacher while participants may unmute: a reconnect must not unmute.
    await teacher.get_by_role("tab", name="Участники").click()
    await teacher.get_by_role("switch", name="Участники могут включать микрофон").check()
    await teacher.get_by_role("button", name="Действия: Иван Сидоров").click()
    await teacher.get_by_role("menuitem", name="Выключить микрофон").click()
    mic = ivan.get_by_role("button", name="Микрофон")
    await expect(mic).to_have_attribute("aria-pressed", "false")
    await ivan.context.set_offline(True)
    assert server.drop_connections() >= 3
    status = ivan.get_by_role("status").filter(has_text="Переподключение…")
    await expect(status).to_be_visible()
    await ivan.wait_for_timeout(1500)  # retries fail while offline: the state stays visible
    await expect(status).to_be_visible()
    await ivan.context.set_offline(False)
    await expect(status).to_be_hidden(timeout=15_000)
    await expect(ivan.get_by_role("button", name="Поднять руку")).to_be_visible()
    await expect(teacher.get_by_role("heading", name="Участники (3)")).to_be_visible()
    await ivan.get_by_role("button", name="Поднять руку").click()
    await expect(teacher.get_by_role("heading", name="Поднятые руки (1)")).to_be_visible()
    await expect(mic).to_have_attribute("aria-pressed", "false")
    tile = teacher.get_by_role("listitem", name=re.compile(r"^Иван Сидоров,"))
    await expect(tile).to_have_attribute("aria-label", re.compile("микрофон выключен"))
    await expect(ivan.get_by_role("region", name=re.compile("демонстрация экрана"))).to_be_visible()
    await ivan.wait_for_function(  # every voice plays from the new connection
        "() => { const live = [...window.urok.client.media.remote.values()];"
        " const els = [...document.querySelectorAll('#remote-audio audio')];"
        " return els.length > 0 && els.every((a) => live.includes(a.srcObject)); }"
    )
    await ivan.wait_for_function(  # a stream of the new connection, playing
        "() => { const v = document.querySelector('#main-view video');"
        " const fresh = [...window.urok.client.media.remote.values()].includes(v.srcObject);"
        " return fresh && v.videoWidth === 1280 && v.currentTime > 0.2; }",
        timeout=20_000,  # both reconnect, then ICE, DTLS and a key frame on a loaded machine
    )
