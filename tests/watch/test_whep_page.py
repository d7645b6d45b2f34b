"""Low-latency viewing on the viewer page in real Chromium: the page switches from HLS to WHEP
(the SFU sends the stage straight to the browser), plays it, and switches back, ending its
session on the server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from aiortc import RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack
from playwright.async_api import Browser, expect

from sfu import aiortc_hook
from sfu.server import SFU
from signaling import auth
from signaling.app import create_app
from signaling.config import Settings
from signaling.state import MemoryStore
from tests.integration.test_whep import ToneTrack

SECRET = "whep-page-secret-0123456789abcdef012345"
pytestmark = pytest.mark.browser


async def test_the_viewer_page_plays_the_stage_with_low_latency(
    tmp_path: Path, browser: Browser
) -> None:
    settings = Settings(data_dir=tmp_path, secret=SECRET, api_keys=("k",), renditions=("180p",))
    sfu = SFU(ice_addresses=("127.0.0.1",))
    server = TestServer(create_app(settings, media=sfu, store=MemoryStore()), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    publisher = aiortc_hook.loopback_peer()
    try:
        async with aiohttp.ClientSession() as http:
            body: dict[str, Any] = {"title": "Линейка", "kind": "broadcast", "id": "fast1"}
            body["settings"] = {"waiting_room": False}
            headers = {"Authorization": "Bearer k"}
            async with http.post(base + "/api/rooms", json=body, headers=headers) as resp:
                assert resp.status == 201
            publisher.addTransceiver(ToneTrack(), direction="sendonly")
            publisher.addTransceiver(VideoStreamTrack(), direction="sendonly")
            with aiortc_hook.loopback_candidates():
                await publisher.setLocalDescription(await publisher.createOffer())
            token = auth.mint(SECRET, user_id="hall", name="Зал", role="admin", room="fast1")
            async with http.post(
                base + "/whip/fast1",
                data=publisher.localDescription.sdp,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
            ) as resp:
                assert resp.status == 201
                answer = await resp.text()
            await publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))

            page = await (await browser.new_context(locale="ru-RU")).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base + "/b/fast1")
            await page.get_by_text("В эфире").wait_for(timeout=20_000)
            button = page.get_by_role("button", name="Смотреть без задержки (WebRTC)")
            await button.click()
            await expect(button).to_have_attribute("aria-pressed", "true")
            # the stage's own picture (aiortc's 640 × 480 test frames), playing
            await page.wait_for_function(
                "() => { const v = document.getElementById('watch-video');"
                " return v.srcObject && v.videoWidth === 640 && v.currentTime > 1; }",
                timeout=20_000,
            )
            room = sfu.rooms["fast1"]
            viewers = [p for p in room.participants.values() if p.viewer]
            assert len(viewers) == 1

            await button.click()  # back to HLS: the WHEP session ends on the server
            await expect(button).to_have_attribute("aria-pressed", "false")
            for _ in range(50):
                if not any(p.viewer for p in room.participants.values()):
                    break
                await asyncio.sleep(0.1)
            assert not any(p.viewer for p in room.participants.values())
            assert await page.evaluate("document.getElementById('watch-video').srcObject") is None
            assert errors == []
    finally:
        await publisher.close()
        await server.close()
