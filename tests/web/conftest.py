"""The real server on a loopback port and real Chromium (Debian package) driven by Playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from signaling import auth
from signaling.app import create_app
from signaling.config import Settings

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "screenshots"
SECRET = "web-test-secret-0123456789abcdef01234567"
API_KEY = "web-test-api-key"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


@dataclass
class Server:
    """A running urok: its base URL, REST helpers and token minting."""

    url: str
    http: aiohttp.ClientSession

    async def create_room(self, title: str = "Урок математики", **settings: Any) -> str:
        body = {"title": title, "org": "school1", "settings": settings}
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with self.http.post(f"{self.url}/api/rooms", json=body, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["id"])

    def token(self, name: str, role: auth.Role, room: str) -> str:
        return auth.mint(
            SECRET, user_id=f"{role}:{name}", name=name, role=role, org="school1", room=room
        )

    def link(self, room: str, name: str | None = None, role: auth.Role = "student") -> str:
        if name is None:
            return f"{self.url}/r/{room}"
        return f"{self.url}/r/{room}?token={self.token(name, role, room)}"


def settings_for(tmp: Path) -> Settings:
    return Settings(
        data_dir=tmp, secret=SECRET, api_keys=(API_KEY,), state="memory", reconnect_grace_s=30.0
    )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    app = create_app(settings_for(tmp_path))
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    async with aiohttp.ClientSession() as http:
        yield Server(url=str(test_server.make_url("")).rstrip("/"), http=http)
    await test_server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def new_page(browser: Browser, locale: str = "ru-RU") -> tuple[BrowserContext, Page]:
    """A fresh context (own storage, own profile state) with one page."""
    context = await browser.new_context(
        locale=locale, viewport={"width": 1280, "height": 800}, permissions=["camera", "microphone"]
    )
    page = await context.new_page()
    page.set_default_timeout(10_000)
    return context, page


async def screenshot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path
