"""The viewer page in real Chromium: hls.js plays a live broadcast without stalling, and after
the end the same link replays the recording from the start with seeking."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Response, async_playwright

from sfu.server import SFU
from signaling import auth
from signaling.app import create_app
from signaling.config import Settings
from signaling.state import MemoryStore
from tests.conftest import CHROMIUM_ARGS
from tests.integration.test_whip_ffmpeg import _p256_cert
from tests.web.conftest import screenshot

REPO = Path(__file__).resolve().parents[2]
SECRET = "watch-secret-0123456789abcdef012345678"
pytestmark = pytest.mark.browser


async def _current(page: Page) -> float:
    return float(await page.evaluate("document.getElementById('watch-video').currentTime"))


async def test_live_then_replay_in_chromium(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret=SECRET, api_keys=("k",), renditions=("180p",))
    sfu = SFU(ice_addresses=("127.0.0.1",))
    server = TestServer(create_app(settings, media=sfu, store=MemoryStore()), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    publisher = None
    try:
        import aiohttp

        async with aiohttp.ClientSession(headers={"Authorization": "Bearer k"}) as http:
            body: dict[str, Any] = {"title": "Линейка <b>1 сентября</b>", "kind": "broadcast"}
            body |= {"id": "line1", "settings": {"waiting_room": False}}
            async with http.post(base + "/api/rooms", json=body) as resp:
                assert resp.status == 201
            token = auth.mint(SECRET, user_id="obs", name="Зал", role="admin", room="line1")
            cert, key = _p256_cert(tmp_path)
            publisher = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "tests.integration.whip_client", base + "/whip/line1"),
                *(token, str(cert), str(key), "40"),
                cwd=REPO,
            )
            async with async_playwright() as pw:
                chromium = await pw.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                page = await (await chromium.new_context(locale="ru-RU")).new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                skips: list[int] = []  # SKIPPED-SEGMENTS of the delta updates hls.js received

                async def on_response(response: Response) -> None:
                    if "_HLS_skip=YES" in response.url and response.ok:
                        with contextlib.suppress(PlaywrightError):  # the page went on
                            found = re.search(r"SKIPPED-SEGMENTS=(\d+)", await response.text())
                            skips.append(int(found.group(1)) if found else 0)

                page.on("response", on_response)
                await page.goto(base + "/b/line1")
                await page.get_by_text("В эфире").wait_for(timeout=20_000)
                assert (
                    await page.locator("#watch-title").text_content() == "Линейка <b>1 сентября</b>"
                )
                assert await page.get_by_text("Зрителей: 1").count() == 1
                video = page.get_by_label("Видео трансляции")
                assert await video.count() == 1
                for _ in range(100):  # playback starts
                    if await _current(page) > 0.5:
                        break
                    await asyncio.sleep(0.2)
                samples = []
                for _ in range(20):  # 20 s of playing: time advances every second, no stall
                    samples.append(await _current(page))
                    await asyncio.sleep(1.0)
                steps = [b - a for a, b in itertools.pairwise(samples)]
                assert min(steps) > 0.3, steps
                assert samples[-1] - samples[0] > 15, samples
                # hls.js asked for delta updates and got some that left segments out, and
                # played on without a stall (above)
                assert skips and max(skips) > 0, skips
                # Q&A: a guest cannot post; a registered viewer asks; the host sees it; HTML is text
                assert await page.get_by_text(
                    "Задавать вопросы могут только зарегистрированные зрители."
                ).is_visible()
                assert await page.locator("#qa-form").is_hidden()
                parent = auth.mint(SECRET, user_id="p1", name="Ольга", role="parent")
                viewer = await (await chromium.new_context(locale="ru-RU")).new_page()
                await viewer.goto(base + f"/b/line1?token={parent}")
                await viewer.get_by_label("Ваш вопрос или комментарий").fill(
                    "<img src=x onerror=alert(1)>Когда каникулы?"
                )
                await viewer.get_by_role("button", name="Отправить").click()
                async with http.get(base + "/api/broadcasts/line1/questions") as resp:
                    seen = (await resp.json())["questions"]
                for _ in range(20):
                    if seen:
                        break
                    await asyncio.sleep(0.25)
                    async with http.get(base + "/api/broadcasts/line1/questions") as resp:
                        seen = (await resp.json())["questions"]
                assert [q["name"] for q in seen] == ["Ольга"]
                await page.get_by_text(
                    "<img src=x onerror=alert(1)>Когда каникулы?", exact=False
                ).wait_for()
                assert await page.locator("#qa-list img").count() == 0
                await screenshot(page, "broadcast-live")
                publisher.kill()
                await publisher.wait()
                async with http.post(base + "/api/rooms/line1/end") as resp:
                    assert resp.status == 200
                # the same link, after the end: the recording from the start, seekable
                await page.reload()
                await page.get_by_text("Трансляция завершена — запись").wait_for(timeout=20_000)
                duration = 0.0
                for _ in range(100):
                    duration = float(
                        await page.evaluate("document.getElementById('watch-video').duration || 0")
                    )
                    if duration > 10 and await _current(page) > 0:
                        break
                    await asyncio.sleep(0.2)
                assert duration > 20, duration
                assert await _current(page) < 5, "replay starts at the beginning"
                await page.evaluate(
                    f"document.getElementById('watch-video').currentTime = {duration / 2}"
                )
                await asyncio.sleep(3)
                after = await _current(page)
                assert duration / 2 <= after <= duration / 2 + 6, (after, duration)
                await screenshot(page, "broadcast-replay")
                # the library page lists it, with a picture, playback and a working MP4 link
                await page.goto(base + "/library?token=k")
                item = page.locator("#library-list li")
                await item.first.wait_for()
                assert await item.count() == 1
                assert "Линейка <b>1 сентября</b>" in (await item.first.text_content() or "")
                thumb = page.get_by_alt_text("Кадр из записи «Линейка <b>1 сентября</b>»")
                await page.wait_for_function(
                    "document.querySelector('#library-list img').naturalWidth > 0"
                )
                assert await thumb.count() == 1
                link = page.get_by_label("Скачать MP4: Линейка <b>1 сентября</b>")
                href = await link.get_attribute("href")
                assert href is not None
                mp4 = await page.request.get(base + href)
                assert mp4.status == 200 and (await mp4.body())[4:8] == b"ftyp"
                await page.get_by_label("Смотреть: Линейка <b>1 сентября</b>").click()
                await page.wait_for_function(
                    "document.getElementById('library-player').currentTime > 1", timeout=15_000
                )
                await screenshot(page, "library")
                assert errors == []
                await chromium.close()
    finally:
        if publisher is not None and publisher.returncode is None:
            publisher.kill()
            await publisher.wait()
        await server.close()
        await sfu.close()
