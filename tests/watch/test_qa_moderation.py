"""Q&A moderation on the viewer page in real Chromium: registered viewers ask; a host opening the
same page with a moderating link sees every question (hidden ones marked), answers, pins, hides
and shows again; another viewer sees the answer and the pin order, never the hidden question,
and has no controls; refusals (a forged link, a guest, an expired host link, no network) change
nothing and are told in words."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Locator, Page, Route, expect

from signaling import auth
from signaling.app import create_app
from signaling.config import Settings
from signaling.state import MemoryStore
from tests.web.conftest import LOW_CONTRAST_JS, screenshot

SECRET = "qa-secret-0123456789abcdef0123456789abc"
API = {"Authorization": "Bearer k"}
BID = "meeting1"
pytestmark = pytest.mark.browser

Q1 = "Во сколько начало?"
Q2 = "<b>Когда каникулы?</b>"
SPAM = "<img src=x onerror=alert(1)>Купите слона"
ANSWER = "С <i>25 мая</i>, подробности в дневнике."
CONTROLS = "#qa-list button, #qa-list input, #qa-list textarea, #qa-list select"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[str]:
    settings = Settings(data_dir=tmp_path, secret=SECRET, api_keys=("k",), media=False)
    server = TestServer(create_app(settings, store=MemoryStore()), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    body = {"id": BID, "title": "Родительское собрание", "kind": "broadcast", "org": "school1"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(base + "/api/rooms", json=body, headers=API) as resp,
    ):
        assert resp.status == 201, await resp.text()
    yield base
    await server.close()


def _token(name: str, role: auth.Role, **kw: Any) -> str:
    return auth.mint(SECRET, user_id=f"{role}:{name}", name=name, role=role, org="school1", **kw)


async def _open(browser: Browser, url: str, errors: list[str]) -> Page:
    page = await (await browser.new_context(locale="ru-RU")).new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    await page.goto(url)
    return page


async def _questions(base: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base}/api/broadcasts/{BID}/questions", headers=headers) as resp,
    ):
        return list((await resp.json())["questions"])


async def _ask(page: Page, text: str) -> None:
    await page.get_by_label("Ваш вопрос или комментарий").fill(text)
    await page.get_by_role("button", name="Отправить").click()
    await expect(_row(page, text)).to_have_count(1)


def _row(page: Page, text: str) -> Locator:
    return page.locator("#qa-list > li").filter(has_text=text)


async def _expect_viewer_list(page: Page, texts: list[str]) -> None:
    """What a viewer without rights sees: these questions in this order, and no controls."""
    await expect(page.locator("#qa-list > li")).to_have_count(len(texts), timeout=10_000)
    await expect(page.locator("#qa-list > li .qa-text")).to_contain_text(texts)
    assert await page.locator(CONTROLS).count() == 0
    assert await page.locator("#qa-host").is_hidden()


async def _patch_from(page: Page, qid: str, authorization: str | None) -> int:
    """A PATCH sent from the page itself, with the given Authorization header (or none)."""
    script = """async ([url, auth]) => {
      const headers = {"Content-Type": "application/json"};
      if (auth) headers.Authorization = auth;
      const body = JSON.stringify({hidden: false, pinned: true, answer: "взлом"});
      return (await fetch(url, {method: "PATCH", headers, body})).status;
    }"""
    url = f"/api/broadcasts/{BID}/questions/{qid}"
    return int(await page.evaluate(script, [url, authorization]))


async def test_host_moderates_questions_on_the_viewer_page(site: str, browser: Browser) -> None:
    errors: list[str] = []
    watch = f"{site}/b/{BID}"
    # registered viewers ask: Ольга twice, Пётр spams
    olga = await _open(browser, f"{watch}?token={_token('Ольга', 'parent')}", errors)
    await _ask(olga, Q1)
    await _ask(olga, Q2)
    petr = await _open(browser, f"{watch}?token={_token('Пётр', 'parent')}", errors)
    await _ask(petr, SPAM)
    assert await petr.locator("#qa-list img").count() == 0

    # the host opens the same page with a moderating link: every question, with controls
    host = await _open(browser, f"{watch}?token={_token('Завуч', 'teacher', room=BID)}", errors)
    await expect(host.locator("#qa-host")).to_be_visible()
    await expect(host.get_by_role("button", name="Скрыть вопрос от Пётр")).to_be_visible()
    assert await host.locator("#qa-list > li").count() == 3
    missing = "els => els.filter(e => !e.getAttribute('aria-label')).length"
    assert await host.locator(CONTROLS).evaluate_all(missing) == 0

    # answer Q2 (HTML in the answer stays text)
    q2 = _row(host, Q2)
    await q2.get_by_role("textbox", name="Ответ на вопрос от Ольга").fill(ANSWER)
    await q2.get_by_role("button", name="Отправить ответ на вопрос от Ольга").click()
    await expect(q2.locator(".qa-answer")).to_have_text(f"Ответ ведущего: {ANSWER}")
    assert await q2.get_by_role("textbox").input_value() == ""
    # pin Q2: it moves first, and the focus stays on its (now "unpin") button
    await q2.get_by_role("button", name="Закрепить вопрос от Ольга").click()
    await expect(host.locator("#qa-list > li").first).to_contain_text(Q2)
    unpin = q2.get_by_role("button", name="Открепить вопрос от Ольга")
    await expect(unpin).to_be_focused()
    # hide the spam: the host still sees it, marked
    spam = _row(host, "Купите слона")
    await spam.get_by_role("button", name="Скрыть вопрос от Пётр").click()
    await expect(spam.locator(".qa-marks")).to_contain_text("скрыт, зрители не видят")
    await expect(spam.get_by_role("button", name="Снова показать вопрос от Пётр")).to_be_visible()
    assert await host.locator("#qa-list > li").count() == 3
    assert await host.locator("#qa-list img, #qa-list b, #qa-list i").count() == 0
    assert await host.evaluate(LOW_CONTRAST_JS) == []
    await screenshot(host, "broadcast-qa-host")

    # a second viewer: the answer, the pin order, no hidden question, no controls
    maria = await _open(browser, f"{watch}?token={_token('Мария', 'parent')}", errors)
    await _expect_viewer_list(maria, [Q2, Q1])
    await expect(_row(maria, Q2).locator(".qa-answer")).to_have_text(f"Ответ ведущего: {ANSWER}")
    await expect(_row(maria, Q2).locator(".qa-marks")).to_have_text(
        re.compile(r"^\s*\(Закреплено\)$")
    )
    assert await maria.get_by_text("Купите слона").count() == 0
    guest = await _open(browser, watch, errors)
    await _expect_viewer_list(guest, [Q2, Q1])
    await _expect_viewer_list(olga, [Q2, Q1])  # the asker has no rights either
    await maria.locator("#qa-list").scroll_into_view_if_needed()
    await screenshot(maria, "broadcast-qa-viewer")

    # show again, then hide again; unpin restores the order of arrival
    await spam.get_by_role("button", name="Снова показать вопрос от Пётр").click()
    await _expect_viewer_list(maria, [Q2, Q1, "Купите слона"])
    await spam.get_by_role("button", name="Скрыть вопрос от Пётр").click()
    await unpin.click()
    await expect(q2.get_by_role("button", name="Закрепить вопрос от Ольга")).to_be_visible()
    await _expect_viewer_list(maria, [Q1, Q2])
    await q2.get_by_role("button", name="Закрепить вопрос от Ольга").click()
    await _expect_viewer_list(maria, [Q2, Q1])

    # forged and guest PATCHes from a viewer's page: 403, nothing changes
    before = await _questions(site, API)
    ids = {q["text"]: q["id"] for q in before}
    forged = "Bearer " + auth.mint(
        "not-the-server-secret-0123456789abcdef", user_id="x", name="X", role="admin"
    )
    maria_token = "Bearer " + _token("Мария", "parent")
    for authorization in (None, forged, maria_token, "Bearer k2"):
        assert await _patch_from(maria, ids[SPAM], authorization) == 403, authorization
    assert await _questions(site, API) == before

    # the host's page told of a refusal: the server refuses a forged link, nothing is saved
    async def forge(route: Route) -> None:
        headers = {**route.request.headers, "authorization": forged}
        await route.continue_(headers=headers)

    await host.route(f"**/api/broadcasts/{BID}/questions/*", forge)
    await _row(host, Q1).get_by_role("button", name="Скрыть вопрос от Ольга").click()
    await expect(host.locator("#qa-status")).to_have_text(
        "Управлять вопросами могут только ведущие трансляции. Изменение не сохранено."
    )
    q1_hide = _row(host, Q1).get_by_role("button", name="Скрыть вопрос от Ольга")
    await expect(q1_hide).not_to_have_attribute("aria-disabled", "true")
    await host.unroute(f"**/api/broadcasts/{BID}/questions/*")

    # ...and of a lost network
    async def cut(route: Route) -> None:
        await route.abort()

    await host.route(f"**/api/broadcasts/{BID}/questions/*", cut)
    q1_field = _row(host, Q1).get_by_role("textbox", name="Ответ на вопрос от Ольга")
    await q1_field.fill("В семь")
    await q1_field.press("Enter")
    await expect(host.locator("#qa-status")).to_have_text("Нет связи с сервером.")
    assert await q1_field.input_value() == "В семь"  # kept for another try
    await host.unroute(f"**/api/broadcasts/{BID}/questions/*")
    assert await _questions(site, API) == before
    await _expect_viewer_list(maria, [Q2, Q1])

    # English: the controls are relabelled without a request
    await host.select_option("#lang-select", "en")
    await expect(
        host.get_by_role("button", name="Show the question from Пётр again")
    ).to_be_visible()
    await expect(q2.locator(".qa-answer")).to_have_text(f"Host's answer: {ANSWER}")
    await host.select_option("#lang-select", "ru")
    assert errors == []


async def test_an_expired_host_link_loses_the_controls(site: str, browser: Browser) -> None:
    errors: list[str] = []
    olga = await _open(browser, f"{site}/b/{BID}?token={_token('Ольга', 'parent')}", errors)
    await _ask(olga, Q1)
    short = _token("Завуч", "teacher", room=BID, ttl_s=6)
    host = await _open(browser, f"{site}/b/{BID}?token={short}", errors)
    hide = host.get_by_role("button", name="Скрыть вопрос от Ольга")
    await expect(hide).to_be_visible()
    # once the link expires the server stops treating it as a host's: the controls go, with a word
    await expect(hide).to_have_count(0, timeout=15_000)
    await expect(host.locator("#qa-status")).to_have_text(
        "Ваша ссылка больше не даёт прав ведущего: управление вопросами недоступно."
    )
    await _expect_viewer_list(host, [Q1])
    questions = await _questions(site, API)
    assert [(q["hidden"], q["pinned"], q["answer"]) for q in questions] == [(False, False, None)]
    assert errors == []
