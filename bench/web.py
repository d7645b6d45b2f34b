"""The browser client under load: a teacher's page in real Chromium, the rest protocol clients.

For rooms of 30 and 300 (the teacher plus bots that join over WebSocket, no browser): the time
the page needs to render the whole participant list (and the whole page), the time to apply one
participant's change, and the page's frame rate while a tenth of the room toggles microphones
ten times a second. Then the time from "Войти" to the first decoded frame of the teacher's
camera in a second Chromium page, through the real SFU on loopback.

    python -m bench.web [--json] [--sizes 30,300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from sfu.server import SFU
from signaling import auth
from signaling.app import create_app
from signaling.config import Settings

SECRET = "bench-web-secret-0123456789abcdef012345"
API_KEY = "bench-web-api-key"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip

# Runs in the page: the whole list (People.renderAll) or the whole page (every view's reset
# handler), each followed by a forced style and layout pass, repeated; returns milliseconds.
RENDER_JS = """async ({what, runs}) => {
  const u = window.urok, times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    if (what === 'list') u.call.people.renderAll(); else u.client.state.emit('reset');
    if (what !== 'list') u.call.grid.render();
    document.body.offsetHeight;
    times.push(performance.now() - t0);
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  }
  return times;
}"""

# One participant_changed through the real path (state → list row and tile), then layout.
UPDATE_JS = """async (runs) => {
  const s = window.urok.client.state, ids = [...s.participants.keys()], times = [];
  for (let i = 0; i < runs; i++) {
    const p = s.participants.get(ids[(i * 7) % ids.length]);
    const next = {...p, media: {...p.media, mic: !p.media.mic}};
    const t0 = performance.now();
    s.apply({type: 'participant_changed', participant: next});
    document.body.offsetHeight;
    times.push(performance.now() - t0);
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  }
  return times;
}"""

FPS_JS = """(ms) => new Promise((resolve) => {
  let frames = 0; const t0 = performance.now();
  const tick = (t) => { frames++; if (t - t0 < ms) requestAnimationFrame(tick);
    else resolve(frames * 1000 / (t - t0)); };
  requestAnimationFrame(tick);
})"""


class Bot:
    """A protocol client that joins, then only reads (or toggles its microphone)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seq = 0
        self.mic = False
        self.reader = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        async for _ in self.ws:
            pass

    async def send(self, kind: str, **fields: Any) -> None:
        self.seq += 1
        await self.ws.send_str(json.dumps({"type": kind, "id": self.seq, **fields}))

    async def toggle_mic(self) -> None:
        self.mic = not self.mic
        await self.send("set_media", source="mic", enabled=self.mic)

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


class Bench:
    def __init__(self, url: str, http: aiohttp.ClientSession, browser: Browser) -> None:
        self.url = url
        self.http = http
        self.browser = browser

    async def room(self) -> str:
        body = {"title": "Нагрузка", "org": "s", "settings": {"waiting_room": False}}
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with self.http.post(f"{self.url}/api/rooms", json=body, headers=headers) as resp:
            return str((await resp.json())["id"])

    def link(self, room: str, name: str, role: auth.Role) -> str:
        token = auth.mint(SECRET, user_id=f"{role}:{name}", name=name, role=role, room=room)
        return f"{self.url}/r/{room}?token={token}"

    async def page(self, link: str) -> Page:
        context = await self.browser.new_context(
            locale="ru-RU", viewport={"width": 1280, "height": 800}
        )
        page = await context.new_page()
        await page.goto(link)
        return page

    async def bot(self, room: str, n: int) -> Bot:
        bot = Bot(await self.http.ws_connect(f"{self.url}/ws"))
        name = f"Ученик {n:03d}"
        token = auth.mint(SECRET, user_id=f"s{n}", name=name, role="student", room=room)
        await bot.send("join", room=room, version=1, token=token)
        return bot

    async def room_of(self, size: int) -> dict[str, float]:
        room = await self.room()
        teacher = await self.page(self.link(room, "Мария Ивановна Петрова", "teacher"))
        await teacher.get_by_role("button", name="Войти", exact=True).click()
        await teacher.get_by_role("button", name="Участники", exact=True).click()
        bots = [await self.bot(room, n) for n in range(size - 1)]
        await teacher.wait_for_function(f"window.urok.client.state.participants.size === {size}")
        await teacher.wait_for_function(
            f"document.querySelectorAll('#people-list li').length === {size}"
        )
        list_ms = await teacher.evaluate(RENDER_JS, {"what": "list", "runs": 9})
        page_ms = await teacher.evaluate(RENDER_JS, {"what": "page", "runs": 9})
        result = {
            "list_ms": statistics.median(list_ms),
            "page_ms": statistics.median(page_ms),
            "update_ms": statistics.median(await teacher.evaluate(UPDATE_JS, 30)),
            "fps": await self.fps_under_churn(teacher, bots),
        }
        for bot in bots:
            await bot.close()
        await teacher.context.close()
        return result

    async def fps_under_churn(self, page: Page, bots: list[Bot]) -> float:
        churners = bots[: max(1, len(bots) // 10)]

        async def churn() -> None:
            while True:
                for bot in churners:
                    await bot.toggle_mic()
                await asyncio.sleep(0.1)

        task = asyncio.ensure_future(churn())
        try:
            fps: float = await page.evaluate(FPS_JS, 3000)
        finally:
            task.cancel()
        return fps

    async def first_frame(self, runs: int = 3) -> float:
        """Seconds from clicking "Войти" to the first decoded frame of the teacher's camera."""
        room = await self.room()
        teacher = await self.page(self.link(room, "Мария Ивановна Петрова", "teacher"))
        await teacher.get_by_role("button", name="Войти", exact=True).click()
        await teacher.get_by_role("toolbar").wait_for()
        times = []
        for n in range(runs):
            student = await self.page(self.link(room, f"Ученик {n}", "student"))
            await student.get_by_role("button", name="Войти", exact=True).wait_for()
            start = time.monotonic()
            await student.get_by_role("button", name="Войти", exact=True).click()
            await student.wait_for_function(  # the first tile is the host's
                "() => { const v = document.querySelector('#grid .tile video');"
                " return v && v.videoWidth > 0 && v.currentTime > 0; }",
                polling="raf",
                timeout=20_000,
            )
            times.append(time.monotonic() - start)
            await student.context.close()
        await teacher.context.close()
        return statistics.median(times)


def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_1min": round(os.getloadavg()[0], 2),  # other work on the machine skews figures
    }


async def run(sizes: list[int]) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="urok-bench-web-"))
    settings = Settings(data_dir=tmp, secret=SECRET, api_keys=(API_KEY,), ws_rate_per_s=1000)
    app = create_app(settings, media=SFU(ice_addresses=("127.0.0.1",)))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    out: dict[str, Any] = {}
    connector = aiohttp.TCPConnector(limit=0)  # 300 sockets: no pool limit
    async with aiohttp.ClientSession(connector=connector) as http, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        bench = Bench(f"http://127.0.0.1:{port}", http, browser)
        rooms = {str(size): await bench.room_of(size) for size in sizes}
        out["participant_list_render_ms"] = {k: round(v["list_ms"], 2) for k, v in rooms.items()}
        out["page_render_ms"] = {k: round(v["page_ms"], 2) for k, v in rooms.items()}
        out["participant_update_ms"] = {k: round(v["update_ms"], 3) for k, v in rooms.items()}
        out["page_fps_under_churn"] = {k: round(v["fps"], 1) for k, v in rooms.items()}
        out["join_to_first_frame_s"] = round(await bench.first_frame(), 3)
        await browser.close()
    await runner.cleanup()
    out["machine"] = machine()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--sizes", default="30,300", help="room sizes, comma-separated")
    args = parser.parse_args()
    result = asyncio.run(run([int(s) for s in args.sizes.split(",")]))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
