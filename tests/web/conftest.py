"""The real server on a loopback port and real Chromium (Debian package) driven by Playwright."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page

from sfu.server import SFU
from signaling import auth
from signaling.app import create_app
from signaling.config import Settings
from signaling.messages import frame_dicts
from signaling.recording import OnProblem, RecordingInfo

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "screenshots"
SECRET = "web-test-secret-0123456789abcdef01234567"
API_KEY = "web-test-api-key"


class Recorder:
    """A hand-written recorder: remembers what runs and can report a problem, as a full disk."""

    def __init__(self) -> None:
        self.running: dict[str, OnProblem] = {}
        self.layouts: dict[str, str] = {}

    async def start(self, info: RecordingInfo, on_problem: OnProblem) -> str:
        self.running[info.room_id] = on_problem
        return f"rec-{info.room_id}"

    async def stop(self, room_id: str) -> None:
        self.running.pop(room_id, None)

    def set_layout(self, room_id: str, layout: str) -> None:
        self.layouts[room_id] = layout

    async def close(self) -> None:
        self.running.clear()

    def fail(self, room_id: str, code: str, message: str) -> None:
        self.running.pop(room_id)(code, message)


@dataclass
class Server:
    """A running urok: its base URL, REST helpers and token minting."""

    url: str
    http: aiohttp.ClientSession
    app: web.Application
    recorder: Recorder

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

    def drop_connections(self) -> int:
        """Close every WebSocket from the server side, as a network change would."""
        from aiohttp import WSCloseCode

        from signaling.ws import HUB

        sessions = list(self.app[HUB].sessions)
        for session in sessions:
            session.close(WSCloseCode.GOING_AWAY, "test_drop")
        return len(sessions)

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
    """Signaling with the real SFU on loopback (the app closes the SFU on cleanup)."""
    recorder = Recorder()
    app = create_app(
        settings_for(tmp_path), media=SFU(ice_addresses=("127.0.0.1",)), recorder=recorder
    )
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    async with aiohttp.ClientSession() as http:
        url = str(test_server.make_url("")).rstrip("/")
        yield Server(url=url, http=http, app=app, recorder=recorder)
    await test_server.close()


PAGE_ERRORS: list[str] = []


@pytest.fixture(autouse=True)
def no_page_errors() -> Iterator[None]:
    """Every uncaught exception and console error in any page fails the test."""
    PAGE_ERRORS.clear()
    yield
    assert PAGE_ERRORS == []


def console_error(page: Page, kind: str, text: str) -> None:
    # A test that takes the network away provokes failed connections on purpose.
    if kind == "error" and "ERR_INTERNET_DISCONNECTED" not in text:
        PAGE_ERRORS.append(f"{page.url}: {text}")


async def new_page(browser: Browser, locale: str = "ru-RU") -> tuple[BrowserContext, Page]:
    """A fresh context (own storage, own profile state) with one page."""
    context = await browser.new_context(
        locale=locale, viewport={"width": 1280, "height": 800}, permissions=["camera", "microphone"]
    )
    page = await context.new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda exc: PAGE_ERRORS.append(f"{page.url}: {exc}"))
    page.on("console", lambda msg: console_error(page, msg.type, msg.text))
    return context, page


async def screenshot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


class Bot:
    """A lightweight participant: a protocol client over aiohttp, no browser, no media."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seq = 0
        self.frames: list[dict[str, Any]] = []
        self.me = ""
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def join(cls, server: Server, room: str, name: str, role: auth.Role = "student") -> Bot:
        bot = cls(await server.http.ws_connect(f"{server.url}/ws"))
        token = server.token(name, role, room)
        reply = await bot.request("join", room=room, version=1, token=token)
        bot.me = reply["you"]["id"]
        return bot

    @classmethod
    async def refused(cls, server: Server, room: str, name: str) -> str:
        """Try to join; returns the error code (fails if the join was accepted)."""
        bot = cls(await server.http.ws_connect(f"{server.url}/ws"))
        token = server.token(name, "student", room)
        reply = await bot.request("join", check=False, room=room, version=1, token=token)
        await bot.close()
        assert reply["type"] == "error", reply
        return str(reply["code"])

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame.type == aiohttp.WSMsgType.TEXT:
                self.frames += frame_dicts(json.loads(frame.data))

    async def request(self, kind: str, check: bool = True, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        await self.ws.send_str(json.dumps({"type": kind, "id": self.seq, **fields}))
        for _ in range(500):
            for frame in self.frames:
                if frame.get("id") == self.seq:
                    self.frames.remove(frame)
                    assert not check or frame["type"] != "error", frame
                    return frame
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no reply to {kind}")

    async def admitted(self) -> None:
        for _ in range(500):
            if any(f["type"] == "welcome" for f in self.frames):
                return
            await asyncio.sleep(0.01)
        raise TimeoutError("not admitted")

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


# Text whose contrast with its effective background is under WCAG AA (4.5:1; 3:1 for large
# text). Backgrounds are the first opaque ancestor colour; text over video is skipped.
LOW_CONTRAST_JS = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
      if (e.tagName === 'VIDEO' || e.classList.contains('has-video')) return null;
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!text || el.offsetParent === null) continue;
    const style = getComputedStyle(el);
    const bg = background(el);
    if (!bg || parseFloat(style.opacity) < 1) continue;
    const [a, b] = [lum(rgb(style.color)), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    const name = el.textContent.trim().slice(0, 30);
    if (ratio < (large ? 3 : 4.5)) low.push(`${name}: ${ratio.toFixed(2)}`);
  }
  return low;
}"""
